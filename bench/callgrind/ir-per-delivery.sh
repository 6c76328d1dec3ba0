#!/usr/bin/env bash
# Instructions the server spends per delivered event, under callgrind: the
# one fan-out figure that does not move with the machine's load. For each of
# slotstream (SQLite, bench/run.sh's generous limits) and the bare baseline:
# start it under `valgrind --tool=callgrind --instr-atstart=no`, hold SUBS
# subscribers of one provider (drive.py), switch instrumentation on, make
# EVENTS events (block/unblock, one at a time), wait until every subscriber
# has every event, dump. The same with no subscriber gives what making the
# events costs; the difference divided by SUBS x EVENTS is the figure.
#
#   bash bench/callgrind/ir-per-delivery.sh [SUBS [EVENTS]]   # default 500 40
#
# Prints `server_ir_per_delivery=`, `baseline_ir_per_delivery=` and their
# ratio; with CG_TOP=N also the N costliest symbols per delivery on our side
# (by_symbol.py). Environment: CG_PORT (default 18480), CG_KEEP=1 keeps the
# work folder, CG_SERVER another slotstream binary (a build to compare). Needs valgrind and python3; takes about two minutes.
set -euo pipefail
SUBS=${1:-500}
EVENTS=${2:-40}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/callgrind
PORT=${CG_PORT:-18480}
BIN=${CG_SERVER:-$ROOT/target/release/slotstream}
BASELINE=$ROOT/target/release/baseline
WORK=$(mktemp -d /tmp/slotstream-cg.XXXXXX)
VPID=""
cleanup() {
    if [[ -n $VPID ]]; then kill -9 "$VPID" 2>/dev/null || true; fi
    if [[ ${CG_KEEP:-0} == 1 ]]; then echo "callgrind: files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
LIMITS=(--read-burst 100000000 --read-per-second 100000000 --write-burst 100000000 --write-per-second 100000000
    --stream-burst 100000000 --stream-per-second 100000000 --max-streams-per-client 1000000 --max-streams 1000000
    --max-connections-per-client 1000000)
DB_URL="sqlite://$WORK/db.sqlite?mode=rwc"
"$BIN" seed --database-url "$DB_URL" >"$WORK/keys.txt" 2>"$WORK/seed.err"
line=$(head -1 "$WORK/keys.txt")
OUR_PROVIDER=$(sed 's/.* id=\([^ ]*\) key=.*/\1/' <<<"$line")
OUR_KEY=${line##*key=}

# run NAME SUBS: one server under callgrind; prints the dump's total Ir.
run() {
    local name=$1 subs=$2 provider key args
    if [[ $name == baseline-* ]]; then
        args=("$BASELINE" --bind "127.0.0.1:$PORT")
        provider=00000000-0000-4000-8000-00000000b45e key=none
    else
        # No heartbeat in the window: it is not a per-delivery cost.
        args=("$BIN" --database-url "$DB_URL" --bind "127.0.0.1:$PORT" --no-seed --heartbeat-secs 3600 "${LIMITS[@]}")
        provider=$OUR_PROVIDER key=$OUR_KEY
    fi
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/$name.%p" "${args[@]}" \
        >"$WORK/$name.log" 2>&1 &
    VPID=$!
    local i
    for i in $(seq 1 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
        kill -0 "$VPID" 2>/dev/null || { cat "$WORK/$name.log" >&2; exit 1; }
        sleep 0.2
    done
    if [[ $name != baseline-* ]]; then
        # The slot planner's first pass (at start) is not a delivery: wait it out.
        for i in $(seq 1 600); do
            curl -sf "http://127.0.0.1:$PORT/metrics" | grep -q '^slotstream_planner_runs_total [1-9]' && break
            sleep 0.2
        done
    fi
    python3 "$HERE/drive.py" --port "$PORT" --provider "$provider" --key "$key" --subs "$subs" \
        --events "$EVENTS" --pid "$VPID" >"$WORK/$name.drive" 2>>"$WORK/$name.err"
    kill -INT "$VPID" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$VPID" 2>/dev/null || true
    wait "$VPID" 2>/dev/null || true
    VPID=""
    local dump
    dump=$(ls -S "$WORK/$name".*.1 | head -1)
    echo "$dump" >"$WORK/$name.dump"
    callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

deliveries=$((SUBS * EVENTS))
figure() { echo "$1=$2"; }
for side in server baseline; do
    echo "callgrind: $side, 0 and $SUBS subscribers, $EVENTS events" >&2
    idle=$(run "$side-0" 0)
    busy=$(run "$side-$SUBS" "$SUBS")
    figure "${side}_ir_per_delivery" $(((busy - idle) / deliveries))
done | tee "$WORK/figures.txt"
server=$(sed -n 's/^server_ir_per_delivery=//p' "$WORK/figures.txt")
base=$(sed -n 's/^baseline_ir_per_delivery=//p' "$WORK/figures.txt")
figure server_ir_vs_baseline "$(awk -v a="$server" -v b="$base" 'BEGIN { printf "%.3f\n", a / b }')"
if [[ -n ${CG_TOP:-} ]]; then
    echo "# costliest symbols per delivery (ours, exclusive Ir):"
    python3 "$HERE/by_symbol.py" "$(cat "$WORK/server-0.dump")" "$(cat "$WORK/server-$SUBS.dump")" "$deliveries" sym "$CG_TOP" |
        sed 's/^/# /'
fi
