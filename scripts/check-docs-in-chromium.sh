#!/usr/bin/env bash
# Renders /docs in headless Chromium (Debian's `chromium` package) with every network feature
# of the browser's own off, and checks the rendered DOM lists the API's operations: proof the
# page works from the binary alone. Usage: scripts/check-docs-in-chromium.sh [base URL]
# (default: starts target/debug/tenantry on a fresh database and stops it afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium > /dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
base="${1:-}"
profile=$(mktemp -d /tmp/tenantry-docs-chromium.XXXXXX)
db=tenantry_docs_check
cleanup() {
  if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$profile"
  if [ -z "${1:-}" ]; then psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; fi
}
trap cleanup EXIT
if [ -z "$base" ]; then
  port=18082
  base="http://127.0.0.1:$port"
  cargo build -q --bin tenantry
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" APP__SERVER__PORT=$port \
    APP__AUTH__ADMIN_TOKEN=docs-check-admin-token-0123456789abcdef target/debug/tenantry > /tmp/tenantry-docs.log 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -fs "$base/health" > /dev/null && break; sleep 0.1; done
fi
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
  --disable-sync --no-first-run "--user-data-dir=$profile" --virtual-time-budget=10000)
dom=$(chromium "${flags[@]}" --dump-dom "$base/docs" 2> /dev/null)
chromium "${flags[@]}" --screenshot=/tmp/tenantry-docs.png --window-size=1280,2000 "$base/docs" 2> /dev/null || true
for needle in '/products' '/tenants/{slug}' '/orders/{id}' 'opblock'; do
  grep -qF "$needle" <<< "$dom" || { echo "docs check: the rendered page lacks $needle" >&2; exit 1; }
done
echo "docs check: /docs rendered in $(chromium --version) and lists the API's operations (screenshot /tmp/tenantry-docs.png)"
