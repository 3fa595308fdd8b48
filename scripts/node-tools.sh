#!/usr/bin/env bash
# Makes the official `openai` npm package available to tests/openai.rs: installed from the npm
# registry into tests/node/node_modules, exactly as pinned in tests/node/package-lock.json
# (`npm ci`). Prints the node binary; exits non-zero when Node.js or the package cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null 2>&1 || { echo "node-tools: node is missing" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "node-tools: npm is missing" >&2; exit 1; }
want=$(sed -n 's/.*"openai": "\([0-9.]*\)".*/\1/p' tests/node/package.json)
have=$(sed -n 's/.*"version": "\([0-9.]*\)".*/\1/p' tests/node/node_modules/openai/package.json 2>/dev/null | head -n 1 || true)
if [ "$want" != "$have" ]; then
    echo "node-tools: installing openai $want from the npm registry" >&2
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
command -v node
