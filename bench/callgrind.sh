#!/usr/bin/env bash
# Instructions per request (issue 15, item 5): the bare axum baseline's
# /healthz, slotstream's /healthz and slotstream's 304, each served under
# valgrind's callgrind while wrk drives it. Instruction counts do not depend
# on what else the machine is doing, so these figures compare runs made on a
# loaded machine, where wrk's requests per second cannot.
#
#   bash bench/callgrind.sh            # prints ir_per_request_* lines
#   BENCH_CG_KEEP=1 bash bench/callgrind.sh   # keeps the profiles (callgrind_annotate FILE)
#
# Each server runs with instrumentation off until it is warm (50 requests),
# then wrk -t1 -c8 runs for BENCH_CG_SECS (8) seconds; the count is
# instructions executed by the server process (all threads, background tasks
# included) divided by the requests wrk completed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${BENCH_CG_PORT:-18380}
SECS=${BENCH_CG_SECS:-8}
WORK=$(mktemp -d /tmp/slotstream-callgrind.XXXXXX)
trap '[[ ${BENCH_CG_KEEP:-0} == 1 ]] && echo "callgrind: profiles kept in $WORK" >&2 || rm -rf "$WORK"' EXIT

for tool in valgrind callgrind_control callgrind_annotate wrk; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is needed (apt-get install valgrind wrk)" >&2; exit 1; }
done
# BENCH_CG_BIN and BENCH_CG_BASELINE: binaries built elsewhere (another
# commit's, to compare), used as they are; otherwise this tree's, built here.
if [[ -z ${BENCH_CG_BIN:-} ]]; then
    cargo build --release --quiet -p slotstream >&2
    cargo build --release --quiet -p slotstream-bench >&2
fi
BIN=${BENCH_CG_BIN:-${CARGO_TARGET_DIR:-target}/release/slotstream}
BASELINE=${BENCH_CG_BASELINE:-${CARGO_TARGET_DIR:-target}/release/baseline}
DB="sqlite://$WORK/db.sqlite?mode=rwc"
"$BIN" seed --database-url "$DB" >"$WORK/keys.txt" 2>/dev/null
PROVIDER=$(sed -n 's/.* id=\([^ ]*\) key=.*/\1/p' "$WORK/keys.txt" | head -n 1)

# profile NAME COMMAND... -- PATH [HEADER]: instructions per request.
profile() {
    local name=$1
    shift
    local command=()
    while [[ $1 != -- ]]; do command+=("$1"); shift; done
    shift
    local path=$1 header=${2:-}
    local headers=()
    [[ -n $header ]] && headers=(-H "$header")
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/$name.%p" \
        "${command[@]}" >"$WORK/$name.log" 2>&1 &
    local pid=$! i
    for i in $(seq 1 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
        sleep 0.2
    done
    for i in $(seq 1 50); do curl -s -o /dev/null "${headers[@]}" "http://127.0.0.1:$PORT$path"; done
    callgrind_control -i on "$pid" >/dev/null
    wrk -t1 -c8 -d"${SECS}s" "${headers[@]}" "http://127.0.0.1:$PORT$path" >"$WORK/$name.wrk"
    callgrind_control -d "$pid" >/dev/null
    kill -INT "$pid" 2>/dev/null || true
    sleep 2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local requests ir
    requests=$(awk '/requests in/ { print $1 }' "$WORK/$name.wrk")
    ir=$(callgrind_annotate "$(ls "$WORK/$name".*.1)" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    if grep -q "Non-2xx" "$WORK/$name.wrk"; then
        echo "callgrind.sh: $name answered errors: $(grep Non-2xx "$WORK/$name.wrk")" >&2
    fi
    echo "ir_per_request_$name=$((ir / requests))"
}

LIMITS=(--read-burst 100000000 --read-per-second 100000000)
# The seed's own horizon (14 days): otherwise the planner extends every
# provider's window to 60 days in the first seconds, inside the measured ones.
SERVE=("$BIN" --database-url "$DB" --bind "127.0.0.1:$PORT" --no-seed --slot-horizon-days 14 "${LIMITS[@]}")
AVAILABILITY="/api/v1/providers/$PROVIDER/availability?days=7"
ETAG=$("${SERVE[@]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    curl -s -D - -o /dev/null "http://127.0.0.1:$PORT$AVAILABILITY" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r'
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true)

echo "# callgrind, wrk -t1 -c8 for ${SECS}s per server, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
profile baseline_hello "$BASELINE" --bind "127.0.0.1:$PORT" -- /healthz
profile hello "${SERVE[@]}" -- /healthz
profile inm_304 "${SERVE[@]}" -- "$AVAILABILITY" "If-None-Match: $ETAG"
