#!/usr/bin/env bash
# Makes sure a Redis server answers at $SESAME_TEST_REDIS_URL (default: the machine's server on
# 127.0.0.1:6379). Starts it when stopped (no persistence: tests only need the limits it holds);
# installs Debian's redis-server package on a machine that has none. Idempotent.
# Tests that stop and restart Redis start their own private redis-server on a free port: this one
# is shared by every test running at the same time.
set -euo pipefail
url="${SESAME_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${url#redis://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379

ready() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = PONG ]; }

if ready; then exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: installing Redis from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "ensure-redis: $host is not this machine: start Redis there" >&2; exit 1 ;;
esac
mkdir -p /var/lib/redis /var/log/redis
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
for _ in $(seq 1 30); do ready && break; sleep 0.2; done
ready || { echo "ensure-redis: Redis does not answer at $host:$port" >&2; exit 1; }
