#!/usr/bin/env bash
# Installs the Python tools the tests drive (openapi-spec-validator, openapi-python-client and
# the generated client's runtime dependencies), pinned, into a cached virtual environment at
# target/tools/venv, and prints the path of its python. Reinstalls only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CHAT_THREADS_TOOLS_DIR:-$PWD/target/tools}/venv"
PINS="openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 httpx==0.28.1 attrs==26.1.0 python-dateutil==2.9.0.post0"
STAMP="$VENV/.pins"

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$PINS" ]; then
    echo "python-tools: installing $PINS into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS >&2
    echo "$PINS" >"$STAMP"
fi
echo "$VENV/bin/python"
