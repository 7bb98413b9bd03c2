# Everyday commands. `make help` lists them. Go 1.26 and Node.js 20+ with
# npm are all that is needed; the tests install Azurite and the front-end
# packages from npm, and build the S3 emulator (versitygw) from the Go module
# proxy, on first use, and `make lint` installs the pinned golangci-lint from
# the Go module proxy.

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(shell go env GOPATH)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)
FUZZTIME ?= 30s

.PHONY: help test test-short e2e lint fuzz dev

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## every test: unit, Azurite, browser (as CI runs them, without -race)
	go test ./...
	cd deploy && go test ./...

test-short: ## the pure tests only, in seconds: no Node, npm, Azurite or Chromium
	go test -short ./...

e2e: ## the end-to-end tests: real Chromium, Fine Uploader, Uppy and Azurite
	go test -count=1 ./internal/e2e/...

lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint (.golangci.yml)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/.bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mkdir -p $(dir $@) && mv $(CURDIR)/.bin/golangci-lint $@ && rmdir $(CURDIR)/.bin

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@set -e; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9]*\).*/\1/'); do \
	    echo "== $$t $$f"; go test -run XXX -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$t; \
	  done; done

dev: ## run blobvalet dev: Azurite, the service and the demo page
	go run . dev
