# blobvalet's container image: one static binary on an empty base.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t blobvalet .
#   docker run --read-only -v "$PWD/blobvalet.yaml:/etc/blobvalet/blobvalet.yaml:ro" \
#     -e BLOBVALET_STORAGE_KEY -p 8080:8080 blobvalet
#
# The binary is built by scripts/build-static.sh, the same command that
# scripts/check-static.sh proves static and runnable in an empty root.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN scripts/build-static.sh /out/blobvalet "$VERSION"

# No shell, no package manager, no libc: only the binary and the CA
# certificates it needs to reach storage and the identity provider over TLS.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/blobvalet /blobvalet
# The nonroot user of distroless images; blobvalet writes no file, so the
# root filesystem can be mounted read-only.
USER 65532:65532
# 8080: /sas and /success (listen); 9090: /readyz and /metrics (admin_listen,
# which must then be 0.0.0.0:9090 to be reached).
EXPOSE 8080 9090
# No HEALTHCHECK: probes belong to the orchestrator (Kubernetes liveness
# /healthz on 8080 and readiness /readyz on 9090), and a HEALTHCHECK would
# need a shell or a client in the image.
ENTRYPOINT ["/blobvalet"]
CMD ["serve", "--config", "/etc/blobvalet/blobvalet.yaml"]
