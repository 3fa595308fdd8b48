#!/usr/bin/env bash
# HTTP benchmark: append a message and read the last 50 of a thread, over HTTP, on a
# PostgreSQL-backed and a SQLite-backed instance, at each concurrency, against the raw SQL
# ceiling measured in the same run (pgbench: a plain insert + thread touch transaction, and a
# plain last-50 read, on tables shaped like the service's own — scripts/bench/ceiling.sql).
# Prints req/s, p50 / p99, the ratio to the ceiling and the CPU per request of the service and
# of PostgreSQL.
#
#   scripts/bench-http.sh                 # full: 1,000 threads x 50 messages, 10 s per point
#   BENCH_DURATION=3s BENCH_CONCURRENCY="8 32" scripts/bench-http.sh   # a quick look
#   BENCH_BACKENDS=sqlite BENCH_THREADS=200 scripts/bench-http.sh      # one backend, less data
#   BENCH_PROFILE=debug ...               # the debug build (CI's budgeted run: does it work?)
#
# Any failed request (a non-2xx answer, a socket error) fails the run.
#
# Load comes from wrk (Debian's package; installed here when missing and run as root). Needs the
# PostgreSQL server scripts/ensure-postgres.sh provides. Nothing here is a pass/fail threshold.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10s}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 8 32 64}"
THREADS="${BENCH_THREADS:-1000}"
MESSAGES="${BENCH_MESSAGES:-50}"
BACKENDS="${BENCH_BACKENDS:-postgres sqlite}"
SECS="${DURATION%s}"

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing wrk" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
    else
        echo "bench: wrk is missing (apt-get install wrk)" >&2
        exit 1
    fi
fi
ADMIN_URL=$(scripts/ensure-postgres.sh)
command -v pgbench >/dev/null || { echo "bench: pgbench is missing" >&2; exit 1; }

if [ "${BENCH_PROFILE:-release}" = debug ]; then
    # The budgeted run in scripts/test.sh: the debug binary the tests just built (its figures
    # say nothing about speed; the run checks that the benchmark itself works).
    cargo build --locked --bin chat-threads >&2
    BIN="$PWD/target/debug/chat-threads"
else
    echo "bench: building the release binary" >&2
    cargo build --release --locked --bin chat-threads >&2
    BIN="$PWD/target/release/chat-threads"
fi

WORK=$(mktemp -d)
DB="ct_bench_$(date +%s)"
cleanup() {
    # start() runs in a command substitution (a subshell), so the pids go through a file.
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$WORK/pids"
    fi
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
PG_URL="${ADMIN_URL%/*}/$DB"

# Starts an instance in $WORK/$1 with database URL $2; prints its base URL.
start() {
    local name=$1 url=$2 dir="$WORK/$1"
    mkdir -p "$dir"
    (cd "$dir" && CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__SERVER__PORT=0 \
        CHAT_THREADS__RATE_LIMIT__ENABLED=false CHAT_THREADS__LOG__LEVEL=warn \
        CHAT_THREADS__DATABASE__MAX_CONNECTIONS=16 \
        exec "$BIN" serve >"$dir/out.log" 2>&1) &
    echo "$!" >>"$WORK/pids"
    echo "$!" >"$WORK/$name.pid"
    for _ in $(seq 1 100); do
        if grep -q "listening on" "$dir/out.log" 2>/dev/null; then
            grep -o "http://[0-9.:]*" "$dir/out.log" | head -n 1
            return
        fi
        sleep 0.1
    done
    echo "bench: $name did not start:" >&2
    cat "$dir/out.log" >&2
    exit 1
}

# Preloads THREADS x MESSAGES into the instance at $1 for token $2; writes thread ids to $3.
preload() {
    local base=$1 token=$2 ids=$3
    python3 scripts/bench/preload.py "$WORK/ndjson" "$THREADS" "$MESSAGES" 100
    for f in "$WORK"/ndjson/*.ndjson; do
        curl -sf -o /dev/null -X POST "$base/v1/import" -H "Authorization: Bearer $token" \
            -H 'content-type: application/x-ndjson' --data-binary "@$f"
    done
    : >"$ids"
    local cursor=""
    while :; do
        local page
        page=$(curl -sf "$base/v1/threads?limit=100${cursor:+&cursor=$cursor}" -H "Authorization: Bearer $token")
        python3 -c 'import json,sys; [print(t["id"]) for t in json.load(sys.stdin)["data"]]' <<<"$page" >>"$ids"
        cursor=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")' <<<"$page")
        [ -n "$cursor" ] || break
    done
    rm -rf "$WORK/ndjson"
}

# CPU time (clock ticks, user + system) a process has used, and all PostgreSQL processes that
# are running (the service's pooled connections live through a whole measurement).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
    local sum=0 pid
    for pid in $(pgrep -u postgres 2>/dev/null); do sum=$((sum + $(ticks "$pid"))); done
    echo "$sum"
}
HZ=$(getconf CLK_TCK)

# Runs wrk against the instance with pid $4: prints "req/s p50 p99 app-ms pg-ms", the last
# two being the CPU the service and PostgreSQL spent per request (the machine is CPU-bound:
# this is where a request's cost goes).
load() {
    local base=$1 script=$2 c=$3 pid=$4
    local out app0 pg0 app1 pg1
    app0=$(ticks "$pid"); pg0=$(pg_ticks)
    out=$(BENCH_IDS="$IDS" BENCH_TOKEN="$TOKEN" wrk -t1 -c"$c" -d"$DURATION" --latency \
        -s "scripts/bench/$script" "$base")
    app1=$(ticks "$pid"); pg1=$(pg_ticks)
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
        echo "bench: requests failed during $script at c=$c:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps p50 p99 total
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v r="$rps" -v a="$p50" -v b="$p99" -v n="$total" -v hz="$HZ" \
        -v app=$((app1 - app0)) -v pg=$((pg1 - pg0)) \
        'BEGIN { printf "%s %s %s %.3f %.3f\n", r, a, b, 1000 * app / hz / n, 1000 * pg / hz / n }'
}

# Runs pgbench on the ceiling tables: prints tps.
ceiling() {
    local script=$1 c=$2 j=$(( $2 < 2 ? $2 : 2 ))
    pgbench -n -c "$c" -j "$j" -T "$SECS" -D threads="$THREADS" -f "scripts/bench/$script" "$PG_URL" 2>/dev/null |
        awk '/^tps/ {print int($3)}'
}

PG_BASE=$(start postgres "$PG_URL")
SQLITE_BASE=$(start sqlite "sqlite://./bench.db")
echo "bench: preloading $THREADS threads x $MESSAGES messages into each backend" >&2
PGOPTIONS=--client-min-messages=warning psql "$PG_URL" -q -v threads="$THREADS" -v messages="$MESSAGES" -f scripts/bench/ceiling.sql >/dev/null

printf '%-8s %-7s %3s %10s %9s %9s %12s %7s %9s %9s\n' backend op c "req/s" p50 p99 "ceiling/s" ratio "app ms" "pg ms"
for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then base=$PG_BASE; url=$PG_URL; else base=$SQLITE_BASE; url="sqlite://$WORK/sqlite/bench.db"; fi
    TOKEN=$(CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__LOG__LEVEL=error "$BIN" token --sub bench --ttl 2h | tail -n 1)
    IDS="$WORK/$backend.ids"
    preload "$base" "$TOKEN" "$IDS"
    if [ "$backend" = postgres ]; then
        # Settle the preloaded tables first, so autovacuum and a checkpoint of the preload do
        # not land inside a measurement.
        psql "$PG_URL" -qc "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    fi
    for op in read append; do
        for c in $CONCURRENCY; do
            read -r rps p50 p99 app_ms pg_ms <<<"$(load "$base" "$op.lua" "$c" "$(cat "$WORK/$backend.pid")")"
            [ -n "$rps" ] || exit 1
            if [ "$backend" = postgres ]; then
                ceil=$(ceiling "ceiling-$op.sql" "$c")
                ratio=$(awk -v a="$rps" -v b="$ceil" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }')
            else
                ceil="-"; ratio="-"; pg_ms="-"
            fi
            printf '%-8s %-7s %3s %10s %9s %9s %12s %7s %9s %9s\n' "$backend" "$op" "$c" "$rps" "$p50" "$p99" "$ceil" "$ratio" "$app_ms" "$pg_ms"
        done
    done
done
