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
PID_FILE="$DIR/pid"
PORT_FILE="$DIR/port"
LOG_FILE="$DIR/moto.log"
WAIT_SECONDS=60

log() { echo "sqs-local: $*" >&2; }
die() {
    log "$*"
    exit 1
}

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

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
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

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    if running_pid >/dev/null && [[ -f "$PORT_FILE" ]] && answers "$(cat "$PORT_FILE")"; then
        log "already running (pid $(cat "$PID_FILE"))"
        echo "http://127.0.0.1:$(cat "$PORT_FILE")"
        return 0
    fi
    install
    local port
    port="${1:-$(free_port)}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
    log "starting on port $port (log: $LOG_FILE)"
    "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >>"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    local waited=0
    until answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "moto_server exited during start-up"
        fi
        if ((waited >= WAIT_SECONDS * 4)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "moto_server did not answer within ${WAIT_SECONDS}s"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    log "ready (pid $pid)"
    echo "http://127.0.0.1:$port"
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        log "stopped (pid $pid)"
    else
        log "not running"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

status() {
    if running_pid >/dev/null && [[ -f "$PORT_FILE" ]]; then
        echo "http://127.0.0.1:$(cat "$PORT_FILE")"
    else
        log "not running"
        return 1
    fi
}

case "${1:-}" in
start)
    shift
    start "${1:-}"
    ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start [PORT] | stop | status" >&2
    exit 2
    ;;
esac
