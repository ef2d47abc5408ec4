#!/usr/bin/env bash
# The archive's PostgreSQL tests run a real server: Debian's `postgresql` package (the test
# harness starts it on loopback in a temporary folder and stops it). Install it when missing and
# we may. OVIM_TEST_DATABASE_URL (an existing server) makes the package unnecessary.
set -euo pipefail
[ -n "${OVIM_TEST_DATABASE_URL:-}" ] && exit 0
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: PostgreSQL is missing; install Debian's 'postgresql' package (apt-get install postgresql) or set OVIM_TEST_DATABASE_URL" >&2
  exit 1
fi
echo "installing Debian's postgresql for the archive tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq postgresql >&2
# The package's own cluster is not ours: the tests start their own server.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    v=$(basename "$(dirname "$conf")")
    pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true
  done
fi
