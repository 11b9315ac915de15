#!/usr/bin/env bash
# The test command: every test of the workspace, on SQLite and on PostgreSQL.
# PostgreSQL tests create (and drop) their own databases on $SESAME_TEST_PG_URL's server; Redis
# tests use their own key prefixes on $SESAME_TEST_REDIS_URL's server.
set -euo pipefail
cd "$(dirname "$0")/.."
export SESAME_TEST_PG_URL="${SESAME_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
scripts/ensure-postgres.sh
# Shared limits (issue 18): tests on Redis fail, never skip, when it does not answer.
export SESAME_TEST_REDIS_URL="${SESAME_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
scripts/ensure-redis.sh

# External tools some tests need (they fail without them, never skip): qpdf checks the
# simulator's PDFs, promtool (Debian package prometheus) the alert rules and their unit tests,
# Debian's Chromium and its driver run the web console's browser tests (admin-api/tests/console).
missing=()
command -v qpdf >/dev/null || missing+=(qpdf)
command -v promtool >/dev/null || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The admin API's OpenAPI document is checked with the reference validator.
python3 -c 'import openapi_spec_validator' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check openapi-spec-validator >/dev/null

# Databases left behind by an interrupted run.
hostport="${SESAME_TEST_PG_URL#*@}"; hostport="${hostport%%/*}"
psql "$SESAME_TEST_PG_URL" -Atc "select datname from pg_database where datname like 'sesame\_t\_%'" 2>/dev/null |
  while read -r db; do psql "$SESAME_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; done

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
