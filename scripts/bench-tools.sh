#!/usr/bin/env bash
# Tool-round benchmark: the service's own time per tool round, excluding the model. The
# built-in echo model answers at once (models.echo.delay_ms = 0) and calls tools
# deterministically (a user message `call NAME {json}` with NAME offered makes the reply call
# it), so what a round takes is what the service spends on it: HTTP, auth, JSON, storing the
# messages and the reply's parts, the reply machinery and its events — and, for MCP rounds, its
# MCP client. A report, not a pass/fail check.
#
# Per backend (SQLite; PostgreSQL on a fresh database, ct_bench_tools_<ts>, dropped at the end)
# and per concurrency c (closed loop: c workers, each sending its next round as soon as the
# last is answered), BENCH_SECS seconds each:
#  1. chat: a plain chat (~300-byte message, no tools; the reply echoes it) — rounds/s, p50/p99;
#  2. tool round: a chat offering three tools whose ~300-byte message is `call weather {json}`
#     (the padding inside the JSON arguments), answered 201 with the reply in requires_action
#     and its tool_call, then POST .../messages/{reply}/tool_results with a ~1 KB output (and
#     the same tools), answered 201 with the reply complete ("Echo: " + the output): the latency
#     of each request and of the round (their sum), p50/p99;
#  3. MCP round: a chat naming the MCP server `calc` (tests/support/mcp_server.py, with its
#     x-api-key header from the environment) whose message is `call add {"a": 2, "b": 3}`: the
#     service lists the server's tools, runs `add` on it and the model answers "Echo: 5" —
#     p50/p99; then the MCP server alone, called directly by the client (tools/list and
#     tools/call over its streamable HTTP JSON mode, stateless: no initialize) at the same c,
#     and the MCP round minus the MCP server's own time — its tools/call, and its tools/list +
#     tools/call, both at c = 1 (uncontended; measured even when BENCH_CONCURRENCY lacks 1) —
#     as differences of percentiles;
# with the service's CPU time per round (utime + stime from /proc/PID/stat over the phase,
# divided by its rounds), and the ratios tool round / chat and MCP round / chat (p50, p99, CPU).
# Each chat goes to a thread of its own worker (threads made up front, not timed, each used for
# at most BENCH_ROUNDS_PER_THREAD rounds: see scripts/bench/tools.py). A warm-up of 20 rounds of
# each kind runs first, at c = 1, not in the table; a kind that fails there is not measured.
# Every request is checked (status and reply); any non-2xx answer, unexpected reply or socket
# error is counted, reported, and makes the script exit non-zero. A latency runs from writing
# the request to the end of its answer (one connection per request). Reading the figures: the
# tool_results reply echoes the ~1 KB output (~160 deltas, stored and published) where a plain
# chat's echoes ~300 bytes (~55); the direct MCP calls open a connection each where the
# service keeps its own; an MCP round's latency may be mostly waiting (compare its CPU).
#
#   scripts/bench-tools.sh                                                  # full: 10 s a point
#   BENCH_BIN=target/debug/chat-threads BENCH_SECS=2 scripts/bench-tools.sh # a quick look
#   BENCH_BACKENDS=sqlite BENCH_CONCURRENCY=8 scripts/bench-tools.sh        # one backend, one c
#
# Knobs: BENCH_SECS (10: seconds per phase), BENCH_CONCURRENCY ("1 8"), BENCH_BACKENDS
# ("sqlite postgres"), BENCH_ROUNDS_PER_THREAD (4), BENCH_DB_POOL (16: database.max_connections),
# BENCH_BIN (the binary to run; without it the release binary is built with cargo). PostgreSQL
# needs the server scripts/ensure-postgres.sh provides (and psql); the MCP server runs on the
# project's tools python (scripts/python-tools.sh, installed there on first use). The client is
# one Python process, standard library only (scripts/bench/netclient.py); the service, the MCP
# server and the client share the machine's cores (their CPU shares are printed per phase).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

SECS="${BENCH_SECS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 8}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PER_THREAD="${BENCH_ROUNDS_PER_THREAD:-4}"
POOL="${BENCH_DB_POOL:-16}"
# shellcheck disable=SC2086 # one word a level
for v in "$SECS" "$PER_THREAD" "$POOL" $CONCURRENCY; do
    case "$v" in
        '' | *[!0-9]* | 0)
            echo "bench: BENCH_SECS, BENCH_CONCURRENCY, BENCH_ROUNDS_PER_THREAD and" \
                "BENCH_DB_POOL take whole numbers > 0, not '$v'" >&2
            exit 1 ;;
    esac
done
uses() { [[ " $BACKENDS " == *" $1 "* ]]; }
for backend in $BACKENDS; do
    case "$backend" in
        sqlite | postgres) ;;
        *) echo "bench: unknown backend $backend (sqlite, postgres)" >&2; exit 1 ;;
    esac
done

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
BIN=$(bench_binary)
BIN=$(realpath "$BIN")     # the instances run in their own folders
TOOLS_PY=$(scripts/python-tools.sh)
if uses postgres; then
    ADMIN_URL=$(scripts/ensure-postgres.sh)
    command -v psql >/dev/null || { echo "bench: psql is missing" >&2; exit 1; }
fi

WORK=$(mktemp -d)
DB="ct_bench_tools_$(date +%s)_$$"
cleanup() {
    stop_all
    if uses postgres; then
        psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if uses postgres; then
    psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
    PG_URL="${ADMIN_URL%/*}/$DB"
fi

# The MCP server (one for the whole run): its URL in MCP_URL.
MCP_KEY=secret-1    # the key tests/support/mcp_server.py wants in x-api-key
mkdir -p "$WORK/mcp"
"$TOOLS_PY" tests/support/mcp_server.py >"$WORK/mcp/out.log" 2>&1 &
MCP_PID=$!
echo "$MCP_PID" >>"$WORK/pids"
MCP_PORT=""
for _ in $(seq 1 300); do
    MCP_PORT=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$WORK/mcp/out.log" 2>/dev/null)
    [ -z "$MCP_PORT" ] || break
    kill -0 "$MCP_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$MCP_PORT" ]; then
    echo "bench: the MCP server did not start:" >&2
    cat "$WORK/mcp/out.log" >&2
    exit 1
fi
MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"

# The settings of instance $1 (its database in $WORK/$1 or the PostgreSQL database), one
# VAR=value a line: the server and `chat-threads token` run with the same.
settings() {
    if [ "$1" = sqlite ]; then
        echo "CHAT_THREADS__DATABASE__URL=sqlite://$WORK/$1/bench.db"
    else
        echo "CHAT_THREADS__DATABASE__URL=$PG_URL"
    fi
    cat <<EOF
CHAT_THREADS__DATABASE__MAX_CONNECTIONS=$POOL
CHAT_THREADS__SERVER__PORT=0
CHAT_THREADS__RATE_LIMIT__ENABLED=false
CHAT_THREADS__LOG__LEVEL=warn
CHAT_THREADS__REPLIES__SHUTDOWN_GRACE_SECS=1
CHAT_THREADS__SERVER__SHUTDOWN_TIMEOUT_SECS=2
CHAT_THREADS__MODELS__ECHO__DELAY_MS=0
CHAT_THREADS__MCP__SERVERS__CALC__URL=$MCP_URL
CHAT_THREADS__MCP__SERVERS__CALC__HEADERS__X_API_KEY=CALC_MCP_KEY
CALC_MCP_KEY=$MCP_KEY
EOF
}
# Starts the instance of backend $1 in $WORK/$1; prints its base URL.
start() {
    local name=$1 dir="$WORK/$1"
    local -a vars
    mkdir -p "$dir"
    mapfile -t vars < <(settings "$name")
    (cd "$dir" && exec env "${vars[@]}" "$BIN" serve >"$dir/out.log" 2>&1) &
    await_instance "$name" "$!"
}
token() {
    local dir="$WORK/$1"
    local -a vars
    mapfile -t vars < <(settings "$1")
    (cd "$dir" && env "${vars[@]}" CHAT_THREADS__LOG__LEVEL=error "$BIN" token --sub bench --ttl 2h |
        tail -n 1)
}
# Prints what instance $1 logged at warn level or above. (sed, not head: head would leave while
# sort still writes, and under pipefail that SIGPIPE would end the script.)
log_summary() {
    local log="$WORK/$1/out.log" lines
    lines=$(grep -v "listening on" "$log" | grep -c . || true)
    if [ "$lines" -gt 0 ]; then
        echo "  $1's log: $lines lines at warn or above; the most frequent:"
        grep -v "listening on" "$log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8}-[0-9a-f-]{27}/<id>/g' |
            cut -c1-160 | sort | uniq -c | sort -rn | sed -n '1,5s/^/    /p'
    fi
}

echo "bench-tools: binary $BIN, ${SECS} s a phase, c = $CONCURRENCY, backends $BACKENDS," \
    "$PER_THREAD rounds per thread at most, database pool $POOL, MCP server $MCP_URL, $(nproc) cores"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
failed=0
for backend in $BACKENDS; do
    base=$(start "$backend")
    pid=$(cat "$WORK/$backend/pid")
    client python3 scripts/bench/tools.py run "$backend" "$base" "$pid" "$(token "$backend")" \
        "$MCP_URL" "$MCP_PID" "$MCP_KEY" "$SECS" "$CONCURRENCY" "$PER_THREAD" "$RESULTS" || failed=1
    stop "$pid"
done
echo
python3 scripts/bench/tools.py report "$RESULTS" || failed=1
for backend in $BACKENDS; do log_summary "$backend"; done
if grep -qv "^READY" "$WORK/mcp/out.log"; then
    echo "  the MCP server's log (the last lines):"
    grep -v "^READY" "$WORK/mcp/out.log" | tail -n 5 | sed 's/^/    /'
fi
[ "$failed" = 0 ] || exit 1
