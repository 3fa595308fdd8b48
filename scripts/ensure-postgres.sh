#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests: starts the local
# cluster if it is installed but stopped, installs it (Debian/Ubuntu, as root) if it is missing.
# Prints the admin URL the tests should use. Exits non-zero if no server can be had.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@${HOST}:${PORT}/postgres}"

answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT" -t 2
    else
        (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null
    fi
}

start_cluster() {
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || return 1
    echo "ensure-postgres: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || return 1
}

install_server() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    echo "ensure-postgres: installing PostgreSQL from the distribution's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 || return 1
    local version conf
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    conf="/etc/postgresql/$version/main/pg_hba.conf"
    # Local test server only: trust connections from this machine.
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$conf"
}

if ! answers; then
    start_cluster || true
    for _ in $(seq 1 20); do answers && break; sleep 0.5; done
fi
if ! answers; then
    install_server && start_cluster || true
    for _ in $(seq 1 40); do answers && break; sleep 0.5; done
fi
if ! answers; then
    echo "ensure-postgres: no PostgreSQL server on ${HOST}:${PORT}" >&2
    exit 1
fi
echo "$ADMIN_URL"
