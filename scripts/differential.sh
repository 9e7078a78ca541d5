#!/usr/bin/env bash
# Differential tests against real Apache Cassandra (the oracle):
#   1. `dump --format sstabledump` equals Cassandra's own sstabledump, as parsed JSON;
#   2. `dump --format rows` equals the node's SELECT JSON *, as sets of rows;
#   3. `schema --format json` equals system_schema.columns (columns, types, keys, order).
# For each version in $DIFF_VERSIONS (default "5.0 4.1 3.11"), on the harness's
# `sample` and `alltypes` datasets (CQLSSTableWriter), on tombstones written
# through the node and flushed, and on random tables and writes
# (scripts/random_tables.py). Prints a summary line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
C=scripts/cassandra.sh
B=${SSTABLE_MIGRATE:-target/debug/sstable-migrate}
[ -x "$B" ] || cargo build -q -p migrate-cli
versions=${DIFF_VERSIONS:-5.0 4.1 3.11}
pass=0
fail=0
failed=()
check() { # name, command...
  local name=$1
  shift
  local res
  if res=$("$@" 2>&1); then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    failed+=("$name")
    echo "FAIL $name"
    echo "$res" | head -20 | sed 's/^/    /'
  fi
}

for v in $versions; do
  out=.local/diff/$v
  sdv=(--sstabledump-version "$v")
  # Known difference: 3.11 prints dates past year 9999 without the '+' of 4.0+.
  k311=()
  [ "$v" = 3.11 ] && k311=(--cassandra-3.11)
  rm -rf "$out"
  mkdir -p "$out"
  echo "== Cassandra $v: generating datasets"
  "$C" generate sample "$out/sample" --version "$v" >/dev/null || { echo "generate failed"; exit 1; }
  "$C" generate alltypes "$out/alltypes" --version "$v" >/dev/null || { echo "generate failed"; exit 1; }
  if [ "$v" = 5.0 ]; then
    CASSANDRA_SSTABLE_FORMAT=bti "$C" generate sample "$out/sample_bti" --version "$v" >/dev/null || exit 1
  fi
  # The sample with every compressor (zstd needs 4.0+).
  comps="lz4 snappy deflate none"
  [ "$v" != 3.11 ] && comps="$comps zstd"
  for z in $comps; do
    "$C" generate sample "$out/sample_$z" --compression "$z" --version "$v" >/dev/null || { echo "generate --compression $z failed"; exit 1; }
  done

  echo "== Cassandra $v: sstabledump vs dump --format sstabledump"
  for f in "$out"/*/*/*/*-Data.db; do
    extra=()
    cmp=()
    case "$f" in *empty_values*) extra=(-x 8); cmp=(--exclude-key 8) ;; esac
    "$C" sstabledump "$f" "${extra[@]}" --version "$v" >"$f.theirs.json" 2>/dev/null
    "$B" dump --format sstabledump "$f" "${sdv[@]}" >"$f.ours.json" 2>&1
    check "$v sstabledump ${f#"$out"/}" python3 scripts/diffcheck.py sstabledump "$f.ours.json" "$f.theirs.json" "${cmp[@]}" "${k311[@]}"
  done

  echo "== Cassandra $v: node"
  rm -rf ".local/cassandra-$v" # a fresh, empty node
  "$C" start --version "$v" >/dev/null || { echo "node did not start"; exit 1; }
  "$C" cql -f fixtures/cassandra/tombstones.cql --version "$v" >/dev/null
  # Random tables (scripts/random_tables.py; a fixed seed per version,
  # RANDOM_SEED to try others): colliding writes over three flushes, with
  # tied timestamps, TTLs, and row, range, partition, column and element
  # deletions. Read below like tomb_ks, from the node's data directory.
  seed=${RANDOM_SEED:-${v//./}}
  python3 scripts/random_tables.py "$out/random" --seed "$seed" --version "$v" --tables "${RANDOM_TABLES:-5}"
  "$C" cql -f "$out/random/schema.cql" --version "$v" >/dev/null
  for b in "$out"/random/batch-*.cql; do
    check "$v random writes (seed $seed) $(basename "$b")" "$C" cql -f "$b" --version "$v"
    "$C" flush rand_ks --version "$v" >/dev/null
  done
  sleep 2 # let the TTL-1 cells expire
  "$C" flush tomb_ks --version "$v" >/dev/null
  # The `tombstones` dataset: deletions of every kind, TTLs, overwrites and
  # counters over 3-4 flushes; its SELECT JSON was captured as expected/.
  "$C" generate tombstones "$out/tombstones" --version "$v" >/dev/null || { echo "generate tombstones failed"; exit 1; }
  for tdir in "$out"/tombstones/tombstones_ks/*/; do
    tdir=${tdir%/}
    table=$(basename "$tdir")
    for f in "$tdir"/*-Data.db; do
      "$C" sstabledump "$f" --version "$v" >"$f.theirs.json" 2>/dev/null
      "$B" dump --format sstabledump "$f" "${sdv[@]}" >"$f.ours.json" 2>&1
      check "$v sstabledump tombstones $table $(basename "$f")" python3 scripts/diffcheck.py sstabledump "$f.ours.json" "$f.theirs.json" "${k311[@]}"
    done
    "$B" dump --schema "$out/tombstones/schema.cql" "$tdir" >"$out/tombstones.$table.ours.jsonl" 2>&1
    check "$v rows (merged) tombstones $table" python3 scripts/diffcheck.py rows "$out/tombstones.$table.ours.jsonl" "$out/tombstones/expected/$table.jsonl" "${k311[@]}"
  done
  for ds in sample alltypes; do
    "$C" cql -f "$out/$ds/schema.cql" --version "$v" >/dev/null
  done
  now=$(date +%s)
  for tdir in "$out"/sample/*/*/ "$out"/alltypes/*/*/ .local/cassandra-"$v"/data/tomb_ks/*/ \
    .local/cassandra-"$v"/data/rand_ks/*/; do
    tdir=${tdir%/}
    table=$(basename "$tdir")
    table=${table%-*}
    ks=$(basename "$(dirname "$tdir")")
    ds=$(basename "$(dirname "$(dirname "$tdir")")")
    n=$(ls "$tdir"/*-Data.db 2>/dev/null | wc -l)
    [ "$n" -gt 0 ] || continue
    schema=()
    [ -f "$out/$ds/schema.cql" ] && schema=(--schema "$out/$ds/schema.cql")
    case "$ks" in
      tomb_ks | rand_ks) ;;
      *) "$C" load "$tdir" --version "$v" >/dev/null 2>&1 || { echo "load $tdir failed"; } ;;
    esac
    query="SELECT JSON * FROM $ks.$table"
    skip=()
    if [ "$table" = empty_values ]; then
      # Cassandra's own SELECT JSON fails (NullPointerException) on the empty boolean of row 8.
      query="$query WHERE id IN (0,1,2,3,4,5,6,7,9,10,11,12,13,100)"
      skip=(--exclude-row id=8)
    fi
    "$C" cql "$query" --version "$v" >"$out/$ks.$table.theirs.jsonl" 2>/dev/null
    "$C" cql "SELECT column_name, kind, position, type, clustering_order FROM system_schema.columns WHERE keyspace_name = '$ks' AND table_name = '$table'" --version "$v" >"$out/$ks.$table.columns.jsonl" 2>/dev/null
    "$C" cql "SELECT flags FROM system_schema.tables WHERE keyspace_name = '$ks' AND table_name = '$table'" --version "$v" >"$out/$ks.$table.flags.jsonl" 2>/dev/null
    "$B" schema --format json "$tdir" >"$out/$ks.$table.schema.json" 2>&1
    check "$v schema $ks.$table" python3 scripts/diffcheck.py schema "$out/$ks.$table.schema.json" "$out/$ks.$table.columns.jsonl" \
      --table-flags "$out/$ks.$table.flags.jsonl"
    if [ "$ks" = tomb_ks ] || [ "$ks" = rand_ks ]; then
      schema=() # names come from the node's own system_schema tables
      for f in "$tdir"/*-Data.db; do
        "$B" dump --format sstabledump "$f" "${sdv[@]}" >"$f.ours.json" 2>&1
        "$C" sstabledump "$f" --version "$v" >"$f.theirs.json" 2>/dev/null
        check "$v sstabledump node-written $ks.$table $(basename "$f")" python3 scripts/diffcheck.py sstabledump "$f.ours.json" "$f.theirs.json" "${k311[@]}"
      done
    fi
    # Several sstables of a table are merged into its current state.
    "$B" dump --now "$now" "$tdir" "${schema[@]}" >"$out/$ks.$table.ours.jsonl" 2>&1
    check "$v rows $ks.$table" python3 scripts/diffcheck.py rows "$out/$ks.$table.ours.jsonl" "$out/$ks.$table.theirs.jsonl" "${skip[@]}" "${k311[@]}"
    # The same rows from every compression variant of the sample.
    if [ "$ds" = sample ]; then
      for z in $comps; do
        "$B" dump --now "$now" "$out/sample_$z/$ks/$table" --schema "$out/sample_$z/schema.cql" >"$out/$ks.$table.$z.jsonl" 2>&1
        check "$v rows $ks.$table ($z)" python3 scripts/diffcheck.py rows "$out/$ks.$table.$z.jsonl" "$out/$ks.$table.theirs.jsonl" "${k311[@]}"
      done
    fi
    # The node's own data directory, as a backup would hold it: no --schema,
    # names read from its system_schema tables.
    if [ "$ks" != tomb_ks ] && [ "$ks" != rand_ks ]; then
      ndir=$(ls -d .local/cassandra-"$v"/data/"$ks"/"$table"-* 2>/dev/null | head -1)
      if [ -n "$ndir" ] && ls "$ndir"/*-Data.db >/dev/null 2>&1; then
        "$B" dump --now "$now" "$ndir" >"$out/$ks.$table.node.jsonl" 2>&1
        check "$v rows from the node's data dir $ks.$table" python3 scripts/diffcheck.py rows "$out/$ks.$table.node.jsonl" "$out/$ks.$table.theirs.jsonl" "${skip[@]}" "${k311[@]}"
      fi
    fi
  done

  # A snapshot, copied away as a backup: names, types and drop times come
  # from its schema.cql; and the table directory, which now holds the
  # snapshot, reads as the live table only (the snapshot still has rows
  # whose deletion a compaction has purged since).
  echo "== Cassandra $v: snapshot"
  S=fixtures/cassandra/snapshot
  "$C" cql -f "$S/before.cql" --version "$v" >/dev/null
  "$C" flush snap_ks --version "$v" >/dev/null
  "$C" cql -f "$S/alter.cql" --version "$v" >/dev/null
  "$C" flush snap_ks --version "$v" >/dev/null
  "$C" nodetool snapshot -t sstm snap_ks --version "$v" >/dev/null
  "$C" cql "SELECT JSON * FROM snap_ks.people" --version "$v" >"$out/snap.theirs.jsonl" 2>/dev/null
  "$C" cql -f "$S/after.cql" --version "$v" >/dev/null
  sleep 2 # past gc_grace_seconds = 0
  "$C" flush snap_ks --version "$v" >/dev/null
  "$C" nodetool compact snap_ks people --version "$v" >/dev/null
  "$C" cql "SELECT JSON * FROM snap_ks.people" --version "$v" >"$out/snap.live.jsonl" 2>/dev/null
  tdir=$(ls -d .local/cassandra-"$v"/data/snap_ks/people-*/snapshots/sstm | head -1)
  tdir=${tdir%/snapshots/sstm}
  mkdir -p "$out/backup/snap_ks" "$out/backup2"
  cp -r "$tdir/snapshots/sstm" "$out/backup/snap_ks/people"
  cp -r "$tdir/snapshots/sstm" "$out/backup2/copy"
  "$B" dump --now "$now" "$out/backup/snap_ks/people" >"$out/snap.ours.jsonl" 2>&1
  check "$v rows of a copied snapshot (its schema.cql)" python3 scripts/diffcheck.py rows "$out/snap.ours.jsonl" "$out/snap.theirs.jsonl" "${k311[@]}"
  "$B" dump --now "$now" "$out/backup2/copy" >"$out/snap2.ours.jsonl" 2>&1
  check "$v rows of a snapshot copied under another name" python3 scripts/diffcheck.py rows "$out/snap2.ours.jsonl" "$out/snap.theirs.jsonl" "${k311[@]}"
  "$B" dump --now "$now" "$tdir/snapshots/sstm" >"$out/snap3.ours.jsonl" 2>&1
  check "$v rows of a snapshot in place" python3 scripts/diffcheck.py rows "$out/snap3.ours.jsonl" "$out/snap.theirs.jsonl" "${k311[@]}"
  "$B" dump --now "$now" "$tdir" >"$out/snap.live.ours.jsonl" 2>"$out/snap.live.err"
  check "$v rows of a table directory holding a snapshot (not read)" python3 scripts/diffcheck.py rows "$out/snap.live.ours.jsonl" "$out/snap.live.jsonl" "${k311[@]}"
  check "$v the snapshot passed by is reported" grep -q "snapshot or backup director.* not read" "$out/snap.live.err"
  # The whole data directory: its users' tables only.
  "$B" schema .local/cassandra-"$v"/data >"$out/all.schema.cql" 2>"$out/all.schema.err"
  check "$v a data directory's system keyspaces are passed by" python3 -c "
import re, sys
t = re.findall(r'CREATE TABLE (\S+) ', open(sys.argv[1]).read())
print(t)
sys.exit(0 if 'snap_ks.people' in t and not any(x.startswith('system') for x in t) else 1)" "$out/all.schema.cql"
  # A copy of a running node's table directory taken while a compaction
  # (throttled to 1 MiB/s) writes: its transaction log rules out the
  # partly written sstable, and the copy reads as the loaded rows.
  "$C" generate narrow "$out/narrow" --size-mb 6 --version "$v" >/dev/null
  "$C" cql -f "$out/narrow/schema.cql" --version "$v" >/dev/null
  "$C" load "$out/narrow/narrow_ks/narrow" --version "$v" >/dev/null 2>&1
  "$C" load "$out/narrow/narrow_ks/narrow" --version "$v" >/dev/null 2>&1
  ndir=$(dirname "$(ls -t .local/cassandra-"$v"/data/narrow_ks/narrow-*/*-Data.db | head -1)")
  "$C" nodetool setcompactionthroughput 1 --version "$v" >/dev/null
  "$C" nodetool compact narrow_ks narrow --version "$v" >/dev/null 2>&1 &
  cpid=$!
  for _ in $(seq 100); do
    ls "$ndir"/*_txn_*.log >/dev/null 2>&1 && break
    sleep 0.2
  done
  sleep 1
  mkdir -p "$out/live/narrow_ks"
  cp -r "$ndir" "$out/live/narrow_ks/narrow"
  "$C" nodetool stop COMPACTION --version "$v" >/dev/null 2>&1
  wait "$cpid" 2>/dev/null
  "$C" nodetool setcompactionthroughput 64 --version "$v" >/dev/null
  check "$v the copy holds a compaction's transaction log" ls "$out"/live/narrow_ks/narrow/*_txn_*.log
  "$B" dump "$out/live/narrow_ks/narrow" --schema "$out/narrow/schema.cql" >"$out/live.ours.jsonl" 2>"$out/live.err"
  "$B" dump "$out/narrow/narrow_ks/narrow" --schema "$out/narrow/schema.cql" >"$out/live.loaded.jsonl"
  check "$v rows of a table directory copied during a compaction" python3 scripts/diffcheck.py rows "$out/live.ours.jsonl" "$out/live.loaded.jsonl"
  check "$v the unfinished sstable is reported" grep -q "unfinished or replaced writes not read" "$out/live.err"
  "$C" stop --version "$v" >/dev/null
done

echo
if [ "$fail" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
fi
echo "differential: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
