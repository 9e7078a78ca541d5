#!/usr/bin/env bash
# DynamoDB benchmarks (not tests): whole-process timings anyone can rerun.
#
#   benches/dynamo.sh [EXPORT_MB] [LOAD_MB]
#
# 1. Export rate: `export --compression zstd --threads 1` of the harness's
#    `narrow` table (Cassandra 5.0, EXPORT_MB of values, default 100),
#    items/s on one core, with /usr/bin/time -v (wall, peak RSS).
# 2. Live load against dynalite (a LOAD_MB `narrow` table, default 5):
#    `to-dynamodb` (reading sstables, merging, mapping, checkpointing) vs a
#    bare AWS SDK BatchWriteItem loop over the same items already in
#    DynamoDB JSON (migrate-cli/examples/ddb_bare_load.rs), same
#    concurrency, run alternately PAIRS times (default 5; dynalite shares
#    the two cores, so single runs vary). The figure is the median, pair by
#    pair, of ours / bare items/s over whole-process wall times (ours reads
#    and maps the sstables, bare reads and parses its JSON file); the ratio
#    of the write phases alone (each program's own timer, which for bare
#    starts once its requests are built) is shown too.
# With PGO=1, the export runs also take the binary scripts/build-pgo.sh
# builds (profile-guided, trained on fixtures/sample), alternating with the
# plain release build run by run. PGO_BIN=PATH takes a binary that script
# built before (of the same commit) instead of building it again: its
# training profile differs a little from run to run, so it would rebuild.
# LOAD=0 runs the export part only.
# Results go to stdout and benches/results/dynamo-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORT_MB=${1:-100}
LOAD_MB=${2:-5}
FAST_LEVEL=${FAST_LEVEL:--3}
CONC=${CONC:-16}
PAIRS=${PAIRS:-5}
C=scripts/cassandra.sh
cargo build -q --release -p migrate-cli --example ddb_bare_load
cargo build -q --release -p migrate-cli
B=target/release/sstable-migrate
BARE=target/release/examples/ddb_bare_load
BUILDS=("release=$B")
if [ "${PGO:-0}" = 1 ]; then
  BUILDS+=("release+PGO=${PGO_BIN:-$(scripts/build-pgo.sh)}")
fi
W=.local/bench
mkdir -p "$W" benches/results

dataset() { # MB -> dir
  local d="$W/narrow-$1"
  [ -f "$d/schema.cql" ] || "$C" generate narrow "$d" --size-mb "$1" --version 5.0 >/dev/null
  echo "$d"
}

E=$(dataset "$EXPORT_MB")
L=$(dataset "$LOAD_MB")
out=benches/results/dynamo-$(date +%F).md
{
  echo "# DynamoDB benchmarks, $(date -u +%FT%TZ)"
  echo
  echo "Machine: $(nproc) cores, $(uname -m); dataset: harness \`narrow\` (Cassandra 5.0.6, LZ4)."
  echo
  echo "## Export (zstd, one thread)"
  echo
  rm -f "$W/exp-runs.jsonl"
  # The compressor alone: zstd's own CLI on the same JSON, at level 1 and at
  # the fast level, before the runs and (the fast level) after them. How
  # long zstd takes shows how fast the machine was: on this shared host the
  # same work takes from 0.25 s to 0.8 s, hour by hour.
  rm -rf "$W/exp-plain"
  "$B" export "$E/narrow_ks/narrow" --schema "$E/schema.cql" --out "$W/exp-plain" --compression none \
    --threads 1 >/dev/null
  zsecs=""
  fsecs=""
  zref() {
    command -v zstd >/dev/null || return 0
    local t0 t1 t2
    t0=$(date +%s.%N)
    [ -n "$zsecs" ] || zstd -q -1 -T1 -c "$W/exp-plain.json" >/dev/null
    t1=$(date +%s.%N)
    zstd -q --fast="${FAST_LEVEL#-}" -T1 -c "$W/exp-plain.json" >/dev/null
    t2=$(date +%s.%N)
    [ -n "$zsecs" ] || zsecs=$(python3 -c "print($t1 - $t0)")
    fsecs=$(python3 -c "print($t2 - $t1)")
  }
  cat "$W"/exp-plain/*/data/*.json >"$W/exp-plain.json"
  zref
  fsecs_before=$fsecs
  # EXPORT_RUNS runs (default 3) at the default level, median quoted: the
  # machine is noisy. Then as many at zstd's fast level -3 (FAST_LEVEL).
  for level in 1 "$FAST_LEVEL"; do
  for i in $(seq "${EXPORT_RUNS:-3}"); do
  for build in "${BUILDS[@]}"; do
    rm -rf "$W/exp"
    /usr/bin/time -v "${build#*=}" export "$E/narrow_ks/narrow" --schema "$E/schema.cql" --out "$W/exp" \
      --compression zstd --compression-level="$level" --threads 1 --summary-json "$W/exp.json" \
      >/dev/null 2>"$W/exp.time"
    python3 - "$W/exp.json" "$W/exp.time" "$level" "${build%%=*}" >>"$W/exp-runs.jsonl" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))[0]
t = open(sys.argv[2]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
parts = [float(x) for x in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
print(json.dumps({"items": s["items"], "secs": secs, "rss_kb": rss, "bytes": s["uncompressed_bytes"],
                  "level": int(sys.argv[3]), "build": sys.argv[4]}))
PY
  done
  done
  done
  # The compressor alone, zstd's own CLI at the fast level, timed after the runs too:
  zref
  fsecs_after=$fsecs
  python3 - "$W/exp-runs.jsonl" "$EXPORT_MB" "$zsecs" "$fsecs_before" "$fsecs_after" <<'PY'
import json, statistics, sys
every = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in every:
    print(f"- run, {r['build']}, level {r['level']}: {r['items']} items in {r['secs']:.2f} s wall = "
          f"{r['items'] / r['secs']:,.0f} items/s; peak RSS {r['rss_kb'] / 1024:.0f} MiB")
r = every[0]
for build in dict.fromkeys(x["build"] for x in every):
    runs = [x for x in every if x["level"] == 1 and x["build"] == build]
    fast = [x for x in every if x["level"] != 1 and x["build"] == build]
    med = statistics.median(x["items"] / x["secs"] for x in runs)
    print(f"- {build} build: `sstable-migrate export {sys.argv[2]} MB narrow --compression zstd --threads 1` "
          f"(level 1, the default), median of {len(runs)}: **{med:,.0f} items/s** on one core; "
          f"{r['bytes'] / 2**20:.0f} MiB of JSON")
    if fast:
        fmed = statistics.median(x["items"] / x["secs"] for x in fast)
        print(f"- {build} build, the same with `--compression-level {fast[0]['level']}` (zstd's fast mode), "
              f"median of {len(fast)}: **{fmed:,.0f} items/s** on one core")
fast = [x for x in every if x["level"] != 1]
if sys.argv[3]:
    z = float(sys.argv[3])
    print(f"- the compressor alone (`zstd -1 -T1` on the same JSON): {z:.2f} s = "
          f"{r['items'] / z:,.0f} items/s, the ceiling of any exporter writing these items with zstd -1 on one core")
if sys.argv[4] and fast:
    z, za = float(sys.argv[4]), float(sys.argv[5])
    print(f"- the compressor alone at level {fast[0]['level']} (`zstd --fast={-fast[0]['level']} -T1`): "
          f"{z:.2f} s = {r['items'] / z:,.0f} items/s before the runs, {za:.2f} s after them")
PY
  rm -f "$W/exp-runs.jsonl"
  [ "${LOAD:-1}" != 0 ] || exit 0
  echo
  echo "## Live load into dynalite (concurrency $CONC)"
  echo
  eval "$(scripts/aws-servers.sh env)"
  # boto3 (below) lives in the servers' venv, which only moto's install makes.
  scripts/aws-servers.sh install moto >/dev/null
  scripts/aws-servers.sh start dynalite >/dev/null
  trap 'scripts/aws-servers.sh stop dynalite >/dev/null 2>&1' EXIT
  rm -rf "$W/load-items"
  "$B" export "$L/narrow_ks/narrow" --schema "$L/schema.cql" --out "$W/load-items" --compression none >/dev/null
  cat "$W"/load-items/*/data/*.json >"$W/load-items.json"
  "$AWS_SERVERS_PYTHON" - "$DYNALITE_URL" <<'PY'
import boto3, sys
c = boto3.client("dynamodb", endpoint_url=sys.argv[1])
for t in ("bench_ours", "bench_bare"):
    try:
        c.delete_table(TableName=t)
        c.get_waiter("table_not_exists").wait(TableName=t)
    except c.exceptions.ResourceNotFoundException:
        pass
c.create_table(TableName="bench_bare", BillingMode="PAY_PER_REQUEST",
               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
c.get_waiter("table_exists").wait(TableName="bench_bare")
PY
  : >"$W/load-pairs.jsonl"
  for i in $(seq "$PAIRS"); do
    # Later runs overwrite the same items, in both tables alike.
    t0=$(date +%s.%N)
    ours=$("$B" to-dynamodb "$L/narrow_ks/narrow" --schema "$L/schema.cql" --table bench_ours --create-table \
      --endpoint-url "$DYNALITE_URL" --concurrency "$CONC" --quiet)
    t1=$(date +%s.%N)
    bare=$("$BARE" "$W/load-items.json" bench_bare "$DYNALITE_URL" "$CONC")
    t2=$(date +%s.%N)
    echo "[$ours, $bare, $(python3 -c "print($t1 - $t0)"), $(python3 -c "print($t2 - $t1)")]" | tr -d '\n' >>"$W/load-pairs.jsonl"
    echo >>"$W/load-pairs.jsonl"
  done
  python3 - "$W/load-pairs.jsonl" <<'PY'
import json, statistics, sys
pairs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
whole, phase = [], []
for n, (o, b, wo, wb) in enumerate(pairs, 1):
    whole.append((o["items_written"] / wo) / (b["items"] / wb))
    phase.append((o["items_written"] / o["seconds"]) / b["items_per_second"])
    print(f"- pair {n}: `to-dynamodb` {o['items_written']} items in {wo:.2f} s wall "
          f"({o['items_written'] / wo:,.0f} items/s; write phase {o['seconds']:.2f} s); "
          f"bare SDK loop {b['items']} items in {wb:.2f} s wall ({b['items'] / wb:,.0f} items/s; "
          f"write phase {b['seconds']:.2f} s); ratio {whole[-1]:.2f} (write phases {phase[-1]:.2f})")
med = statistics.median
print(f"- ratio ours / bare, whole processes, median of {len(whole)} pairs: **{med(whole):.2f}** "
      f"(range {min(whole):.2f} to {max(whole):.2f})")
print(f"- the same over the write phases alone: {med(phase):.2f} "
      f"(range {min(phase):.2f} to {max(phase):.2f})")
PY
} | tee "$out"
