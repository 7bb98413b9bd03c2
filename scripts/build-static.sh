#!/bin/sh
# Builds blobvalet as the container image ships it: a static binary (no C
# library, so it runs in an empty image), without local paths, stripped,
# with the version stamped. The Dockerfile runs this script, so that what
# scripts/check-static.sh proves holds for the image too.
#
#   scripts/build-static.sh OUTPUT [VERSION]
#
# VERSION defaults to git describe, or "dev" outside a git work tree.
set -eu
out=${1:?usage: scripts/build-static.sh OUTPUT [VERSION]}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."
VERSION=${2:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$out" .
