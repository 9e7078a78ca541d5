#!/usr/bin/env bash
# Real-Cassandra test harness for sstable-migrate: one local node and the
# offline tools, run from Cassandra's Maven Central jars (no tarball, no Docker).
#
#   scripts/cassandra.sh COMMAND [ARGS...] [--version 5.0|4.1|3.11]
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
    *) die "unsupported --version '$VERSION' (5.0, 4.1 or 3.11)" ;;
esac

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

JDK="${CASSANDRA_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
[[ -x "$JDK/bin/java" ]] || die "no java at $JDK/bin/java (set CASSANDRA_JAVA_HOME to a JDK 17)"
JAVA="$JDK/bin/java"

BUILD="$HARNESS/target/$VERSION"
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
    # 4.1 and 3.11 were not built for JDK 17: their jamm and buffer cleaning
    # reflect into a few more JDK packages.
    for m in java.base/java.nio java.base/java.util.concurrent java.base/java.util.concurrent.atomic \
             java.base/java.util.concurrent.locks java.base/java.net java.base/java.math java.base/java.text \
             java.base/java.time java.base/jdk.internal.vm.annotation java.base/sun.nio.fs java.base/java.nio.file \
             java.base/java.util.regex java.base/java.security java.base/sun.security.util java.base/java.lang.invoke; do
        JDK17_FLAGS+=("--add-opens=$m=ALL-UNNAMED")
    done
fi

# ---------------------------------------------------------------- build
ensure_built() {
    local stamp="$BUILD/.built"
    if [[ -f "$stamp" && -f "$BUILD/classpath.txt" ]] \
       && [[ -z "$(find "$HARNESS/src" "$HARNESS/pom.xml" -newer "$stamp" -print -quit 2>/dev/null)" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    say "building the Cassandra $VERSION classpath (mvn -P $PROFILE; jars go to ~/.m2)..."
    # nice: keep the CPU for whoever else is compiling; sed: maven prints colour resets even with -B -q
    JAVA_HOME="$JDK" nice -n 10 mvn -B -q -Dstyle.color=never -f "$HARNESS/pom.xml" -P "$PROFILE" compile 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' >&2 \
        || die "maven build failed"
    touch "$stamp"
}

classpath() { echo "$BUILD/classes:$(cat "$BUILD/classpath.txt")"; }

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
    [[ "$VERSION" == 3.11 ]] && seeds="$HOST"
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
        echo "hints_directory: $dir/hints"
        echo "cdc_raw_directory: $dir/cdc_raw"
        echo "commitlog_sync: periodic"
        echo "concurrent_compactors: 1"
        echo "auto_snapshot: false"
        case "$VERSION" in
            3.11)
                echo "commitlog_sync_period_in_ms: 10000"
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
        [[ -n "$jamm" ]] && agent=("-javaagent:$jamm")
        local heap="${CASSANDRA_HEAP:-1g}"
        : > "$STATE/logs/stdout.log"
        # setsid: the node outlives this shell and its terminal; $! is the java pid.
        setsid "$JAVA" "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=300 -Xss512k \
            -XX:+ExitOnOutOfMemoryError \
            "${agent[@]+"${agent[@]}"}" "${JDK17_FLAGS[@]}" \
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
    env ${creds[@]+"${creds[@]}"} "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${JDK17_FLAGS[@]}" \
        -Dlogback.configurationFile="$HARNESS/conf/logback-tools.xml" \
        -cp "$(classpath)" sstablefixtures.Cql --host "$HOST" --port "$CQL_PORT" "$@"
}

cmd_nodetool() {
    ensure_built
    local NODETOOL_MAIN=org.apache.cassandra.tools.NodeTool
    # 3.11 on JDK 17 needs a client config loaded first (see ClientMain.java)
    [[ "$VERSION" == 3.11 ]] && NODETOOL_MAIN="sstablefixtures.ClientMain $NODETOOL_MAIN"
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${JDK17_FLAGS[@]}" \
        -Dlogback.configurationFile="$HARNESS/conf/logback-tools.xml" \
        -Dcassandra.storagedir="$TOOLS" \
        -cp "$(classpath)" $NODETOOL_MAIN -h "$HOST" -p "$JMX_PORT" "$@"
}

cmd_load() {
    [[ $# -ge 1 ]] || die "usage: load DIR  (DIR = …/<keyspace>/<table> holding sstables)"
    local dir="$1"; shift
    [[ -d "$dir" ]] || die "no directory $dir"
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
    run_tool org.apache.cassandra.tools.SSTableExport "$@"
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
        say "tombstones: stopping the node this command started"
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
    awk -v dir="$GEN_WORK" '
        function endseg() { if (lines > 0) print "cql " seg >> plan; lines = 0; n++; seg = sprintf("%s/step-%03d.cql", dir, n) }
        BEGIN { plan = dir "/plan"; schema = dir "/schema.cql"; indata = 0; n = 0; lines = 0; seg = sprintf("%s/step-%03d.cql", dir, n); printf "" > plan }
        /^-- @data[ \t]*$/ { indata = 1; next }
        !indata { print > schema; next }
        /^-- @flush[ \t]*$/ { endseg(); print "flush" >> plan; next }
        /^-- @sleep [0-9]+[ \t]*$/ { endseg(); print "sleep " $3 >> plan; next }
        /^[ \t]*(--.*)?$/ { next }
        { print > seg; lines++ }
        END { endseg(); if (!indata) { print "no -- @data marker" > "/dev/stderr"; exit 1 } }
    ' "$script" || die "cannot split $TOMBSTONES_CQL"

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

cmd_generate() {
    local usage="usage: generate sample|alltypes|tombstones|wide|narrow OUTDIR [--compression lz4|snappy|deflate|zstd|none] [--size-mb N]"
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
        sample|alltypes|tombstones|wide|narrow) ;;
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
