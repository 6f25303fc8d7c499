#!/usr/bin/env bash
# Server instructions per `GET /products?limit=20` under callgrind, a figure that does not
# depend on what else the machine runs: starts the release server under
# `valgrind --tool=callgrind` on a fresh database, provisions one tenant with 100 products,
# sends 200 warm-up requests, zeroes the counters, sends 1,000 more on one keep-alive
# connection (serially), dumps the counters and prints instructions per request. Settings come
# from the environment as for the server itself (e.g. APP__LOG__REQUESTS=off).
# Usage: scripts/callgrind-request.sh [binary] [database] [port] [output directory]
# (defaults: target/release/tenantry, tenantry_callgrind, 18090, a fresh /tmp directory).
# The dump is left in the output directory for `callgrind_annotate --inclusive=yes`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/tenantry}"
db="${2:-tenantry_callgrind}"
port="${3:-18090}"
out="${4:-$(mktemp -d /tmp/tenantry-callgrind.XXXXXX)}"
warmup=200
measured=1000
base="http://127.0.0.1:$port"
token=callgrind-admin-token-0123456789abcdef
mkdir -p "$out"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
cleanup() {
  if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
trap cleanup EXIT
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" APP__SERVER__PORT=$port APP__AUTH__ADMIN_TOKEN=$token \
  valgrind --tool=callgrind "--callgrind-out-file=$out/callgrind.out.%p" "$bin" > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do curl -fs "$base/health" > /dev/null && break; sleep 0.2; done
key=$(curl -fs -X POST "$base/tenants" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"slug": "callgrind", "name": "Callgrind"}' | jq -r .api_key)
# One curl per batch: its URLs share one keep-alive connection and are sent one after another.
batch() { # count, then curl arguments for each request
  local n=$1
  shift
  for _ in $(seq "$n"); do printf 'url = "%s/products%s"\noutput = "/dev/null"\n' "$base" "$1"; done \
    | curl -fsS --config - -H "Authorization: Bearer $key" "${@:2}"
}
batch 100 "" -X POST -H 'Content-Type: application/json' -d '{"name": "Widget", "price": "19.99"}'
batch "$warmup" "?limit=20"
callgrind_control -z "$server" > /dev/null
batch "$measured" "?limit=20"
callgrind_control -d "$server" > /dev/null
dump=$(ls -t "$out"/callgrind.out.* | head -1)
total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
echo "instructions per request: $((total / measured)) ($total over $measured; dump $dump)"
