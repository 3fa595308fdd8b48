#!/usr/bin/env bash
# The contract under schemathesis: every check, every phase (examples, coverage, fuzzing,
# stateful), NUL characters allowed, a fixed seed, against the built binary on SQLite and on
# PostgreSQL. Fails on any failure or error.
#
#   scripts/schemathesis.sh                 full run: release build, 300 s per backend
#   scripts/schemathesis.sh --budget 45 --profile debug
#                                           what scripts/test.sh (and so CI) runs
#
# Options: --budget SECONDS (time per backend), --profile release|debug (which build to test),
# --backend sqlite|postgres|both (default both), --seed N (default 20261124).
# schemathesis is installed, pinned, by scripts/python-tools.sh; settings (which statuses are
# right for which check, hooks) are in tests/schemathesis/. Reports: target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

budget=300
profile=release
backend=both
seed=20261124
admin_url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --budget) budget="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --backend) backend="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        *) echo "schemathesis.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

python=$(scripts/python-tools.sh)
st="$(dirname "$python")/schemathesis"
if [ "$profile" = release ]; then
    cargo build --release --locked -p chat-threads-server >&2
fi
bin="$ROOT/target/$profile/chat-threads"
[ -x "$bin" ] || { echo "schemathesis.sh: $bin is not built" >&2; exit 1; }
reports="$ROOT/target/schemathesis"
mkdir -p "$reports"

pids=()
dbs=()
work=$(mktemp -d)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for db in "${dbs[@]}"; do
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server in $1 with the database URL $2; sets $base.
start() {
    local dir="$1" url="$2"
    mkdir -p "$dir"
    (
        cd "$dir"
        # The webhooks the generated requests make are never resolved nor called: no dispatch,
        # and private targets allowed (so no name is looked up). Tests talk only to 127.0.0.1.
        export CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__SERVER__PORT=0 \
            CHAT_THREADS__RATE_LIMIT__ENABLED=false CHAT_THREADS__MODELS__ECHO__DELAY_MS=0 \
            CHAT_THREADS__BILLING__ENABLED=true \
            CHAT_THREADS__WEBHOOKS__DISPATCH=false CHAT_THREADS__WEBHOOKS__ALLOW_PRIVATE=true \
            CHAT_THREADS__LOG__LEVEL=warn
        exec "$bin" serve >"$dir/server.log" 2>&1
    ) &
    pids+=("$!")
    for _ in $(seq 1 300); do
        base=$(grep -o 'listening on http://[0-9.:]*' "$dir/server.log" 2>/dev/null | head -1 | sed 's/listening on //') || true
        [ -n "$base" ] && return 0
        sleep 0.1
    done
    echo "schemathesis.sh: the server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
}

run() {
    local name="$1" url="$2" dir="$work/$1"
    start "$dir" "$url"
    local token
    token=$(cd "$dir" && CHAT_THREADS__DATABASE__URL="$url" CHAT_THREADS__LOG__LEVEL=warn \
        "$bin" token --sub "schemathesis" --ttl 1d | grep -o 'eyJ[A-Za-z0-9._-]*' | head -1)
    echo "schemathesis.sh: $name at $base, ${budget}s, seed $seed" >&2
    (
        cd "$ROOT/tests/schemathesis"
        "$st" --config-file schemathesis.toml run "$base/openapi.json" \
            --header "Authorization: Bearer $token" \
            --checks all --phases examples,coverage,fuzzing,stateful \
            --generation-allow-x00 true --seed "$seed" --max-time "$budget" \
            --workers 1 --no-color --max-failures 50 \
            --report junit,ndjson --report-dir "$reports/$name"
    ) || {
        echo "schemathesis.sh: FAILED on $name (reports in $reports/$name; server log below)" >&2
        tail -20 "$dir/server.log" >&2
        return 1
    }
}

status=0
if [ "$backend" != postgres ]; then
    run sqlite "sqlite://$work/sqlite/chat.db" || status=1
fi
if [ "$backend" != sqlite ]; then
    if admin_url=$(scripts/ensure-postgres.sh); then
        db="ct_schemathesis_$$"
        psql "$admin_url" -qc "CREATE DATABASE \"$db\"" >/dev/null
        dbs+=("$db")
        run postgres "${admin_url%/*}/$db" || status=1
    else
        echo "schemathesis.sh: no PostgreSQL available" >&2
        status=1
    fi
fi
exit $status
