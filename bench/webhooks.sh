#!/usr/bin/env bash
# Commit -> webhook delivery latency under the booking benchmark: a release
# server on a fresh SQLite file (or PostgreSQL with PG_URL=postgres://…/db)
# with 3 x SEEDS seeded providers, each with a booking.created webhook to
# one local receiver, while `loadgen book` books. The
# receiver (Python, threaded) takes each delivery's latency as its arrival
# time minus the event's `timestamp` (set in the committing transaction) and
# prints p50/p99. Usage: bash bench/webhooks.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
SEEDS=${SEEDS:-10}
# Two cargo invocations, as in run.sh (one would unify features). BIN and
# LOADGEN point at other builds (e.g. target/debug/…) and skip these.
if [[ -z ${BIN:-} ]]; then cargo build --release --quiet -p slotstream >&2; fi
if [[ -z ${LOADGEN:-} ]]; then cargo build --release --quiet -p slotstream-bench >&2; fi
BIN=${BIN:-target/release/slotstream}
LOADGEN=${LOADGEN:-target/release/loadgen}
WORK=$(mktemp -d)
PORT=18185
RECEIVER_PORT=18186
DB_URL=${PG_URL:-"sqlite://$WORK/bench.db?mode=rwc"}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 1 "$SEEDS"); do "$BIN" seed --database-url "$DB_URL" >>"$WORK/keys.txt"; done

python3 - "$RECEIVER_PORT" "$WORK/latencies.txt" <<'PY' &
import sys, json, time, threading
from datetime import datetime
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
port, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the sender's pool expects
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        arrived = time.time()
        sent = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00")).timestamp()
        with lock, open(out, "a") as f:
            f.write(f"{(arrived - sent) * 1000:.3f} {self.headers['webhook-id']}\n")
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
pids+=($!)

"$BIN" --database-url "$DB_URL" --bind "127.0.0.1:$PORT" --no-seed --webhook-allow-private \
  --read-burst 100000000 --read-per-second 100000000 --write-burst 100000000 --write-per-second 100000000 \
  >"$WORK/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

# HOOKS=0: the same run without webhooks, for the bookings' own figures.
[[ ${HOOKS:-1} == 0 ]] || grep -o 'id=[0-9a-f-]* key=pk_[A-Za-z0-9_-]*' "$WORK/keys.txt" | while read -r id key; do
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/api/v1/providers/${id#id=}/webhooks" \
    -H "Authorization: Bearer ${key#key=}" -H 'content-type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hooks\",\"events\":[\"booking.created\"]}"
done

"$LOADGEN" --server "127.0.0.1:$PORT" book --clients 16 --duration-secs "$SECS" | tee "$WORK/book.txt"
# Let the sender drain what is still in flight.
sleep 3
[[ -s $WORK/latencies.txt ]] || exit 0
python3 - "$WORK/latencies.txt" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
ms = sorted(float(row[0]) for row in rows)
pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print(f"webhook_deliveries={len(ms)}")
print(f"webhook_duplicates={len(rows) - len(set(row[1] for row in rows))}")
print(f"webhook_latency_p50_ms={pick(0.50):.1f}")
print(f"webhook_latency_p99_ms={pick(0.99):.1f}")
print(f"webhook_latency_max_ms={ms[-1]:.1f}")
PY
