#!/usr/bin/env bash
# Runs every ```sh block of README.md against a fresh server, so the README's
# examples stay true. The server listens on a spare port; the blocks' address
# 127.0.0.1:8080 is rewritten to it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || apt-get install -y jq >/dev/null
bin=${SLOTSTREAM_BIN:-target/debug/slotstream}
[ -x "$bin" ] || cargo build
work=$(mktemp -d)
port=18091
# The blocks run in $work: the server's file is their default `slotstream.db`,
# `admin-token` the operator token, and `slotstream` on the PATH is this build.
export PATH="$(cd "$(dirname "$bin")" && pwd):$PATH"
head -c 48 /dev/urandom | base64 | tr -d '/+=\n' > "$work/admin-token"
"$bin" --database-url "sqlite://$work/slotstream.db?mode=rwc" --bind "127.0.0.1:$port" \
  --admin-token-file "$work/admin-token" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
# The first demo provider's id and key, as the seed printed them (the
# provider-side examples read PROVIDER_ID and PROVIDER_KEY).
PROVIDER_ID=$(grep -o 'id=[0-9a-f-]* key=pk_[A-Za-z0-9_-]*' "$work/server.log" | head -1 | sed 's/id=\([^ ]*\) .*/\1/')
PROVIDER_KEY=$(grep -o 'key=pk_[A-Za-z0-9_-]*' "$work/server.log" | head -1 | cut -d= -f2)
export PROVIDER_ID PROVIDER_KEY

python3 - "$work" <<'PY'
import re, sys, pathlib
blocks = re.findall(r"```sh\n(.*?)```", pathlib.Path("README.md").read_text(), re.S)
for n, block in enumerate(blocks):
    pathlib.Path(sys.argv[1], f"block{n}.sh").write_text(block)
print(f"{len(blocks)} sh blocks")
PY
status=0
for block in "$work"/block*.sh; do
  sed -i "s/127.0.0.1:8080/127.0.0.1:$port/g" "$block"
  echo "--- $(basename "$block")"
  if ! out=$(cd "$work" && bash -euo pipefail "$block" 2>&1); then
    echo "$out"; echo "FAILED: $(basename "$block")"; status=1; continue
  fi
  echo "$out" | tail -5
done
# The conditional GET block must show the 304.
grep -q '^304$' <(cd "$work" && bash -euo pipefail "$work/block0.sh") || { echo "the conditional GET did not answer 304"; status=1; }
[ $status -eq 0 ] && echo "README examples: all passed"
exit $status
