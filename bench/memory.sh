#!/usr/bin/env bash
# The server's memory under two hostile loads (issue 21), on the release
# build and a fresh SQLite file (or PostgreSQL with PG_URL=postgres://…/db,
# a database the script may fill):
#   hangups       REQUESTS (100,000) batch GETs of unknown ids on connections
#                 reset right after sending (`loadgen hangups`): RSS before,
#                 every 10,000, after; the directory's entries before and after.
#   render-cache  READS (300) distinct 31-day-ish reads of a calendar of
#                 5-minute slots round the clock (~1.2 MB documents) through
#                 the default 64 MiB render cache (or RENDER_CACHE_BYTES): RSS
#                 growth against the budget.
# Usage: bash bench/memory.sh [hangups|render-cache|all]   (default all)
# Prints name=value lines; BIN and LOADGEN point at other builds and skip cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
REQUESTS=${REQUESTS:-100000}
READS=${READS:-300}
PORT=${PORT:-18187}
if [[ -z ${BIN:-} ]]; then cargo build --release --quiet -p slotstream >&2; fi
if [[ -z ${LOADGEN:-} && $WHAT != render-cache ]]; then cargo build --release --quiet -p slotstream-bench >&2; fi
BIN=${BIN:-target/release/slotstream}
LOADGEN=${LOADGEN:-target/release/loadgen}
WORK=$(mktemp -d)
server_pid=
cleanup() { [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
BASE=http://127.0.0.1:$PORT

# A fresh database (SQLite file, or the PostgreSQL one emptied) with the demo providers.
start_server() {
    local db_url=${PG_URL:-"sqlite://$WORK/$1.db?mode=rwc"}
    if [[ -n ${PG_URL:-} ]]; then
        psql -q "$PG_URL" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null
    fi
    "$BIN" seed --database-url "$db_url" >"$WORK/keys.txt"
    shift
    "$BIN" --database-url "$db_url" --bind "127.0.0.1:$PORT" --no-seed \
        --read-burst 100000000 --read-per-second 100000000 --write-burst 100000000 --write-per-second 100000000 \
        "$@" >"$WORK/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && return; sleep 0.1; done
    echo "the server never became ready" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }

if [[ $WHAT == hangups || $WHAT == all ]]; then
    start_server hangups
    # Every other file descriptor of the server is a hung-up connection on its way out.
    ulimit -n 65536 2>/dev/null || true
    "$LOADGEN" --server "127.0.0.1:$PORT" hangups --requests "$REQUESTS" --server-pid "$server_pid"
    stop_server
fi

if [[ $WHAT == render-cache || $WHAT == all ]]; then
    BUDGET=${RENDER_CACHE_BYTES:-67108864}
    start_server render --render-cache-bytes "$BUDGET"
    read -r id key < <(grep -o 'id=[0-9a-f-]* key=pk_[A-Za-z0-9_-]*' "$WORK/keys.txt" | head -1 | sed 's/id=//; s/key=//')
    # 62 days of 5-minute slots round the clock, in two requests of 31 dates.
    for from in 1 32; do
        dates=$(for n in $(seq "$from" $((from + 30))); do date -u -d "+$n days" +%F; done | sed 's/.*/"&"/' | paste -sd,)
        curl -fs -o /dev/null -X POST "$BASE/api/v1/providers/$id/slots" -H "Authorization: Bearer $key" \
            -H 'content-type: application/json' \
            -d "{\"dates\":[$dates],\"open\":\"00:00\",\"close\":\"24:00\",\"slotMinutes\":5}"
    done
    # Warm: one read, so the figures count documents, not first-use allocations.
    curl -fs -o /dev/null "$BASE/api/v1/providers/$id/availability?startDate=$(date -u -d '+1 day' +%F)&days=31"
    before=$(rss_kib)
    served=0
    for n in $(seq 0 $((READS - 1))); do
        start=$(date -u -d "+$((1 + n / 15)) days" +%F)
        days=$((17 + n % 15))
        bytes=$(curl -fs -o /dev/null -w '%{size_download}' "$BASE/api/v1/providers/$id/availability?startDate=$start&days=$days")
        served=$((served + bytes))
    done
    after=$(rss_kib)
    cached=$(curl -fs "$BASE/metrics" | awk '/^slotstream_render_cache_bytes / { print $2 }')
    echo "render_cache_budget_bytes=$BUDGET"
    echo "render_cache_reads=$READS"
    echo "render_cache_served_mib=$((served >> 20))"
    echo "render_cache_held_bytes=$cached"
    echo "render_cache_rss_before_kib=$before"
    echo "render_cache_rss_after_kib=$after"
    echo "render_cache_rss_growth_mib=$(((after - before) >> 10))"
    awk -v g=$((after - before)) -v b="$BUDGET" 'BEGIN { printf "render_cache_rss_growth_per_budget=%.2f\n", g * 1024 / b }'
    stop_server
fi
