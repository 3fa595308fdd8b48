#!/usr/bin/env bash
# Installs the Python tools the tests drive (openapi-spec-validator, openapi-python-client, the
# generated client's runtime dependencies, prometheus-client's parser and schemathesis), every
# package pinned in scripts/python-tools.txt, from the Python package registry into a cached virtual environment at
# target/tools/venv. Reinstalls only when the pins change. Prints the path of its python.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CHAT_THREADS_TOOLS_DIR:-$PWD/target/tools}/venv"
PINS="$PWD/scripts/python-tools.txt"
STAMP="$VENV/.pins.sha256"
wanted=$(sha256sum "$PINS" | cut -d' ' -f1)

# Tests run in parallel and each may call this: one installs, the others wait for it.
mkdir -p "$(dirname "$VENV")"
exec 9>"$(dirname "$VENV")/python-tools.lock"
flock 9

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    echo "python-tools: installing scripts/python-tools.txt into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PINS" >&2
    echo "$wanted" >"$STAMP"
fi
echo "$VENV/bin/python"
