#!/usr/bin/env bash
# Benchmark: cross-instance delivery latency of reply events through the PostgreSQL event bus
# (produced on instance A, received on instance B), with 1, 100 and 1,000 replies streaming at
# once; p50/p99/max per load, and p99 as a ratio to the one-reply baseline of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$(scripts/ensure-postgres.sh) || { echo "bench-bus: PostgreSQL is required" >&2; exit 1; }
export TEST_DATABASE_URL="$url"
cargo bench -p chat-threads-infrastructure --bench bus_latency --locked
