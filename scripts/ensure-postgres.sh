#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at $SESAME_TEST_PG_URL (default: the machine's server on
# 127.0.0.1:5432, user postgres, database test). Starts a stopped Debian cluster; installs the
# Debian package on a machine that has none. Idempotent.
set -euo pipefail
url="${SESAME_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
hostport="${url#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5432

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; }

if ready; then exit 0; fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
for v in $(ls /etc/postgresql); do
  conf="/etc/postgresql/$v/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password (trust on loopback only).
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$v" main reload || true
done
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "ensure-postgres: PostgreSQL does not answer at $host:$port" >&2; exit 1; }
db="${url##*/}"; db="${db%%\?*}"
if ! psql -h "$host" -p "$port" -U postgres -Atc "select 1 from pg_database where datname='$db'" postgres | grep -q 1; then
  psql -h "$host" -p "$port" -U postgres -c "CREATE DATABASE \"$db\"" postgres >/dev/null
fi
