#!/usr/bin/env bash
# Runs the benchmarks (release profile, LTO) with DynamoDB Local started the
# same way as for the tests. Usage: scripts/bench.sh [workflow|burst|startup|import|model]...
# Results go to stdout; BENCHMARKS.md records them with this command.
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
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(workflow burst startup import)
for b in "${benches[@]}"; do
  echo "== cargo bench --bench $b"
  cargo bench --locked --bench "$b"
done
