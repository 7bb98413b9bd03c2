#!/usr/bin/env bash
# Load test of GET /sas: starts Azurite and blobvalet serve on loopback, then
# drives /sas with wrk (Debian package wrk) for a fixed time, and then, with
# the same settings, a bare net/http handler (scripts/barehttp) answering a
# fixed body as long as a SAS URI. Prints both side by side and the ratio.
# blobvalet logs every decision at info level, as in production.
#   scripts/loadtest.sh [seconds] [connections]
# Needs Azurite installed once (go test ./azurite/ does it) or AZURITE_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "loadtest: install wrk (apt-get install wrk)"; exit 1; }
cache=${BLOBVALET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/blobvalet}
bin=${AZURITE_BIN:-$cache/npm/azurite@3.37.0/node_modules/.bin/azurite-blob}
[ -x "$bin" ] || { echo "loadtest: no Azurite at $bin; run go test ./azurite/ once, or set AZURITE_BIN"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
bare_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
listen_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
setsid env AZURITE_SKIP_API_VERSION_CHECK=true "$bin" --blobHost 127.0.0.1 --blobPort "$port" \
  --inMemoryPersistence --disableTelemetry --skipApiVersionCheck --silent >"$work/azurite.log" 2>&1 &
pids+=($!)
endpoint="http://127.0.0.1:$port/devstoreaccount1"
go build -o "$work/blobvalet" .
go build -o "$work/barehttp" ./scripts/barehttp

export LOADTEST_STORAGE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export LOADTEST_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$work/config.yaml" <<YAML
listen: "127.0.0.1:$listen_port"
storage: {account: devstoreaccount1, endpoint: "$endpoint", key_env: LOADTEST_STORAGE_KEY}
auth: {tokens: [{user: alice, token_env: LOADTEST_TOKEN}]}
log: {level: info}
rules:
  - {name: own-folder, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT, DELETE]}
staging: {container: incoming}
# One user sends every request: lift the per-user rate, or the run
# measures 429s.
limits: {sas: {rate: 1000000/s, burst: 1000000}}
YAML

for i in $(seq 50); do curl -s -o /dev/null "$endpoint?comp=properties&restype=service" && break; sleep 0.2; done
go run ./scripts/mkcontainer "$endpoint" uploads incoming

setsid "$work/blobvalet" serve --config "$work/config.yaml" 2>"$work/serve.log" &
pids+=($!)
for i in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$listen_port/healthz" && break; sleep 0.1; done

cat >"$work/sas.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $LOADTEST_TOKEN"
wrk.headers["Accept"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local uri = "$endpoint/uploads/users/alice/" .. n .. "-0f8fad5b-d9cb-469f-a165-70867728950e.jpg"
  return wrk.format("GET", "/sas?bloburi=" .. uri:gsub("[:/]", function(c) return string.format("%%%02X", string.byte(c)) end) .. "&_method=PUT&qqtimestamp=" .. n)
end
LUA
# The bare server's body is as long as the SAS URI blobvalet answers.
size=$(curl -fs -H "Authorization: Bearer $LOADTEST_TOKEN" \
  "http://127.0.0.1:$listen_port/sas?bloburi=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$endpoint/uploads/users/alice/1-0f8fad5b-d9cb-469f-a165-70867728950e.jpg")&_method=PUT" | wc -c)
setsid "$work/barehttp" "127.0.0.1:$bare_port" "$size" 2>"$work/bare.log" &
pids+=($!)
for i in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$bare_port/" && break; sleep 0.1; done

wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/sas.lua" "http://127.0.0.1:$listen_port" | tee "$work/sas.out"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/sas.lua" "http://127.0.0.1:$bare_port" | tee "$work/bare.out"

# wrk prints latencies with units; field picks a line's value, in ms.
field() { awk -v k="$2" '$1 == k { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
  if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000; printf "%.2f", v; exit }' "$1"; }
rps() { awk '$1 == "Requests/sec:" { print $2 }' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ { print; f = 1 } END { if (!f) print "none" }' "$1"; }
echo
printf '%-22s %14s %14s\n' "" "blobvalet /sas" "bare net/http"
printf '%-22s %14s %14s\n' "requests/s" "$(rps "$work/sas.out")" "$(rps "$work/bare.out")"
for k in Latency 50% 90% 99%; do
  label=$k; [ "$k" = Latency ] && label=mean
  printf '%-22s %14s %14s\n' "latency $label (ms)" "$(field "$work/sas.out" "$k")" "$(field "$work/bare.out" "$k")"
done
printf '%-22s %14s %14s\n' "body bytes" "$size" "$size"
echo "ratio of requests/s: $(awk -v a="$(rps "$work/sas.out")" -v b="$(rps "$work/bare.out")" 'BEGIN { printf "%.2f", a / b }')"
echo "errors: blobvalet $(errors "$work/sas.out"); bare $(errors "$work/bare.out")"
if grep -q 'Non-2xx' "$work/sas.out"; then echo "loadtest: blobvalet answered errors; the ratio means nothing" >&2; exit 1; fi
echo "decision lines logged: $(grep -c '"msg":"sas"' "$work/serve.log" || true)"
