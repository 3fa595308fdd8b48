# Shared by scripts/bench-connections.sh, bench-stream.sh and bench-tools.sh (sourced from the
# repository's root): the binary to run, and process bookkeeping. Every process a script starts
# is recorded in $WORK/pids (WORK: the script's temporary folder), so that the cleanup stops all
# of them, client included.

# Prints the binary to benchmark: BENCH_BIN as it is (no cargo at all), else the release build.
bench_binary() {
    local bin
    if [ -n "${BENCH_BIN:-}" ]; then
        bin="$BENCH_BIN"
    else
        echo "bench: building the release binary" >&2
        cargo build --release --locked --bin chat-threads >&2
        bin="$PWD/target/release/chat-threads"
    fi
    [ -x "$bin" ] || { echo "bench: $bin is not an executable" >&2; exit 1; }
    echo "$bin"
}

# Stops one process: TERM, then KILL if it is still there after 5 s.
stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# Stops every recorded process at once: TERM to all, KILL to what is left after 5 s.
stop_all() {
    [ -f "$WORK/pids" ] || return 0
    local pids
    pids=$(cat "$WORK/pids")
    # shellcheck disable=SC2086 # one word a pid
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
        # shellcheck disable=SC2086
        kill -0 $pids 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
}

# Runs the client in the background and waits for it, so that a signal reaches the traps at once
# (and the cleanup stops the client too).
client() {
    "$@" &
    echo "$!" >>"$WORK/pids"
    wait "$!"
}

# Records instance $1's process $2 (started in the background with its log at
# $WORK/$1/out.log), waits until it listens and prints its base URL; exits if it does not start.
await_instance() {
    local name=$1 pid=$2 dir="$WORK/$1"
    echo "$pid" >>"$WORK/pids"
    echo "$pid" >"$dir/pid"
    for _ in $(seq 1 300); do
        if grep -q "listening on" "$dir/out.log" 2>/dev/null; then
            grep -o "http://[0-9.:]*" "$dir/out.log" | head -n 1
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: $name did not start:" >&2
    cat "$dir/out.log" >&2
    exit 1
}
