#!/usr/bin/env bash
# Makes the npm packages of tests/openai.rs available: the official `openai` package and the
# Vercel AI SDK (`ai`, `@ai-sdk/openai`, with `zod`), installed from the npm registry into
# tests/node/node_modules, exactly as pinned in tests/node/package-lock.json (`npm ci`), again
# whenever that lock file changes (its hash is kept in node_modules/.lock-hash). The AI SDK asks
# for Node.js 22 in its `engines` but runs on the machine's Node.js 20 (npm only warns).
# Prints the node binary; exits non-zero when Node.js or the packages cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null 2>&1 || { echo "node-tools: node is missing" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "node-tools: npm is missing" >&2; exit 1; }
# Tests run in parallel and each may call this: one installs, the others wait for it.
mkdir -p target
exec 9>target/node-tools.lock
flock 9
want=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
have=$(cat tests/node/node_modules/.lock-hash 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    echo "node-tools: installing tests/node/package-lock.json from the npm registry" >&2
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >tests/node/node_modules/.lock-hash
fi
command -v node
