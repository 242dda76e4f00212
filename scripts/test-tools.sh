#!/usr/bin/env bash
# Makes sure the programs the tests start are here: redis-server and redis-cli (Redis 7+,
# for sharded pub/sub), nginx, and Chromium (the demo page's browser test). Installs the missing ones from Debian's packages when it
# can (root with apt-get); otherwise says what to install. Also makes sure PostgreSQL is up.
set -euo pipefail

# The PostgreSQL contract tests need a server: the local one unless SWITCHBOARD_TEST_POSTGRES_URL
# names another. A local cluster that is down is started; then wait (at most 30 s) until it answers.
ensure_postgres() {
  local url="${SWITCHBOARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! command -v pg_isready >/dev/null 2>&1; then
    echo "The tests need PostgreSQL (Debian/Ubuntu: sudo apt-get install postgresql; or set SWITCHBOARD_TEST_POSTGRES_URL)" >&2
    return 1
  fi
  pg_isready -q -d "$url" && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  for _ in $(seq 1 30); do pg_isready -q -d "$url" && return 0; sleep 1; done
  echo "PostgreSQL at $url is not accepting connections" >&2
  return 1
}

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
command -v ss >/dev/null 2>&1 || packages+=(iproute2)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || packages+=(chromium)
ensure_postgres
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing for the tests: ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "The tests need: ${packages[*]} (Debian/Ubuntu: sudo apt-get install ${packages[*]}; macOS: brew install redis nginx chromium)" >&2
  exit 1
fi
