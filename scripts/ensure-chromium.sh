#!/usr/bin/env bash
# ensure-chromium.sh — make sure Debian's chromium is installed at
# /usr/bin/chromium: the browser internal/app/browser_test.go drives
# headless (through github.com/chromedp/chromedp). Idempotent and quiet on
# success. A missing package is installed with apt-get (needs root); in CI
# (CI=true) the browser test never skips, so this must succeed there.
set -euo pipefail

browser=${AUTHD_CHROMIUM:-/usr/bin/chromium}

if [ -x "$browser" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "ensure-chromium: $browser not found and this is not root; install it (apt-get install chromium)" >&2
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "ensure-chromium: installing chromium failed" >&2
	exit 1
fi
if [ ! -x "$browser" ]; then
	echo "ensure-chromium: chromium is installed but $browser is not there (set AUTHD_CHROMIUM)" >&2
	exit 1
fi
