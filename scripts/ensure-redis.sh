#!/usr/bin/env bash
# ensure-redis.sh — make sure a Redis answers on 127.0.0.1:6379 (the one the
# tests use). Idempotent and quiet on success: does nothing if one answers;
# otherwise installs redis-server with apt-get if it is missing (needs root)
# and starts it daemonized without persistence, then waits until it answers.
set -euo pipefail

host=127.0.0.1
port=${ENSURE_REDIS_PORT:-6379} # the override is for testing this script

answers() {
	command -v redis-cli >/dev/null 2>&1 &&
		[ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = "PONG" ]
}

answers && exit 0

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "ensure-redis: redis-server is not installed and this is not root; install it (apt-get install redis-server)" >&2
		exit 1
	fi
	log=$(mktemp)
	if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "ensure-redis: installing redis-server failed" >&2
		exit 1
	fi
	rm -f "$log"
fi

redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no >/dev/null

for _ in $(seq 1 100); do # up to ~10 s
	answers && exit 0
	sleep 0.1
done
echo "ensure-redis: redis-server started but $host:$port does not answer PING after 10 s" >&2
exit 1
