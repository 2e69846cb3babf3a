#!/usr/bin/env bash
# Runs every test of agol-seat-broker, the same way CI does.
#
# Installs and starts DynamoDB Local (AWS's own emulator, from the npm package
# amplify-dynamodb-simulator) unless DYNAMODB_ENDPOINT already points at one,
# and a local SQS (moto's server, from pip) unless SQS_ENDPOINT does, then runs
# `cargo test`; Chromium and ChromeDriver are installed first when missing
# (scripts/browser-test-deps.sh). Extra arguments go to cargo test, e.g.
#   scripts/test.sh --test api burst
# Needs: the Rust toolchain, Java 17+, Node/npm, Python 3, and apt-get (root or
# sudo) the first time, for Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# The headless-browser test of the administrator's page (tests/admin_browser.rs)
# drives Debian's Chromium through ChromeDriver: installed here when missing.
scripts/browser-test-deps.sh

# Esri's own ArcGIS REST JS client drives the portal simulator in
# tests/esri_clients.rs: its packages, pinned by the lock file.
if [ ! -d scripts/esri-clients/node_modules/@esri/arcgis-rest-portal ]; then
  (cd scripts/esri-clients && npm ci --no-audit --no-fund --silent)
fi

if [ -z "${DYNAMODB_ENDPOINT:-}" ]; then
  # Stop it afterwards only if this run started it.
  already_running=0
  scripts/dynamodb-local.sh status >/dev/null 2>&1 && already_running=1
  DYNAMODB_ENDPOINT="$(scripts/dynamodb-local.sh start | tail -n 1)"
  export DYNAMODB_ENDPOINT
fi
echo "DynamoDB Local at ${DYNAMODB_ENDPOINT}" >&2

stop_sqs=0
if [ -z "${SQS_ENDPOINT:-}" ]; then
  scripts/sqs-local.sh status >/dev/null 2>&1 || stop_sqs=1
  SQS_ENDPOINT="$(scripts/sqs-local.sh start | tail -n 1)"
  export SQS_ENDPOINT
fi
echo "local SQS at ${SQS_ENDPOINT}" >&2
cleanup() {
  if [ "$stop_sqs" = 1 ]; then scripts/sqs-local.sh stop >/dev/null 2>&1 || true; fi
  if [ "${already_running:-1}" = 0 ]; then scripts/dynamodb-local.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

cargo test --locked "$@"
