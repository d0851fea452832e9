#!/usr/bin/env bash
# ensure-recipes.sh — install what the token-verification recipes in
# recipes/ need, so that internal/app/recipes_test.go runs them (it never
# skips them under CI=true):
#   - node and npm, and recipes/node's one dependency (jose) with `npm ci`
#     from the committed package-lock.json; skipped while node_modules
#     matches the lockfile;
#   - testclients/node's openid-client (registration_test.go) the same way;
#   - PyJWT and cryptography for Debian's python3, from Debian's packages
#     (python3-jwt, python3-cryptography): PyPI is not used. The test looks
#     for them in $AUTHD_RECIPE_PYTHON, then /usr/bin/python3, then python3
#     on PATH; this script checks the same interpreter the test will use
#     first ($AUTHD_RECIPE_PYTHON, else /usr/bin/python3).
# Idempotent and quiet on success. Installing packages needs root (apt-get).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${AUTHD_RECIPE_PYTHON:-/usr/bin/python3}

apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "ensure-recipes: $* not installed and this is not root; install it (apt-get install $*)" >&2
		exit 1
	fi
	local log
	log=$(mktemp)
	if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; }; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "ensure-recipes: installing $* failed" >&2
		exit 1
	fi
	rm -f "$log"
}

# Node and jose.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "ensure-recipes: node $(node --version) is too old for recipes/node (jose 6 needs node >= 20)" >&2
	exit 1
fi
nodedir="$root/recipes/node"
stamp="$nodedir/node_modules/.authd-lockfile.sha256"
want=$(sha256sum "$nodedir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$nodedir/node_modules/jose/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	(cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" >"$stamp"
fi

# testclients/node: certified client libraries (openid-client) that
# internal/app tests drive against authd; the same npm ci from its
# committed lockfile, with its own stamp.
tcdir="$root/testclients/node"
tcstamp="$tcdir/node_modules/.authd-lockfile.sha256"
tcwant=$(sha256sum "$tcdir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$tcdir/node_modules/openid-client/package.json" ] || [ "$(cat "$tcstamp" 2>/dev/null)" != "$tcwant" ]; then
	(cd "$tcdir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$tcwant" >"$tcstamp"
fi

# PyJWT and cryptography for Debian's python3.
if ! "$python" -c 'import jwt, cryptography' >/dev/null 2>&1; then
	if [ -n "${AUTHD_RECIPE_PYTHON:-}" ]; then
		echo "ensure-recipes: $python cannot import jwt and cryptography; install PyJWT for it or unset AUTHD_RECIPE_PYTHON" >&2
		exit 1
	fi
	apt_install python3 python3-jwt python3-cryptography
	if ! "$python" -c 'import jwt, cryptography' >/dev/null; then
		echo "ensure-recipes: python3-jwt is installed but $python cannot import it" >&2
		exit 1
	fi
fi
