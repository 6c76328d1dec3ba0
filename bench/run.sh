#!/usr/bin/env bash
# slotstream benchmarks (issue 6). Prints one `name=value` line per figure on
# standard output (comment lines start with `#`); progress goes to standard
# error. Everything it starts (servers, load generators, a PostgreSQL
# database) is stopped or dropped on exit.
#
#   bash bench/run.sh --quick   # under 3 minutes on 2 cores (smaller N, 3 s wrk runs)
#   bash bench/run.sh           # full: 19,000 subscribers, 3 rounds of 5 s wrk runs, PostgreSQL too
#   bash bench/run.sh --upstream # only the booking system's publishing (issue 23): ingest
#                               # rates over HTTP and NATS, publish -> viewer latency, both databases
#   bash bench/run.sh --agenda   # only the provider's agenda stream (issue 24): booking committed ->
#                               # booking-created with 100 other agendas open, RSS per open agenda,
#                               # both databases
#   bash bench/run.sh --waitlist # only the waitlist (issue 25): with 1,000 entries waiting on one
#                               # provider, cancellation -> `waitlist.offered` webhook and -> the
#                               # waiting page's banner (held frame, then the entry says offered),
#                               # the offer always to the oldest entry; both databases
#   bash bench/run.sh --search   # only search by time (issue 26): SEARCH_PROVIDERS (10,000) providers x
#                               # SEARCH_DAYS (60) days of 30-minute slots on PostgreSQL; index load time
#                               # and memory per slot, search latency with holds taken meanwhile, the 304
#   bash bench/run.sh --day      # a marketplace day (issue 27 item 1): DAY_INSTANCES (2) instances on one
#                               # PostgreSQL database; DAY_PROVIDERS (10,000) providers imported with
#                               # `slotstream import` (bench/day_catalogue.py; 60-day windows planned);
#                               # DAY_VIEWERS (100,000) h2c viewers Zipf over providers, DAY_POLLS (2,000)
#                               # conditional polls/s, DAY_BOOKINGS (50) bookings/s and DAY_HOLDS (20)
#                               # holds/s, webhooks for DAY_WEBHOOKS (100) providers, DAY_SECS (300) s.
#                               # DAY_KEEP_BASE=1 keeps the imported database (slotstream_day_base) for the
#                               # next run, which then only copies it (CREATE DATABASE ... TEMPLATE).
#   bash bench/run.sh --million  # held HTTP/2 streams in one process (issue 27 item 4): for each of
#                               # MILLION_SIZES (100000 1000000) on a fresh SQLite server, that many h2c
#                               # streams, 1,000 per connection, over 19 providers; the server's RSS per
#                               # stream, its CPU while they sit idle for MILLION_IDLE_SECS (60: heartbeats
#                               # every 15 s), then 1,000 viewers of another provider over 10 h2c
#                               # connections timed (60 events at 4/s) beside them. MILLION_SERVER_ARGS:
#                               # more server flags (e.g. --header-timeout-secs 120 for 2,000,000).
#
# Environment: BENCH_PORT (default 18181), BENCH_STORM_DOWN_SECS (default 0:
# how long the storm keeps the server down before restarting it), BENCH_KEEP=1 keeps the work folder
# (server logs, every loadgen output), BENCH_NO_BUILD=1 with BENCH_BIN and BENCH_LOADGEN (run these
# binaries, e.g. copies kept apart from a shared target directory, without building), BENCH_PG_URL (default
# postgres://postgres@127.0.0.1:5432), BENCH_SERVER_ENV (assignments for the
# server's environment, e.g. "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# to try another allocator without rebuilding), CARGO_TARGET_DIR (where the
# binaries are built and run from; default target/), WAITLIST_* (--waitlist's
# provider, entries, rounds, rate and settle: see waitlist_bench).
#
# wrk, the server and the load generator share the same 2 cores: every rps
# figure is "server + client on one box", not the server alone.
set -euo pipefail

MODE=full
case "${1:-}" in
    --quick) MODE=quick ;;
    --full | "") MODE=full ;;
    --upstream) MODE=upstream ;;
    --agenda) MODE=agenda ;;
    --waitlist) MODE=waitlist ;;
    --search) MODE=search ;;
    --day) MODE=day ;;
    --million) MODE=million ;;
    -h | --help) sed -n "2,48p" "$0"; exit 0 ;;
    *) echo "usage: $0 [--quick|--full|--upstream|--agenda|--waitlist|--search|--day|--million]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${BENCH_PORT:-18181}
ADDR=127.0.0.1:$PORT
PG_BASE=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
# Where cargo builds (CARGO_TARGET_DIR, as cargo itself reads it: a worktree can share one).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BENCH_BIN:-$TARGET/release/slotstream}
LOADGEN=${BENCH_LOADGEN:-$TARGET/release/loadgen}
# The floor (issue 15): bare axum, hello + SSE broadcast, no database, no middleware.
BASELINE=$TARGET/release/baseline
BASE_ADDR=127.0.0.1:$((PORT + 1))
WORK=$(mktemp -d /tmp/slotstream-bench.XXXXXX)
LIMITS=(--read-burst 100000000 --read-per-second 100000000
    --write-burst 100000000 --write-per-second 100000000
    --stream-burst 100000000 --stream-per-second 100000000
    --max-streams-per-client 4000000 --max-streams 4000000 --max-connections-per-client 1000000
    --hold-burst 100000000 --hold-per-second 100000000 --max-holds-per-client 1000000)

if [[ $MODE == quick ]]; then
    WRK_SECS=3; WRK_ROUNDS=1
    FAN_SMALL=1000; FAN_SMALL_EVENTS=60; FAN_SMALL_RATE=20
    FAN_HOLDS=1000; FAN_HOLDS_EVENTS=40; FAN_HOLDS_RATE=10
    HOLD_N=2000
    FAN_MID=5000; FAN_MID_EVENTS=20; FAN_MID_RATE=5
    FAN_MAX=5000; FAN_MAX_EVENTS=20; FAN_MAX_RATE=5
    SEEDS=10; BOOK_SECS=3; CONTENTION_ROUNDS=10
    MANY_N=1000; MANY_EVENTS=40; MANY_RATE=10
    H2_STREAMS=20000; H2_CONNECTIONS=40
    STORM_N=3000; STORM_RATE=5
else
    WRK_SECS=5; WRK_ROUNDS=3
    FAN_SMALL=1000; FAN_SMALL_EVENTS=200; FAN_SMALL_RATE=20
    FAN_HOLDS=10000; FAN_HOLDS_EVENTS=60; FAN_HOLDS_RATE=4
    HOLD_N=10000
    FAN_MID=10000; FAN_MID_EVENTS=60; FAN_MID_RATE=4
    FAN_MAX=19000; FAN_MAX_EVENTS=40; FAN_MAX_RATE=2
    SEEDS=40; BOOK_SECS=10; CONTENTION_ROUNDS=40
    MANY_N=1000; MANY_EVENTS=100; MANY_RATE=10
    H2_STREAMS=100000; H2_CONNECTIONS=200
    STORM_N=19000; STORM_RATE=2
fi
STORM_DOWN_SECS=${BENCH_STORM_DOWN_SECS:-0}
# The timed h2 fan-out (issue 15): 1,000 viewers of the fan-out provider over
# this many h2c connections, with the events and rate of the 1k fan-out.
H2_FAN_N=1000
H2_FAN_CONNECTIONS=10
# Providers per many-providers stream and per batch GET (issue 14).
MANY_PROVIDERS=20
started_at=$SECONDS
CONTENTION=32
BOOK_CLIENTS=16

STARTED=()     # pids of what this script started
PG_DB=""
SERVER_PID=""
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $PG_DB ]]; then
        psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "bench: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

say() { echo "bench [$((SECONDS - started_at))s]: $*" >&2; }
figure() { echo "$1=$2"; }
note() { echo "# $*"; }
# value NAME FILE: the value of the last `NAME=` line in FILE.
value() { sed -n "s/^$1=//p" "$2" | tail -n 1; }
# fan_provider KEYS: the first provider `seed` printed into KEYS, as id:key (the fan-out provider).
fan_provider() {
    awk 'match($0, / id=[^ ]+ key=[^ ]+$/) && !found {
        split(substr($0, RSTART + 1), f, /[ =]/); print f[2] ":" f[4]; found = 1 }' "$1"
}
# other_providers KEYS FAN: every provider id in KEYS but FAN's, each once, one per line.
# (`seed` prints the same demo providers every time it runs.)
other_providers() {
    awk -v fan="${2%%:*}" 'match($0, / id=[^ ]+ key=[^ ]+$/) {
        split(substr($0, RSTART + 1), f, /[ =]/); if (f[2] != fan && !seen[f[2]]++) print f[2] }' "$1"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'; }

# --- build -----------------------------------------------------------------
if [[ ${BENCH_NO_BUILD:-0} == 1 ]]; then
    say "BENCH_NO_BUILD=1: running $BIN and $LOADGEN as they are"
else
say "building (release): slotstream, loadgen, baseline"
# Two builds, not one: built together, cargo would unify their features and
# rebuild the server's dependency tree differently from `cargo build --release`.
cargo build --release --quiet -p slotstream >&2
cargo build --release --quiet -p slotstream-bench >&2
fi

if ! command -v wrk >/dev/null; then
    say "installing wrk"
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >&2
fi

# --- helpers ---------------------------------------------------------------
# start_server NAME DATABASE_URL [flags...]: start, wait until it listens.
start_server() {
    local name=$1 url=$2
    shift 2
    # shellcheck disable=SC2086 # BENCH_SERVER_ENV is a list of assignments
    env ${BENCH_SERVER_ENV:-} "$BIN" --database-url "$url" --bind "$ADDR" "${LIMITS[@]}" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    # Polled every 20 ms: the reconnect storm is timed from this moment.
    local i
    for i in $(seq 1 1500); do
        if grep -q "listening on" "$WORK/$name.out" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$WORK/$name.err" >&2
            say "server $name exited"; exit 1
        fi
        sleep 0.02
    done
    say "server $name did not start"; exit 1
}

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# crash_server: SIGKILL, as a crash or an OOM kill would; once reaped, its
# pid is no longer ours to signal at exit.
crash_server() {
    local pid=$SERVER_PID
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    SERVER_PID=""
    local kept=() p
    for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    STARTED=("${kept[@]}")
}

# wrk_rps NAME PATH [header]: requests/sec of wrk -t1 -c64 for WRK_SECS
# (against WRK_ADDR when set: the baseline).
wrk_rps() {
    local name=$1 path=$2 header=${3:-}
    local out=$WORK/wrk-$name.txt addr=${WRK_ADDR:-$ADDR}
    if [[ -n $header ]]; then
        wrk -t1 -c64 -d"${WRK_SECS}s" -H "$header" "http://$addr$path" >"$out" 2>&1
    else
        wrk -t1 -c64 -d"${WRK_SECS}s" "http://$addr$path" >"$out" 2>&1
    fi
    if grep -q "Non-2xx or 3xx" "$out"; then
        say "wrk $name: $(grep 'Non-2xx or 3xx' "$out")"
    fi
    awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$out"
}

# etag_info: refresh AV_PATH and ETAG (the first provider's 7-day availability).
etag_info() {
    "$LOADGEN" --server "$ADDR" info >"$WORK/info.txt"
    AV_PATH=$(value availability_path "$WORK/info.txt")
    ETAG=$(value etag "$WORK/info.txt")
}

# fanout NAME N EVENTS RATE [extra loadgen flags...]: output in $WORK/fanout-NAME.txt
# (`base-*` names run against the baseline, whose losses are not ours).
TOTAL_LOST=0
TOTAL_DUP=0
fanout() {
    local name=$1 n=$2 events=$3 rate=$4
    shift 4
    local out=$WORK/fanout-$name.txt addr=$ADDR provider=$FAN_PROVIDER pid=$SERVER_PID
    if [[ $name == base-* ]]; then addr=$BASE_ADDR provider=$BASE_PROVIDER pid=$BASE_PID; fi
    say "fanout $name: $n subscribers, $events events at $rate/s"
    "$LOADGEN" --server "$addr" fanout -n "$n" --provider "$provider" \
        --events "$events" --rate "$rate" --server-pid "$pid" "$@" >"$out" 2>"$WORK/fanout-$name.err" || {
        say "fanout $name reported a failure (see below)"
        cat "$WORK/fanout-$name.err" >&2
    }
    local lost dup
    lost=$(value events_lost "$out")
    dup=$(value events_duplicated "$out")
    if [[ -z $lost || -z $dup ]]; then
        say "fanout $name printed no loss figures: counting it as 1 lost"
        lost=1 dup=${dup:-0}
    fi
    if [[ $name != base-* ]]; then
        TOTAL_LOST=$((TOTAL_LOST + lost))
        TOTAL_DUP=$((TOTAL_DUP + dup))
    fi
    say "fanout $name: connected $(value subscribers_connected "$out")," \
        "p50 $(value latency_p50_ms "$out") ms, p99 $(value latency_p99_ms "$out") ms," \
        "max $(value latency_max_ms "$out") ms, lost $(value events_lost "$out")," \
        "duplicated $(value events_duplicated "$out")"
}

# wait_for_line FILE PATTERN SECONDS [PID]: fails after SECONDS, or as soon
# as process PID (the one writing FILE) has exited without the line.
wait_for_line() {
    local i
    for i in $(seq 1 $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        if [[ -n ${4:-} ]] && ! kill -0 "$4" 2>/dev/null; then
            grep -q "$2" "$1" 2>/dev/null
            return
        fi
        sleep 0.1
    done
    return 1
}

# start_baseline: a fresh baseline server on BASE_ADDR (BASE_PID, BASE_PROVIDER).
BASE_PID=""
start_baseline() {
    stop_baseline
    "$BASELINE" --bind "$BASE_ADDR" >"$WORK/baseline.out" 2>"$WORK/baseline.err" &
    BASE_PID=$!
    STARTED+=("$BASE_PID")
    wait_for_line "$WORK/baseline.out" "listening on" 30 || { say "baseline did not start"; exit 1; }
    BASE_PROVIDER="$(sed -n 's/.* provider //p' "$WORK/baseline.out"):baseline"
}
stop_baseline() {
    if [[ -n $BASE_PID ]]; then
        kill -TERM "$BASE_PID" 2>/dev/null || true
        wait "$BASE_PID" 2>/dev/null || true
        BASE_PID=""
    fi
}

note "slotstream benchmark, mode=$MODE, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note "wrk, the server and the load generator share the same $(nproc) cores"
if [[ -n ${BENCH_SERVER_ENV:-} ]]; then note "server environment: $BENCH_SERVER_ENV"; fi

# --- the booking system publishing (issue 23) -------------------------------
# upstream_bench NAME DATABASE_URL: on one server consuming NATS too, three
# `slotSource: external` providers: the HTTP ingest rate (200 batches of 50
# changes, one after another), the NATS ingest rate (the same, all published
# then consumed), and 1,000 viewers of one provider while the booking
# system publishes 200 changes at 20/s (publish -> each viewer's receipt).
UPSTREAM_VIEWERS=1000
upstream_bench() {
    local name=$1 url=$2
    local prefix="slotstreambench$name"
    head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/admin-token"
    export SLOTSTREAM_ADMIN_TOKEN
    SLOTSTREAM_ADMIN_TOKEN=$(cat "$WORK/admin-token")
    # A fixed prefix per database: a rerun reuses its streams and consumer.
    start_server "upstream-$name" "$url" --admin-token-file "$WORK/admin-token" \
        --ingest-nats-url "${BENCH_NATS_URL:-nats://127.0.0.1:4222}" --ingest-nats-prefix "$prefix" \
        --ingest-nats-stream "BENCH_CHANGES_$name" --ingest-nats-dead-letter-stream "BENCH_DEAD_$name" \
        --ingest-nats-consumer "bench-$name"
    local p ids=()
    for p in http nats fan; do
        curl -sf -X PUT "http://$ADDR/api/v1/admin/providers/bench-$p-$$" \
            -H "Authorization: Bearer $SLOTSTREAM_ADMIN_TOKEN" -H 'content-type: application/json' \
            -d '{"name":"Bench","timezone":"Europe/Warsaw","currency":"PLN","slotSource":"external"}' >"$WORK/p-$p.json"
        ids+=("$(sed 's/.*"id":"\([^"]*\)".*/\1/' "$WORK/p-$p.json")")
    done
    say "upstream $name: ingest over HTTP"
    "$LOADGEN" --server "$ADDR" ingest --provider "${ids[0]}" --external-id "bench-http-$$" --via http \
        --batches 200 --changes 50 >"$WORK/ingest-http-$name.txt" 2>"$WORK/ingest-http-$name.err" || cat "$WORK/ingest-http-$name.err" >&2
    say "upstream $name: ingest over NATS"
    "$LOADGEN" --server "$ADDR" ingest --provider "${ids[1]}" --external-id "bench-nats-$$" --via nats \
        --nats-prefix "$prefix" --batches 200 --changes 50 >"$WORK/ingest-nats-$name.txt" 2>"$WORK/ingest-nats-$name.err" || cat "$WORK/ingest-nats-$name.err" >&2
    FAN_PROVIDER="${ids[2]}:bench-fan-$$"
    fanout "upstream-$name" "$UPSTREAM_VIEWERS" 200 20 --via upstream --slots 8
    stop_server
    local via
    for via in http nats; do
        figure "ingest_${via}_changes_per_sec_$name" "$(value "ingest_${via}_changes_per_sec" "$WORK/ingest-$via-$name.txt")"
        figure "ingest_${via}_batches_per_sec_$name" "$(value "ingest_${via}_batches_per_sec" "$WORK/ingest-$via-$name.txt")"
        figure "ingest_${via}_errors_$name" "$(value "ingest_${via}_errors" "$WORK/ingest-$via-$name.txt")"
    done
    local out=$WORK/fanout-upstream-$name.txt
    figure "upstream_publish_to_receipt_p50_ms_$name" "$(value publish_to_receipt_p50_ms "$out")"
    figure "upstream_publish_to_receipt_p99_ms_$name" "$(value publish_to_receipt_p99_ms "$out")"
    figure "upstream_publish_request_p50_ms_$name" "$(value publish_request_p50_ms "$out")"
    figure "upstream_viewers_$name" "$(value subscribers_held "$out")"
    figure "upstream_events_lost_$name" "$(value events_lost "$out")"
    figure "upstream_events_duplicated_$name" "$(value events_duplicated "$out")"
}

if [[ $MODE == upstream ]]; then
    note "the booking system publishing: $UPSTREAM_VIEWERS viewers, 200 batches of 50 changes per transport"
    upstream_bench sqlite "sqlite://$WORK/upstream.db?mode=rwc"
    if psql "$PG_BASE/postgres" -qc "SELECT 1" >/dev/null 2>&1; then
        PG_DB=slotstream_bench_$$
        psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
        upstream_bench postgres "$PG_BASE/$PG_DB"
    else
        note "PostgreSQL not reachable at $PG_BASE: skipped"
    fi
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- the provider's agenda stream (issue 24) --------------------------------
# agenda_bench NAME DATABASE_URL: the twenty demo providers (seeded, keys
# from the seed's output); the first is the target, and the other agendas
# are cookie sessions spread round-robin over the other nineteen (several
# sessions per provider, as several front-desk screens). AGENDA_BOOKINGS
# bookings at AGENDA_RATE/s on the target, timed from the 201 to its
# booking-created on the target's agenda while AGENDA_OTHERS other agendas
# are open (they must receive nothing); then AGENDA_RSS_STREAMS agenda
# streams and the server's RSS growth, and one sign-out among them.
AGENDA_OTHERS=${AGENDA_OTHERS:-100}
AGENDA_BOOKINGS=${AGENDA_BOOKINGS:-200}
AGENDA_RATE=${AGENDA_RATE:-5}
AGENDA_RSS_STREAMS=${AGENDA_RSS_STREAMS:-1000}
agenda_bench() {
    local name=$1 url=$2
    "$BIN" seed --database-url "$url" >"$WORK/agenda-keys-$name.txt" 2>"$WORK/agenda-seed-$name.err"
    start_server "agenda-$name" "$url" --no-seed
    local args=() provider
    while read -r provider; do args+=(--provider "$provider"); done < <(awk 'match($0, / id=[^ ]+ key=[^ ]+$/) {
        split(substr($0, RSTART + 1), f, /[ =]/); if (!seen[f[2]]++) print f[2] ":" f[4] }' "$WORK/agenda-keys-$name.txt")
    say "agenda $name: $AGENDA_BOOKINGS bookings at $AGENDA_RATE/s, $AGENDA_OTHERS other agendas over $((${#args[@]} / 2 - 1)) providers"
    local out=$WORK/loadgen-agenda-$name.txt
    "$LOADGEN" --server "$ADDR" agenda "${args[@]}" --others "$AGENDA_OTHERS" --bookings "$AGENDA_BOOKINGS" \
        --rate "$AGENDA_RATE" --rss-streams "$AGENDA_RSS_STREAMS" --server-pid "$SERVER_PID" \
        >"$out" 2>"$WORK/loadgen-agenda-$name.err" || {
        say "agenda $name reported a failure"; tail -n 5 "$WORK/loadgen-agenda-$name.err" >&2; }
    stop_server
    note "agenda $name: $(value bookings_ok "$out") bookings on one provider at $(value booking_rate_per_sec "$out")/s," \
        "$(value other_agendas_open "$out") other agendas open over $(value other_providers "$out") providers;" \
        "$(value rss_agendas_open "$out") agenda streams for RSS, server RSS $(value server_rss_before_kib "$out") KiB ->" \
        "$(value server_rss_after_kib "$out") KiB; one sign-out: $(value signout_server_cpu_ms_2s "$out") ms server CPU" \
        "in 2 s (idle: $(value idle_server_cpu_ms_2s "$out") ms)"
    local q
    for q in p50 p90 p99 max; do
        figure "agenda_commit_to_event_${q}_ms_$name" "$(value "commit_to_event_${q}_ms" "$out")"
    done
    figure "agenda_sent_to_event_p50_ms_$name" "$(value sent_to_event_p50_ms "$out")"
    figure "agenda_booking_request_p50_ms_$name" "$(value booking_request_p50_ms "$out")"
    figure "agenda_events_received_$name" "$(value booking_created_received "$out")"
    figure "agenda_events_missing_$name" "$(value booking_created_missing "$out")"
    figure "agenda_stray_events_$name" "$(value stray_events_on_other_agendas "$out")"
    figure "agenda_rss_kib_per_stream_$name" "$(value rss_kib_per_agenda "$out")"
}

if [[ $MODE == agenda ]]; then
    note "the provider's agenda stream: $AGENDA_BOOKINGS bookings, $AGENDA_OTHERS other agendas, $AGENDA_RSS_STREAMS for RSS"
    note "load at start: $(uptime)"
    agenda_bench sqlite "sqlite://$WORK/agenda.db?mode=rwc"
    if psql "$PG_BASE/postgres" -qc "SELECT 1" >/dev/null 2>&1; then
        PG_DB=${BENCH_PG_DB:-slotstream_bench_agenda}
        psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
        psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
        agenda_bench postgres "$PG_BASE/$PG_DB"
    else
        note "PostgreSQL not reachable at $PG_BASE: skipped"
    fi
    note "load at end: $(uptime)"
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- the waitlist (issue 25) -------------------------------------------------
# waitlist_bench NAME DATABASE_URL: the demo providers seeded (key from the
# seed's output); on WAITLIST_PROVIDER (a demo provider open 10:00-20:00, so
# that its next 14 days hold a fresh free slot for each of 200 rounds),
# WAITLIST_ENTRIES entries wait for its 30-minute service over the 14 days
# from tomorrow. WAITLIST_ROUNDS rounds at most WAITLIST_RATE/s: book a free
# slot, cancel it, time the cancel -> `waitlist.offered` at a local receiver
# and -> the waiting page's banner (the slot `held` on the public stream,
# then the entry's GET answering `offered`); the offer is claimed and one
# more entry joins at the back, so every cancellation finds WAITLIST_ENTRIES
# waiting. Every offer must go to the oldest entry.
WAITLIST_PROVIDER=${WAITLIST_PROVIDER:-Amber Spa}
WAITLIST_ENTRIES=${WAITLIST_ENTRIES:-1000}
WAITLIST_ROUNDS=${WAITLIST_ROUNDS:-200}
WAITLIST_RATE=${WAITLIST_RATE:-5}
# Milliseconds between each booking and its cancellation (0: at once, so the
# booking's webhook work is often still under way when the cancel commits).
WAITLIST_SETTLE_MS=${WAITLIST_SETTLE_MS:-0}
waitlist_bench() {
    local name=$1 url=$2
    "$BIN" seed --database-url "$url" >"$WORK/waitlist-keys-$name.txt" 2>"$WORK/waitlist-seed-$name.err"
    local provider
    provider=$(awk -v name="$WAITLIST_PROVIDER" 'index($0, "demo provider \"" name) == 1 && match($0, / id=[^ ]+ key=[^ ]+$/) && !found {
        split(substr($0, RSTART + 1), f, /[ =]/); print f[2] ":" f[4]; found = 1 }' "$WORK/waitlist-keys-$name.txt")
    if [[ -z $provider ]]; then
        say "waitlist $name: no demo provider named $WAITLIST_PROVIDER in the seed's output"; exit 1
    fi
    start_server "waitlist-$name" "$url" --no-seed --webhook-allow-private --max-waitlist-per-client 100000
    # The seed makes 14 days of slots and the server's first planning run
    # opens the rest of its window at start: were the entries joining
    # meanwhile, the last day's new slots would be offered to the first of them.
    wait_for_line "$WORK/waitlist-$name.err" "slot window extended" 60 "$SERVER_PID" ||
        say "waitlist $name: no 'slot window extended' in the server's log; going on"
    say "waitlist $name: $WAITLIST_ENTRIES entries waiting on $WAITLIST_PROVIDER," \
        "$WAITLIST_ROUNDS cancellations at $WAITLIST_RATE/s"
    local out=$WORK/loadgen-waitlist-$name.txt
    "$LOADGEN" --server "$ADDR" waitlist --provider "$provider" --entries "$WAITLIST_ENTRIES" \
        --rounds "$WAITLIST_ROUNDS" --rate "$WAITLIST_RATE" --settle-ms "$WAITLIST_SETTLE_MS" \
        >"$out" 2>"$WORK/loadgen-waitlist-$name.err" || {
        say "waitlist $name reported a failure"; tail -n 5 "$WORK/loadgen-waitlist-$name.err" >&2; }
    stop_server
    note "waitlist $name: $(value rounds "$out") of $(value rounds_requested "$out") cancellations on $WAITLIST_PROVIDER," \
        "$(value entries_waiting "$out") entries waiting at each ($(value entries_joined "$out") joined in all," \
        "window $(value window "$out")); $(value claims_ok "$out") offers claimed; held frames from" \
        "$(value held_frames_from "$out"); cancel POST p50 $(value cancel_request_p50_ms "$out") ms," \
        "held frame p50 $(value held_frame_p50_ms "$out") ms, the entry's GET p50 $(value entry_check_p50_ms "$out") ms," \
        "join POST p50 $(value join_request_p50_ms "$out") ms; webhooks over 100 ms: $(value webhook_over_100ms "$out")"
    local q
    for q in p50 p90 p99 max; do
        figure "waitlist_webhook_${q}_ms_$name" "$(value "webhook_${q}_ms" "$out")"
    done
    for q in p50 p90 p99 max; do
        figure "waitlist_banner_${q}_ms_$name" "$(value "banner_${q}_ms" "$out")"
    done
    figure "waitlist_rounds_$name" "$(value rounds "$out")"
    figure "waitlist_entries_waiting_$name" "$(value entries_waiting "$out")"
    figure "waitlist_violations_$name" "$(value violations "$out")"
    figure "waitlist_lost_$name" "$(value lost "$out")"
    figure "waitlist_offers_outside_rounds_$name" "$(value stray_offers "$out")"
}

if [[ $MODE == waitlist ]]; then
    note "the waitlist: $WAITLIST_ENTRIES entries waiting, $WAITLIST_ROUNDS cancellations at $WAITLIST_RATE/s"
    note "load at start: $(uptime)"
    waitlist_bench sqlite "sqlite://$WORK/waitlist.db?mode=rwc"
    if psql "$PG_BASE/postgres" -qc "SELECT 1" >/dev/null 2>&1; then
        PG_DB=${BENCH_PG_DB:-slotstream_bench_waitlist}
        psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
        psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
        waitlist_bench postgres "$PG_BASE/$PG_DB"
    else
        note "PostgreSQL not reachable at $PG_BASE: skipped"
    fi
    note "load at end: $(uptime)"
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- search by time (issue 26) -----------------------------------------------
# A fresh PostgreSQL database filled by bench/search_catalogue.sql; the server
# loads its index at start ("search index: loaded"); then `loadgen search`.
if [[ $MODE == search ]]; then
    providers=${SEARCH_PROVIDERS:-10000}
    days=${SEARCH_DAYS:-60}
    note "search by time: $providers providers x $days days of 30-minute slots (09:00-18:00, 3 in 10 blocked)"
    note "load at start: $(uptime)"
    PG_DB=${BENCH_PG_DB:-slotstream_bench_search}
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    "$BIN" migrate --database-url "$PG_BASE/$PG_DB" >&2
    say "writing the catalogue"
    fill_started=$SECONDS
    psql "$PG_BASE/$PG_DB" -q -v providers="$providers" -v days="$days" -f bench/search_catalogue.sql >&2
    figure search_catalogue_fill_secs $((SECONDS - fill_started))
    slots=$(psql "$PG_BASE/$PG_DB" -qAtc "SELECT count(*) FROM availability_slot")
    figure search_slots "$slots"
    load_started=$SECONDS
    start_server search "$PG_BASE/$PG_DB" --no-seed
    wait_for_line "$WORK/search.err" "search index: loaded" 1800 "$SERVER_PID" || { say "the index never loaded"; exit 1; }
    figure search_index_load_secs $((SECONDS - load_started))
    metrics=$(curl -s "http://$ADDR/metrics")
    gauge() { sed -n "s/^$1 //p" <<<"$metrics"; }
    free=$(gauge slotstream_search_index_free_slots)
    bytes=$(gauge slotstream_search_index_bytes)
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
    figure search_index_providers "$(gauge slotstream_search_index_providers)"
    figure search_index_free_slots "$free"
    figure search_index_mib "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
    figure search_index_bytes_per_free_slot "$(awk -v b="$bytes" -v n="$free" 'BEGIN { printf "%.1f", b / n }')"
    figure search_server_rss_mib "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    figure search_server_rss_bytes_per_free_slot "$(awk -v k="$rss" -v n="$free" 'BEGIN { printf "%.1f", k * 1024 / n }')"
    out=$WORK/loadgen-search.txt
    say "searching: ${SEARCH_CONNECTIONS:-4} connections, ${SEARCH_SECS:-20} s, ${SEARCH_WRITES:-5} holds/s meanwhile"
    "$LOADGEN" --server "$ADDR" search --connections "${SEARCH_CONNECTIONS:-4}" --secs "${SEARCH_SECS:-20}" \
        --writes "${SEARCH_WRITES:-5}" >"$out" 2>"$WORK/loadgen-search.err" || say "search reported a held time still offered"
    grep -v '^#' "$out"
    figure search_server_cpu_secs "$(awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat")"
    stop_server
    note "load at end: $(uptime)"
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- a marketplace day (issue 27 item 1) ---------------------------------------
# The catalogue goes in once through `slotstream import` into slotstream_day_base
# (kept with DAY_KEEP_BASE=1 and then reused); each run works on a copy of it.
if [[ $MODE == day ]]; then
    providers=${DAY_PROVIDERS:-10000}
    instances=${DAY_INSTANCES:-2}
    viewers=${DAY_VIEWERS:-100000}
    secs=${DAY_SECS:-300}
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    note "a marketplace day: $instances instances, $providers providers, $viewers viewers, ${DAY_POLLS:-2000} polls/s," \
        "${DAY_BOOKINGS:-50} bookings/s, ${DAY_HOLDS:-20} holds/s, webhooks for ${DAY_WEBHOOKS:-100} providers, $secs s"
    note "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load at start: $(uptime)"
    BASE_DB=slotstream_day_base
    have=$(psql "$PG_BASE/postgres" -qAtc "SELECT count(*) FROM pg_database WHERE datname = '$BASE_DB'")
    if [[ $have == 1 ]] && [[ $(psql "$PG_BASE/$BASE_DB" -qAtc "SELECT count(*) FROM provider WHERE external_id LIKE 'day-%'" 2>/dev/null) == "$providers" ]]; then
        say "reusing $BASE_DB ($providers providers imported by an earlier run)"
    else
        psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $BASE_DB WITH (FORCE)" >/dev/null
        psql "$PG_BASE/postgres" -qc "CREATE DATABASE $BASE_DB" >/dev/null
        "$BIN" migrate --database-url "$PG_BASE/$BASE_DB" >&2
        python3 bench/day_catalogue.py "$providers" "${DAY_HOT:-100}" >"$WORK/day.json"
        say "importing $providers providers (slotstream import)"
        import_started=$SECONDS
        "$BIN" --database-url "$PG_BASE/$BASE_DB" import "$WORK/day.json" >"$WORK/import.out" 2>"$WORK/import.err" || {
            tail -n 5 "$WORK/import.err" >&2; exit 1; }
        figure day_import_secs $((SECONDS - import_started))
        note "import: $(cat "$WORK/import.out")"
    fi
    figure day_slots "$(psql "$PG_BASE/$BASE_DB" -qAtc "SELECT count(*) FROM availability_slot")"
    PG_DB=slotstream_day_run
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB TEMPLATE $BASE_DB" >/dev/null
    if [[ ${DAY_KEEP_BASE:-0} != 1 ]]; then
        psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $BASE_DB WITH (FORCE)" >/dev/null
    fi
    head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/admin-token"
    export SLOTSTREAM_ADMIN_TOKEN
    SLOTSTREAM_ADMIN_TOKEN=$(cat "$WORK/admin-token")
    pids=() also=() pid_args=()
    for i in $(seq 0 $((instances - 1))); do
        ADDR=127.0.0.1:$((PORT + i))
        start_server "day-$i" "$PG_BASE/$PG_DB" --no-seed --webhook-allow-private --admin-token-file "$WORK/admin-token"
        pids+=("$SERVER_PID")
        pid_args+=(--server-pid "$SERVER_PID")
        if ((i > 0)); then also+=(--also "$ADDR"); fi
    done
    SERVER_PID=""
    out=$WORK/day.txt
    say "the day: $viewers viewers, $secs s"
    "$LOADGEN" --server "127.0.0.1:$PORT" day "${also[@]}" "${pid_args[@]}" --viewers "$viewers" --secs "$secs" \
        --polls "${DAY_POLLS:-2000}" --poll-connections "${DAY_POLL_CONNECTIONS:-64}" --bookings "${DAY_BOOKINGS:-50}" --holds "${DAY_HOLDS:-20}" \
        --webhook-providers "${DAY_WEBHOOKS:-100}" --zipf "${DAY_ZIPF:-1.0}" --pg-url "$PG_BASE/$PG_DB" \
        >"$out" 2>"$WORK/day.err" || say "day reported a failure (lost or duplicated events, or viewers missing)"
    grep -v '^#' "$out" || true
    sort "$WORK/day.err" | uniq -c | sort -rn | head -n 5 >&2 || true
    note "load at end: $(uptime)"
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- a million held streams (issue 27 item 4) -------------------------------
if [[ $MODE == million ]]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    sizes=${MILLION_SIZES:-100000 1000000}
    idle_secs=${MILLION_IDLE_SECS:-60}
    note "held h2c streams: sizes $sizes, 1,000 per connection, idle ${idle_secs} s, then 1,000 h2c viewers timed"
    note "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), binary $BIN, load at start: $(uptime)"
    DB_URL="sqlite://$WORK/million.db?mode=rwc"
    "$BIN" seed --database-url "$DB_URL" >"$WORK/keys.txt" 2>"$WORK/seed.err"
    FAN_PROVIDER=$(fan_provider "$WORK/keys.txt")
    HOLD_ARGS=()
    while read -r provider; do HOLD_ARGS+=(--provider "$provider"); done < <(other_providers "$WORK/keys.txt" "$FAN_PROVIDER")
    cpu_secs() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
    for n in $sizes; do
        # shellcheck disable=SC2086 # MILLION_SERVER_ARGS is a list of flags
        start_server "million-$n" "$DB_URL" --no-seed ${MILLION_SERVER_ARGS:-}
        say "$n: warming up (1,000 streams opened and closed)"
        "$LOADGEN" --server "$ADDR" h2-hold --streams 1000 --connections 1 "${HOLD_ARGS[@]}" \
            >"$WORK/warmup-$n.txt" 2>"$WORK/warmup-$n.err" || say "warm-up reported a failure"
        say "$n: opening $n streams over $((n / 1000)) connections"
        "$LOADGEN" --server "$ADDR" h2-hold --streams "$n" --connections "$((n / 1000))" "${HOLD_ARGS[@]}" \
            --server-pid "$SERVER_PID" --hold >"$WORK/hold-$n.txt" 2>"$WORK/hold-$n.err" &
        hold_pid=$!
        STARTED+=("$hold_pid")
        if ! wait_for_line "$WORK/hold-$n.txt" '^holding=1' 1800 "$hold_pid"; then
            say "$n: the streams were not all opened"; tail -n 5 "$WORK/hold-$n.err" >&2
            TOTAL_LOST=$((TOTAL_LOST + 1))
        fi
        for name in h2_streams_held h2_connect_secs h2_server_rss_before_kib h2_server_rss_after_kib h2_rss_kib_per_stream; do
            figure "million_${name#h2_}_$n" "$(value "$name" "$WORK/hold-$n.txt")"
        done
        figure "million_client_rss_mib_$n" "$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$hold_pid/status")"
        # Idle: nothing but the heartbeats (and the server's own timers) runs.
        before=$(cpu_secs "$SERVER_PID")
        client_before=$(cpu_secs "$hold_pid")
        sleep "$idle_secs"
        after=$(cpu_secs "$SERVER_PID")
        client_after=$(cpu_secs "$hold_pid")
        figure "million_idle_server_cores_$n" "$(awk -v a="$before" -v b="$after" -v s="$idle_secs" 'BEGIN { printf "%.3f", (b - a) / s }')"
        figure "million_idle_client_cores_$n" "$(awk -v a="$client_before" -v b="$client_after" -v s="$idle_secs" 'BEGIN { printf "%.3f", (b - a) / s }')"
        # CPU per heartbeat: every stream writes one per 15 s (the default period).
        figure "million_idle_server_us_per_heartbeat_$n" "$(awk -v a="$before" -v b="$after" -v s="$idle_secs" -v n="$n" \
            'BEGIN { printf "%.2f", (b - a) * 1e6 / (n * s / 15) }')"
        fanout "million-$n" 1000 60 4 --h2-connections 10
        for name in latency_p50_ms latency_p99_ms latency_max_ms events_lost events_duplicated; do
            figure "million_fanout_${name}_$n" "$(value "$name" "$WORK/fanout-million-$n.txt")"
        done
        figure "million_server_rss_end_kib_$n" "$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")"
        kill -TERM "$hold_pid" 2>/dev/null || true
        wait "$hold_pid" || say "$n: h2-hold reported streams that ended early"
        stop_server
    done
    figure events_lost "$TOTAL_LOST"
    figure events_duplicated "$TOTAL_DUP"
    note "load at end: $(uptime)"
    note "finished in $((SECONDS - started_at)) s"
    exit 0
fi

# --- SQLite server ---------------------------------------------------------
DB_FILE=$WORK/sqlite.db
DB_URL="sqlite://$DB_FILE?mode=rwc"
say "seeding $((SEEDS * 3)) providers into $DB_FILE"
for _ in $(seq 1 "$SEEDS"); do
    "$BIN" seed --database-url "$DB_URL" >>"$WORK/keys.txt" 2>>"$WORK/seed.err"
done
# The fan-out provider: the first seeded one (id:key).
FAN_PROVIDER=$(fan_provider "$WORK/keys.txt")
start_server sqlite "$DB_URL" --no-seed

# Plain HTTP: /healthz, 200 and 304 on the 7-day availability.
# Interleaved rounds, medians reported: wrk on this box varies by +-15 %
# from run to run, and interleaving keeps drift out of the ratios.
etag_info
say "wrk: $WRK_ROUNDS round(s) of ${WRK_SECS}s each: /healthz, $AV_PATH (200), same with If-None-Match (304)"
start_baseline
HELLOS=() GET200S=() INM304S=() BASE_HELLOS=()
for round in $(seq 1 "$WRK_ROUNDS"); do
    BASE_HELLOS+=("$(WRK_ADDR=$BASE_ADDR wrk_rps "base-hello-$round" /healthz)")
    HELLOS+=("$(wrk_rps "hello-$round" /healthz)")
    GET200S+=("$(wrk_rps "get200-$round" "$AV_PATH")")
    etag_info
    INM304S+=("$(wrk_rps "inm304-$round" "$AV_PATH" "If-None-Match: $ETAG")")
done
HELLO=$(median "${HELLOS[@]}")
GET200=$(median "${GET200S[@]}")
INM304=$(median "${INM304S[@]}")
BASE_HELLO=$(median "${BASE_HELLOS[@]}")
note "wrk -t1 -c64, ${WRK_SECS}s runs, medians of: hello ${HELLOS[*]}; 304 ${INM304S[*]}; 200 ${GET200S[*]}; baseline hello ${BASE_HELLOS[*]}"
figure baseline_hello_rps "$BASE_HELLO"
figure hello_vs_baseline "$(ratio "$HELLO" "$BASE_HELLO")"
figure inm_304_vs_baseline_hello "$(ratio "$INM304" "$BASE_HELLO")"
figure hello_rps "$HELLO"
figure inm_304_rps "$INM304"
figure inm_304_ratio "$(ratio "$INM304" "$HELLO")"
figure get_200_rps "$GET200"
figure get_200_ratio "$(ratio "$GET200" "$HELLO")"

# Fan-out at 1,000.
fanout 1k "$FAN_SMALL" "$FAN_SMALL_EVENTS" "$FAN_SMALL_RATE"
P50_1K=$(value latency_p50_ms "$WORK/fanout-1k.txt")
P99_1K=$(value latency_p99_ms "$WORK/fanout-1k.txt")
fanout base-1k "$FAN_SMALL" "$FAN_SMALL_EVENTS" "$FAN_SMALL_RATE"
BASE_P99_1K=$(value latency_p99_ms "$WORK/fanout-base-1k.txt")

# Slot holds (issue 11): a customer takes a hold on a free slot, then
# releases it (alternating); every subscriber is another viewer of that
# provider. Figures are printed with the fan-out ones below.
fanout holds "$FAN_HOLDS" "$FAN_HOLDS_EVENTS" "$FAN_HOLDS_RATE" --via holds

# Many providers on one connection (issue 14). The batch GET over
# MANY_PROVIDERS providers answering 304, against the single GET's 304; then
# a fan-out where every subscriber watches all of them on ONE stream.
# (awk takes the first n itself: `| head` could end it with SIGPIPE, fatal under pipefail.)
MANY_IDS=$(awk -v n="$MANY_PROVIDERS" 'match($0, / id=[^ ]+ key=[^ ]+$/) && taken++ < n {
    split(substr($0, RSTART + 1), f, /[ =]/); print f[2] }' "$WORK/keys.txt" | paste -sd, -)
BATCH_PATH="/api/v1/availability?providerIds=$MANY_IDS&days=7"
BATCH_ETAG=$(curl -sf -D - -o /dev/null "http://$ADDR$BATCH_PATH" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')
say "wrk: $WRK_ROUNDS round(s): batch GET over $MANY_PROVIDERS providers with If-None-Match (304)"
BATCH304S=()
for round in $(seq 1 "$WRK_ROUNDS"); do
    BATCH304S+=("$(wrk_rps "batch304-$round" "$BATCH_PATH" "If-None-Match: $BATCH_ETAG")")
done
BATCH304=$(median "${BATCH304S[@]}")
note "batch GET 304 over $MANY_PROVIDERS providers: ${BATCH304S[*]} rps (median $BATCH304); the ratio divides by inm_304_rps (one provider)"
figure batch_304_rps "$BATCH304"
figure batch_304_ratio "$(ratio "$BATCH304" "$INM304")"
# The first seeded provider is FAN_PROVIDER (fanout adds it); the next ones make up the rest.
MANY_ARGS=(--many)
while read -r provider; do MANY_ARGS+=(--provider "$provider"); done < <(awk 'match($0, / id=[^ ]+ key=[^ ]+$/) {
    split(substr($0, RSTART + 1), f, /[ =]/); print f[2] ":" f[4] }' "$WORK/keys.txt" | sed -n "2,${MANY_PROVIDERS}p")
fanout many "$MANY_N" "$MANY_EVENTS" "$MANY_RATE" "${MANY_ARGS[@]}"
MANY_OUT=$WORK/fanout-many.txt
note "many-providers fan-out: $(value subscribers_held "$MANY_OUT") subscribers x $(value providers "$MANY_OUT") providers on one stream each," \
    "$(value events_committed "$MANY_OUT") events at $MANY_RATE/s, $(value deliveries "$MANY_OUT") deliveries," \
    "server $(value server_cpu_us_per_delivery "$MANY_OUT") us CPU per delivery"
figure many_fanout_p50_ms "$(value latency_p50_ms "$MANY_OUT")"
figure many_fanout_p99_ms "$(value latency_p99_ms "$MANY_OUT")"
figure many_fanout_events_lost "$(value events_lost "$MANY_OUT")"
figure many_fanout_events_duplicated "$(value events_duplicated "$MANY_OUT")"

# 304s while subscribers are held.
say "holding $HOLD_N subscribers while wrk asks for 304s"
"$LOADGEN" --server "$ADDR" hold -n "$HOLD_N" --provider "$FAN_PROVIDER" --hold-secs 600 \
    >"$WORK/hold.txt" 2>"$WORK/hold.err" &
HOLD_PID=$!
STARTED+=("$HOLD_PID")
wait_for_line "$WORK/hold.txt" '^holding=1' 300 || { say "hold did not connect"; cat "$WORK/hold.err" >&2; exit 1; }
etag_info
INM304_STREAMS_RUNS=()
for round in $(seq 1 "$WRK_ROUNDS"); do
    INM304_STREAMS_RUNS+=("$(wrk_rps "inm304-streams-$round" "$AV_PATH" "If-None-Match: $ETAG")")
done
INM304_STREAMS=$(median "${INM304_STREAMS_RUNS[@]}")
HELLO_STREAMS=$(wrk_rps hello-streams /healthz)
kill -TERM "$HOLD_PID"
wait "$HOLD_PID" || say "hold reported streams that ended early"
HOLD_HELD=$(value subscribers_held "$WORK/hold.txt")
if [[ $MODE == quick ]]; then
    note "quick mode: inm_304_ratio_with_streams with $HOLD_HELD subscribers held (full mode: 10,000)"
else
    note "inm_304_ratio_with_streams with $HOLD_HELD subscribers held"
fi
note "with streams held: 304 ${INM304_STREAMS_RUNS[*]} rps (median $INM304_STREAMS), hello $HELLO_STREAMS rps; the ratio divides by hello_rps without streams"
figure inm_304_ratio_with_streams "$(ratio "$INM304_STREAMS" "$HELLO")"

# Fan-out at 10,000 (quick: 5,000).
fanout mid "$FAN_MID" "$FAN_MID_EVENTS" "$FAN_MID_RATE"
P99_MID=$(value latency_p99_ms "$WORK/fanout-mid.txt")
fanout base-mid "$FAN_MID" "$FAN_MID_EVENTS" "$FAN_MID_RATE"
BASE_P99_MID=$(value latency_p99_ms "$WORK/fanout-base-mid.txt")

stop_server

# The largest fan-out on a fresh server, with its memory growth.
start_server sqlite-max "$DB_URL" --no-seed
say "warming the fresh server up (500 subscribers, 10 events)"
fanout warmup 500 10 50
fanout max "$FAN_MAX" "$FAN_MAX_EVENTS" "$FAN_MAX_RATE"
HELD=$(value subscribers_held "$WORK/fanout-max.txt")
RSS_PER=$(value rss_kib_per_subscriber "$WORK/fanout-max.txt")
P99_MAX=$(value latency_p99_ms "$WORK/fanout-max.txt")
stop_server
# HTTP/2 (issue 15): many streams over few h2c connections, on a fresh
# server, spread over every seeded provider but the fan-out one; while they
# are held, H2_FAN_N viewers of the fan-out provider over h2c are timed.
start_server sqlite-h2 "$DB_URL" --no-seed
say "h2: $H2_STREAMS streams over $H2_CONNECTIONS h2c connections"
H2_HOLD_ARGS=()
while read -r provider; do H2_HOLD_ARGS+=(--provider "$provider"); done < <(other_providers "$WORK/keys.txt" "$FAN_PROVIDER")
# Warmed up first, as the HTTP/1.1 figure is: 1,000 h2 streams over the
# same providers, opened and closed, so that the figure is what a held stream
# costs, not the first stream's one-time costs (each provider's cold
# directory entry, which the first burst waits on) spread over the rest.
say "warming the fresh server up (1,000 h2 streams)"
"$LOADGEN" --server "$ADDR" h2-hold --streams 1000 --connections 2 "${H2_HOLD_ARGS[@]}" \
    >"$WORK/h2-warmup.txt" 2>"$WORK/h2-warmup.err" || say "h2 warm-up reported a failure"
"$LOADGEN" --server "$ADDR" h2-hold --streams "$H2_STREAMS" --connections "$H2_CONNECTIONS" \
    "${H2_HOLD_ARGS[@]}" --server-pid "$SERVER_PID" --hold >"$WORK/h2.txt" 2>"$WORK/h2.err" &
H2_HOLD_PID=$!
STARTED+=("$H2_HOLD_PID")
if wait_for_line "$WORK/h2.txt" '^holding=1' 600 "$H2_HOLD_PID"; then
    fanout h2 "$H2_FAN_N" "$FAN_SMALL_EVENTS" "$FAN_SMALL_RATE" --h2-connections "$H2_FAN_CONNECTIONS"
else
    say "h2-hold did not report"; tail -n 5 "$WORK/h2.err" >&2
    TOTAL_LOST=$((TOTAL_LOST + 1))
fi
kill -TERM "$H2_HOLD_PID" 2>/dev/null || true
wait "$H2_HOLD_PID" || { say "h2-hold reported a failure"; tail -n 5 "$WORK/h2.err" >&2; }
stop_server

# Reconnect storm (issue 15): STORM_N EventSource-like subscribers of the
# fan-out provider while it makes events; once every subscriber has a
# Last-Event-ID, the server is killed (SIGKILL: a crash, with no graceful
# end of streams, and nothing of the shutdown in the figure) and started
# again on the same port and database. loadgen times from the restarted
# server listening (the time this script writes) until every subscriber is
# current again, and reads the queries it cost from the new server's /metrics.
start_server sqlite-storm "$DB_URL" --no-seed
say "storm: $STORM_N subscribers, events at $STORM_RATE/s, server killed and restarted"
RESTARTED=$WORK/storm-restarted-at
"$LOADGEN" --server "$ADDR" storm -n "$STORM_N" --provider "$FAN_PROVIDER" --rate "$STORM_RATE" \
    --restarted-file "$RESTARTED" >"$WORK/storm.txt" 2>"$WORK/storm.err" &
STORM_PID=$!
STARTED+=("$STORM_PID")
if wait_for_line "$WORK/storm.txt" '^storm_kill=1' 300 "$STORM_PID"; then
    crash_server
    # A supervisor's restart delay, if asked for (not a wait for a condition:
    # how long the server stays down is the experiment's parameter).
    sleep "$STORM_DOWN_SECS"
    start_server sqlite-storm-restarted "$DB_URL" --no-seed
    date +%s.%N >"$RESTARTED.tmp"
    mv "$RESTARTED.tmp" "$RESTARTED"
else
    say "storm subscribers did not get ready"
fi
wait "$STORM_PID" || { say "storm reported a failure"; tail -n 5 "$WORK/storm.err" >&2; }
STORM_OUT=$WORK/storm.txt
STORM_LOST=$(value events_lost "$STORM_OUT")
STORM_DUP=$(value events_duplicated "$STORM_OUT")
TOTAL_LOST=$((TOTAL_LOST + ${STORM_LOST:-1}))
TOTAL_DUP=$((TOTAL_DUP + ${STORM_DUP:-0}))
say "storm: $(value reconnect_subscribers "$STORM_OUT") reconnected, current after $(value reconnect_storm_secs "$STORM_OUT") s," \
    "lost ${STORM_LOST:-?}, duplicated ${STORM_DUP:-?}"
stop_server

# Bookings on SQLite, then contention: last of the SQLite steps, on a fresh
# server, because booking may take every free slot (quick mode does) and
# the fan-outs need free slots of the fan-out provider to make events.
start_server sqlite-book "$DB_URL" --no-seed
say "booking on SQLite: $BOOK_CLIENTS clients for ${BOOK_SECS}s over $((SEEDS * 3)) providers"
"$LOADGEN" --server "$ADDR" book --clients "$BOOK_CLIENTS" --duration-secs "$BOOK_SECS" \
    --contention "$CONTENTION" --contention-rounds "$CONTENTION_ROUNDS" \
    >"$WORK/book-sqlite.txt" 2>"$WORK/book-sqlite.err" || {
    say "booking on SQLite reported a failure"; cat "$WORK/book-sqlite.err" >&2; }
BOOK_SQLITE=$(value booking_rps "$WORK/book-sqlite.txt")
DOUBLE=$(value contended_double_bookings "$WORK/book-sqlite.txt")
DOUBLE=${DOUBLE:-nan}
if [[ $(value booking_queue_exhausted "$WORK/book-sqlite.txt") == true ]]; then
    note "booking_rps_sqlite: ran out of free slots before ${BOOK_SECS}s (rate over the time it ran)"
fi
stop_server

# The baseline's largest fan-out, on a fresh process too (its memory growth).
start_baseline
fanout base-max "$FAN_MAX" "$FAN_MAX_EVENTS" "$FAN_MAX_RATE"
BASE_P99_MAX=$(value latency_p99_ms "$WORK/fanout-base-max.txt")
BASE_RSS_PER=$(value rss_kib_per_subscriber "$WORK/fanout-base-max.txt")
stop_baseline

if [[ $MODE == quick ]]; then
    note "quick mode: fanout_p99_ms_10k measured at $FAN_MID subscribers, fanout_p99_ms_max at $FAN_MAX (full mode: 10,000 and 19,000)"
fi
figure subscribers_held "$HELD"
note "server RSS $(value server_rss_before_kib "$WORK/fanout-max.txt") KiB -> $(value server_rss_after_kib "$WORK/fanout-max.txt") KiB with $HELD subscribers"
figure rss_kib_per_subscriber "$RSS_PER"
figure fanout_p50_ms_1k "$P50_1K"
figure fanout_p99_ms_1k "$P99_1K"
figure fanout_p99_ms_10k "$P99_MID"
figure fanout_p99_ms_max "$P99_MAX"
cpu_note() { echo "$(value subscribers_held "$WORK/fanout-$1.txt") subs: server $(value server_cpu_us_per_delivery "$WORK/fanout-$1.txt") us, loadgen $(value loadgen_cpu_us_per_delivery "$WORK/fanout-$1.txt") us"; }
note "CPU per delivered event: $(cpu_note 1k); $(cpu_note mid); $(cpu_note max)"
note "baseline (bare axum broadcaster): p99 $BASE_P99_1K / $BASE_P99_MID / $BASE_P99_MAX ms at 1k / mid / max," \
    "$BASE_RSS_PER KiB per subscriber, CPU per delivery: $(cpu_note base-max)"
figure baseline_fanout_p99_ms_1k "$BASE_P99_1K"
figure baseline_fanout_p99_ms_10k "$BASE_P99_MID"
figure baseline_fanout_p99_ms_max "$BASE_P99_MAX"
figure baseline_rss_kib_per_subscriber "$BASE_RSS_PER"
figure fanout_p99_vs_baseline_1k "$(ratio "$P99_1K" "$BASE_P99_1K")"
figure fanout_p99_vs_baseline_10k "$(ratio "$P99_MID" "$BASE_P99_MID")"
figure fanout_p99_vs_baseline_max "$(ratio "$P99_MAX" "$BASE_P99_MAX")"
figure rss_vs_baseline "$(ratio "$RSS_PER" "$BASE_RSS_PER")"
note "h2: $(value h2_streams_held "$WORK/h2.txt") of $H2_STREAMS streams held over $H2_CONNECTIONS connections" \
    "and $(value h2_providers "$WORK/h2.txt") providers in $(value h2_connect_secs "$WORK/h2.txt") s;" \
    "server RSS $(value h2_server_rss_before_kib "$WORK/h2.txt") KiB -> $(value h2_server_rss_after_kib "$WORK/h2.txt") KiB"
figure h2_streams_held "$(value h2_streams_held "$WORK/h2.txt")"
figure h2_rss_kib_per_stream "$(value h2_rss_kib_per_stream "$WORK/h2.txt")"
H2_FAN_OUT=$WORK/fanout-h2.txt
note "h2 fan-out: $(value subscribers_held "$H2_FAN_OUT") viewers over $H2_FAN_CONNECTIONS h2c connections," \
    "$(value events_committed "$H2_FAN_OUT") events at $FAN_SMALL_RATE/s, while $(value h2_streams_held "$WORK/h2.txt")" \
    "other streams are held; server $(value server_cpu_us_per_delivery "$H2_FAN_OUT") us CPU per delivery"
if [[ $MODE == quick ]]; then
    note "quick mode: h2_fanout_*_100k measured with $H2_STREAMS streams held (full mode: 100,000)"
fi
figure h2_fanout_p50_ms_100k "$(value latency_p50_ms "$H2_FAN_OUT")"
figure h2_fanout_p99_ms_100k "$(value latency_p99_ms "$H2_FAN_OUT")"
figure h2_fanout_events_lost "$(value events_lost "$H2_FAN_OUT")"
figure h2_fanout_events_duplicated "$(value events_duplicated "$H2_FAN_OUT")"
note "storm: $(value reconnect_subscribers "$STORM_OUT") of $STORM_N subscribers reopened on the restarted server" \
    "(first stream end to listening $(value reconnect_outage_secs "$STORM_OUT") s; reopened p50 / max" \
    "$(value reconnect_reopened_p50_secs "$STORM_OUT") / $(value reconnect_reopened_max_secs "$STORM_OUT") s after listening;" \
    "advised retry $(value retry_advised_min_ms "$STORM_OUT")-$(value retry_advised_max_ms "$STORM_OUT") ms;" \
    "$(value reconnect_failed_attempts "$STORM_OUT") failed attempts); start reads $(value reconnect_stream_start_reads "$STORM_OUT")," \
    "log reads $(value reconnect_log_reads "$STORM_OUT")"
if [[ $MODE == quick ]]; then
    note "quick mode: reconnect_* with $STORM_N subscribers (full mode: 19,000)"
fi
figure reconnect_subscribers "$(value reconnect_subscribers "$STORM_OUT")"
figure reconnect_storm_secs "$(value reconnect_storm_secs "$STORM_OUT")"
figure reconnect_storm_p50_secs "$(value reconnect_storm_p50_secs "$STORM_OUT")"
figure reconnect_db_queries_per_subscriber "$(value reconnect_db_queries_per_subscriber "$STORM_OUT")"
figure reconnect_events_lost "${STORM_LOST:-nan}"
figure reconnect_events_duplicated "${STORM_DUP:-nan}"
HOLDS_OUT=$WORK/fanout-holds.txt
note "holds: $(value subscribers_held "$HOLDS_OUT") other viewers, $(value hold_deliveries "$HOLDS_OUT") held frames delivered," \
    "$(value hold_requests_ok "$HOLDS_OUT") holds and $(value release_requests_ok "$HOLDS_OUT") releases at $FAN_HOLDS_RATE events/s;" \
    "hold latency is changedAt -> receipt of the held frame, hold_sent_to_receipt from sending the hold POST"
for q in p50 p90 p99 max; do figure "hold_latency_${q}_ms" "$(value "hold_latency_${q}_ms" "$HOLDS_OUT")"; done
for q in p50 p99 max; do figure "hold_sent_to_receipt_${q}_ms" "$(value "hold_sent_to_receipt_${q}_ms" "$HOLDS_OUT")"; done
for q in p50 p90 p99 max; do figure "hold_request_${q}_ms" "$(value "hold_request_${q}_ms" "$HOLDS_OUT")"; done
figure release_request_p50_ms "$(value release_request_p50_ms "$HOLDS_OUT")"
figure events_lost "$TOTAL_LOST"
figure events_duplicated "$TOTAL_DUP"
figure booking_rps_sqlite "$BOOK_SQLITE"

# --- PostgreSQL: bookings --------------------------------------------------
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up && [[ $MODE == full ]] && command -v pg_ctlcluster >/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start >&2 || true
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
if pg_up; then
    PG_DB=slotstream_bench_$$
    psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    PG_URL="$PG_BASE/$PG_DB"
    say "seeding $((SEEDS * 3)) providers into PostgreSQL $PG_DB"
    for _ in $(seq 1 "$SEEDS"); do
        "$BIN" seed --database-url "$PG_URL" >>"$WORK/keys-pg.txt" 2>>"$WORK/seed-pg.err"
    done
    start_server postgres "$PG_URL" --no-seed
    say "booking on PostgreSQL: $BOOK_CLIENTS clients for ${BOOK_SECS}s"
    "$LOADGEN" --server "$ADDR" book --clients "$BOOK_CLIENTS" --duration-secs "$BOOK_SECS" \
        --contention "$CONTENTION" --contention-rounds "$CONTENTION_ROUNDS" \
        >"$WORK/book-pg.txt" 2>"$WORK/book-pg.err" || {
        say "booking on PostgreSQL reported a failure"; cat "$WORK/book-pg.err" >&2; }
    stop_server
    if [[ $(value booking_queue_exhausted "$WORK/book-pg.txt") == true ]]; then
        note "booking_rps_postgres: ran out of free slots before ${BOOK_SECS}s (rate over the time it ran)"
    fi
    figure booking_rps_postgres "$(value booking_rps "$WORK/book-pg.txt")"
    PG_DOUBLE=$(value contended_double_bookings "$WORK/book-pg.txt")
    if [[ $DOUBLE == nan || -z $PG_DOUBLE ]]; then DOUBLE=nan; else DOUBLE=$((DOUBLE + PG_DOUBLE)); fi
    note "contended_double_bookings: SQLite and PostgreSQL, $CONTENTION_ROUNDS rounds of $CONTENTION concurrent POSTs each"
else
    note "PostgreSQL not reachable at $PG_BASE: booking_rps_postgres skipped"
    figure booking_rps_postgres skipped
    note "contended_double_bookings: SQLite, $CONTENTION_ROUNDS rounds of $CONTENTION concurrent POSTs"
fi
figure contended_double_bookings "$DOUBLE"
figure seed_poll_latency_ratio "$(ratio 7500 "$P50_1K")"
note "finished in $((SECONDS - started_at)) s"
