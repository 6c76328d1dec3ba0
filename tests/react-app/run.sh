#!/usr/bin/env bash
# The client package (static/: slotstream.js, slotstream.d.ts, the React hook)
# as a front-end developer installs it, in the small React app here (React,
# Vite and TypeScript pinned by package-lock.json; the package linked from
# ../../static). Exits non-zero on any failure.
#   bash tests/react-app/run.sh types     tsc --strict over src/ and the README's TypeScript
#                                         examples; node tests of the package (types.test.mjs)
#   bash tests/react-app/run.sh browser   vite build; the app in headless Chromium against a
#                                         real server (react.test.mjs)
#   bash tests/react-app/run.sh           both
#   SLOTSTREAM_BIN, CHROMIUM_PATH as in tests/browser/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
mode="${1:-all}"
case "$mode" in types | browser | all) ;; *) echo "usage: run.sh [types|browser|all]" >&2; exit 2 ;; esac

# npm ci from the lockfile, once per lockfile (both modes run in one CI job).
stamp=node_modules/.slotstream-lock-sha
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sha" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sha" > "$stamp"
fi
node readme-examples.mjs

if [ "$mode" != browser ]; then
  echo "run.sh: tsc --strict (src/, readme/)" >&2
  ./node_modules/.bin/tsc -p tsconfig.json
  # --preserve-symlinks: the linked package's `import 'react'` finds this folder's React.
  node --preserve-symlinks --test --test-reporter=tap types.test.mjs
fi

if [ "$mode" != types ]; then
  # The harness's playwright-core is tests/browser's.
  if [ ! -d ../browser/node_modules/playwright-core ]; then
    (cd ../browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ -z "${SLOTSTREAM_BIN:-}" ]; then
    echo "run.sh: building the server" >&2
    (cd ../.. && cargo build --quiet)
  fi
  ./node_modules/.bin/vite build
  node --test --test-reporter=tap --test-concurrency=1 react.test.mjs
fi
