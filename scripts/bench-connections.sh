#!/usr/bin/env bash
# Connection benchmark: what idle long-lived connections cost the server, and what happens at
# the connection limit. A report, not a pass/fail check.
#
#  1. WebSockets: a fresh instance (SQLite), N connections to /v1/ws, each authenticated by its
#     Authorization header and subscribed to one of BENCH_THREADS threads, left idle for
#     BENCH_IDLE_SECS (longer than the 15 s heartbeat, so pings and pongs run). The server's RSS
#     (VmRSS in /proc/PID/status) before and with them open: total and KiB per connection; then
#     a message is appended to 3 threads and every socket subscribed there must receive its
#     message.created (counted, with the post-to-delivery time). After closing them: the RSS, and
#     how long until the server's own gauge (chat_websocket_connections on /metrics) is back to 0.
#  2. SSE followers: a fresh instance whose echo model waits an hour before its first word;
#     BENCH_THREADS replies are started (and keep running), then N followers
#     (GET /v1/threads/{t}/messages/{m}/stream, long-lived) spread over them, idle. The same RSS
#     figures; then 3 replies are cancelled and every follower of each must receive
#     message.cancelled; after the close, the time until chat_sse_followers is back to 0. (There
#     is no thread-wide SSE stream: following a running reply is the long-lived SSE GET the API
#     has. The replies are started with the WebSocket op messages.send.)
#  3. The limit: an instance with server.max_connections = BENCH_LIMIT (100), BENCH_LIMIT idle
#     WebSockets, then one more HTTP request (GET /healthz) with a BENCH_TIMEOUT_SECS (5 s)
#     timeout: refused at once (status and body, or closed) or hangs; if it hangs, whether it is
#     answered once one connection closes. The same with silent TCP connections (no request).
#
# Targets printed next to the figures: 10,000 WebSockets < 256 MiB RSS, 10,000 SSE followers
# < 160 MiB.
#
#   scripts/bench-connections.sh                                   # full: N = 10,000
#   BENCH_BIN=/tmp/ct BENCH_CONNECTIONS=200 BENCH_IDLE_SECS=2 scripts/bench-connections.sh
#
# Knobs: BENCH_CONNECTIONS (10000), BENCH_THREADS (100: threads / running replies the
# connections spread over), BENCH_IDLE_SECS (20), BENCH_LIMIT (100), BENCH_TIMEOUT_SECS (5),
# BENCH_PHASES ("ws sse limit"), BENCH_BIN (the binary to run; without it the release binary is
# built with cargo), BENCH_WORKERS (server.workers; default: the service's, one per core).
#
# The client is one Python process (standard library only: asyncio protocols with hand-written
# HTTP/1.1, WebSocket and SSE, scripts/bench/netclient.py), a few KiB per connection. Everything
# talks to 127.0.0.1. The open-files limit is raised as far as the hard limit allows; the server
# is started with CHAT_THREADS__SERVER__MAX_CONNECTIONS = N + 1000 and the rate limit off.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

N="${BENCH_CONNECTIONS:-10000}"
THREADS="${BENCH_THREADS:-100}"
IDLE="${BENCH_IDLE_SECS:-20}"
LIMIT="${BENCH_LIMIT:-100}"
TIMEOUT="${BENCH_TIMEOUT_SECS:-5}"
PHASES="${BENCH_PHASES:-ws sse limit}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if [ "$FDS" != unlimited ] && [ "$FDS" -lt $((N + 500)) ]; then
    echo "bench: the open-files limit is $FDS (hard $(ulimit -Hn)): too low for $N connections" >&2
    exit 1
fi

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
BIN=$(bench_binary)
PY=python3
CLIENT="$PWD/scripts/bench/connections.py"

WORK=$(mktemp -d)
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a fresh SQLite instance in $WORK/$1 with extra VAR=value settings; prints its base URL.
start() {
    local name=$1 dir="$WORK/$1"
    shift
    mkdir -p "$dir"
    (cd "$dir" && exec env CHAT_THREADS__DATABASE__URL="sqlite://$dir/bench.db" \
        CHAT_THREADS__SERVER__PORT=0 CHAT_THREADS__RATE_LIMIT__ENABLED=false \
        CHAT_THREADS__LOG__LEVEL=warn CHAT_THREADS__GENERATION__SHUTDOWN_GRACE_SECS=1 \
        CHAT_THREADS__SERVER__SHUTDOWN_TIMEOUT_SECS=2 \
        CHAT_THREADS__SERVER__MAX_CONNECTIONS=$((N + 1000)) \
        ${BENCH_WORKERS:+CHAT_THREADS__SERVER__WORKERS=$BENCH_WORKERS} \
        "$@" "$BIN" serve >"$dir/out.log" 2>&1) &
    await_instance "$name" "$!"
}
token() {
    CHAT_THREADS__DATABASE__URL="sqlite://$WORK/$1/bench.db" CHAT_THREADS__LOG__LEVEL=error \
        "$BIN" token --sub bench --ttl 2h | tail -n 1
}
# Prints what the instance logged at warn level or above (errors while connections were held).
log_summary() {
    local log="$WORK/$1/out.log" lines
    lines=$(grep -v "listening on" "$log" | grep -c . || true)
    if [ "$lines" -gt 0 ]; then
        echo "  server log: $lines lines at warn or above; the most frequent:"
        grep -v "listening on" "$log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8}-[0-9a-f-]{27}/<id>/g' |
            cut -c1-160 | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
    fi
}

echo "bench-connections: binary $BIN, N=$N, threads=$THREADS, idle ${IDLE}s, open files $FDS," \
    "$(nproc) cores"
for phase in $PHASES; do
    case "$phase" in
        ws)
            base=$(start ws)
            client "$PY" "$CLIENT" ws "$base" "$(token ws)" "$(cat "$WORK/ws/pid")" "$N" "$THREADS" "$IDLE"
            log_summary ws
            stop "$(cat "$WORK/ws/pid")"
            ;;
        sse)
            base=$(start sse CHAT_THREADS__MODELS__ECHO__DELAY_MS=3600000)
            client "$PY" "$CLIENT" sse "$base" "$(token sse)" "$(cat "$WORK/sse/pid")" "$N" "$THREADS" "$IDLE"
            log_summary sse
            stop "$(cat "$WORK/sse/pid")"
            ;;
        limit)
            base=$(start limit CHAT_THREADS__SERVER__MAX_CONNECTIONS="$LIMIT")
            client "$PY" "$CLIENT" limit "$base" "$(token limit)" "$(cat "$WORK/limit/pid")" "$LIMIT" "$TIMEOUT"
            log_summary limit
            stop "$(cat "$WORK/limit/pid")"
            ;;
        *) echo "bench: unknown phase $phase (ws, sse, limit)" >&2; exit 1 ;;
    esac
done
