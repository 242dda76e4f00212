#!/usr/bin/env bash
# Makes sure the programs the tests start are here: redis-server and redis-cli (Redis 7+,
# for sharded pub/sub), nginx, and Chromium (the demo page's browser test). Installs the missing ones from Debian's packages when it
# can (root with apt-get); otherwise says what to install.
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || packages+=(chromium)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing for the tests: ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "The tests need: ${packages[*]} (Debian/Ubuntu: sudo apt-get install ${packages[*]}; macOS: brew install redis nginx chromium)" >&2
  exit 1
fi
