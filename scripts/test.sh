#!/usr/bin/env bash
# Runs every test of agol-seat-broker, the same way CI does.
#
# Installs and starts DynamoDB Local (AWS's own emulator, from the npm package
# amplify-dynamodb-simulator) unless DYNAMODB_ENDPOINT already points at one,
# then runs `cargo test`. Extra arguments go to cargo test, e.g.
#   scripts/test.sh --test api burst
# Needs: the Rust toolchain, Java 17+, Node/npm.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DYNAMODB_ENDPOINT:-}" ]; then
  # Stop it afterwards only if this run started it.
  already_running=0
  scripts/dynamodb-local.sh status >/dev/null 2>&1 && already_running=1
  DYNAMODB_ENDPOINT="$(scripts/dynamodb-local.sh start | tail -n 1)"
  export DYNAMODB_ENDPOINT
  if [ "$already_running" = 0 ]; then
    trap 'scripts/dynamodb-local.sh stop >/dev/null 2>&1 || true' EXIT
  fi
fi
echo "DynamoDB Local at ${DYNAMODB_ENDPOINT}" >&2

cargo test --locked "$@"
