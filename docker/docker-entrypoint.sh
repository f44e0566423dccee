#!/bin/sh
# The official `zookeeper` image's entrypoint contract, for Ferrokeeper:
#  * started as root with the zkServer.sh command: take ownership of the data, txn-log and
#    log directories and re-run as the `zookeeper` user (uid/gid 1000);
#  * only if $ZOO_CONF_DIR/zoo.cfg is absent, write it from the ZOO_* variables: no
#    clientPort line, the client port rides on the `server.N=...;2181` lines of ZOO_SERVERS;
#  * only if $ZOO_DATA_DIR/myid is absent, write ZOO_MY_ID (default 1);
#  * then exec the command (default `zkServer.sh start-foreground`, which passes the -D
#    options of JVMFLAGS to the server).
set -e

if [ "$1" = 'zkServer.sh' ] && [ "$(id -u)" = '0' ]; then
    chown -R zookeeper:zookeeper "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    # busybox su as root needs no password; -p keeps the environment; it execs the shell,
    # which execs us again, so the server stays PID 1 and receives docker stop's SIGTERM.
    exec su -p -s /bin/sh zookeeper -c 'exec "$0" "$@"' "$0" "$@"
fi

CONFIG="$ZOO_CONF_DIR/zoo.cfg"
if [ ! -f "$CONFIG" ]; then
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
    } >"$CONFIG"
    : "${ZOO_SERVERS:=server.1=localhost:2888:3888;2181}"
    for server in $ZOO_SERVERS; do
        echo "$server" >>"$CONFIG"
    done
    if [ -n "$ZOO_4LW_COMMANDS_WHITELIST" ]; then
        echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST" >>"$CONFIG"
    fi
    for cfg_extra_entry in $ZOO_CFG_EXTRA; do
        echo "$cfg_extra_entry" >>"$CONFIG"
    done
fi

if [ ! -f "$ZOO_DATA_DIR/myid" ]; then
    echo "${ZOO_MY_ID:-1}" >"$ZOO_DATA_DIR/myid"
fi

exec "$@"
