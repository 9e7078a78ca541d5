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
#    the two cores, so single runs vary); the ratio is ours / bare items/s,
#    pair by pair, and its median is the figure.
# Results go to stdout and benches/results/dynamo-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORT_MB=${1:-100}
LOAD_MB=${2:-5}
CONC=${CONC:-16}
PAIRS=${PAIRS:-5}
C=scripts/cassandra.sh
cargo build -q --release -p migrate-cli --example ddb_bare_load
cargo build -q --release -p migrate-cli
B=target/release/sstable-migrate
BARE=target/release/examples/ddb_bare_load
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
  rm -rf "$W/exp"
  /usr/bin/time -v "$B" export "$E/narrow_ks/narrow" --schema "$E/schema.cql" --out "$W/exp" \
    --compression zstd --threads 1 --summary-json "$W/exp.json" >/dev/null 2>"$W/exp.time"
  python3 - "$W/exp.json" "$W/exp.time" "$EXPORT_MB" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))[0]
t = open(sys.argv[2]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
parts = [float(x) for x in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
print(f"- `sstable-migrate export {sys.argv[3]} MB narrow --compression zstd --threads 1`: "
      f"{s['items']} items in {secs:.2f} s wall = **{s['items']/secs:,.0f} items/s** on one core; "
      f"{s['uncompressed_bytes']/2**20:.0f} MiB of JSON; peak RSS {rss/1024:.0f} MiB")
PY
  echo
  echo "## Live load into dynalite (concurrency $CONC)"
  echo
  eval "$(scripts/aws-servers.sh env)"
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
    ours=$("$B" to-dynamodb "$L/narrow_ks/narrow" --schema "$L/schema.cql" --table bench_ours --create-table \
      --endpoint-url "$DYNALITE_URL" --concurrency "$CONC" --quiet)
    bare=$("$BARE" "$W/load-items.json" bench_bare "$DYNALITE_URL" "$CONC")
    echo "[$ours, $bare]" | tr -d '\n' >>"$W/load-pairs.jsonl"
    echo >>"$W/load-pairs.jsonl"
  done
  python3 - "$W/load-pairs.jsonl" <<'PY'
import json, statistics, sys
pairs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ratios = []
for n, (o, b) in enumerate(pairs, 1):
    ro, rb = o["items_written"] / o["seconds"], b["items_per_second"]
    ratios.append(ro / rb)
    print(f"- pair {n}: `to-dynamodb` {o['items_written']} items in {o['seconds']:.2f} s = {ro:,.0f} items/s; "
          f"bare SDK loop {b['items']} items in {b['seconds']:.2f} s = {rb:,.0f} items/s; ratio {ro / rb:.2f}")
print(f"- ratio ours / bare, median of {len(ratios)} pairs: **{statistics.median(ratios):.2f}** "
      f"(range {min(ratios):.2f} to {max(ratios):.2f})")
PY
} | tee "$out"
