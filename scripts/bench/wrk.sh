# Sourced by scripts/bench-http.sh and bench-scale.sh (from the repository's root): makes sure
# wrk, the load generator, is there — Debian's package, installed when missing (as root).
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing wrk" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq wrk >&2 || { apt-get update -qq >&2 && apt-get install -y -qq wrk >&2; }
    else
        echo "bench: wrk is missing (apt-get install wrk)" >&2
        exit 1
    fi
fi
