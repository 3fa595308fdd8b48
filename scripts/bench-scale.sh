#!/usr/bin/env bash
# Scaling benchmark: 1, 2 and 3 instances of the service on one PostgreSQL database, as behind a
# load balancer — the load is split evenly over the instances (one wrk per instance, each with
# its share of the connections; req/s summed, p50 / p99 the worst instance's). Appends (~300
# bytes with metadata to a random thread) and reads (the last 50 messages of a random thread,
# ~45 KB), at each concurrency. Rate limits are on (with limits no client reaches), so the
# instances share what they spend every rate_limit.cluster_sync_ms (docs/operations.md) while
# they are measured.
#
# Prints per point: instances, op, connections, req/s, p50, p99, the CPU per request of the
# instances together (app ms) and of PostgreSQL (pg ms), and how busy the machine's cores were
# (busy %: every process's CPU time, load generator included, over elapsed time x cores) — on a
# machine where everything shares the cores, that is what saturates first. docs/scaling.md
# reads the figures.
#
#   scripts/bench-scale.sh                                   # full: 1,000 threads, 10 s a point
#   BENCH_DURATION=3s BENCH_INSTANCES="1 2" scripts/bench-scale.sh   # a quick look
#   BENCH_BIN=/path/to/chat-threads ...                     # that binary; no cargo at all
#   BENCH_POOL=16 ...                                       # each instance's database.max_connections
#   BENCH_WORKERS=0 ...                                     # each instance's server.workers (0: cores)
#   BENCH_LIMITS=off ...                                    # rate limits off (nothing shared)
#
# Any failed request fails the run. Needs wrk (installed when missing, as root) and the
# PostgreSQL server scripts/ensure-postgres.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10s}"
CONCURRENCY="${BENCH_CONCURRENCY:-12 48}"
INSTANCES="${BENCH_INSTANCES:-1 2 3}"
THREADS="${BENCH_THREADS:-1000}"
MESSAGES="${BENCH_MESSAGES:-50}"
POOL="${BENCH_POOL:-16}"
WORKERS="${BENCH_WORKERS:-0}"
LIMITS="${BENCH_LIMITS:-on}"
case "$LIMITS" in on) LIMITS=true ;; off) LIMITS=false ;; *) echo "bench: BENCH_LIMITS is on or off" >&2; exit 1 ;; esac
SECS="${DURATION%s}"
case "$SECS" in
    '' | *[!0-9]*) echo "bench: BENCH_DURATION must be whole seconds (10s), not $DURATION" >&2; exit 1 ;;
esac

# shellcheck source=scripts/bench/wrk.sh
. scripts/bench/wrk.sh
ADMIN_URL=$(scripts/ensure-postgres.sh)
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
BIN=$(realpath "$(bench_binary)")

WORK=$(mktemp -d)
DB="ct_scale_$(date +%s)_$$"
cleanup() {
    stop_all
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
PG_URL="${ADMIN_URL%/*}/$DB"
CONTENT=$(python3 scripts/bench/preload.py content)
METADATA=$(python3 scripts/bench/preload.py metadata)

# Starts instance $1 (a folder under $WORK); prints its base URL.
start() {
    local name=$1 dir="$WORK/$1"
    mkdir -p "$dir"
    (cd "$dir" && CHAT_THREADS__DATABASE__URL="$PG_URL" CHAT_THREADS__SERVER__PORT=0 \
        CHAT_THREADS__SERVER__WORKERS="$WORKERS" CHAT_THREADS__LOG__LEVEL=warn \
        CHAT_THREADS__RATE_LIMIT__ENABLED="$LIMITS" \
        CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_PER_MINUTE=100000000 \
        CHAT_THREADS__RATE_LIMIT__PER_PRINCIPAL_BURST=100000000 \
        CHAT_THREADS__RATE_LIMIT__PER_IP_PER_MINUTE=100000000 \
        CHAT_THREADS__RATE_LIMIT__PER_IP_BURST=100000000 \
        CHAT_THREADS__DATABASE__MAX_CONNECTIONS="$POOL" \
        exec "$BIN" serve >"$dir/out.log" 2>&1) &
    await_instance "$name" "$!"
}

HZ=$(getconf CLK_TCK)
CORES=$(nproc)
# CPU time (clock ticks) of processes: $@ pids; their exited children included.
ticks() {
    local sum=0 pid line f
    for pid in "$@"; do
        read -r line 2>/dev/null <"/proc/$pid/stat" || continue
        read -ra f <<<"${line##*) }"
        sum=$((sum + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$sum"
}
pg_pids() { pgrep -u postgres 2>/dev/null | tr '\n' ' '; }
# Every process's CPU time, from /proc/stat (user + nice + system + irq + softirq + steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

BASES=()
PIDS=()
add_instance() {
    local n=${#BASES[@]}
    BASES+=("$(start "i$((n + 1))")")
    PIDS+=("$(cat "$WORK/i$((n + 1))/pid")")
}

add_instance
TOKEN=$(CHAT_THREADS__DATABASE__URL="$PG_URL" CHAT_THREADS__LOG__LEVEL=error "$BIN" token --sub bench --ttl 2h | tail -n 1)
IDS="$WORK/ids"
echo "bench: preloading $THREADS threads x $MESSAGES messages" >&2
# shellcheck source=scripts/bench/preload.sh
. scripts/bench/preload.sh
preload "${BASES[0]}" "$TOKEN" "$IDS"
psql "$PG_URL" -qc "VACUUM ANALYZE" >/dev/null

ms() { # a wrk latency (us, ms, s) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}

# Runs $2 (append.lua or read.lua) at $1 connections split over the running instances.
point() {
    local c=$1 script=$2 n=${#BASES[@]} i share outs=() app0 pg0 busy0 t0
    app0=$(ticks "${PIDS[@]}"); pg0=$(ticks $(pg_pids)); busy0=$(busy_ticks); t0=$(date +%s.%N)
    for i in $(seq 0 $((n - 1))); do
        share=$(((c + n - 1 - i) / n))
        BENCH_IDS="$IDS" BENCH_TOKEN="$TOKEN" BENCH_CONTENT="$CONTENT" BENCH_METADATA="$METADATA" \
            wrk -t1 -c"$share" -d"$DURATION" --latency -s "scripts/bench/$script" "${BASES[$i]}" \
            >"$WORK/wrk.$i" 2>&1 &
        echo "$!" >>"$WORK/pids"
        outs+=("$!")
    done
    for i in "${outs[@]}"; do wait "$i"; done
    local app1 pg1 busy1 t1 total=0 rps=0 p50=0 p99=0 out r q a b
    app1=$(ticks "${PIDS[@]}"); pg1=$(ticks $(pg_pids)); busy1=$(busy_ticks); t1=$(date +%s.%N)
    for i in $(seq 0 $((n - 1))); do
        out=$(cat "$WORK/wrk.$i")
        if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
            echo "bench: requests failed on instance $((i + 1)) ($script, c=$c):" >&2
            echo "$out" >&2
            exit 1
        fi
        r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        q=$(awk '/requests in/ {print $1}' <<<"$out")
        a=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
        b=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
        rps=$(awk -v x="$rps" -v y="$r" 'BEGIN { printf "%.0f", x + y }')
        total=$((total + q))
        p50=$(awk -v x="$p50" -v y="$a" 'BEGIN { print (y > x ? y : x) }')
        p99=$(awk -v x="$p99" -v y="$b" 'BEGIN { print (y > x ? y : x) }')
    done
    awk -v n="$n" -v op="${script%.lua}" -v c="$c" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
        -v total="$total" -v hz="$HZ" -v app=$((app1 - app0)) -v pg=$((pg1 - pg0)) \
        -v busy=$((busy1 - busy0)) -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v cores="$CORES" 'BEGIN {
        printf "%9d  %-6s  %4d  %8s  %7.2f  %7.2f  %7.3f  %7.3f  %6.0f\n", n, op, c, rps, p50, p99,
            1000 * app / hz / total, 1000 * pg / hz / total, 100 * busy / hz / (secs * cores) }'
}

printf "%9s  %-6s  %4s  %8s  %7s  %7s  %7s  %7s  %6s\n" \
    instances op c 'req/s' 'p50 ms' 'p99 ms' 'app ms' 'pg ms' 'busy %'
for want in $INSTANCES; do
    while [ "${#BASES[@]}" -lt "$want" ]; do add_instance; done
    for c in $CONCURRENCY; do
        point "$c" append.lua
        point "$c" read.lua
    done
done
