#!/usr/bin/env bash
# Starts and stops DynamoDB Local (AWS's own emulator) for the ledger tests.
#
#   scripts/dynamodb-local.sh start [PORT]   install if missing, start, print the endpoint URL
#   scripts/dynamodb-local.sh stop           stop the instance started by `start`
#   scripts/dynamodb-local.sh status         print the endpoint if running, exit 1 otherwise
#
# The emulator comes from the npm package `amplify-dynamodb-simulator`, which
# ships DynamoDBLocal.jar and its native libraries, so only Java 17 and npm are
# needed. Everything lives in ./.dynamodb-local/ (gitignored): the download is
# reused by later runs. `start` prints `http://127.0.0.1:PORT` as the last line
# of stdout; every other message goes to stderr, the emulator's own output to
# .dynamodb-local/dynamodb.log.
#
# Environment: DYNAMODB_LOCAL_DIR overrides the install directory,
# DYNAMODB_LOCAL_NPM_PACKAGE the npm package spec (e.g. a pinned version).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DYNAMODB_LOCAL_DIR:-$ROOT/.dynamodb-local}"
PACKAGE="${DYNAMODB_LOCAL_NPM_PACKAGE:-amplify-dynamodb-simulator}"
PID_FILE="$DIR/pid"
PORT_FILE="$DIR/port"
LOG_FILE="$DIR/dynamodb.log"
WAIT_SECONDS=60

log() { echo "dynamodb-local: $*" >&2; }
die() {
    log "$*"
    exit 1
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed"; }

# Prints the directory holding DynamoDBLocal.jar inside the install, if any.
find_home() {
    local jar
    jar="$(find "$DIR/pkg" -name DynamoDBLocal.jar -type f 2>/dev/null | head -n 1 || true)"
    [[ -n "$jar" ]] || return 1
    local home
    home="$(dirname "$jar")"
    [[ -d "$home/DynamoDBLocal_lib" ]] || return 1
    echo "$home"
}

install() {
    if find_home >/dev/null; then
        return 0
    fi
    need npm
    need tar
    log "installing DynamoDB Local from npm package '$PACKAGE' into $DIR"
    mkdir -p "$DIR"
    local tmp
    tmp="$(mktemp -d "$DIR/download.XXXXXX")"
    # Silence npm's chatter on stdout: only the endpoint may go there.
    local tarball
    tarball="$(cd "$tmp" && npm pack --silent "$PACKAGE" 2>>"$LOG_FILE" | tail -n 1)"
    [[ -n "$tarball" && -f "$tmp/$tarball" ]] || die "npm pack $PACKAGE failed (see $LOG_FILE)"
    mkdir -p "$tmp/unpacked"
    tar -xzf "$tmp/$tarball" -C "$tmp/unpacked"
    rm -rf "$DIR/pkg"
    mv "$tmp/unpacked" "$DIR/pkg"
    rm -rf "$tmp"
    find_home >/dev/null || die "DynamoDBLocal.jar or DynamoDBLocal_lib not found in $PACKAGE"
    log "installed"
}

# Asks the kernel for a free TCP port.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    else
        # Fallback: a random high port that nothing answers on.
        local p
        for _ in $(seq 1 50); do
            p=$((20000 + RANDOM % 40000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                echo "$p"
                return 0
            fi
        done
        die "no free port found"
    fi
}

# True when something answers DynamoDB's API on the port.
answers() {
    local port="$1"
    if command -v curl >/dev/null 2>&1; then
        # Any HTTP answer (DynamoDB replies 400 to an unsigned request) counts.
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    need java
    if running_pid >/dev/null && [[ -f "$PORT_FILE" ]]; then
        local port
        port="$(cat "$PORT_FILE")"
        if answers "$port"; then
            log "already running (pid $(cat "$PID_FILE"))"
            echo "http://127.0.0.1:$port"
            return 0
        fi
    fi
    install
    local home port
    home="$(find_home)"
    port="${1:-$(free_port)}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
    log "starting on port $port (log: $LOG_FILE)"
    (
        cd "$home"
        exec java -Djava.library.path=DynamoDBLocal_lib -jar DynamoDBLocal.jar \
            -inMemory -port "$port"
    ) >>"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    local waited=0
    until answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "DynamoDB Local exited during start-up"
        fi
        if ((waited >= WAIT_SECONDS * 4)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "DynamoDB Local did not answer within ${WAIT_SECONDS}s"
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
