#!/usr/bin/env bash
# End-to-end tests of the DynamoDB target, against real servers on 127.0.0.1
# started by scripts/aws-servers.sh (dynalite, moto, SeaweedFS, and our fault
# proxy in front of dynalite):
#
#  * to-dynamodb of Cassandra-written tables (5.0 `oa`, 5.0 BTI `da`, 3.11
#    `me`, node-written tables with deletions (tomb_ks and the `tombstones`
#    dataset), the random tables of
#    differential.sh, 2.1/2.2 corpus tables), each
#    checked item by item against the rows Cassandra's own SELECT JSON
#    returned (scripts/dynamo_check.py, which also checks that a Query per
#    partition returns Cassandra's clustering order), then verify-dynamodb;
#  * 30% of calls failing through the fault proxy: 0 differences;
#  * kill -9 at random moments, then resume: 0 differences, and no item
#    written twice beyond the batches in flight;
#  * --conditional (last write wins) and --delete-tombstoned;
#  * export + import-table into moto; export to SeaweedFS S3 (signatures
#    checked) equal to the local export; a wrong secret fails cleanly.
#
# Needs the harness output of scripts/differential.sh (.local/diff/<version>)
# for the Cassandra-written tables; run after it (scripts/test.sh does).
set -uo pipefail
cd "$(dirname "$0")/.."

B=target/debug/sstable-migrate
[ -x "$B" ] || cargo build -q -p migrate-cli
scripts/aws-servers.sh start dynalite moto seaweedfs proxy >/dev/null || { echo "servers did not start"; exit 1; }
trap 'scripts/aws-servers.sh stop >/dev/null 2>&1' EXIT
eval "$(scripts/aws-servers.sh env)"
PY=$AWS_SERVERS_PYTHON
W=.local/e2e
rm -rf "$W"
mkdir -p "$W"

pass=0
fail=0
check() {
  local label=$1 output
  shift
  if output=$("$@" 2>&1); then
    pass=$((pass + 1))
    echo "ok   $label"
  else
    fail=$((fail + 1))
    echo "FAIL $label"
    echo "$output" | tail -15 | cut -c1-400 | sed 's/^/     /'
  fi
}

n=0
# load NAME DIR EXPECTED.jsonl [sstable-migrate args...]: load into a fresh
# dynalite table, check item by item against EXPECTED, verify-dynamodb.
load_and_check() {
  local name=$1 dir=$2 expected=$3
  shift 3
  n=$((n + 1))
  local table="e2e_${n}_$name"
  "$B" schema --format json "$dir" "$@" >"$W/$table.schema.json" 2>/dev/null
  local ex=()
  case "$name" in *empty_values*) ex=(--exclude-row id=8) ;; esac
  check "to-dynamodb $name" "$B" to-dynamodb "$dir" "$@" --table "$table" --create-table \
    --endpoint-url "$DYNALITE_URL" --quiet --now "$NOW" --summary-json "$W/$table.summary.json"
  check "items = Cassandra's rows, Query order = clustering order: $name" \
    "$PY" scripts/dynamo_check.py --endpoint "$DYNALITE_URL" --table "$table" \
    --expected "$expected" --schema "$W/$table.schema.json" --summary "$W/$table.summary.json" "${ex[@]}"
  check "verify-dynamodb $name" "$B" verify-dynamodb "$dir" "$@" --table "$table" \
    --endpoint-url "$DYNALITE_URL" --now "$NOW"
}

NOW=$(date +%s)
echo "== Cassandra-written tables vs Cassandra's SELECT JSON"
for v in 5.0 3.11; do
  out=.local/diff/$v
  [ -d "$out" ] || { echo "skip $v: no $out (run scripts/differential.sh first)"; continue; }
  for ds in sample alltypes; do
    for tdir in "$out/$ds"/*/*/; do
      tdir=${tdir%/}
      t=$(basename "$tdir")
      ks=$(basename "$(dirname "$tdir")")
      load_and_check "${v//./}_${ds}_$t" "$tdir" "$out/$ks.$t.theirs.jsonl" --schema "$out/$ds/schema.cql"
    done
  done
  if [ -d "$out/sample_bti" ]; then
    for tdir in "$out"/sample_bti/*/*/; do
      tdir=${tdir%/}
      t=$(basename "$tdir")
      ks=$(basename "$(dirname "$tdir")")
      load_and_check "${v//./}_bti_$t" "$tdir" "$out/$ks.$t.theirs.jsonl" --schema "$out/sample_bti/schema.cql"
    done
  fi
  # The node-written `tombstones` dataset (datasets/tombstones.cql: deletions
  # across flushes, TTLs, counters, collections with -0.0/0.0 and a '' key).
  for tdir in "$out"/tombstones/tombstones_ks/*/; do
    tdir=${tdir%/}
    t=$(basename "$tdir")
    [ -f "$out/tombstones/expected/$t.jsonl" ] || continue
    load_and_check "${v//./}_tombstones_$t" "$tdir" "$out/tombstones/expected/$t.jsonl" --schema "$out/tombstones/schema.cql"
  done
  # Tables written through a node (deletions of every kind, TTLs, counters,
  # several flushes; and the random tables), names from the node's own
  # system_schema.
  for tdir in .local/cassandra-"$v"/data/tomb_ks/*/ .local/cassandra-"$v"/data/rand_ks/*/; do
    tdir=${tdir%/}
    [ -d "$tdir" ] || continue
    t=$(basename "$tdir")
    t=${t%-*}
    ks=$(basename "$(dirname "$tdir")")
    ls "$tdir"/*-Data.db >/dev/null 2>&1 || continue
    [ -f "$out/$ks.$t.theirs.jsonl" ] || continue
    load_and_check "${v//./}_${ks%_ks}_$t" "$tdir" "$out/$ks.$t.theirs.jsonl"
  done
done

echo "== 2.1/2.2 corpus tables (ka, la) vs the rows the golden tests check"
C=../shared/corpus/apache-cassandra
for t in ka/legacy_tables/legacy_ka_clust ka/legacy_tables/legacy_ka_14873 ka/legacy_tables/legacy_ka_clust_counter \
  ka/legacy_tables/legacy_ka_simple_compact ka/legacy_tables/legacy_ka_indexed_static la/legacy_tables/legacy_la_clust \
  la/legacy_tables/legacy_la_clust_counter_compact da/legacy_tables/legacy_da_clust; do
  d="$C/$t"
  [ -d "$d" ] || continue
  name=$(basename "$t")
  schema=fixtures/schemas/legacy_tables.cql
  grep -q "$name" "$schema" 2>/dev/null || schema=fixtures/schemas/legacy_ka.cql
  # (A schema file without the table would give raw cells, not rows.)
  "$B" dump "$d" --schema "$schema" --now "$NOW" >"$W/$name.rows.jsonl"
  load_and_check "$name" "$d" "$W/$name.rows.jsonl" --schema "$schema"
done

S50=.local/diff/5.0/alltypes
if [ -d "$S50" ]; then
  SRC=$S50/alltypes_ks/collections
  SCH=(--schema $S50/schema.cql)
  echo "== faults: 30% of DynamoDB calls throttled, failing or half-processed (proxy)"
  check "to-dynamodb through the fault proxy" "$B" to-dynamodb "$SRC" "${SCH[@]}" --table faults --create-table \
    --endpoint-url "$FAULTPROXY_URL" --quiet --now "$NOW" --summary-json "$W/faults.json" --max-attempts 30
  check "retries happened (throttling, 5xx, unprocessed items)" "$PY" -c "
import json, sys
s = json.load(open('$W/faults.json'))
print(s)
sys.exit(0 if s['retries'] > 0 and s['throttled'] > 0 and s['server_errors'] > 0 and s['unprocessed_retried'] > 0 else 1)"
  check "verify-dynamodb after faults: 0 differences" "$B" verify-dynamodb "$SRC" "${SCH[@]}" --table faults \
    --endpoint-url "$DYNALITE_URL" --now "$NOW"

  echo "== kill -9 at random moments, then resume"
  total=$("$B" dump "$SRC" "${SCH[@]}" --now "$NOW" | wc -l)
  ck="$W/kill.checkpoint.json"
  kills=0
  for delay in 0.4 0.9 1.3 0.7 1.8; do
    "$B" to-dynamodb "$SRC" "${SCH[@]}" --table killed --create-table --endpoint-url "$FAULTPROXY_URL" \
      --quiet --now "$NOW" --checkpoint "$ck" --concurrency 4 --max-attempts 30 >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
  done
  check "resume after $kills kill(s) completes" "$B" to-dynamodb "$SRC" "${SCH[@]}" --table killed --create-table \
    --endpoint-url "$FAULTPROXY_URL" --quiet --now "$NOW" --checkpoint "$ck" --concurrency 4 --max-attempts 30 \
    --summary-json "$W/killed.json"
  check "verify-dynamodb after kills: 0 differences" "$B" verify-dynamodb "$SRC" "${SCH[@]}" --table killed \
    --endpoint-url "$DYNALITE_URL" --now "$NOW"
  check "no item written twice beyond the batches in flight ($total items)" "$PY" -c "
import json, sys
s = json.load(open('$W/killed.json'))
done = s['items_written_before'] + s['items_written']
print('acknowledged before the last run', s['items_written_before'], 'written by it', s['items_written'], 'total', $total)
# Each killed run may leave at most its in-flight batches unrecorded (4 x 25).
sys.exit(0 if $total <= done <= $total + $kills * 4 * 25 else 1)"

  echo "== --conditional (last write wins) and --delete-tombstoned"
  check "conditional load" "$B" to-dynamodb "$SRC" "${SCH[@]}" --table cond --create-table --conditional \
    --endpoint-url "$DYNALITE_URL" --quiet --now "$NOW" --summary-json "$W/cond1.json"
  check "conditional reload writes nothing (same writetimes)" "$B" to-dynamodb "$SRC" "${SCH[@]}" --table cond \
    --conditional --endpoint-url "$DYNALITE_URL" --quiet --now "$NOW" --summary-json "$W/cond2.json"
  check "conditional reload skipped every item" "$PY" -c "
import json, sys
a, b = json.load(open('$W/cond1.json')), json.load(open('$W/cond2.json'))
print(a['items_written'], b['items_written'], b['conditional_skipped'])
sys.exit(0 if a['items_written'] == $total and b['items_written'] == 0 and b['conditional_skipped'] == $total else 1)"
  check "verify-dynamodb --conditional" "$B" verify-dynamodb "$SRC" "${SCH[@]}" --table cond --conditional \
    --endpoint-url "$DYNALITE_URL" --now "$NOW"
fi

# --delete-tombstoned: load a node table's first sstable alone (rows that
# later sstables delete), then the whole table with --delete-tombstoned.
T=$(ls -d .local/cassandra-5.0/data/tomb_ks/t-*/ 2>/dev/null | head -1)
if [ -n "$T" ]; then
  first=$(ls "$T"/*-Data.db | sort -V | head -1)
  check "load the first sstable of tomb_ks.t" "$B" to-dynamodb "$first" --table deltomb --create-table \
    --endpoint-url "$DYNALITE_URL" --quiet --now "$NOW"
  check "to-dynamodb --delete-tombstoned of the whole table" "$B" to-dynamodb "$T" --table deltomb \
    --delete-tombstoned --endpoint-url "$DYNALITE_URL" --quiet --now "$NOW" --summary-json "$W/deltomb.json"
  check "deleted rows are gone: 0 differences" "$B" verify-dynamodb "$T" --table deltomb \
    --endpoint-url "$DYNALITE_URL" --now "$NOW"
fi

echo "== export + import-table into moto"
"$PY" -c "import boto3; boto3.client('s3', endpoint_url='$MOTO_URL').create_bucket(Bucket='e2e')" >/dev/null
# (moto's JSON reader mangles escaped characters such as \n, which the
# sample's scalars table has: the events table has none.)
for t in events; do
  check "export sample $t to moto S3" "$B" export fixtures/sample/sample_ks/$t --schema fixtures/sample/schema.cql \
    --out s3://e2e/exp --endpoint-url "$MOTO_URL" --now "$NOW"
  check "import-table $t (moto)" "$B" import-table --from s3://e2e/exp/sample_ks.$t --table imp_$t --endpoint-url "$MOTO_URL"
  check "verify-dynamodb imported $t: 0 differences" "$B" verify-dynamodb fixtures/sample/sample_ks/$t \
    --schema fixtures/sample/schema.cql --table imp_$t --endpoint-url "$MOTO_URL" --now "$NOW"
done

echo "== export to SeaweedFS S3 (signatures checked)"
fail_before_s3=$fail
"$PY" -c "import boto3; boto3.client('s3', endpoint_url='$S3_URL').create_bucket(Bucket='exports')" >/dev/null
check "export to s3:// (SeaweedFS)" "$B" export fixtures/sample --schema fixtures/sample/schema.cql \
  --out s3://exports/run1 --endpoint-url "$S3_URL" --now "$NOW" --compression zstd
check "export to a folder" "$B" export fixtures/sample --schema fixtures/sample/schema.cql \
  --out "$W/local-export" --now "$NOW" --compression zstd
check "the S3 objects equal the local files" "$PY" -c "
import boto3, os, sys
s3 = boto3.client('s3', endpoint_url='$S3_URL')
root = '$W/local-export'
bad = 0
for table in sorted(os.listdir(root)):
    for f in sorted(os.listdir(os.path.join(root, table, 'data'))):
        if f.startswith('.'):
            continue
        want = open(os.path.join(root, table, 'data', f), 'rb').read()
        got = s3.get_object(Bucket='exports', Key=f'run1/{table}/data/{f}')['Body'].read()
        if got != want:
            bad += 1
            print('differs:', table, f)
    s3.head_object(Bucket='exports', Key=f'run1/{table}/manifest.json')
sys.exit(1 if bad else 0)"
check "another export into the same folder is refused, naming it" bash -c "out=\$('$B' export fixtures/sample \
  --schema fixtures/sample/schema.cql --out '$W/local-export' --now '$NOW' --compression gzip 2>&1); rc=\$?; \
  echo \"\$out\"; [ \$rc -ne 0 ] && echo \"\$out\" | grep -q 'holds another export'"
check "a wrong secret fails with a clear error" bash -c "out=\$(AWS_SECRET_ACCESS_KEY=wrong '$B' export fixtures/sample \
  --schema fixtures/sample/schema.cql --out s3://exports/run2 --endpoint-url '$S3_URL' 2>&1); rc=\$?; echo \"\$out\"; \
  [ \$rc -ne 0 ] && echo \"\$out\" | grep -qE 'SignatureDoesNotMatch|AccessDenied'"
check "to-dynamodb with its checkpoint on S3 (SeaweedFS)" "$B" to-dynamodb fixtures/sample/sample_ks/events \
  --schema fixtures/sample/schema.cql --table s3ck --create-table --endpoint-url "$DYNALITE_URL" \
  --checkpoint s3://exports/checkpoints/events.json --s3-endpoint-url "$S3_URL" --quiet --now "$NOW"
check "the S3 checkpoint records every unit done" "$PY" -c "
import boto3, json, sys
s3 = boto3.client('s3', endpoint_url='$S3_URL')
st = json.loads(s3.get_object(Bucket='exports', Key='checkpoints/events.json')['Body'].read())
print(st['units'], len(st['done']), st['written'])
sys.exit(0 if len(st['done']) == st['units'] and st['written'] == 100 else 1)"
check "verify-dynamodb s3ck: 0 differences" "$B" verify-dynamodb fixtures/sample/sample_ks/events \
  --schema fixtures/sample/schema.cql --table s3ck --endpoint-url "$DYNALITE_URL" --now "$NOW"
if [ "$fail" -gt "$fail_before_s3" ]; then
  echo "     (SeaweedFS's last log lines, and its disk:)"
  tail -n 12 .local/aws/seaweedfs.log | cut -c1-300 | sed 's/^/     /'
  df -h .local | sed 's/^/     /'
fi

echo
echo "dynamodb e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
