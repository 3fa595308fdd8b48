#!/usr/bin/env bash
# Makes what the browser test needs available: Debian's Chromium (/usr/bin/chromium, installed
# from the distribution's packages when missing and this runs as root) and playwright-core from
# the npm registry (pinned in tests/browser/package-lock.json, installed into
# tests/browser/node_modules). Never downloads a browser of its own.
# Prints the Chromium path; exits non-zero when either cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "browser-tools: installing Debian's chromium" >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >&2 || true
    fi
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "browser-tools: no Chromium at $CHROMIUM" >&2
    exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "browser-tools: npm is missing" >&2; exit 1; }
if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
    echo "browser-tools: installing playwright-core" >&2
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, but be explicit.
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) >&2
fi
echo "$CHROMIUM"
