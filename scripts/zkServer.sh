#!/bin/sh
# zkServer.sh for Ferrokeeper: the commands, messages, exit codes and pidfile of Apache
# ZooKeeper's bin/zkServer.sh, so scripts, units and images written for ZooKeeper work.
#
#   zkServer.sh [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd} [zoo.cfg]
#
# Environment, as zkEnv.sh reads it: ZOOCFGDIR, ZOOCFG, ZOO_LOG_DIR, ZOO_LOG_FILE, ZOOPIDFILE,
# JVMFLAGS and SERVER_JVMFLAGS (their -D options are passed on; JVM-only options such as
# -Xmx are ignored with a notice), $ZOOCFGDIR/zookeeper-env.sh and java.env (sourced).
# FERROKEEPER_BIN names the binary (default: `ferrokeeper` beside this script, else on PATH).
# `status` asks the server `srvr` on its client port (nc, busybox nc, or bash's /dev/tcp).
# POSIX sh: it runs under busybox in the Docker image.

ZOOBINDIR=$(cd "$(dirname "$0")" && pwd)
ZOOBINDIR=${ZOOBINDIR:-.}

if [ "$1" = "--config" ]; then
    shift
    ZOOCFGDIR=$1
    shift
fi
if [ -z "$ZOOCFGDIR" ]; then
    if [ -d "$ZOOBINDIR/../conf" ]; then
        ZOOCFGDIR="$ZOOBINDIR/../conf"
    else
        ZOOCFGDIR="$ZOOBINDIR/../etc/zookeeper"
    fi
fi
[ -f "$ZOOCFGDIR/zookeeper-env.sh" ] && . "$ZOOCFGDIR/zookeeper-env.sh"
[ -f "$ZOOCFGDIR/java.env" ] && . "$ZOOCFGDIR/java.env"

ZOOCFG=${ZOOCFG:-zoo.cfg}
if [ -n "$2" ]; then
    if [ -f "$2" ]; then ZOOCFG=$2; else ZOOCFG="$ZOOCFGDIR/$2"; fi
else
    case "$ZOOCFG" in
        /*) ;;
        *) ZOOCFG="$ZOOCFGDIR/$ZOOCFG" ;;
    esac
fi

if [ -z "$FERROKEEPER_BIN" ]; then
    if [ -x "$ZOOBINDIR/ferrokeeper" ]; then
        FERROKEEPER_BIN="$ZOOBINDIR/ferrokeeper"
    else
        FERROKEEPER_BIN=ferrokeeper
    fi
fi

echo "Using config: $ZOOCFG" >&2

# Value of key $1 in the config file (the last one wins, surrounding blanks trimmed).
cfg_value() {
    [ -f "$ZOOCFG" ] || return 0
    grep -E "^[[:space:]]*$1[[:space:]]*=" "$ZOOCFG" | tail -n 1 | sed -e 's/^[^=]*=//' \
        -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

ZOO_DATADIR=$(cfg_value dataDir)
ZOOPIDFILE=${ZOOPIDFILE:-${ZOO_DATADIR:-.}/zookeeper_server.pid}
ZOO_LOG_DIR=${ZOO_LOG_DIR:-$ZOOBINDIR/../logs}
USER=${USER:-$(id -un 2>/dev/null)}
HOSTNAME=${HOSTNAME:-$(hostname 2>/dev/null)}
ZOO_LOG_FILE=${ZOO_LOG_FILE:-zookeeper-$USER-server-$HOSTNAME.log}
_ZOO_DAEMON_OUT="$ZOO_LOG_DIR/zookeeper-$USER-server-$HOSTNAME.out"

# The -D options of JVMFLAGS and SERVER_JVMFLAGS, one argument each.
SERVER_ARGS=""
for flag in $SERVER_JVMFLAGS $JVMFLAGS; do
    case "$flag" in
        -D*) SERVER_ARGS="$SERVER_ARGS $flag" ;;
        "") ;;
        *) echo "Ignoring JVM option $flag (Ferrokeeper is not a JVM)" >&2 ;;
    esac
done

server_cmd() {
    # shellcheck disable=SC2086 # the -D options are separate words by design
    set -- "$FERROKEEPER_BIN" $SERVER_ARGS --config "$ZOOCFG"
    printf '%s' "$*"
}

# Answer of four-letter word $3 from $1:$2.
four_letter() {
    if command -v nc >/dev/null 2>&1; then
        printf '%s' "$3" | nc -w 5 "$1" "$2" 2>/dev/null
    elif command -v busybox >/dev/null 2>&1; then
        printf '%s' "$3" | busybox nc -w 5 "$1" "$2" 2>/dev/null
    elif command -v bash >/dev/null 2>&1; then
        bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "%s" "$3" >&3 && timeout 5 cat <&3' \
            _ "$1" "$2" "$3" 2>/dev/null
    else
        echo "zkServer.sh: no nc, busybox or bash to reach the server" >&2
    fi
}

case $1 in
start)
    printf '%s' "Starting zookeeper ... "
    if [ -f "$ZOOPIDFILE" ]; then
        if kill -0 "$(cat "$ZOOPIDFILE")" >/dev/null 2>&1; then
            echo "zookeeper already running as process $(cat "$ZOOPIDFILE")."
            exit 1
        fi
    fi
    mkdir -p "$ZOO_LOG_DIR" 2>/dev/null
    # shellcheck disable=SC2086
    nohup "$FERROKEEPER_BIN" $SERVER_ARGS --config "$ZOOCFG" >"$_ZOO_DAEMON_OUT" 2>&1 </dev/null &
    pid=$!
    if printf '%s' "$pid" >"$ZOOPIDFILE"; then
        sleep 1
        if kill -0 "$pid" >/dev/null 2>&1; then
            echo STARTED
        else
            echo FAILED TO START
            exit 1
        fi
    else
        echo FAILED TO WRITE PID
        exit 1
    fi
    ;;
start-foreground)
    # shellcheck disable=SC2086
    exec "$FERROKEEPER_BIN" $SERVER_ARGS --config "$ZOOCFG"
    ;;
print-cmd)
    echo "$(server_cmd) > \"$_ZOO_DAEMON_OUT\" 2>&1 < /dev/null"
    ;;
stop)
    printf '%s' "Stopping zookeeper ... "
    if [ ! -f "$ZOOPIDFILE" ]; then
        echo "no zookeeper to stop (could not find file $ZOOPIDFILE)"
    else
        pid=$(cat "$ZOOPIDFILE")
        kill "$pid" 2>/dev/null
        # Wait (bounded) for the last snapshot and the exit.
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
            sleep 1
            i=$((i + 1))
        done
        rm -f "$ZOOPIDFILE"
        echo STOPPED
    fi
    exit 0
    ;;
restart)
    shift
    "$0" stop "$@"
    sleep 3
    "$0" start "$@"
    ;;
version)
    v=$("$FERROKEEPER_BIN" --version 2>/dev/null | sed -e 's/^ferrokeeper //')
    echo "Apache ZooKeeper, version 3.9.3-ferrokeeper-${v:-unknown} (Ferrokeeper)"
    ;;
status)
    clientPortAddress=$(cfg_value clientPortAddress)
    clientPort=$(cfg_value clientPort)
    if [ -z "$clientPort" ]; then
        myid=""
        [ -f "$ZOO_DATADIR/myid" ] && myid=$(tr -d ' \r\n' <"$ZOO_DATADIR/myid")
        if [ -z "$myid" ]; then
            echo "myid could not be determined, will not able to locate clientPort in the server configs."
        else
            line=$(cfg_value "server\\.$myid")
            case "$line" in
                *";"*)
                    addrport=${line##*;}
                    case "$addrport" in
                        *:*)
                            clientPortAddress=${addrport%:*}
                            clientPort=${addrport##*:}
                            ;;
                        *) clientPort=$addrport ;;
                    esac
                    ;;
                *) echo "Client port not found in the server configs" ;;
            esac
        fi
    fi
    isSSL=false
    if [ -z "$clientPort" ]; then
        echo "Client port not found. Looking for secureClientPort in the static config."
        clientPort=$(cfg_value secureClientPort)
        if [ -z "$clientPort" ]; then
            echo "Unable to find either secure or unsecure client port in any configs. Terminating."
            exit 1
        fi
        isSSL=true
        clientPortAddress=$(cfg_value secureClientPortAddress)
    fi
    clientPortAddress=${clientPortAddress:-localhost}
    case "$clientPortAddress" in 0.0.0.0 | "::" | "[::]") clientPortAddress=localhost ;; esac
    echo "Client port found: $clientPort. Client address: $clientPortAddress. Client SSL: $isSSL."
    STAT=""
    if [ "$isSSL" = false ]; then
        STAT=$(four_letter "$clientPortAddress" "$clientPort" srvr | grep Mode)
    fi
    if [ -z "$STAT" ]; then
        echo "Error contacting service. It is probably not running."
        exit 1
    fi
    echo "$STAT"
    exit 0
    ;;
*)
    echo "Usage: $0 [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd}" >&2
    ;;
esac
