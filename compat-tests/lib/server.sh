# shellcheck shell=bash
# Source-able helpers shared by the compat-tests suites.
#
#   . "$(dirname "$0")/../lib/server.sh"
#   compat_init <suite-name>      # work dir, cleanup trap
#   compat_server_up              # sets ZK_CONNECT (starts a server unless ZK_CONNECT is set)
#   ... run clients against "$ZK_CONNECT" ...
#
# Environment:
#   ZK_CONNECT               use this running server ("host:port") and start nothing
#   ZK_SERVER                ferrokeeper (default) | zookeeper  -- what compat_server_up starts
#   FERROKEEPER_BIN          ferrokeeper binary (default: target/release, then target/debug)
#   FERROKEEPER_ALLOW_MISSING=1  no ferrokeeper binary: print SKIP and exit 0 instead of failing
#   ZK_JAVA_CLASSPATH        extra classpath entries for the Apache ZooKeeper server
#   COMPAT_KEEP=1            keep the server's temp dir (config, data, log) after the run
#   ZK_START_TIMEOUT         seconds to wait for `srvr` to answer (default 30)
#   COMPAT_TICK_TIME         tickTime of the started server (default 2000)
#   COMPAT_CONTAINER_CHECK_MS  znode.container.checkIntervalMs (default 1000)
#   COMPAT_ZOO_CFG_EXTRA     more zoo.cfg lines (keys not set above)
#   COMPAT_SERVER_EXTRA_CFG  extra zoo.cfg lines (a suite's TLS/SASL settings)
#   COMPAT_SERVER_PROPS      extra -Dkey=value arguments (space-separated) for either server
#   COMPAT_CLUSTER_SIZE      N > 1: start an ensemble of N members (ZK_CONNECT names them all)
#
# Every function here is bounded in time; nothing waits forever.

COMPAT_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPAT_DIR="$(dirname "$COMPAT_LIB_DIR")"
COMPAT_REPO_ROOT="$(dirname "$COMPAT_DIR")"
COMPAT_WORK_ROOT="$COMPAT_DIR/.work"

# Debian's Apache ZooKeeper 3.8 layout.  The jars' manifests carry their own Class-Path, so the
# main jars are enough; log4j + its slf4j binding give the server a log file.
ZK_JAR_DIR="${ZK_JAR_DIR:-/usr/share/java}"

COMPAT_SERVER_PID=""
COMPAT_SERVER_DIR=""
COMPAT_CLEANUP_HOOKS=()
COMPAT_T0=""

compat_log() { printf '[%s] %s\n' "${COMPAT_SUITE:-compat}" "$*"; }
compat_die() {
    printf '[%s] ERROR: %s\n' "${COMPAT_SUITE:-compat}" "$*" >&2
    exit 1
}

# Milliseconds since the epoch (for timings).
compat_now_ms() { date +%s%3N; }

# compat_init NAME: set up .work/NAME, the cleanup trap and the suite clock.
compat_init() {
    COMPAT_SUITE="$1"
    COMPAT_WORK="$COMPAT_WORK_ROOT/$COMPAT_SUITE"
    mkdir -p "$COMPAT_WORK"
    COMPAT_T0="$(compat_now_ms)"
    trap compat_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

compat_elapsed() {
    local now
    now="$(compat_now_ms)"
    printf '%d.%03ds' $(((now - COMPAT_T0) / 1000)) $(((now - COMPAT_T0) % 1000))
}

compat_add_cleanup() { COMPAT_CLEANUP_HOOKS+=("$1"); }

compat_cleanup() {
    local rc=$?
    local hook
    for hook in "${COMPAT_CLEANUP_HOOKS[@]}"; do
        "$hook" || true
    done
    compat_server_stop
    exit "$rc"
}

# compat_venv REQUIREMENTS: a Python venv under the suite's work dir with REQUIREMENTS
# installed (pinned versions), rebuilt when the file changes; prints its python. Needs
# compat_init. Fails when the venv or pip install fails.
compat_venv() {
    local req="$1" venv="$COMPAT_WORK/venv" stamp
    stamp="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ "$(cat "$venv/.stamp" 2>/dev/null || true)" != "$stamp" ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv" >&2 || return 1
        timeout 600 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$req" >&2 || return 1
        echo "$stamp" >"$venv/.stamp"
    fi
    printf '%s\n' "$venv/bin/python"
}

# Ask a four-letter word; prints the answer (empty if none).  compat_4lw HOST PORT WORD
compat_4lw() {
    local host="$1" port="$2" word="$3"
    # shellcheck disable=SC2016 # the inner script reads its own positional parameters
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "%s" "$2" >&3
        cat <&3
    ' "$host" "$port" "$word" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1 (bound and released; good enough for a test run).
compat_free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# The classpath used to run Apache ZooKeeper's server.
compat_zk_server_classpath() {
    local cp="$ZK_JAR_DIR/zookeeper.jar:$ZK_JAR_DIR/zookeeper-jute.jar"
    cp="$cp:$ZK_JAR_DIR/slf4j-log4j12.jar:$ZK_JAR_DIR/log4j-1.2.jar"
    [ -n "${ZK_JAVA_CLASSPATH:-}" ] && cp="$cp:$ZK_JAVA_CLASSPATH"
    printf '%s' "$cp"
}

# Locate the ferrokeeper binary; prints its path or nothing.
compat_ferrokeeper_bin() {
    if [ -n "${FERROKEEPER_BIN:-}" ]; then
        [ -x "$FERROKEEPER_BIN" ] && printf '%s' "$FERROKEEPER_BIN"
        return 0
    fi
    local c
    for c in "$COMPAT_REPO_ROOT/target/release/ferrokeeper" "$COMPAT_REPO_ROOT/target/debug/ferrokeeper"; do
        if [ -x "$c" ]; then
            printf '%s' "$c"
            return 0
        fi
    done
}

# compat_server_preflight: check that what compat_server_up would start exists (sets
# COMPAT_SERVER_BIN for ferrokeeper).  A missing ferrokeeper binary is fatal, or a skip (exit 0)
# with FERROKEEPER_ALLOW_MISSING=1.  Nothing to check when ZK_CONNECT is set.
COMPAT_SERVER_BIN=""
compat_server_preflight() {
    [ -n "${ZK_CONNECT:-}" ] && return 0
    local kind="${ZK_SERVER:-ferrokeeper}"
    local bin=""
    case "$kind" in
        zookeeper)
            command -v java >/dev/null || compat_die "java not found (needed for ZK_SERVER=zookeeper)"
            [ -r "$ZK_JAR_DIR/zookeeper.jar" ] ||
                compat_die "$ZK_JAR_DIR/zookeeper.jar missing: apt-get install zookeeper"
            ;;
        ferrokeeper)
            bin="$(compat_ferrokeeper_bin)"
            if [ -z "$bin" ]; then
                local why="no ferrokeeper binary: set FERROKEEPER_BIN or build target/{release,debug}/ferrokeeper"
                [ -n "${FERROKEEPER_BIN:-}" ] && why="FERROKEEPER_BIN=$FERROKEEPER_BIN is not an executable file"
                if [ "${FERROKEEPER_ALLOW_MISSING:-0}" = 1 ]; then
                    compat_log "SKIP: $why (FERROKEEPER_ALLOW_MISSING=1)"
                    trap - EXIT
                    exit 0
                fi
                compat_die "$why (or run with ZK_SERVER=zookeeper; FERROKEEPER_ALLOW_MISSING=1 turns this into a skip)"
            fi
            ;;
        *) compat_die "ZK_SERVER must be 'ferrokeeper' or 'zookeeper', not '$kind'" ;;
    esac
    COMPAT_SERVER_BIN="$bin"
}

# compat_launch KIND DIR LOG: start KIND (zookeeper | ferrokeeper) on DIR/zoo.cfg in the
# background, logging to LOG (Java's stdout to DIR/stdout.log); sets COMPAT_SERVER_PID.
# Ferrokeeper writes the opcodes it served to DIR/opcodes.txt on shutdown.
compat_launch() {
    local kind="$1" dir="$2" log="$3"
    local extra_props=()
    # shellcheck disable=SC2206 # space-separated -D arguments, by design
    [ -n "${COMPAT_SERVER_PROPS:-}" ] && extra_props=($COMPAT_SERVER_PROPS)
    case "$kind" in
        zookeeper)
            cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] %m%n
EOF
            java -Xmx512m \
                -Dlog4j.configuration="file:$dir/log4j.properties" \
                -Dznode.container.checkIntervalMs="${COMPAT_CONTAINER_CHECK_MS:-1000}" \
                -Dzookeeper.admin.enableServer=false \
                "${extra_props[@]}" \
                -cp "$(compat_zk_server_classpath)" \
                org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
                >"$dir/stdout.log" 2>&1 </dev/null &
            COMPAT_SERVER_PID=$!
            ;;
        ferrokeeper)
            # As for the JVM: ZooKeeper reads znode.container.* only as system properties.
            FERROKEEPER_OPCODE_STATS="$dir/opcodes.txt" \
                "$COMPAT_SERVER_BIN" -Dznode.container.checkIntervalMs="${COMPAT_CONTAINER_CHECK_MS:-1000}" \
                "${extra_props[@]}" --config "$dir/zoo.cfg" >"$log" 2>&1 </dev/null &
            COMPAT_SERVER_PID=$!
            ;;
    esac
}

# compat_server_up: make ZK_CONNECT point at a running server.
#  - ZK_CONNECT already set: use it as is (nothing is started or stopped).
#  - otherwise start ZK_SERVER (ferrokeeper by default) on a free 127.0.0.1 port; with
#    COMPAT_CLUSTER_SIZE=N (N > 1) an ensemble of N members of that kind instead, each in
#    DIR/nodeK with its own free client, quorum and election ports, and ZK_CONNECT names
#    every member's client port.
compat_server_up() {
    if [ -n "${ZK_CONNECT:-}" ]; then
        compat_log "using the server at ZK_CONNECT=$ZK_CONNECT (not started by this suite)"
        export ZK_CONNECT
        return 0
    fi
    compat_server_preflight
    local kind="${ZK_SERVER:-ferrokeeper}"
    local bin="$COMPAT_SERVER_BIN"
    local size="${COMPAT_CLUSTER_SIZE:-1}"

    COMPAT_SERVER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/compat-$COMPAT_SUITE-$kind.XXXXXX")"
    if [ "$size" -gt 1 ]; then
        compat_cluster_up "$kind" "$size"
        return 0
    fi
    local port
    port="$(compat_free_port)" || compat_die "could not find a free port"
    compat_write_cfg "$COMPAT_SERVER_DIR" "$port"
    compat_launch "$kind" "$COMPAT_SERVER_DIR" "$COMPAT_SERVER_DIR/server.log"
    compat_log "starting $kind on 127.0.0.1:$port (pid $COMPAT_SERVER_PID, dir $COMPAT_SERVER_DIR)${bin:+ bin=$bin}"
    compat_wait_serving "$kind" "$COMPAT_SERVER_PID" "$port" "$COMPAT_SERVER_DIR"
    ZK_CONNECT="127.0.0.1:$port"
    export ZK_CONNECT ZK_SERVER="$kind"
}

# compat_write_cfg DIR PORT: DIR/zoo.cfg of a server with data in DIR/data serving clients on
# 127.0.0.1:PORT (the suites' common settings plus COMPAT_ZOO_CFG_EXTRA and
# COMPAT_SERVER_EXTRA_CFG).
compat_write_cfg() {
    local dir="$1" port="$2"
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=${COMPAT_TICK_TIME:-2000}
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
extendedTypesEnabled=true
znode.container.checkIntervalMs=${COMPAT_CONTAINER_CHECK_MS:-1000}
admin.enableServer=false
${COMPAT_ZOO_CFG_EXTRA:-}
EOF
    if [ -n "${COMPAT_SERVER_EXTRA_CFG:-}" ]; then
        printf '%s\n' "$COMPAT_SERVER_EXTRA_CFG" >>"$dir/zoo.cfg"
    fi
}

# compat_wait_serving KIND PID PORT DIR: wait (ZK_START_TIMEOUT seconds at most) until the
# server answers srvr as a serving server; dies, with DIR's log, if it exits or never does.
compat_wait_serving() {
    local kind="$1" pid="$2" port="$3" dir="$4" t_start deadline answer
    t_start="$(compat_now_ms)"
    deadline=$((t_start + ${ZK_START_TIMEOUT:-30} * 1000))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            COMPAT_SERVER_DIR="$dir" compat_server_dump_log
            compat_die "$kind (pid $pid) exited during start-up"
        fi
        answer="$(compat_4lw 127.0.0.1 "$port" srvr)"
        # Apache ZooKeeper answers srvr before it serves; wait for the real answer.
        if [ -n "$answer" ] && ! printf '%s' "$answer" | grep -q 'not currently serving'; then
            break
        fi
        if [ "$(compat_now_ms)" -ge "$deadline" ]; then
            COMPAT_SERVER_DIR="$dir" compat_server_dump_log
            compat_die "$kind on port $port did not answer srvr within ${ZK_START_TIMEOUT:-30}s"
        fi
        sleep 0.2
    done
    compat_log "$kind on port $port is up after $(($(compat_now_ms) - t_start)) ms: $(printf '%s' "$answer" | grep -m1 -E '^Mode|version')"
}

# The members compat_cluster_up started (their pids), stopped by compat_server_stop.
COMPAT_CLUSTER_PIDS=()

# compat_cluster_up KIND N: N members of KIND on 127.0.0.1 under COMPAT_SERVER_DIR/nodeK;
# waits until every member serves and sets ZK_CONNECT to all of them.
compat_cluster_up() {
    local kind="$1" n="$2" k servers="" connect="" ports=() dir
    for ((k = 1; k <= n; k++)); do
        ports[k]="$(compat_free_port)" || compat_die "could not find a free port"
        servers+="server.$k=127.0.0.1:$(compat_free_port):$(compat_free_port)"$'\n'
        connect+="${connect:+,}127.0.0.1:${ports[k]}"
    done
    for ((k = 1; k <= n; k++)); do
        dir="$COMPAT_SERVER_DIR/node$k"
        compat_write_cfg "$dir" "${ports[k]}"
        echo "$k" >"$dir/data/myid"
        printf 'initLimit=10\nsyncLimit=5\n%s' "$servers" >>"$dir/zoo.cfg"
        compat_launch "$kind" "$dir" "$dir/server.log"
        COMPAT_CLUSTER_PIDS+=("$COMPAT_SERVER_PID")
        COMPAT_SERVER_PID=""
    done
    compat_log "starting $n $kind members under $COMPAT_SERVER_DIR (pids ${COMPAT_CLUSTER_PIDS[*]})"
    for ((k = 1; k <= n; k++)); do
        compat_wait_serving "$kind" "${COMPAT_CLUSTER_PIDS[k - 1]}" "${ports[k]}" "$COMPAT_SERVER_DIR/node$k"
    done
    ZK_CONNECT="$connect"
    export ZK_CONNECT ZK_SERVER="$kind"
}

compat_server_dump_log() {
    [ -n "$COMPAT_SERVER_DIR" ] || return 0
    local f
    for f in "$COMPAT_SERVER_DIR/server.log" "$COMPAT_SERVER_DIR/stdout.log"; do
        if [ -s "$f" ]; then
            echo "---- last lines of $f ----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

# Stop the server this suite started (SIGTERM, then SIGKILL after 10 s) and drop its temp dir.
compat_server_stop() {
    local member members=("${COMPAT_CLUSTER_PIDS[@]}")
    COMPAT_CLUSTER_PIDS=()
    for member in "${members[@]}"; do
        COMPAT_SERVER_PID="$member" COMPAT_SERVER_DIR="" compat_server_stop
    done
    if [ -n "$COMPAT_SERVER_PID" ]; then
        local pid="$COMPAT_SERVER_PID" i
        COMPAT_SERVER_PID=""
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            compat_log "server pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    fi
    if [ -n "$COMPAT_SERVER_DIR" ]; then
        # Ferrokeeper writes the opcodes it served on shutdown: keep them for the
        # compatibility matrix (compat-tests/matrix).
        if [ -s "$COMPAT_SERVER_DIR/opcodes.txt" ]; then
            mkdir -p "$COMPAT_REPO_ROOT/compat-tests/.work/opcodes"
            cp "$COMPAT_SERVER_DIR/opcodes.txt" "$COMPAT_REPO_ROOT/compat-tests/.work/opcodes/$COMPAT_SUITE.txt"
        fi
        if [ "${COMPAT_KEEP:-0}" = 1 ]; then
            compat_log "kept server dir $COMPAT_SERVER_DIR"
        else
            rm -rf "$COMPAT_SERVER_DIR"
        fi
        COMPAT_SERVER_DIR=""
    fi
}

# compat_has_candidate PKG: apt knows a version of PKG to install. (Not `apt-cache | grep -q`:
# under pipefail, grep -q quitting early makes apt-cache die of SIGPIPE and the pipe fail.)
compat_has_candidate() {
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
    grep -q 'Candidate: [^(]' <<<"$policy"
}

# compat_ensure_packages PKG...: install missing Debian packages (apt-get install -y).
compat_ensure_packages() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local installable=()
    # Stale or absent package lists (a fresh machine, or lists replaced while another
    # install ran) show no candidate: refresh them once before giving up on a package.
    for p in "${missing[@]}"; do
        if ! compat_has_candidate "$p"; then
            if [ "$(id -u)" -eq 0 ]; then
                compat_log "no apt candidate for $p: apt-get update"
                apt-get update >"$COMPAT_WORK/apt-update.log" 2>&1 || true
            fi
            break
        fi
    done
    for p in "${missing[@]}"; do
        if compat_has_candidate "$p"; then
            installable+=("$p")
        else
            compat_log "package $p is not available from apt; continuing without it"
        fi
    done
    [ ${#installable[@]} -eq 0 ] && return 0
    compat_log "installing ${installable[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        compat_die "need root to apt-get install ${installable[*]}"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${installable[@]}" >"$COMPAT_WORK/apt.log" 2>&1 ||
        { tail -n 20 "$COMPAT_WORK/apt.log" >&2; compat_die "apt-get install ${installable[*]} failed"; }
}

# ---- checks for the shell-driven suites ----
COMPAT_PASS=0
COMPAT_FAIL=0
COMPAT_FAILED_NAMES=()

compat_pass() {
    COMPAT_PASS=$((COMPAT_PASS + 1))
    printf 'PASS %s\n' "$1"
}
compat_fail() {
    COMPAT_FAIL=$((COMPAT_FAIL + 1))
    COMPAT_FAILED_NAMES+=("$1")
    printf 'FAIL %s%s\n' "$1" "${2:+: $2}"
}

# compat_expect NAME FILE PATTERN: PASS if the extended regex PATTERN matches a line of FILE.
compat_expect() {
    local name="$1" file="$2" pat="$3"
    if grep -Eq -- "$pat" "$file"; then
        compat_pass "$name"
    else
        compat_fail "$name" "no line matches /$pat/"
        grep -v '^SLF4J:' "$file" | sed 's/^/    | /' | tail -n 30
    fi
}

# compat_expect_not NAME FILE PATTERN: PASS if no line of FILE matches PATTERN.
compat_expect_not() {
    local name="$1" file="$2" pat="$3"
    if grep -Eq -- "$pat" "$file"; then
        compat_fail "$name" "a line matches /$pat/"
        grep -En -- "$pat" "$file" | sed 's/^/    | /' | head -n 10
    else
        compat_pass "$name"
    fi
}

# compat_re_quote STRING: STRING with the characters special to grep -E escaped.
compat_re_quote() {
    # shellcheck disable=SC2016 # the $ is a literal character of the sed bracket expression
    printf '%s' "$1" | sed 's/[][\\.*^$(){}?+|]/\\&/g'
}

# Print the totals and return non-zero if anything failed.
compat_summary() {
    printf '%s: %d passed, %d failed in %s (server: %s at %s)\n' "$COMPAT_SUITE" \
        "$COMPAT_PASS" "$COMPAT_FAIL" "$(compat_elapsed)" "${ZK_SERVER:-external}" "$ZK_CONNECT"
    if [ "$COMPAT_FAIL" -ne 0 ]; then
        printf '%s: failed: %s\n' "$COMPAT_SUITE" "${COMPAT_FAILED_NAMES[*]}"
        return 1
    fi
    return 0
}
