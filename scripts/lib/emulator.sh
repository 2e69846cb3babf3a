# Shared start/stop/status of a local emulator run in the background, for
# scripts/dynamodb-local.sh and scripts/sqs-local.sh. Source it after setting:
#
#   NAME          prefix of messages ("dynamodb-local")
#   DIR           install and state directory (pid, port, log)
#   LOG_FILE      where the emulator's own output goes
#   WAIT_SECONDS  how long start-up may take
#
# and defining:
#
#   install       installs the emulator into $DIR if missing
#   answers PORT  true when the emulator answers on PORT
#   launch PORT   starts it in the background (output to $LOG_FILE) and
#                 prints its pid
#
# then call `emulator_main "$@"`. `start` prints `http://127.0.0.1:PORT` as the
# last line of stdout; every other message goes to stderr.

PID_FILE="$DIR/pid"
PORT_FILE="$DIR/port"

log() { echo "$NAME: $*" >&2; }
die() {
    log "$*"
    exit 1
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed"; }

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
    local port pid
    port="${1:-$(free_port)}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
    log "starting on port $port (log: $LOG_FILE)"
    pid="$(launch "$port")"
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    local waited=0
    until answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "the emulator exited during start-up"
        fi
        if ((waited >= WAIT_SECONDS * 4)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "the emulator did not answer within ${WAIT_SECONDS}s"
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

emulator_main() {
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
}
