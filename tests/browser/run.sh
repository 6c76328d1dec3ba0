#!/usr/bin/env bash
# Browser tests of the page: headless Debian Chromium driven by playwright-core,
# run with Node's built-in test runner. Exits non-zero on any failure.
#   SLOTSTREAM_BIN   server binary (default: ../../target/debug/slotstream, built first: it embeds static/)
#   CHROMIUM_PATH    browser (default: /usr/bin/chromium, installed with apt-get if missing and root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing Debian chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "run.sh: $chromium not found; install Debian's chromium package" >&2
    exit 1
  fi
fi

# Always (re)build: the page is embedded in the binary, so a stale binary serves a stale page.
if [ -z "${SLOTSTREAM_BIN:-}" ]; then
  echo "run.sh: building the server" >&2
  (cd ../.. && cargo build --quiet)
fi

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

exec node --test --test-reporter=tap --test-concurrency=1 page.test.mjs providers.test.mjs provider.test.mjs http2.test.mjs waitlist.test.mjs
