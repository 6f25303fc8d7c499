#!/usr/bin/env bash
# Server instructions per `GET /products?limit=20`, counted by callgrind: a figure that does
# not depend on what else the machine runs (docs/DESIGN-NOTES.md, issue 13).
#
# usage: scripts/instructions-per-request.sh SERVER_BINARY [DATABASE [PORT]]
#   e.g. cargo build --release --bin tenantry &&
#        scripts/instructions-per-request.sh target/release/tenantry
#
# Starts the server under callgrind with one worker on a fresh database (dropped first), makes
# one tenant with 100 products, warms up for 5 s with one keep-alive connection (wrk -t1 -c1),
# zeroes the counters, counts 20 s of the same load, and prints the instructions per request.
# Needs valgrind, wrk, curl, jq and psql; Postgres at 127.0.0.1:5432 as user postgres.
set -euo pipefail
bin=${1:?server binary}
db=${2:-tenantry_callgrind}
port=${3:-18097}
token=callgrind-callgrind-callgrind-callgrind
psql -qX -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres 2>/dev/null
export APP__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db APP__AUTH__ADMIN_TOKEN=$token \
  APP__SERVER__PORT=$port APP__SERVER__WORKERS=1 RUST_LOG=warn
work=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$bin" > "$work/server.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break; sleep 1; done
key=$(curl -sf -X POST "http://127.0.0.1:$port/tenants" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"slug": "callgrind", "name": "Callgrind"}' | jq -r .api_key)
for i in $(seq 1 100); do
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/products" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "{\"name\": \"P$i\", \"price\": \"1.50\"}"
done
url="http://127.0.0.1:$port/products?limit=20"
wrk -t1 -c1 -d5s -H "Authorization: Bearer $key" "$url" > /dev/null
callgrind_control -z $server > /dev/null 2>&1
wrk -t1 -c1 -d20s -H "Authorization: Bearer $key" "$url" > "$work/wrk.txt"
callgrind_control -d $server > /dev/null 2>&1
sleep 1
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
dump=$(ls -t "$work"/callgrind.out.* | head -1)
total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
echo "requests=$requests instructions=$total per_request=$((total / requests)) profile=$dump"
echo "(callgrind_annotate --inclusive=yes $dump | head -60 shows where they go)"
