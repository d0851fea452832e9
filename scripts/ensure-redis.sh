#!/usr/bin/env bash
# ensure-redis.sh — make sure a Redis answers on 127.0.0.1:6379 (the one the
# tests use) and that the binaries the other Redis tests start are installed:
# redis-server and redis-cli (private servers, the Cluster test) and
# redis-sentinel (the Sentinel failover test, internal/redistest/sentinel.go).
# Idempotent and quiet on success. Missing packages are installed with
# apt-get (needs root); the Debian packages' own services are not started
# (policy-rc.d denies them for the install), the tests start their own.
# Then a Redis is started daemonized without persistence if none answers.
set -euo pipefail

host=127.0.0.1
port=${ENSURE_REDIS_PORT:-6379} # the override is for testing this script

answers() {
	command -v redis-cli >/dev/null 2>&1 &&
		[ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = "PONG" ]
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)

if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "ensure-redis: ${missing[*]} not installed and this is not root; install it (apt-get install ${missing[*]})" >&2
		exit 1
	fi
	log=$(mktemp)
	# Keep the packages' init scripts from starting system-wide daemons
	# (a redis-sentinel on 26379 nobody stops); restore any policy after.
	policy=/usr/sbin/policy-rc.d
	saved=""
	if [ -e "$policy" ]; then
		saved=$(mktemp)
		cp -p "$policy" "$saved"
	fi
	restore() {
		if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
		rm -f "$log"
	}
	trap restore EXIT
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		echo "ensure-redis: installing ${missing[*]} failed" >&2
		exit 1
	fi
	restore
	trap - EXIT
fi

answers && exit 0

redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no >/dev/null

for _ in $(seq 1 100); do # up to ~10 s
	answers && exit 0
	sleep 0.1
done
echo "ensure-redis: redis-server started but $host:$port does not answer PING after 10 s" >&2
exit 1
