#!/usr/bin/env bash
# Streaming benchmark across two instances: how late and how completely reply deltas produced on
# instance A reach a client of instance B, end to end (HTTP chat on A, the model, the reply log,
# the PostgreSQL event bus, B's WebSocket fan-out, TCP). A report, not a pass/fail check.
#
# Two instances A and B share a fresh PostgreSQL database (ct_bench_stream_<ts>, dropped at the
# end). BENCH_REPLIES threads are created; each is watched by a WebSocket subscription on A and
# one on B (BENCH_WATCHERS sockets per instance, the threads spread over them). Then
# BENCH_REPLIES chats (POST /v1/threads/{t}/chat, not streamed: the reply's events are watched on
# the sockets) are sent to A, started evenly over BENCH_RAMP_SECS; the echo model streams each
# reply as BENCH_WORDS + 1 deltas, waiting BENCH_DELAY_MS before each (so ~3 s per reply by
# default, and ~10,000 deltas a second at 1,000 replies). A baseline round of 1 reply runs first.
#
# Reported per round:
#  - B's extra delay: for every delta, its arrival at the B watcher minus its arrival at the A
#    watcher (arrival = when its bytes were read from the socket), p50 / p99 / max, ms;
#  - deltas lost on B: deltas A's watchers received that no frame on B delivered (B may deliver
#    a run of deltas as one coalesced frame; that counts as delivered, see scripts/bench/stream.py);
#  - first delta - model: from writing each chat request to the reply's first delta at the
#    watcher (A and B), minus the echo model's own time to its first token (BENCH_DELAY_MS);
#  - chat sent to the reply's message.created at A (the part of the above before the model runs);
#  - anything odd: chat answers other than 201, error frames, closed sockets; CPU of A, B, the
#    client and every PostgreSQL process on the machine during the round; the peaks of A's and
#    B's chat_db_pool_in_use, chat_event_bus_queue and chat_replies_running (/metrics, 5 a second).
# A warm-up reply runs first (the first reply of a process pays for lazy start-up work): shown
# apart.
#
#   scripts/bench-stream.sh                                           # full: 1,000 replies
#   BENCH_BIN=/tmp/ct BENCH_REPLIES=50 scripts/bench-stream.sh        # a quick look
#
# Knobs: BENCH_REPLIES (1000), BENCH_WORDS (30), BENCH_DELAY_MS (100), BENCH_WATCHERS (20),
# BENCH_RAMP_SECS (1; 0 sends every chat at once), BENCH_DB_POOL (16: each instance's
# database.max_connections), BENCH_BIN (the binary to run; without it the release binary is built
# with cargo). Needs the PostgreSQL server scripts/ensure-postgres.sh provides; the client is one
# Python process, standard library only (scripts/bench/netclient.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

REPLIES="${BENCH_REPLIES:-1000}"
WORDS="${BENCH_WORDS:-30}"
DELAY="${BENCH_DELAY_MS:-100}"
WATCHERS="${BENCH_WATCHERS:-20}"
RAMP="${BENCH_RAMP_SECS:-1}"
POOL="${BENCH_DB_POOL:-16}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
BIN=$(bench_binary)
ADMIN_URL=$(scripts/ensure-postgres.sh)
command -v psql >/dev/null || { echo "bench: psql is missing" >&2; exit 1; }

WORK=$(mktemp -d)
DB="ct_bench_stream_$(date +%s)"
cleanup() {
    stop_all
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
PG_URL="${ADMIN_URL%/*}/$DB"

# Starts instance $1 on the benchmark database; prints its base URL.
start() {
    local name=$1 dir="$WORK/$1"
    mkdir -p "$dir"
    (cd "$dir" && exec env CHAT_THREADS__DATABASE__URL="$PG_URL" CHAT_THREADS__SERVER__PORT=0 \
        CHAT_THREADS__RATE_LIMIT__ENABLED=false CHAT_THREADS__LOG__LEVEL=warn \
        CHAT_THREADS__DATABASE__MAX_CONNECTIONS="$POOL" \
        CHAT_THREADS__GENERATION__SHUTDOWN_GRACE_SECS=1 \
        CHAT_THREADS__SERVER__SHUTDOWN_TIMEOUT_SECS=2 \
        CHAT_THREADS__SERVER__MAX_CONNECTIONS=$((REPLIES + 2 * WATCHERS + 1000)) \
        CHAT_THREADS__MODELS__ECHO__DELAY_MS="$DELAY" \
        "$BIN" serve >"$dir/out.log" 2>&1) &
    await_instance "$name" "$!"
}
log_summary() {
    local log="$WORK/$1/out.log" lines
    lines=$(grep -v "listening on" "$log" | grep -c . || true)
    if [ "$lines" -gt 0 ]; then
        echo "  $1's log: $lines lines at warn or above; the most frequent:"
        grep -v "listening on" "$log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8}-[0-9a-f-]{27}/<id>/g' |
            cut -c1-160 | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
    fi
}

BASE_A=$(start A)
BASE_B=$(start B)
TOKEN=$(CHAT_THREADS__DATABASE__URL="$PG_URL" CHAT_THREADS__LOG__LEVEL=error \
    "$BIN" token --sub bench --ttl 2h | tail -n 1)
echo "bench-stream: binary $BIN, $REPLIES replies of $((WORDS + 1)) deltas, ${DELAY} ms per" \
    "delta, $WATCHERS watcher sockets per instance, ramp ${RAMP} s, $(nproc) cores, database $DB"
client python3 scripts/bench/stream.py "$BASE_A" "$BASE_B" "$(cat "$WORK/A/pid")" "$(cat "$WORK/B/pid")" \
    "$TOKEN" "$REPLIES" "$WORDS" "$DELAY" "$WATCHERS" "$RAMP"
log_summary A
log_summary B
