#!/usr/bin/env bash
# Makes Debian's PgBouncer available for tests/poolers.rs: installs the `pgbouncer` package
# (as root, with apt-get) when the binary is missing, without starting its system service (the
# tests start their own, on free ports). Prints the binary's path; exits non-zero when it cannot
# be had.
set -euo pipefail
cd "$(dirname "$0")/.."

find_bin() {
    command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }
}
if ! find_bin >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
        { echo "pgbouncer: missing, and apt-get cannot install it here (not root?)" >&2; exit 1; }
    # Tests run in parallel: one installs, the others wait for it.
    mkdir -p target
    exec 9>target/pgbouncer.lock
    flock 9
    if ! find_bin >/dev/null; then
        echo "pgbouncer: installing Debian's pgbouncer package" >&2
        export DEBIAN_FRONTEND=noninteractive
        # Keep the package's own service from starting (exit 101: "action forbidden").
        policy=/usr/sbin/policy-rc.d
        had_policy=false
        [ -e "$policy" ] && had_policy=true
        $had_policy || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
        { apt-get install -y -qq pgbouncer >&2 ||
            { apt-get update -qq >&2 && apt-get install -y -qq pgbouncer >&2; }; } || true
        $had_policy || rm -f "$policy"
    fi
fi
find_bin || { echo "pgbouncer: could not be installed" >&2; exit 1; }
