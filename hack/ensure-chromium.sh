#!/usr/bin/env bash
# The events panel test drives Debian's chromium with playwright-core (a test tool's own
# browser download cannot work on this network). Install it when missing and we may.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: /usr/bin/chromium is missing; install Debian's 'chromium' package (apt-get install chromium)" >&2
  exit 1
fi
echo "installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2
