#!/usr/bin/env bash
# Installs what the headless-browser test (tests/admin_browser.rs) needs:
# Debian's Chromium and its ChromeDriver (/usr/bin/chromium,
# /usr/bin/chromedriver). Does nothing when both are there already, so it
# is cheap to run before every test run; scripts/test.sh does.
#
# Uses sudo when not run as root. Quiet unless something goes wrong.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "browser-test-deps: chromium and chromium-driver are missing, and installing them needs root (no sudo here)" >&2
  exit 1
fi

command -v apt-get >/dev/null 2>&1 || {
  echo "browser-test-deps: no apt-get: install Chromium and a matching ChromeDriver by hand" >&2
  exit 1
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "browser-test-deps: installing chromium and chromium-driver (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq && \
       "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "browser-test-deps: the installation failed (see above)" >&2
  exit 1
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null || {
  echo "browser-test-deps: installed, but chromium or chromedriver is still not on PATH" >&2
  exit 1
}
