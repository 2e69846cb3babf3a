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
LOG_FILE="$DIR/dynamodb.log"
WAIT_SECONDS=60
NAME=dynamodb-local
# shellcheck source=lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"

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

# Starts the emulator in the background and prints its pid.
launch() {
    need java
    local home
    home="$(find_home)"
    (
        cd "$home"
        exec java -Djava.library.path=DynamoDBLocal_lib -jar DynamoDBLocal.jar \
            -inMemory -port "$1"
    ) >>"$LOG_FILE" 2>&1 </dev/null &
    echo $!
}

emulator_main "$@"
