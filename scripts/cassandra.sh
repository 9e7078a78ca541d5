#!/usr/bin/env bash
# Real-Cassandra test harness for sstable-migrate: one local node and the
# offline tools, run from Cassandra's Maven Central jars (no tarball, no Docker).
#
#   scripts/cassandra.sh COMMAND [ARGS...] [--version 5.0|4.1|3.11|2.2|2.2.6|2.1]
#
# 2.2 (2.2.19), 2.2.6 and 2.1 (2.1.22) support start, stop, status, cql, flush,
# nodetool, sstabledump (their sstable2json), build, classpath and
# `generate legacy` only.
#
# Commands
#   start                 start one node on 127.0.0.1 (CQL 19042, storage 17000, JMX 17199)
#   stop                  stop the node started by `start` (exactly the pid in its pidfile)
#   status                print whether the node runs (exit 0 if it does, 3 if not)
#   cql STATEMENT         run CQL statement(s) on the node, rows as JSON Lines
#   cql -f FILE|-         run the ';'-separated statements of FILE (or stdin)
#                         cql options: --user U --password P (log in), --ssl-ca CA.pem (TLS)
#   flush KS [TABLE...]   nodetool flush
#   nodetool ARGS...      any nodetool command against the node
#   load DIR              sstableloader: stream DIR (…/<keyspace>/<table>) into the node
#   sstabledump FILE [ARGS...]   offline sstabledump of a Data.db file
#   generate DATASET OUTDIR [--compression lz4|snappy|deflate|zstd|none] [--size-mb N]
#                         write a dataset to OUTDIR/<keyspace>/<table>/ plus OUTDIR/schema.cql:
#                         sample | alltypes   offline, CQLSSTableWriter
#                         wide | narrow       offline, CQLSSTableWriter, for benchmarks:
#                                             --size-mb N (default 1024) of column values
#                         tombstones          through the node (started and stopped again
#                                             if none runs), flushed in batches; also
#                                             OUTDIR/expected/<table>.jsonl (SELECT JSON *)
#                         --compression forces that compressor on every table (zstd: 4.1/5.0)
#   generate legacy OUTDIR --version 2.2|2.2.6|2.1
#                         a fresh 2.x node (.local/cassandra-<v> is emptied first) runs
#                         fixtures/cassandra/datasets/legacy.cql in flushed batches, is
#                         drained and stopped: OUTDIR/data (the node's whole data
#                         directory), OUTDIR/schema.cql (the keyspace as the driver
#                         describes it), OUTDIR/select/<table>.jsonl (SELECT *) and, on
#                         2.2/2.2.6, OUTDIR/expected/<table>.jsonl (SELECT JSON *)
#   build                 (re)build the classpath for the version
#   classpath             print the runtime classpath for the version
#
# Environment
#   CASSANDRA_VERSION            default version (5.0) when --version is not given
#   CASSANDRA_SSTABLE_FORMAT     big (default) or bti: format the node (start) and
#                                `generate` write; bti needs 5.0
#   CASSANDRA_JAVA_HOME          JDK to use (default /usr/lib/jvm/java-17-openjdk-amd64)
#   CASSANDRA_HEAP               node heap size (default 1g)
#   CASSANDRA_START_TIMEOUT      seconds to wait for CQL on start (default 180)
#   CASSANDRA_AUTH               `password`: start the node with `authenticator: PasswordAuthenticator`
#                                (authorizer stays AllowAllAuthorizer). The superuser is
#                                cassandra / cassandra; `start` waits (up to 60 s) until it can log
#                                in. Default (unset or `none`): AllowAllAuthenticator.
#                                While the node's cassandra.yaml has PasswordAuthenticator (or
#                                CASSANDRA_AUTH=password), `cql` logs in as cassandra/cassandra
#                                (unless CASSANDRA_CQL_USER / CASSANDRA_CQL_PASSWORD or
#                                --user/--password say otherwise) and `load` passes -u/-pw.
#                                nodetool/flush need nothing: JMX is local-only, without auth.
#   CASSANDRA_CLIENT_TLS         DIR written by scripts/make-test-certs.sh: start the node with
#                                client_encryption_options enabled: true, optional: true (TLS and
#                                plain CQL on the same port 19042), keystore DIR/server.p12,
#                                keystore_password sstm-test-pw, store_type PKCS12; no client
#                                certificates. `cql --ssl-ca DIR/ca.pem ...` connects with TLS.
#
#   `start` on a node that already runs refuses if the node runs with other
#   CASSANDRA_AUTH / CASSANDRA_CLIENT_TLS settings (stop it first).
#
# Everything downloaded or written at run time stays in ignored paths:
# jars in ~/.m2, classpaths in fixtures/cassandra/target/<version>/, node data,
# logs and pidfile in .local/cassandra-<version>/, tool state in .local/tools-<version>/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="$REPO/fixtures/cassandra"

HOST=127.0.0.1
CQL_PORT=19042
STORAGE_PORT=17000
JMX_PORT=17199
# 2.x only, both in cassandra.yaml but never bound here: internode TLS is off,
# Thrift is off (start_rpc: false). Set so that the defaults 7001 / 9160 stay free.
SSL_STORAGE_PORT=17001
RPC_PORT=19160

die() { echo "cassandra.sh: $*" >&2; exit 1; }
say() { echo "$*" >&2; }

# ---------------------------------------------------------------- arguments
VERSION="${CASSANDRA_VERSION:-5.0}"
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --version) [[ $# -ge 2 ]] || die "--version needs a value"; VERSION="$2"; shift 2 ;;
        --version=*) VERSION="${1#--version=}"; shift ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"

case "$VERSION" in
    5.0|5.0.*) VERSION=5.0; PROFILE=c50 ;;
    4.1|4.1.*) VERSION=4.1; PROFILE=c41 ;;
    3.11|3.11.*) VERSION=3.11; PROFILE=c311 ;;
    2.2|2.2.19) VERSION=2.2; PROFILE=c22 ;;
    2.2.6) VERSION=2.2.6; PROFILE=c226 ;;
    2.1|2.1.22) VERSION=2.1; PROFILE=c21 ;;
    *) die "unsupported --version '$VERSION' (5.0, 4.1, 3.11, 2.2, 2.2.6 or 2.1)" ;;
esac
# LEGACY: a 2.x line (the node and nodetool only; its CQL client is built apart)
LEGACY=0
case "$VERSION" in 2.*) LEGACY=1 ;; esac

FORMAT="${CASSANDRA_SSTABLE_FORMAT:-big}"
case "$FORMAT" in
    big) ;;
    bti) [[ "$VERSION" == 5.0 ]] || die "CASSANDRA_SSTABLE_FORMAT=bti needs --version 5.0" ;;
    *) die "CASSANDRA_SSTABLE_FORMAT must be big or bti, not '$FORMAT'" ;;
esac

AUTH="${CASSANDRA_AUTH:-none}"
case "$AUTH" in
    none|password) ;;
    *) die "CASSANDRA_AUTH must be password or none, not '$AUTH'" ;;
esac
SUPERUSER=cassandra        # Cassandra's default superuser, created at first start
SUPERUSER_PASSWORD=cassandra
TLS_DIR="${CASSANDRA_CLIENT_TLS:-}" # made absolute by cmd_start
TLS_KEYSTORE_PASSWORD=sstm-test-pw  # scripts/make-test-certs.sh
if [[ "$LEGACY" == 1 && ( "$AUTH" != none || -n "$TLS_DIR" ) ]]; then
    die "CASSANDRA_AUTH / CASSANDRA_CLIENT_TLS are not supported (not tested) with --version $VERSION"
fi

JDK="${CASSANDRA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
[[ -x "$JDK/bin/java" ]] || die "no java at $JDK/bin/java (set CASSANDRA_JAVA_HOME to a JDK 17)"
JAVA="$JDK/bin/java"

BUILD="$HARNESS/target/$VERSION"
CQL2_BUILD="$HARNESS/target/cql-2.x" # the CQL client for 2.x nodes (profile cql2)
STATE="$REPO/.local/cassandra-$VERSION"
TOOLS="$REPO/.local/tools-$VERSION"
PIDFILE="$STATE/cassandra.pid"

# The JDK 17 flags of Cassandra 5.0's conf/jvm17-server.options (JDK 17 needs
# them for 4.1 and 3.11 as well).
JDK17_FLAGS=(
    -Djdk.attach.allowAttachSelf=true
    -Dio.netty.tryReflectionSetAccessible=true
)
for m in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi \
         java.rmi/sun.rmi.registry java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref \
         jdk.unsupported/sun.misc jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do
    JDK17_FLAGS+=("--add-exports=$m=ALL-UNNAMED")
done
for m in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
         java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
         java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal java.base/sun.nio.ch \
         java.base/java.io java.base/java.lang.reflect jdk.compiler/com.sun.tools.javac \
         java.base/java.lang java.base/java.util; do
    JDK17_FLAGS+=("--add-opens=$m=ALL-UNNAMED")
done
if [[ "$VERSION" != 5.0 ]]; then
    # 4.1, 3.11 and 2.x were not built for JDK 17: their jamm and buffer cleaning
    # reflect into a few more JDK packages.
    for m in java.base/java.nio java.base/java.util.concurrent java.base/java.util.concurrent.atomic \
             java.base/java.util.concurrent.locks java.base/java.net java.base/java.math java.base/java.text \
             java.base/java.time java.base/jdk.internal.vm.annotation java.base/sun.nio.fs java.base/java.nio.file \
             java.base/java.util.regex java.base/java.security java.base/sun.security.util java.base/java.lang.invoke; do
        JDK17_FLAGS+=("--add-opens=$m=ALL-UNNAMED")
    done
fi

# Extra JVM flags of the 2.x nodes on JDK 17.
VERSION_FLAGS=()
# 2.2.6 prints SELECT JSON timestamps in the JVM's time zone: make it UTC.
[[ "$LEGACY" == 1 ]] && VERSION_FLAGS+=(-Duser.timezone=UTC)
# 2.2.6 ships netty 4.0.23, whose native epoll transport fails on JDK 17 on every
# read ("Unable to access address of buffer"): the CQL port uses NIO instead.
[[ "$VERSION" == 2.2.6 ]] && VERSION_FLAGS+=(-Dcassandra.native.epoll.enabled=false)

# ---------------------------------------------------------------- build
# build_profile PROFILE DIR WHAT: mvn -P PROFILE compile into DIR, unless DIR is
# newer than src/ and pom.xml.
build_profile() {
    local profile="$1" dir="$2" what="$3" stamp="$2/.built"
    if [[ -f "$stamp" && -f "$dir/classpath.txt" ]] \
       && [[ -z "$(find "$HARNESS/src" "$HARNESS/pom.xml" -newer "$stamp" -print -quit 2>/dev/null)" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    say "building the $what classpath (mvn -P $profile; jars go to ~/.m2)..."
    # nice: keep the CPU for whoever else is compiling; sed: maven prints colour resets even with -B -q
    JAVA_HOME="$JDK" nice -n 10 mvn -B -q -Dstyle.color=never -f "$HARNESS/pom.xml" -P "$profile" compile 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' >&2 \
        || die "maven build failed"
    touch "$stamp"
}

ensure_built() {
    build_profile "$PROFILE" "$BUILD" "Cassandra $VERSION"
    if [[ "$LEGACY" == 1 ]]; then build_profile cql2 "$CQL2_BUILD" "2.x CQL client"; fi
}

classpath() { echo "$BUILD/classes:$(cat "$BUILD/classpath.txt")"; }
cql2_classpath() { echo "$CQL2_BUILD/classes:$(cat "$CQL2_BUILD/classpath.txt")"; }

jamm_jar() { tr ':' '\n' < "$BUILD/classpath.txt" | grep -m1 '/jamm-[0-9.]*\.jar$' || true; }

# Offline tools: their own cassandra.yaml and data dirs, never the node's.
run_tool() {
    local class="$1"; shift
    write_yaml "$TOOLS" >/dev/null
    ${TOOL_NICE[@]+"${TOOL_NICE[@]}"} "$JAVA" -Xmx1g -XX:+UseSerialGC "${TOOL_JIT[@]}" "${JDK17_FLAGS[@]}" \
        -Dcassandra.config="file://$TOOLS/cassandra.yaml" -Dcassandra.storagedir="$TOOLS" \
        -Dcassandra.logdir="$TOOLS/logs" -Dlogback.configurationFile="$HARNESS/conf/logback-tools.xml" \
        ${TOOL_PROPS[@]+"${TOOL_PROPS[@]}"} \
        -cp "$(classpath)" "$class" "$@"
}
TOOL_PROPS=()
TOOL_NICE=()
TOOL_JIT=(-XX:TieredStopAtLevel=1) # C1 only: short runs start faster

# ---------------------------------------------------------------- config
# write_yaml DIR [node]: a minimal cassandra.yaml in DIR, data under DIR. With
# "node", the CASSANDRA_AUTH / CASSANDRA_CLIENT_TLS settings (never for the tools).
write_yaml() {
    local dir="$1" node="${2:-}" seeds="$HOST:$STORAGE_PORT" authenticator=AllowAllAuthenticator
    [[ "$node" == node && "$AUTH" == password ]] && authenticator=PasswordAuthenticator
    mkdir -p "$dir"/{data,commitlog,saved_caches,hints,cdc_raw,logs,triggers}
    [[ "$VERSION" == 3.11 || "$LEGACY" == 1 ]] && seeds="$HOST"
    {
        echo "# written by scripts/cassandra.sh for Cassandra $VERSION; regenerated on every start"
        echo "cluster_name: sstable-migrate-test"
        echo "num_tokens: 16"
        echo "partitioner: org.apache.cassandra.dht.Murmur3Partitioner"
        echo "authenticator: $authenticator"
        echo "authorizer: AllowAllAuthorizer"
        echo "endpoint_snitch: SimpleSnitch"
        echo "seed_provider:"
        echo "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider"
        echo "    parameters:"
        echo "      - seeds: \"$seeds\""
        echo "listen_address: $HOST"
        echo "rpc_address: $HOST"
        echo "storage_port: $STORAGE_PORT"
        echo "native_transport_port: $CQL_PORT"
        echo "start_native_transport: true"
        echo "data_file_directories:"
        echo "  - $dir/data"
        echo "commitlog_directory: $dir/commitlog"
        echo "saved_caches_directory: $dir/saved_caches"
        # 2.x refuses unknown keys: hints_directory came with 3.0, cdc_raw_directory with 3.8
        if [[ "$LEGACY" == 0 ]]; then
            echo "hints_directory: $dir/hints"
            echo "cdc_raw_directory: $dir/cdc_raw"
        fi
        echo "commitlog_sync: periodic"
        echo "concurrent_compactors: 1"
        echo "auto_snapshot: false"
        case "$VERSION" in
            3.11)
                echo "commitlog_sync_period_in_ms: 10000"
                echo "start_rpc: false"
                ;;
            2.*)
                echo "commitlog_sync_period_in_ms: 10000"
                echo "ssl_storage_port: $SSL_STORAGE_PORT"
                echo "rpc_port: $RPC_PORT"
                echo "start_rpc: false"
                ;;
            4.1)
                echo "commitlog_sync_period: 10000ms"
                ;;
            5.0)
                echo "commitlog_sync_period: 10000ms"
                echo "# write the 5.0 formats (oa / da), not the 4.x-compatible nb"
                echo "storage_compatibility_mode: NONE"
                echo "sstable:"
                echo "  selected_format: $FORMAT"
                ;;
        esac
        if [[ "$node" == node && -n "$TLS_DIR" ]]; then
            # the same keys in 3.11, 4.1 and 5.0 (EncryptionOptions); no truststore
            # is read while require_client_auth is false
            echo "client_encryption_options:"
            echo "  enabled: true"
            echo "  optional: true"
            echo "  keystore: \"$TLS_DIR/server.p12\""
            echo "  keystore_password: \"$TLS_KEYSTORE_PASSWORD\""
            echo "  store_type: PKCS12"
            echo "  require_client_auth: false"
        fi
    } > "$dir/cassandra.yaml"
    echo "$dir/cassandra.yaml"
}

# ---------------------------------------------------------------- node
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# our_pid: the pid from the pidfile if that process is our node, else nothing.
our_pid() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "CassandraDaemon" \
       && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF "$STATE/cassandra.yaml"; then
        echo "$pid"
    fi
}

other_nodes() {
    local f pid
    for f in "$REPO"/.local/cassandra-*/cassandra.pid; do
        [[ -f "$f" && "$f" != "$PIDFILE" ]] || continue
        pid="$(cat "$f")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q CassandraDaemon; then
            echo "$(basename "$(dirname "$f")") (pid $pid)"
        fi
    done
}

# node_auth: the node (as last started) uses PasswordAuthenticator.
node_auth() { grep -q '^authenticator: PasswordAuthenticator$' "$STATE/cassandra.yaml" 2>/dev/null; }

# use_credentials: cql/load should log in (as the superuser unless told otherwise).
use_credentials() { [[ "$AUTH" == password ]] || node_auth; }

# node_security FILE: "auth=..., client TLS=..." as configured in a cassandra.yaml.
node_security() {
    local auth=none tls=off ks
    grep -q '^authenticator: PasswordAuthenticator$' "$1" 2>/dev/null && auth=password
    ks="$(sed -n 's/^  keystore: "\(.*\)\/server\.p12"$/\1/p' "$1" 2>/dev/null)"
    [[ -n "$ks" ]] && tls="$ks"
    echo "CASSANDRA_AUTH=$auth, CASSANDRA_CLIENT_TLS=$tls"
}

# wait_for_login PID: poll a superuser login (Cassandra creates the role just after start-up).
wait_for_login() {
    local pid="$1" start=$SECONDS err
    err="$(mktemp "${TMPDIR:-/tmp}/cassandra-login.XXXXXX")"
    while :; do
        if CASSANDRA_CQL_USER="$SUPERUSER" CASSANDRA_CQL_PASSWORD="$SUPERUSER_PASSWORD" \
               cmd_cql "SELECT release_version FROM system.local" </dev/null >/dev/null 2>"$err"; then
            rm -f "$err"
            say "Cassandra $VERSION: superuser $SUPERUSER can log in after $(( SECONDS - start )) s"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null || (( SECONDS - start >= 60 )); then
            say "last login attempt:"
            cat "$err" >&2
            rm -f "$err"
            die "superuser $SUPERUSER cannot log in after $(( SECONDS - start )) s (node pid $pid; see ${STATE#"$REPO"/}/logs)"
        fi
        sleep 1
    done
}

# cmd_start [check]: with "check" (the `start` command), refuse a running node
# whose CASSANDRA_AUTH / CASSANDRA_CLIENT_TLS settings differ from the wanted ones.
cmd_start() {
    local check="${1:-}"
    if [[ -n "$TLS_DIR" ]]; then
        TLS_DIR="$(cd "$TLS_DIR" 2>/dev/null && pwd)" \
            || die "CASSANDRA_CLIENT_TLS: no directory '${CASSANDRA_CLIENT_TLS}'"
        [[ -f "$TLS_DIR/server.p12" ]] \
            || die "CASSANDRA_CLIENT_TLS: no $TLS_DIR/server.p12; make it with: scripts/make-test-certs.sh $CASSANDRA_CLIENT_TLS"
    fi
    ensure_built
    local pid
    pid="$(our_pid)"
    if [[ -n "$pid" && "$check" == check ]]; then
        local have want
        have="$(node_security "$STATE/cassandra.yaml")"
        want="CASSANDRA_AUTH=$AUTH, CASSANDRA_CLIENT_TLS=${TLS_DIR:-off}"
        [[ "$have" == "$want" ]] \
            || die "Cassandra $VERSION already runs (pid $pid) with $have, not $want; stop it first"
    fi
    if [[ -n "$pid" ]]; then
        if port_open "$CQL_PORT"; then
            say "Cassandra $VERSION already running (pid $pid)"
            echo "CQL: $HOST:$CQL_PORT"
            return 0
        fi
        say "Cassandra $VERSION already starting (pid $pid); waiting for CQL"
    else
        local others
        others="$(other_nodes)"
        [[ -z "$others" ]] || die "another node is running: $others; stop it first (same ports)"
        for p in "$CQL_PORT" "$STORAGE_PORT" "$JMX_PORT"; do
            port_open "$p" && die "port $HOST:$p is already in use by something else"
        done
        write_yaml "$STATE" node >/dev/null
        local jamm agent=()
        jamm="$(jamm_jar)"
        # 2.x: no agent (its jamm 0.3.0 predates JDK 9); its MemoryMeter falls back to Unsafe-based guesses
        [[ -n "$jamm" && "$LEGACY" == 0 ]] && agent=("-javaagent:$jamm")
        local heap="${CASSANDRA_HEAP:-1g}"
        : > "$STATE/logs/stdout.log"
        # setsid: the node outlives this shell and its terminal; $! is the java pid.
        setsid "$JAVA" "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=300 -Xss512k \
            -XX:+ExitOnOutOfMemoryError \
            "${agent[@]+"${agent[@]}"}" "${JDK17_FLAGS[@]}" \
            "${VERSION_FLAGS[@]+"${VERSION_FLAGS[@]}"}" \
            -Djava.net.preferIPv4Stack=true \
            -Dcassandra-foreground=yes \
            -Dcassandra.config="file://$STATE/cassandra.yaml" \
            -Dcassandra.storagedir="$STATE" \
            -Dcassandra.logdir="$STATE/logs" \
            -Dlogback.configurationFile="$HARNESS/conf/logback-node.xml" \
            -Dcassandra.jmx.local.port="$JMX_PORT" \
            -Djava.rmi.server.hostname="$HOST" \
            -Dcassandra.skip_wait_for_gossip_to_settle=0 \
            -Dcassandra.ring_delay_ms=1000 \
            -Dcassandra.superuser_setup_delay_ms=0 \
            -Dcassandra.triggers_dir="$STATE/triggers" \
            -cp "$(classpath)" org.apache.cassandra.service.CassandraDaemon \
            >> "$STATE/logs/stdout.log" 2>&1 < /dev/null &
        pid=$!
        echo "$pid" > "$PIDFILE"
        say "starting Cassandra $VERSION (pid $pid, format $FORMAT, logs in ${STATE#"$REPO"/}/logs)"
        [[ "$AUTH" == password ]] && say "  authentication: PasswordAuthenticator (superuser $SUPERUSER / $SUPERUSER_PASSWORD)"
        [[ -n "$TLS_DIR" ]] && say "  client TLS: optional on port $CQL_PORT, keystore $TLS_DIR/server.p12"
    fi
    local timeout="${CASSANDRA_START_TIMEOUT:-180}" start=$SECONDS
    while (( SECONDS - start < timeout )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "Cassandra $VERSION exited during start-up; last log lines:"
            tail -n 30 "$STATE/logs/stdout.log" >&2 || true
            grep -E "ERROR|Exception" "$STATE/logs/system.log" 2>/dev/null | tail -n 10 >&2 || true
            rm -f "$PIDFILE"
            exit 1
        fi
        if port_open "$CQL_PORT"; then
            say "Cassandra $VERSION is up after $(( SECONDS - start )) s"
            node_auth && wait_for_login "$pid"
            echo "CQL: $HOST:$CQL_PORT"
            return 0
        fi
        sleep 1
    done
    die "CQL did not answer within $timeout s (node still running as pid $pid; see ${STATE#"$REPO"/}/logs; stop with: $0 stop --version $VERSION)"
}

cmd_stop() {
    local pid
    pid="$(our_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$PIDFILE"
        say "Cassandra $VERSION is not running"
        return 0
    fi
    say "stopping Cassandra $VERSION (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS - start >= 60 )); then
            say "still running after 60 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && die "pid $pid did not exit"
    rm -f "$PIDFILE"
    say "stopped"
}

cmd_status() {
    local pid
    pid="$(our_pid)"
    if [[ -z "$pid" ]]; then
        echo "Cassandra $VERSION: not running"
        return 3
    fi
    if port_open "$CQL_PORT"; then
        local extra=""
        node_auth && extra+=", password auth"
        grep -q '^client_encryption_options:' "$STATE/cassandra.yaml" 2>/dev/null && extra+=", client TLS (optional)"
        echo "Cassandra $VERSION: running (pid $pid), CQL $HOST:$CQL_PORT, storage $STORAGE_PORT, JMX $JMX_PORT, data ${STATE#"$REPO"/}$extra"
    else
        echo "Cassandra $VERSION: starting (pid $pid), CQL not answering yet"
    fi
}

cmd_cql() {
    [[ $# -ge 1 ]] || die "usage: cql STATEMENT | cql -f FILE"
    ensure_built
    # credentials go through the environment, so that --user/--password in "$@" win
    local creds=()
    if use_credentials && [[ -z "${CASSANDRA_CQL_USER+set}" ]]; then
        creds=("CASSANDRA_CQL_USER=$SUPERUSER" "CASSANDRA_CQL_PASSWORD=$SUPERUSER_PASSWORD")
    fi
    local cp proto=()
    cp="$(classpath)"
    if [[ "$LEGACY" == 1 ]]; then
        # driver 3.11.0 on its own classpath; protocol v4 for 2.2, v3 for 2.1
        cp="$(cql2_classpath)"
        if [[ "$VERSION" == 2.1 ]]; then proto=(--protocol 3); else proto=(--protocol 4); fi
    fi
    env ${creds[@]+"${creds[@]}"} "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${JDK17_FLAGS[@]}" \
        -Dlogback.configurationFile="$HARNESS/conf/logback-tools.xml" \
        -cp "$cp" sstablefixtures.Cql --host "$HOST" --port "$CQL_PORT" ${proto[@]+"${proto[@]}"} "$@"
}

cmd_nodetool() {
    ensure_built
    local NODETOOL_MAIN=org.apache.cassandra.tools.NodeTool props=()
    # 3.11 and 2.x on JDK 17 need client mode set first (see ClientMain.java)
    [[ "$VERSION" == 3.11 || "$LEGACY" == 1 ]] && NODETOOL_MAIN="sstablefixtures.ClientMain $NODETOOL_MAIN"
    if [[ "$LEGACY" == 1 ]]; then
        # 2.x nodetool connects to service:jmx:rmi:///jndi/rmi://[127.0.0.1]:17199/jmxrmi:
        # JDK 17 refuses the brackets around an IPv4 address unless RMI URLs are
        # parsed the old way. user.home: its nodetool.history goes to ~/.cassandra.
        mkdir -p "$TOOLS"
        props=(-Dcom.sun.jndi.rmiURLParsing=legacy -Duser.home="$TOOLS")
    fi
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${JDK17_FLAGS[@]}" \
        -Dlogback.configurationFile="$HARNESS/conf/logback-tools.xml" \
        -Dcassandra.storagedir="$TOOLS" ${props[@]+"${props[@]}"} \
        -cp "$(classpath)" $NODETOOL_MAIN -h "$HOST" -p "$JMX_PORT" "$@"
}

cmd_load() {
    [[ $# -ge 1 ]] || die "usage: load DIR  (DIR = …/<keyspace>/<table> holding sstables)"
    local dir="$1"; shift
    [[ -d "$dir" ]] || die "no directory $dir"
    [[ "$LEGACY" == 0 ]] || die "load is not supported with --version $VERSION"
    ensure_built
    local creds=()
    use_credentials && creds=(-u "${CASSANDRA_CQL_USER:-$SUPERUSER}" -pw "${CASSANDRA_CQL_PASSWORD:-$SUPERUSER_PASSWORD}")
    run_tool org.apache.cassandra.tools.BulkLoader -d "$HOST" -p "$CQL_PORT" -sp "$STORAGE_PORT" \
        ${creds[@]+"${creds[@]}"} "$@" "$dir"
}

cmd_sstabledump() {
    [[ $# -ge 1 ]] || die "usage: sstabledump FILE-Data.db [sstabledump args]"
    [[ -f "$1" ]] || die "no file $1"
    ensure_built
    if [[ "$LEGACY" == 1 ]]; then
        sstable2json "$@"
        return
    fi
    run_tool org.apache.cassandra.tools.SSTableExport "$@"
}

# sstable2json FILE [ARGS]: 2.x's SSTableExport reads the table's schema from the
# system keyspace of its data directory. FILE must lie in a node's data directory
# (D/<keyspace>/<table>-<id>/FILE, as `generate legacy` leaves it): D is copied to
# the tools' data directory (the tool may write there) and FILE is read from the copy.
sstable2json() {
    local file tdir ksdir data
    file="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; shift
    tdir="$(dirname "$file")"; ksdir="$(dirname "$tdir")"; data="$(dirname "$ksdir")"
    [[ -d "$data/system" ]] || die "sstabledump --version $VERSION: $file is not in a node's data directory (no $data/system)"
    rm -rf "$TOOLS/data"
    mkdir -p "$TOOLS"
    cp -a "$data" "$TOOLS/data"
    run_tool org.apache.cassandra.tools.SSTableExport \
        "$TOOLS/data/$(basename "$ksdir")/$(basename "$tdir")/$(basename "$file")" "$@" \
        2> >(grep -v 'sstable2json is now deprecated' >&2)
}

# ---------------------------------------------------------------- node-written dataset
# generate tombstones OUTDIR: runs fixtures/cassandra/datasets/tombstones.cql
# through the node (starting one if none runs, and stopping it again), flushing
# where the script says "-- @flush", then copies the sstables to
# OUTDIR/tombstones_ks/<table>/ and writes OUTDIR/schema.cql, OUTDIR/writes.cql
# and OUTDIR/expected/<table>.jsonl (SELECT JSON * after the last flush).
TOMBSTONES_KS=tombstones_ks
TOMBSTONES_CQL="$HARNESS/datasets/tombstones.cql"
GEN_STARTED=0
GEN_WORK=""

generate_cleanup() {
    local rc=$?
    if [[ "$GEN_STARTED" == 1 ]]; then
        say "generate: stopping the node this command started"
        cmd_stop || rc=1
    fi
    [[ -n "$GEN_WORK" ]] && rm -rf "$GEN_WORK"
    exit "$rc"
}

compression_map() {
    case "$1" in
        lz4) echo "{'class': 'LZ4Compressor'}" ;;
        snappy) echo "{'class': 'SnappyCompressor'}" ;;
        deflate) echo "{'class': 'DeflateCompressor'}" ;;
        zstd) echo "{'class': 'ZstdCompressor'}" ;;
        none) echo "{'enabled': 'false'}" ;;
        *) die "unknown compression '$1'" ;;
    esac
}

# split_dataset SCRIPT DIR: DIR/schema.cql (up to "-- @data") and DIR/plan, the
# steps "cql FILE", "sleep N", "flush". Lines between "-- @if V" and "-- @endif"
# are kept only on a node of line V (2.2 also means 2.2.6), elsewhere dropped.
split_dataset() {
    awk -v dir="$2" -v version="$VERSION" '
        function endseg() { if (lines > 0) print "cql " seg >> plan; lines = 0; n++; seg = sprintf("%s/step-%03d.cql", dir, n) }
        BEGIN { plan = dir "/plan"; schema = dir "/schema.cql"; indata = 0; n = 0; lines = 0; skip = 0; seg = sprintf("%s/step-%03d.cql", dir, n); printf "" > plan }
        /^-- @if [0-9.]+[ \t]*$/ { skip = !(version == $3 || index(version, $3 ".") == 1); next }
        /^-- @endif[ \t]*$/ { skip = 0; next }
        skip { next }
        /^-- @data[ \t]*$/ { indata = 1; next }
        !indata { print > schema; next }
        /^-- @flush[ \t]*$/ { endseg(); print "flush" >> plan; next }
        /^-- @sleep [0-9]+[ \t]*$/ { endseg(); print "sleep " $3 >> plan; next }
        /^[ \t]*(--.*)?$/ { next }
        { print > seg; lines++ }
        END { endseg(); if (!indata) { print "no -- @data marker" > "/dev/stderr"; exit 1 } }
    ' "$1"
}

generate_tombstones() {
    local out="$1" compression="$2" ks="$TOMBSTONES_KS" start=$SECONDS
    [[ -f "$TOMBSTONES_CQL" ]] || die "no $TOMBSTONES_CQL"
    if [[ -d "$out/$ks" && -n "$(ls -A "$out/$ks")" ]]; then
        die "$out/$ks is not empty; remove it first"
    fi
    ensure_built
    GEN_WORK="$(mktemp -d "${TMPDIR:-/tmp}/cassandra-tombstones.XXXXXX")"
    trap generate_cleanup EXIT
    trap 'exit 130' INT TERM

    # The script with the compression forced, then split: schema (up to "-- @data")
    # and a plan of steps: "cql FILE", "sleep N", "flush".
    local script="$GEN_WORK/writes.cql"
    if [[ -n "$compression" ]]; then
        local map
        map="$(compression_map "$compression")"
        sed -E "s/compression = \{[^}]*\}/compression = $map/" "$TOMBSTONES_CQL" > "$script"
    else
        cp "$TOMBSTONES_CQL" "$script"
    fi
    split_dataset "$script" "$GEN_WORK" || die "cannot split $TOMBSTONES_CQL"

    # a node: ours if it runs (same ports for every version), else one we start and stop again
    if [[ -z "$(our_pid)" ]]; then
        local others
        others="$(other_nodes)"
        [[ -z "$others" ]] || die "generate tombstones --version $VERSION needs a $VERSION node, but another node is running: $others (same ports); stop it first"
        GEN_STARTED=1
        say "tombstones: no Cassandra $VERSION node running; starting one"
        cmd_start >/dev/null
    else
        cmd_start >/dev/null # waits for CQL if it is still starting
        if [[ "$VERSION" == 5.0 ]] && ! grep -q "selected_format: $FORMAT\$" "$STATE/cassandra.yaml"; then
            die "the running 5.0 node does not write the '$FORMAT' format (CASSANDRA_SSTABLE_FORMAT); stop it first"
        fi
        say "tombstones: using the running Cassandra $VERSION node"
    fi

    local release
    release="$(cmd_cql "SELECT release_version FROM system.local" </dev/null | sed -E 's/.*"release_version": "([^"]*)".*/\1/')"
    say "tombstones: Cassandra $release: dropping and re-creating $ks"
    cmd_cql "DROP KEYSPACE IF EXISTS $ks" </dev/null >/dev/null
    cmd_cql -f "$GEN_WORK/schema.cql" </dev/null >/dev/null
    local step arg batch=1
    while read -r step arg; do
        case "$step" in
            cql) cmd_cql -f "$arg" </dev/null >/dev/null ;;
            sleep) sleep "$arg" ;;
            flush) cmd_nodetool flush "$ks" </dev/null; say "tombstones: batch $batch written and flushed"; batch=$((batch + 1)) ;;
        esac
    done < "$GEN_WORK/plan"

    # the oracle first (right after the flushes), then the sstables
    mkdir -p "$out/expected" "$out/$ks"
    local table id dir n
    cmd_cql "SELECT table_name, id FROM system_schema.tables WHERE keyspace_name = '$ks'" </dev/null \
        | sed -E 's/.*"table_name": "([^"]*)", "id": "([^"]*)".*/\1 \2/' > "$GEN_WORK/tables"
    [[ -s "$GEN_WORK/tables" ]] || die "no tables in $ks"
    while read -r table id; do
        cmd_cql "SELECT JSON * FROM $ks.$table" </dev/null > "$out/expected/$table.jsonl"
    done < "$GEN_WORK/tables"
    while read -r table id; do
        dir="$STATE/data/$ks/$table-${id//-/}"
        [[ -d "$dir" ]] || die "no data directory $dir"
        mkdir -p "$out/$ks/$table"
        find "$dir" -maxdepth 1 -type f -exec cp -p {} "$out/$ks/$table/" \;
        n="$(find "$out/$ks/$table" -name '*-Data.db' | wc -l)"
        say "tombstones: $ks.$table: $n sstable(s), $(wc -l < "$out/expected/$table.jsonl") row(s) in expected/$table.jsonl"
    done < "$GEN_WORK/tables"
    {
        echo "-- Schema of the sstables next to this file: the tombstones dataset, written through a"
        echo "-- Cassandra $release node by scripts/cassandra.sh (fixtures/cassandra/datasets/tombstones.cql)."
        echo "-- Layout: <keyspace>/<table>/<sstable files>; expected/<table>.jsonl is the node's SELECT JSON *."
        echo
        grep -v '^--' "$GEN_WORK/schema.cql" | cat -s | sed -e '/./,$!d'
    } > "$out/schema.cql"
    cp "$script" "$out/writes.cql"
    say "tombstones: wrote $out in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- 2.x dataset
# generate legacy OUTDIR (2.2, 2.2.6, 2.1): a fresh node runs
# fixtures/cassandra/datasets/legacy.cql in flushed batches, then is flushed,
# drained and stopped; OUTDIR/data is its whole data directory.
LEGACY_KS=legacy_ks
LEGACY_CQL="$HARNESS/datasets/legacy.cql"

generate_legacy() {
    local out="$1" ks="$LEGACY_KS" start=$SECONDS
    [[ "$LEGACY" == 1 ]] || die "generate legacy needs --version 2.2, 2.2.6 or 2.1"
    [[ -f "$LEGACY_CQL" ]] || die "no $LEGACY_CQL"
    if [[ -d "$out" && -n "$(ls -A "$out")" ]]; then
        die "$out is not empty; remove it first"
    fi
    local pid others
    pid="$(our_pid)"
    [[ -z "$pid" ]] || die "a Cassandra $VERSION node runs (pid $pid); generate legacy starts a fresh one: stop it first ($0 stop --version $VERSION)"
    others="$(other_nodes)"
    [[ -z "$others" ]] || die "another node is running: $others; stop it first (same ports)"
    ensure_built
    GEN_WORK="$(mktemp -d "${TMPDIR:-/tmp}/cassandra-legacy.XXXXXX")"
    trap generate_cleanup EXIT
    trap 'exit 130' INT TERM
    split_dataset "$LEGACY_CQL" "$GEN_WORK" || die "cannot split $LEGACY_CQL"

    say "legacy: emptying ${STATE#"$REPO"/} and starting a fresh Cassandra $VERSION node"
    rm -rf "$STATE"
    GEN_STARTED=1
    cmd_start >/dev/null
    local release
    release="$(cmd_cql "SELECT release_version FROM system.local" </dev/null | sed -E 's/.*"release_version": "([^"]*)".*/\1/')"
    cmd_cql -f "$GEN_WORK/schema.cql" </dev/null >/dev/null
    local step arg batch=1
    while read -r step arg; do
        case "$step" in
            cql) cmd_cql -f "$arg" </dev/null >/dev/null ;;
            sleep) sleep "$arg" ;;
            flush) cmd_nodetool flush "$ks" </dev/null; say "legacy: batch $batch written and flushed"; batch=$((batch + 1)) ;;
        esac
    done < "$GEN_WORK/plan"

    # the node's own rows (the oracle), while it runs
    mkdir -p "$out/select"
    cmd_cql "SELECT columnfamily_name FROM system.schema_columnfamilies WHERE keyspace_name = '$ks'" </dev/null \
        | sed -E 's/.*"columnfamily_name": "([^"]*)".*/\1/' > "$GEN_WORK/tables"
    [[ -s "$GEN_WORK/tables" ]] || die "no tables in $ks"
    local table
    while read -r table; do
        cmd_cql "SELECT * FROM $ks.$table" </dev/null > "$out/select/$table.jsonl"
        if [[ "$VERSION" != 2.1 ]]; then # SELECT JSON came with 2.2
            mkdir -p "$out/expected"
            cmd_cql "SELECT JSON * FROM $ks.$table" </dev/null > "$out/expected/$table.jsonl"
        fi
    done < "$GEN_WORK/tables"
    {
        echo "-- The legacy dataset as a Cassandra $release node describes it (DataStax driver 3.11.0"
        echo "-- metadata, like cqlsh DESCRIBE), written by scripts/cassandra.sh generate legacy"
        echo "-- (fixtures/cassandra/datasets/legacy.cql). Sstables: data/$ks/<table>-<id>/."
        echo
        cmd_cql --describe "$ks" </dev/null
    } > "$out/schema.cql"

    # everything on disk (system keyspace included), then a clean stop
    cmd_nodetool flush </dev/null
    cmd_nodetool drain </dev/null
    cmd_stop
    GEN_STARTED=0
    cp -a "$STATE/data" "$out/data"
    cp "$LEGACY_CQL" "$out/writes.cql"
    while read -r table; do
        local n
        n="$(find "$out/data/$ks" -path "*/$table-*/*" -name '*-Data.db' | wc -l)"
        say "legacy: $ks.$table: $n sstable(s), $(wc -l < "$out/select/$table.jsonl") row(s)"
    done < "$GEN_WORK/tables"
    say "legacy: Cassandra $release: wrote $out in $((SECONDS - start)) s"
}

cmd_generate() {
    local usage="usage: generate sample|alltypes|tombstones|wide|narrow|legacy OUTDIR [--compression lz4|snappy|deflate|zstd|none] [--size-mb N]"
    local pos=() compression="" size=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --compression) [[ $# -ge 2 ]] || die "--compression needs a value"; compression="$2"; shift 2 ;;
            --compression=*) compression="${1#--compression=}"; shift ;;
            --size-mb) [[ $# -ge 2 ]] || die "--size-mb needs a value"; size="$2"; shift 2 ;;
            --size-mb=*) size="${1#--size-mb=}"; shift ;;
            -*) die "generate: unknown option '$1'; $usage" ;;
            *) pos+=("$1"); shift ;;
        esac
    done
    [[ ${#pos[@]} -eq 2 ]] || die "$usage"
    local dataset="${pos[0]}" out="${pos[1]}"
    case "$dataset" in
        sample|alltypes|tombstones|wide|narrow) [[ "$LEGACY" == 0 ]] || die "--version $VERSION has only the legacy dataset" ;;
        legacy) [[ -z "$compression$size" ]] || die "generate legacy takes no --compression or --size-mb"
                generate_legacy "$out"; return ;;
        *) die "unknown dataset '$dataset'; $usage" ;;
    esac
    case "$compression" in
        ""|lz4|snappy|deflate|none) ;;
        zstd) [[ "$VERSION" != 3.11 ]] \
                  || die "--compression zstd: Cassandra 3.11 has no ZstdCompressor (it came with 4.0); use lz4, snappy, deflate or none" ;;
        *) die "unknown --compression '$compression' (lz4, snappy, deflate, zstd or none)" ;;
    esac
    if [[ -n "$size" ]]; then
        [[ "$dataset" == wide || "$dataset" == narrow ]] || die "--size-mb is only for the wide and narrow datasets"
        [[ "$size" =~ ^[1-9][0-9]*$ ]] || die "--size-mb needs a whole number of MiB (1 or more), not '$size'"
    fi
    if [[ "$dataset" == tombstones ]]; then
        generate_tombstones "$out" "$compression"
        return
    fi
    ensure_built
    local args=("$dataset" "$out")
    [[ -n "$compression" ]] && args+=(--compression "$compression")
    [[ -n "$size" ]] && args+=(--size-mb "$size")
    TOOL_PROPS=("-Dsstablefixtures.format=$FORMAT")
    if [[ "$dataset" == wide || "$dataset" == narrow ]]; then
        # long and CPU-bound: leave the CPU to whoever else needs it
        TOOL_NICE=(nice -n 10)
        TOOL_JIT=(-XX:+TieredCompilation) # long runs: let C2 compile the hot loops
    fi
    run_tool sstablefixtures.Generate "${args[@]}"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    start) cmd_start check ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    cql) cmd_cql "$@" ;;
    flush) [[ $# -ge 1 ]] || die "usage: flush KEYSPACE [TABLE...]"; cmd_nodetool flush "$@" ;;
    nodetool) cmd_nodetool "$@" ;;
    load) cmd_load "$@" ;;
    sstabledump) cmd_sstabledump "$@" ;;
    generate) cmd_generate "$@" ;;
    build) ensure_built; echo "$BUILD" ;;
    classpath) ensure_built; classpath ;;
    ""|-h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try --help)" ;;
esac
