#!/usr/bin/env bash
# Proves that the binary the container image ships needs nothing from the
# image: builds it with scripts/build-static.sh, checks that it is static
# (no ELF program interpreter, no shared libraries), and runs "version" and
# "check" in an empty root that holds only the binary and a configuration.
#
#   scripts/check-static.sh [VERSION]
#
# The empty root is a user namespace (unshare, no privileges needed); where
# user namespaces are not allowed, root may chroot instead. Exit 3 when
# neither is possible.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-check-static}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

fail() { echo "check-static: $*" >&2; exit 1; }

scripts/build-static.sh "$root/blobvalet" "$version"

command -v readelf >/dev/null || fail "readelf is required (apt-get install binutils)"
if readelf -lW "$root/blobvalet" | grep -q 'INTERP'; then
  fail "the binary asks for a program interpreter: it is not static"
fi
if readelf -dW "$root/blobvalet" | grep -q 'NEEDED'; then
  fail "the binary needs shared libraries: it is not static"
fi
echo "check-static: static: no program interpreter, no shared libraries"

mkdir -p "$root/etc/blobvalet"
cat >"$root/etc/blobvalet/blobvalet.yaml" <<'YAML'
listen: "0.0.0.0:8080"
storage: {account: examplestorage, key_env: BLOBVALET_STORAGE_KEY}
cors_origins: ["https://app.example.com"]
auth:
  tokens:
    - {user: alice, token_env: ALICE_TOKEN}
rules:
  - {name: own-folder, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT, DELETE]}
staging: {container: incoming}
YAML
cat >"$root/etc/blobvalet/broken.yaml" <<'YAML'
storage: {account: examplestorage, key_env: UNSET_KEY}
rules: []
YAML

if unshare --user --map-root-user true 2>/dev/null; then
  in_root() { env -i "$@" unshare --user --map-root-user --root="$root" /blobvalet "${args[@]}"; }
elif [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  echo "check-static: user namespaces not allowed here; using chroot as root"
  in_root() { env -i "$@" chroot "$root" /blobvalet "${args[@]}"; }
else
  echo "check-static: cannot make an empty root: unshare --user is not allowed and this is not root" >&2
  exit 3
fi
ls -A "$root" | tr '\n' ' ' | sed 's/^/check-static: the root holds only: /; s/ $/\n/'

args=(version)
out=$(in_root)
echo "check-static: /blobvalet version: $out"
[[ $out == "blobvalet $version "* ]] || fail "version printed $out"

args=(check --config /etc/blobvalet/blobvalet.yaml)
key=$(printf 'not the real key' | base64)
out=$(in_root BLOBVALET_STORAGE_KEY="$key" ALICE_TOKEN=alice-token-0123456789) || fail "check refused a good configuration: $out"
[[ $out == "config ok:"* ]] || fail "check printed $out"
echo "check-static: /blobvalet check: config ok"

args=(check --config /etc/blobvalet/broken.yaml)
set +e
out=$(in_root 2>&1)
code=$?
set -e
[ "$code" = 1 ] || fail "check of a broken configuration exited $code, want 1: $out"
grep -q 'UNSET_KEY' <<<"$out" || fail "check did not name the problem: $out"
echo "check-static: /blobvalet check of a broken configuration: exit 1, problems listed"
echo "check-static: ok"
