#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL, then schemathesis against the contract.
# This is the command the README and CI use.
#
# PostgreSQL: the tests create (and this script afterwards drops) one database per test on the
# server named by TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), which
# scripts/ensure-postgres.sh starts or installs if needed. Without a server the PostgreSQL tests
# are skipped with a warning, except with CI=true, where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if url=$(scripts/ensure-postgres.sh); then
    export TEST_DATABASE_URL="$url"
    echo "test.sh: PostgreSQL tests run against ${TEST_DATABASE_URL}"
elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: CI=true and no PostgreSQL is available: failing" >&2
    exit 1
else
    echo "test.sh: WARNING: no PostgreSQL available; PostgreSQL tests will be skipped" >&2
    unset TEST_DATABASE_URL
fi

cleanup() {
    [ -n "${TEST_DATABASE_URL:-}" ] || return 0
    command -v psql >/dev/null 2>&1 || return 0
    psql "$TEST_DATABASE_URL" -Atqc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'ct\_test\_%'" 2>/dev/null |
        while read -r db; do
            psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
        done
}
trap cleanup EXIT

cargo test --workspace --all-targets --locked "$@"

# The contract under schemathesis, budgeted (45 s a backend) against the debug build the tests
# just made; `scripts/schemathesis.sh` alone runs the full version against a release build.
# Skipped when arguments narrow the run (`scripts/test.sh -p chat-threads-domain`).
if [ $# -eq 0 ]; then
    backends=both
    [ -n "${TEST_DATABASE_URL:-}" ] || backends=sqlite
    scripts/schemathesis.sh --profile debug --budget 45 --backend "$backends"

    # The HTTP benchmark, budgeted: the debug build, a little data, one second a point — it
    # checks that the benchmark runs and every request succeeds; scripts/bench-http.sh alone
    # measures (release build, full data). Needs PostgreSQL (pgbench's ceiling).
    if [ -n "${TEST_DATABASE_URL:-}" ]; then
        BENCH_PROFILE=debug BENCH_DURATION=1s BENCH_CONCURRENCY="1 8" BENCH_THREADS=20 \
            BENCH_MESSAGES=10 scripts/bench-http.sh
    fi
fi
