#!/usr/bin/env bash
# HTTP benchmark: append a message to a thread and read the last 50 of a thread's active path,
# over HTTP, on a PostgreSQL-backed and a SQLite-backed instance, at each concurrency; for
# PostgreSQL, against two SQL ceilings that pgbench (-M prepared) measures in the same run, on
# the same machine and PostgreSQL, right after the service at the same concurrency (pgbench
# clients = wrk connections; the service itself holds at most 16 pooled connections, BENCH_POOL):
#
#   replay   the exact statement the service issues for the request, replayed on the service's
#            own migrated and preloaded database: the same threads / messages tables, rows,
#            indexes and dead tuples, the owner of the benchmark's token (`user:bench`).
#              append  SELECT parent_id, depth FROM ct_append_message(thread, owner, NULL,
#                      <new v7 id>, 'user', <~300 bytes>, 'text', NULL, 'complete', NULL, NULL,
#                      NULL, <metadata>, now(), 1, '[]', owner, NULL, <feed entry>)
#                                                             (scripts/bench/replay-append.sql)
#              read    the ActivePathQuery: the leaf's check on threads / messages, then the
#                      51 newest messages up to it in one backward range scan, every
#                      message column and the thread row's xmin (scripts/bench/replay-read.sql)
#                      — the page's read; a page the service keeps and reads again costs it
#                      one primary-key probe of the thread's row for its xmin, and no
#                      rendering (`read` against `fresh` below)
#            service / replay = what the service adds around that SQL: HTTP, auth, JSON, the
#            pool — and whatever else it sends PostgreSQL per request, which the replay lacks
#            (an append also publishes its event: a pg_notify on the event bus's connection;
#            and its change feed entry, which the statement put in the feed's outbox, is moved
#            into the feed by the feed writer's `ct_append_feed`, batched with the entries of
#            the appends beside it).
#   minimal  the same requests on the smallest schema that serves them, in the same database:
#            mini_threads (id, owner, message_count, updated_at) and mini_messages (id,
#            thread_id, role, content, metadata, created_at) indexed on (thread_id, id), loaded
#            with the same messages. Append: touch the owner's thread and insert, one statement;
#            read: the owner's check and the thread's last 51 messages (scripts/bench/minimal-*).
#            service / minimal = what the whole design costs: the service's schema (tree,
#            foreign keys, full-text columns and their GIN indexes, the thread list's order
#            kept in thread_activity) and everything around the SQL.
#
# Data, the same for both backends and both ceilings (scripts/bench/preload.py): BENCH_THREADS
# threads of BENCH_MESSAGES messages alternating ~300-byte user and ~1.5 KB assistant messages,
# each with metadata of three keys (a page of 50 is ~45 KB of content), loaded through
# POST /v1/import; an append posts ~300 bytes with the same metadata to a random thread, a read
# asks a random thread for ?limit=50. On PostgreSQL reads run twice: `read` as clients send it
# (a page read again is answered from the page cache once the database confirms its stamp —
# docs/operations.md, "Pages read again"), then `fresh`, the same requests with
# `Cache-Control: no-cache`, each page read and rendered afresh.
#
# Prints, per backend, op and concurrency: req/s, p50 / p99 (wrk), the CPU the service
# (`app ms`) and PostgreSQL (`pg ms`: every postgres process, exited backends included) spent
# per request — the machine is CPU-bound, so that is where a request's cost goes — and for
# PostgreSQL each ceiling's transactions/s, PostgreSQL CPU per transaction, and the ratio
# service / ceiling. The PostgreSQL appends run in BENCH_APPEND_ROUNDS rounds (2; 1 with
# BENCH_PROFILE=debug) with no VACUUM between: every append updates its thread's row, so a
# decay from round to round shows what the dead tuples cost; after each round it prints
# n_dead_tup, n_tup_upd and n_tup_hot_upd of `threads` and its size and its indexes'. Then the
# targets — PostgreSQL append and read >= 0.5 x minimal and >= 0.85 x replay at c=32; p99 < 25 ms
# at c=64, both ops, both backends; SQLite >= 4,000 appends/s and reads/s at c=64 — and whether
# each is met: a report, never a failure of the script. During every append point a client
# tails the change feed (scripts/bench/feed_lag.py, SSE on GET /v1/events): the feed's lag —
# from a message's created_at, stamped just before the transaction that stores it, to the
# moment its entry's bytes reach the client — is printed per point as p50 / p99.
#
#   scripts/bench-http.sh                 # full: 1,000 threads x 50 messages, 10 s per point
#   BENCH_DURATION=3s BENCH_CONCURRENCY="8 32" scripts/bench-http.sh   # a quick look
#   BENCH_BACKENDS=sqlite BENCH_THREADS=200 scripts/bench-http.sh      # one backend, less data
#   BENCH_BIN=/path/to/chat-threads ...   # run that binary; no cargo at all
#   BENCH_PROFILE=debug ...               # the debug build (CI's budgeted run: does it work?)
#   BENCH_APPEND_ROUNDS=3 ...             # more PostgreSQL append rounds (0: reads only)
#   BENCH_POOL=32 ...                     # the service's database.max_connections (16)
#
# Any failed request (a non-2xx answer, a socket error), a pgbench error, a replayed or minimal
# append that stored nothing, or a ceiling read that returns less than the page fails the run.
#
# Load comes from wrk (Debian's package; installed here when missing and run as root). Needs the
# PostgreSQL server scripts/ensure-postgres.sh provides, with pgbench and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${BENCH_DURATION:-10s}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 8 32 64}"
THREADS="${BENCH_THREADS:-1000}"
MESSAGES="${BENCH_MESSAGES:-50}"
BACKENDS="${BENCH_BACKENDS:-postgres sqlite}"
PROFILE="${BENCH_PROFILE:-release}"
if [ "$PROFILE" = debug ]; then ROUNDS="${BENCH_APPEND_ROUNDS:-1}"; else ROUNDS="${BENCH_APPEND_ROUNDS:-2}"; fi
SECS="${DURATION%s}"
case "$SECS" in
    '' | *[!0-9]*) echo "bench: BENCH_DURATION must be whole seconds (10s), not $DURATION" >&2; exit 1 ;;
esac
uses() { [[ " $BACKENDS " == *" $1 "* ]]; }

# shellcheck source=scripts/bench/wrk.sh
. scripts/bench/wrk.sh
if uses postgres; then
    ADMIN_URL=$(scripts/ensure-postgres.sh)
    for tool in pgbench psql; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
    done
fi

if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$(realpath "$BENCH_BIN")
    [ -x "$BIN" ] || { echo "bench: BENCH_BIN=$BENCH_BIN is not an executable" >&2; exit 1; }
elif [ "$PROFILE" = debug ]; then
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
DB="ct_bench_$(date +%s)_$$"
cleanup() {
    # start() runs in a command substitution (a subshell), so the pids go through a file.
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$WORK/pids"
    fi
    if uses postgres; then
        psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
if uses postgres; then
    psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
    PG_URL="${ADMIN_URL%/*}/$DB"
fi

# The payload of an append (the preload's sizes), for wrk and pgbench alike.
CONTENT=$(python3 scripts/bench/preload.py content)
METADATA=$(python3 scripts/bench/preload.py metadata)
FEED=$(python3 scripts/bench/preload.py feed)

# Starts an instance in $WORK/$1 with database URL $2; prints its base URL.
start() {
    local name=$1 url=$2 dir="$WORK/$1"
    mkdir -p "$dir"
    (cd "$dir" && CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__SERVER__PORT=0 \
        CHAT_THREADS__RATE_LIMIT__ENABLED=false CHAT_THREADS__LOG__LEVEL=warn \
        CHAT_THREADS__DATABASE__MAX_CONNECTIONS="${BENCH_POOL:-16}" \
        exec "$BIN" serve >"$dir/out.log" 2>&1) &
    echo "$!" >>"$WORK/pids"
    echo "$!" >"$WORK/$name.pid"
    for _ in $(seq 1 300); do
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

stop() {
    local pid
    pid=$(cat "$WORK/$1.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# shellcheck source=scripts/bench/preload.sh
. scripts/bench/preload.sh

# CPU time (clock ticks, user + system) of a process; of PostgreSQL: every postgres process
# running, plus what the postmaster collected from the children that exited (cutime + cstime:
# pgbench's backends and autovacuum workers end within a measurement).
HZ=$(getconf CLK_TCK)
ticks() {
    local line f
    read -r line 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
    read -ra f <<<"${line##*) }"   # the fields after the command name: state is f[0]
    echo $((f[11] + f[12]))
}
PG_POSTMASTER=""
pg_ticks() {
    local sum=0 pid line f
    for pid in $(pgrep -u postgres 2>/dev/null); do
        read -r line 2>/dev/null <"/proc/$pid/stat" || continue
        read -ra f <<<"${line##*) }"
        sum=$((sum + f[11] + f[12]))
        [ "$pid" != "$PG_POSTMASTER" ] || sum=$((sum + f[13] + f[14]))
    done
    echo "$sum"
}
if uses postgres; then
    PG_POSTMASTER=$(head -n 1 "$(psql "$ADMIN_URL" -Atc 'SHOW data_directory')/postmaster.pid" 2>/dev/null ||
        pgrep -o -u postgres -x postgres || true)
fi

# Runs wrk with scripts/bench/$2 against the instance at $1 with pid $4 at $3 connections:
# prints "req/s p50 p99 app-ms pg-ms requests".
load() {
    local base=$1 script=$2 c=$3 pid=$4
    local out app0 pg0 app1 pg1
    app0=$(ticks "$pid"); pg0=$(pg_ticks)
    out=$(BENCH_IDS="$IDS" BENCH_TOKEN="$TOKEN" BENCH_CONTENT="$CONTENT" BENCH_METADATA="$METADATA" \
        wrk -t1 -c"$c" -d"$DURATION" --latency -s "scripts/bench/$script" "$base")
    app1=$(ticks "$pid"); pg1=$(pg_ticks)
    local rps p50 p99 total
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    if grep -q "Non-2xx\|Socket errors" <<<"$out" || [ -z "$rps" ] || [ "${total:-0}" -eq 0 ]; then
        echo "bench: requests failed during $script at c=$c:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v r="$rps" -v a="$p50" -v b="$p99" -v n="$total" -v hz="$HZ" \
        -v app=$((app1 - app0)) -v pg=$((pg1 - pg0)) \
        'BEGIN { printf "%s %s %s %.3f %.3f %d\n", r, a, b, 1000 * app / hz / n, 1000 * pg / hz / n, n }'
}

psql_bench() { PGOPTIONS=--client-min-messages=warning psql "$PG_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

# Runs pgbench with scripts/bench/$1 at $2 clients on the benchmark's database: prints
# "tps pg-ms transactions".
ceiling() {
    local script=$1 c=$2 j=$(($2 < 2 ? $2 : 2)) out pg0 pg1 n
    pg0=$(pg_ticks)
    # PGSSLMODE=disable: the service talks to PostgreSQL over plain TCP (its driver has no TLS),
    # and so do the ceilings. libpq's default (prefer) takes TLS wherever the server offers it
    # (Debian's does): encrypted, the replayed reads ran 17-29 % and the replayed appends 5-22 %
    # slower (docs/operations.md), a ceiling lower than the service's own transport.
    if ! out=$(PGSSLMODE=disable pgbench -n -M prepared -c "$c" -j "$j" -T "$SECS" -D threads="$THREADS" \
        -D owner="$OWNER" -D role=user -D content="$CONTENT" -D content_type=text \
        -D status=complete -D metadata="$METADATA" -D attachments='[]' -D feed="$FEED" \
        -f "scripts/bench/$script" "$PG_URL" 2>&1) || grep -q "aborted" <<<"$out"; then
        echo "bench: pgbench $script at c=$c failed:" >&2
        echo "$out" >&2
        exit 1
    fi
    pg1=$(pg_ticks)
    n=$(awk '/actually processed/ {split($NF, a, "/"); print a[1]}' <<<"$out")
    awk -v n="$n" -v hz="$HZ" -v pg=$((pg1 - pg0)) '/^tps/ {
        printf "%d %.3f %d\n", $3, (n > 0 ? 1000 * pg / hz / n : 0), n }' <<<"$out"
}

# Runs an append ceiling and checks that each of its transactions stored a message (a replayed
# ct_append_message that finds no thread returns no row and stores nothing — pgbench would not
# notice): $1 script, $2 c, $3 the SQL of the table's highest id.
append_ceiling() {
    local before after out tps pg n
    before=$(psql_bench -c "$3")
    out=$(ceiling "$1" "$2")
    read -r tps pg n <<<"$out"
    after=$(psql_bench -c "$3")
    if [ "$((after - before))" -ne "$n" ]; then
        echo "bench: $1 at c=$2 ran $n transactions but stored $((after - before)) messages" >&2
        exit 1
    fi
    echo "$tps $pg $n"
}

# The rows one of the read scripts returns for thread 1 (its pgbench variables given values,
# for psql): a check that the ceiling reads a full page.
read_rows() {
    grep -v '^\\' "scripts/bench/$1" | grep -v '^--' |
        sed -e 's/:n\b/1/g; s/:t\b/1/g; s/:lim\b/51/g' -e "s/:owner\b/'$OWNER'/g" |
        psql_bench -f - | wc -l
}

# The tables an append updates: `threads` (each append updates its thread's row) and any other
# table updated since the preload (a table the schema keeps by trigger, say), one line each:
# "name n_dead_tup n_tup_upd n_tup_hot_upd autovacuum_count table-bytes index-bytes".
tables_stats() {
    psql_bench -F ' ' -c "SELECT relname, n_dead_tup, n_tup_upd, n_tup_hot_upd, autovacuum_count,
            pg_relation_size(relid), pg_indexes_size(relid)
        FROM pg_stat_user_tables
        WHERE relname = 'threads' OR (n_tup_upd > 0 AND relname NOT LIKE 'mini\_%')
        ORDER BY relname <> 'threads', relname"
}
# Prints the tables' state once the statistics hold the $2 updates of `threads` expected so far
# and stop moving (an idle backend may keep its counts up to 10 s before reporting them); $1
# labels it, $3 says how many appends it follows (updates per append: since "before").
APPENDS=0
threads_state() {
    local label=$1 expected=$2 appends=$3 now prev="" i
    for i in $(seq 1 15); do
        now=$(tables_stats)
        [ "$(awk '$1 == "threads" {print $3}' <<<"$now")" -lt "$expected" ] || [ "$now" != "$prev" ] || break
        prev=$now
        sleep 1
    done
    [ "$appends" -gt 0 ] || echo "$now" >"$WORK/stats0"
    awk -v label="$label" -v appends="$appends" '
        function size(b) { return b >= 1048576 ? sprintf("%.1f MB", b / 1048576) : sprintf("%d kB", b / 1024) }
        NR == FNR { upd0[$1] = $3; next }
        { printf "  %-14s %-16s %10s %10s %13s %10s %11s %9s %9s\n", label, $1, $2, $3, $4,
              (appends > 0 ? sprintf("%.2f", ($3 - upd0[$1]) / appends) : "-"), $5, size($6), size($7) }
    ' "$WORK/stats0" - <<<"$now"
}

RESULTS="$WORK/results"
: >"$RESULTS"
: >"$WORK/feed-lag"
: >"$WORK/kept"
HEAD='%-8s %-6s %3s %3s %9s %9s %9s %7s %7s | %9s %7s %6s | %9s %7s %6s\n'
header() {
    printf "$HEAD" backend op rnd c "req/s" p50 p99 "app ms" "pg ms" "replay/s" "pg ms" ratio "minimal/s" "pg ms" ratio
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# The page cache's counters of the instance at $BASE: "answered rendered".
kept_counts() {
    curl -s "$BASE/metrics" | awk '/^chat_page_cache_answers_total / { a = $2 }
        /^chat_page_cache_renders_total / { r = $2 } END { printf "%d %d\n", a, r }'
}

# One point: the service at c connections, then (PostgreSQL) both ceilings at c clients.
point() {
    local backend=$1 op=$2 round=$3 c=$4 out rps p50 p99 app_ms pg_ms n
    local rep="-" rep_pg="-" rep_ratio="-" min="-" min_pg="-" min_ratio="-"
    # (Each result goes through a variable: a failure inside $(...) then stops the run.)
    # During appends a client tails the change feed: its lag is reported after the table.
    local tail=""
    if [ "$op" = append ]; then
        python3 scripts/bench/feed_lag.py "$BASE" "$TOKEN" "$WORK/lag" &
        tail=$!
        sleep 0.3
    fi
    local kept0=""
    [ "$op" != read ] || kept0=$(kept_counts)
    out=$(load "$BASE" "$op.lua" "$c" "$(cat "$WORK/$backend.pid")")
    if [ -n "$kept0" ]; then
        awk -v b="$backend" -v c="$c" -v before="$kept0" -v after="$(kept_counts)" 'BEGIN {
            split(before, x, " "); split(after, y, " "); a = y[1] - x[1]; r = y[2] - x[2]
            printf "  %-8s c=%-3s %6.1f %% answered as kept (%d), %d read and rendered\n", b, c, (a + r > 0 ? 100 * a / (a + r) : 0), a, r }' \
            >>"$WORK/kept"
    fi
    if [ -n "$tail" ]; then
        sleep 1 # the last appends' entries reach the tail
        kill "$tail" 2>/dev/null || true
        wait "$tail" 2>/dev/null || true
        sort -n "$WORK/lag" | awk -v b="$backend" -v r="$round" -v c="$c" -v total="$(awk '{print $6}' <<<"$out")" '
            { v[NR] = $1 }
            END { if (NR == 0) { printf "  %-8s round %s c=%-3s no entries seen\n", b, r, c; exit }
                  printf "  %-8s round %s c=%-3s p50 %7.1f ms  p99 %7.1f ms  (%d entries seen of %d appends)\n",
                      b, r, c, v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))], v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))], NR, total }' \
            >>"$WORK/feed-lag"
    fi
    read -r rps p50 p99 app_ms pg_ms n <<<"$out"
    if [ "$backend" = postgres ]; then
        if [ "$op" = append ]; then
            APPENDS=$((APPENDS + n))
            out=$(append_ceiling replay-append.sql "$c" 'SELECT max(seq) FROM messages')
            read -r rep rep_pg n <<<"$out"
            APPENDS=$((APPENDS + n))
            out=$(append_ceiling minimal-append.sql "$c" 'SELECT max(id) FROM mini_messages')
            read -r min min_pg _ <<<"$out"
        else
            out=$(ceiling replay-read.sql "$c")
            read -r rep rep_pg _ <<<"$out"
            out=$(ceiling minimal-read.sql "$c")
            read -r min min_pg _ <<<"$out"
        fi
        rep_ratio=$(ratio "$rps" "$rep")
        min_ratio=$(ratio "$rps" "$min")
    else
        pg_ms="-"
    fi
    printf "$HEAD" "$backend" "$op" "$round" "$c" "$rps" "$p50" "$p99" "$app_ms" "$pg_ms" \
        "$rep" "$rep_pg" "$rep_ratio" "$min" "$min_pg" "$min_ratio"
    echo "$backend $op $round $c $rps $p50 $p99 $app_ms $pg_ms $rep $rep_ratio $min $min_ratio" >>"$RESULTS"
}

# Prepares the PostgreSQL side of the ceilings once the service's preload is in.
setup_ceilings() {
    OWNER=$(psql_bench -c "SELECT DISTINCT owner FROM threads")
    if [ "$(wc -l <<<"$OWNER")" -ne 1 ]; then
        echo "bench: the preloaded threads should have one owner, not: $OWNER" >&2
        exit 1
    fi
    psql_bench -v owner="$OWNER" -f scripts/bench/replay-setup.sql >/dev/null
    psql_bench -v owner="$OWNER" -v threads="$THREADS" -v messages="$MESSAGES" \
        -f scripts/bench/minimal-setup.sql >/dev/null
    python3 scripts/bench/preload.py minimal "$THREADS" "$MESSAGES" |
        psql_bench -c "\copy mini_messages (thread_id, role, content, metadata) FROM STDIN WITH (FORMAT csv)" >/dev/null
    # Settle the preloaded tables, so autovacuum and a checkpoint of the preload do not land
    # inside a measurement.
    psql_bench -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    # What PostgreSQL burns with no load (the service idle but running: its periodic checks;
    # PostgreSQL's own background processes): every `pg ms` includes it, divided by the rate.
    local t0 t1
    t0=$(pg_ticks); sleep 3; t1=$(pg_ticks)
    PG_IDLE=$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%.1f", 1000 * t / hz / 3 }')
    local want=$((MESSAGES < 51 ? MESSAGES : 51)) script rows
    for script in replay-read.sql minimal-read.sql; do
        rows=$(read_rows "$script")
        if [ "$rows" -ne "$want" ]; then
            echo "bench: $script reads $rows messages of a preloaded thread, not $want" >&2
            exit 1
        fi
    done
}

echo "bench: $THREADS threads x $MESSAGES messages, $DURATION a point, c = $CONCURRENCY" >&2
header
for backend in $BACKENDS; do
    case "$backend" in
        postgres) url=$PG_URL; BASE=$(start postgres "$PG_URL") ;;
        sqlite) url="sqlite://$WORK/sqlite/bench.db"; BASE=$(start sqlite "sqlite://./bench.db") ;;
        *) echo "bench: unknown backend $backend" >&2; exit 1 ;;
    esac
    TOKEN=$(CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__LOG__LEVEL=error "$BIN" token --sub bench --ttl 2h | tail -n 1)
    IDS="$WORK/$backend.ids"
    echo "bench: preloading $backend" >&2
    preload "$BASE" "$TOKEN" "$IDS"
    [ "$backend" != postgres ] || setup_ceilings
    for c in $CONCURRENCY; do point "$backend" read 1 "$c"; done
    if [ "$backend" = postgres ]; then
        # The same reads with Cache-Control: no-cache: every page read and rendered afresh
        # (SQLite keeps no pages, so there both are the same).
        for c in $CONCURRENCY; do point "$backend" fresh 1 "$c"; done
        threads_state before 0 0 >"$WORK/threads-state"
        updates0=$(awk '$1 == "threads" {print $3}' "$WORK/stats0")
        for round in $(seq 1 "$ROUNDS"); do
            for c in $CONCURRENCY; do point "$backend" append "$round" "$c"; done
            threads_state "after round $round" $((updates0 + APPENDS)) "$APPENDS" >>"$WORK/threads-state"
        done
    else
        for c in $CONCURRENCY; do point "$backend" append 1 "$c"; done
    fi
    stop "$backend"
done

echo
echo "Reads answered from the page cache (threads.page_cache_bytes; SQLite keeps none):"
cat "$WORK/kept"

echo
echo "Change feed lag under the append load (message created -> seen by a client tailing GET /v1/events):"
cat "$WORK/feed-lag"

if uses postgres; then
    echo
    echo "The tables PostgreSQL appends update (appends of the service and the replay; no VACUUM between rounds):"
    printf '  %-14s %-16s %10s %10s %13s %10s %11s %9s %9s\n' "" table n_dead_tup n_tup_upd n_tup_hot_upd \
        "upd/append" autovacuums size indexes
    cat "$WORK/threads-state"
    echo "PostgreSQL CPU with no load (the service idle): $PG_IDLE ms per second, included in each pg ms"
    echo "(at r requests/s it adds $PG_IDLE / r ms)."
fi

# The summary: the targets and whether each is met (a report; the run does not fail on them).
get() { # backend op round c field (1-based in: backend op round c rps p50 p99 app pg rep rep_ratio min min_ratio)
    awk -v b="$1" -v o="$2" -v r="$3" -v c="$4" -v f="$5" '$1 == b && $2 == o && $3 == r && $4 == c { print $f }' "$RESULTS"
}
ms() { # a wrk latency (us, ms, s, m) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) ; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.1f", n }'
}
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = op == ">=" ? a >= b : a < b; print ok ? "met" : "NOT met" }'; }
echo
echo "Targets (a report, not a test; round 1):"
if uses postgres; then
    for op in append read fresh; do
        rps=$(get postgres "$op" 1 32 5)
        if [ -z "$rps" ]; then
            printf '  postgres %-6s c=32  ratios not measured (no c=32 point in this run)\n' "$op"
            continue
        fi
        mr=$(get postgres "$op" 1 32 13); rr=$(get postgres "$op" 1 32 11)
        printf '  postgres %-6s c=32  %s req/s = %s x minimal (>= 0.50: %s), %s x replay (>= 0.85: %s)\n' \
            "$op" "$rps" "$mr" "$(verdict "$mr" ">=" 0.5)" "$rr" "$(verdict "$rr" ">=" 0.85)"
    done
fi
for backend in $BACKENDS; do
    for op in append read; do
        p99=$(get "$backend" "$op" 1 64 7)
        if [ -z "$p99" ]; then
            printf '  %-8s %-6s c=64  p99 not measured (no c=64 point in this run)\n' "$backend" "$op"
            continue
        fi
        more=""
        if [ "$backend" = postgres ] && [ "$op" = append ] && [ "$ROUNDS" -gt 1 ]; then
            more=" (round $ROUNDS: $(ms "$(get postgres append "$ROUNDS" 64 7)") ms)"
        fi
        printf '  %-8s %-6s c=64  p99 %s ms (< 25 ms: %s)%s\n' "$backend" "$op" "$(ms "$p99")" \
            "$(verdict "$(ms "$p99")" "<" 25)" "$more"
    done
done
if uses sqlite; then
    for op in append read; do
        rps=$(get sqlite "$op" 1 64 5)
        c32=$(get sqlite "$op" 1 32 5)
        if [ -z "$rps" ]; then
            printf '  sqlite   %-6s c=64  req/s not measured (no c=64 point in this run)%s\n' "$op" "${c32:+; c=32: $c32 req/s}"
        else
            printf '  sqlite   %-6s c=64  %s req/s (>= 4,000: %s)%s\n' "$op" "$rps" "$(verdict "$rps" ">=" 4000)" \
                "${c32:+; c=32: $c32 req/s}"
        fi
    done
fi
if uses postgres && [ "$ROUNDS" -gt 1 ]; then
    line=""
    for c in $CONCURRENCY; do
        line="$line c=$c $(ratio "$(get postgres append "$ROUNDS" "$c" 5)" "$(get postgres append 1 "$c" 5)")"
    done
    echo "  postgres append round $ROUNDS / round 1 req/s (decay as dead tuples pile up):$line"
fi
