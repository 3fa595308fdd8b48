#!/usr/bin/env bash
# Benchmark: the cost of reading the last 50 messages of the active path does not grow with the
# thread. Chains of depth 100, 1,000 and 10,000 on SQLite and PostgreSQL; each depth is reported
# as a ratio to the depth-100 baseline of the same run, with the query plan (index use).
set -euo pipefail
cd "$(dirname "$0")/.."
if url=$(scripts/ensure-postgres.sh); then
    export TEST_DATABASE_URL="$url"
else
    echo "bench: no PostgreSQL available; SQLite only" >&2
fi
cargo bench -p chat-threads-infrastructure --bench active_path --locked
