#!/usr/bin/env bash
# Starts and stops a local SQS (moto's server) for the job-queue tests.
#
#   scripts/sqs-local.sh start [PORT]   install if missing, start, print the endpoint URL
#   scripts/sqs-local.sh stop           stop the instance started by `start`
#   scripts/sqs-local.sh status         print the endpoint if running, exit 1 otherwise
#
# AWS ships no SQS emulator. moto (the AWS mock library most Python projects
# test against) has a standalone server that speaks SQS's JSON protocol,
# including redrive to a dead-letter queue after maxReceiveCount, which is what
# the tests need. It is installed with pip into ./.sqs-local/venv (gitignored),
# so only Python 3 is needed. `start` prints `http://127.0.0.1:PORT` as the last
# line of stdout; every other message goes to stderr, the server's own output
# to .sqs-local/moto.log.
#
# Environment: SQS_LOCAL_DIR overrides the install directory,
# SQS_LOCAL_PIP_PACKAGE the pip requirement (e.g. a pinned version).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SQS_LOCAL_DIR:-$ROOT/.sqs-local}"
PACKAGE="${SQS_LOCAL_PIP_PACKAGE:-moto[server]>=5,<6}"
LOG_FILE="$DIR/moto.log"
WAIT_SECONDS=60
NAME=sqs-local
# shellcheck source=lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"

install() {
    if [[ -x "$DIR/venv/bin/moto_server" ]]; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || die "'python3' is required but not installed"
    log "installing '$PACKAGE' into $DIR/venv"
    mkdir -p "$DIR"
    python3 -m venv "$DIR/venv" >>"$LOG_FILE" 2>&1 || die "python3 -m venv failed (see $LOG_FILE)"
    "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "$PACKAGE" >>"$LOG_FILE" 2>&1 ||
        die "pip install $PACKAGE failed (see $LOG_FILE)"
    log "installed"
}

answers() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

# Starts the server in the background and prints its pid.
launch() {
    "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$1" >>"$LOG_FILE" 2>&1 </dev/null &
    echo $!
}

emulator_main "$@"
