#!/usr/bin/env bash
# End-to-end tests of `to-sstables`: the sstables it writes are loaded into a
# real Cassandra node with Cassandra's own sstableloader and read back, on a
# Cassandra 4.1 node (`--version nb`) and then a Cassandra 5.0 node
# (`--version oa`), one after the other, both started by scripts/cassandra.sh
# (no authentication, no TLS; CQL on 127.0.0.1:19042 for every version).
#
# For every table scripts/cql-e2e.sh covers (the 5.0, 4.1 and 3.11 harness
# tables of scripts/differential.sh, node-written tables with deletions, TTLs
# and counters, and 2.1/2.2 corpus tables; differential.sh's 3.11 random
# tables, written as nb), and the tables real 2.1 and 2.2
# nodes wrote in scripts/legacy-e2e.sh (2.1 into 4.1, 2.2 into 5.0):
#  * `schema --replication SimpleStrategy:1 --target-keyspace K`, applied with
#    the harness's CQL tool;
#  * `to-sstables --out OUT --version nb|oa --target-keyspace K`: OUT/K/<table>
#    holds complete sstables of that format only (scripts/sstables_check.py layout);
#  * `cassandra.sh load OUT/K/<table>` (sstableloader) streams every sstable
#    (it exits 0 even when it skips them all, so its output is read too);
#  * the target's SELECT JSON equals the source node's own (scripts/diffcheck.py)
#    and `verify-cql` (values, writetime(), ttl()) reports 0 differences;
#  * Cassandra's own sstabledump (the node's version) reads every written Data.db;
# then, on each node:
#  * `nodetool verify -e -c -f` (extended: every cell; -c: every sstable in the
#    node's latest format, so oa on 5.0; -f: verify is disabled without it)
#    passes for every loaded keyspace. sstableloader streams whole sstables here
#    (one node owns every token), so the node verifies the very bytes to-sstables
#    wrote (4.1 streams the Digest.crc32 too, 5.0 does not);
#  * kill -9 during `to-sstables` (twice), then a complete run into the same OUT:
#    only complete sstables, as many as a clean run, and they load with 0 differences;
#  * CQLite (PyPI cqlite-py, installed into .local/venv) reads every written
#    sstable. Where it cannot, the node rewrites the loaded sstables (nodetool
#    upgradesstables -a): if CQLite cannot read Cassandra's own either, that
#    table is a `skip` line (a CQLite limitation), else a failure.
# A 5.0 table with a vector column is not loaded into 4.1: `to-sstables
# --version nb` must refuse it.
#
# The nb run writes with `--purge false --compression zstd` (every tombstone of
# the input is written), the oa run purges as a
# compaction would and uses 1 KiB promoted-index blocks.
#
# Needs the harness output of scripts/differential.sh (.local/diff/<version>).
# SSTABLE_MIGRATE names another binary (default target/debug/sstable-migrate);
# SSTABLES_E2E_TARGETS the nodes and formats (default "4.1:nb 5.0:oa");
# SSTABLES_E2E_BIG_MB the size of the kill -9 test's table (default 24 MiB).
set -uo pipefail
cd "$(dirname "$0")/.."

B=${SSTABLE_MIGRATE:-target/debug/sstable-migrate}
[ -x "$B" ] || cargo build -q -p migrate-cli
C=scripts/cassandra.sh
W=.local/sstables-e2e
OUT=$W/out
rm -rf "$W"
mkdir -p "$W/dumps"
# plain nodes writing the big format
unset CASSANDRA_AUTH CASSANDRA_CLIENT_TLS CASSANDRA_SSTABLE_FORMAT
CONN=(--contact-points 127.0.0.1:19042) # the CQL port of every harness node
NOW=$(date +%s)
CQLITE_PKG=cqlite-py==0.17.0
VENV=.local/venv # shared with scripts/aws-servers.sh (cqlite-py has no dependencies)

pass=0
fail=0
ok() {
  pass=$((pass + 1))
  echo "ok   $1"
}
bad() { # LABEL OUTPUT
  fail=$((fail + 1))
  echo "FAIL $1"
  echo "$2" | tail -15 | cut -c1-400 | sed 's/^/     /'
}
check() {
  local label=$1 output
  shift
  if output=$("$@" 2>&1); then
    ok "$label"
  else
    bad "$label" "$output"
  fi
  echo "$output" >>"$W/all-output.log"
}

if ! "$B" to-sstables --help >/dev/null 2>&1; then
  bad "$B has a to-sstables command" "$("$B" to-sstables --help 2>&1)"
  echo
  echo "sstables e2e: $pass passed, $fail failed"
  exit 1
fi

# ---------------------------------------------------------------- helpers
# Every helper below uses the node of version $V, whose sstables are $FMT.

# load_table DIR: sstableloader streams every sstable of DIR (…/<keyspace>/<table>).
load_table() {
  local out rc
  out=$(timeout 600 "$C" load "$1" --version "$V" 2>&1)
  rc=$?
  echo "$out" | grep -v '^progress:'
  [ "$rc" -eq 0 ] || { echo "sstableloader exited $rc"; return 1; }
  if grep -q 'Skipping file' <<<"$out"; then
    echo "sstableloader skipped sstables"
    return 1
  fi
  grep -Eq 'Total files transferred : [1-9]' <<<"$out" || { echo "sstableloader streamed nothing"; return 1; }
}

# sstabledump_ok FILE-Data.db [ARGS...]: Cassandra's sstabledump reads it whole.
# (On a truncated file it can spin forever: hence the timeout.)
sstabledump_ok() {
  local f=$1 dump
  shift
  dump="$W/dumps/$(basename "$(dirname "$(dirname "$f")")").$(basename "$f").json"
  timeout 300 "$C" sstabledump "$f" "$@" --version "$V" >"$dump" || return 1
  python3 scripts/sstables_check.py json "$dump"
}

# sstabledump_debug_ok FILE-Data.db: `sstabledump -d` (one line per row, no JSON) reads it whole.
sstabledump_debug_ok() {
  local dump
  dump="$W/dumps/$(basename "$(dirname "$(dirname "$1")")").$(basename "$1").d.txt"
  timeout 300 "$C" sstabledump "$1" -d --version "$V" >"$dump" || return 1
  [ -s "$dump" ] || { echo "empty output"; return 1; }
}

refuses() { # COMMAND...: exits non-zero
  if "$@"; then
    echo "exited 0"
    return 1
  fi
}

same_count() { # WANT DIR: DIR holds WANT Data.db files
  local have
  have=$(find "$2" -maxdepth 1 -name '*-Data.db' | wc -l)
  [ "$have" -eq "$1" ] || { echo "$have sstable(s), a clean run writes $1"; return 1; }
}

only_table_dir() { # KSDIR TABLE: nothing but TABLE in KSDIR
  local have
  have=$(ls -A "$1")
  [ "$have" = "$2" ] || { echo "in $1: $have"; return 1; }
}

n=0
LOADED=() # "ks table name" of every table loaded into the current node
TS_EXTRA=() # to-sstables options of the current node's run
# load_and_check NAME DIR EXPECTED.jsonl EXTRA-DIFFCHECK-ARGS -- [sstable-migrate args...]
load_and_check() {
  local name=$1 dir=$2 expected=$3
  shift 3
  local dc=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do dc+=("$1"); shift; done
  shift
  n=$((n + 1))
  local ks="ss_${FMT}_${n}"
  local t tdir f
  "$B" schema "$dir" "$@" --replication SimpleStrategy:1 --target-keyspace "$ks" >"$W/$ks.cql" 2>/dev/null
  if [ "$FMT" = nb ] && grep -q 'vector<' "$W/$ks.cql"; then
    # vector came with Cassandra 5.0: 4.1 has no such column, and nb no way to write one
    check "to-sstables --version nb refuses $name (a vector column)" refuses timeout 600 "$B" to-sstables "$dir" "$@" \
      --out "$OUT" --version nb --target-keyspace "$ks" --now "$NOW" --quiet
    echo "skip $name on Cassandra 4.1: its vector column needs Cassandra 5.0"
    return
  fi
  check "target DDL $name" "$C" cql -f "$W/$ks.cql" --version "$V"
  check "to-sstables --version $FMT ${TS_EXTRA[*]} $name" timeout 600 "$B" to-sstables "$dir" "$@" --out "$OUT" --version "$FMT" \
    --target-keyspace "$ks" --now "$NOW" --quiet "${TS_EXTRA[@]}"
  t=$(sed -n 's/^CREATE TABLE IF NOT EXISTS [^.]*\.\([^ ]*\) (.*/\1/p' "$W/$ks.cql" | head -1)
  tdir=$OUT/$ks/$t
  check "complete $FMT sstables only: $name" python3 scripts/sstables_check.py layout "$tdir" "$FMT"
  check "sstableloader ($V) $name" load_table "$tdir"
  LOADED+=("$ks $t $name")
  local query="SELECT JSON * FROM $ks.$t"
  case "$name" in
    *empty_values*)
      # Cassandra's own SELECT JSON crashes (NullPointerException) on the
      # empty boolean of row 8: leave that row out, as differential.sh does.
      query="$query WHERE id IN (0,1,2,3,4,5,6,7,9,10,11,12,13,100)" ;;
  esac
  "$C" cql "$query" --version "$V" >"$W/$ks.target.jsonl" 2>/dev/null
  check "target SELECT JSON = source Cassandra's: $name" python3 scripts/diffcheck.py rows "$W/$ks.target.jsonl" "$expected" "${dc[@]}"
  case "$name" in
    *empty_values*) echo "skip verify-cql $name (Cassandra's SELECT JSON fails on this table)" ;;
    # --now: the moment of the check (written TTLs are absolute expiry times)
    *) check "verify-cql $name" "$B" verify-cql "$dir" "$@" "${CONN[@]}" --target-keyspace "$ks" --now "$(date +%s)" ;;
  esac
  for f in "$tdir"/*-Data.db; do
    [ -f "$f" ] || continue
    case "$name" in
      *empty_values*)
        # sstabledump's JSON crashes on that empty boolean too (differential.sh
        # leaves key 8 out); its -d form prints every row.
        check "sstabledump ($V) $name $(basename "$f") (key 8 left out)" sstabledump_ok "$f" -x 8
        check "sstabledump -d ($V) $name $(basename "$f")" sstabledump_debug_ok "$f" ;;
      *) check "sstabledump ($V) $name $(basename "$f")" sstabledump_ok "$f" ;;
    esac
  done
}

# ---------------------------------------------------------------- CQLite
PY_CQLITE=
CQLITE_SKIP=
cqlite_setup() {
  local stamp="$VENV/.sstables-e2e-cqlite" out
  if ! [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$CQLITE_PKG" ]]; then
    if [ ! -x "$VENV/bin/python" ]; then
      out=$(python3 -m venv "$VENV" 2>&1) || { CQLITE_SKIP="python3 -m venv $VENV failed: $(tail -1 <<<"$out")"; return; }
    fi
    out=$("$VENV/bin/python" -m pip install -q --disable-pip-version-check "$CQLITE_PKG" 2>&1) \
      || { CQLITE_SKIP="pip install $CQLITE_PKG failed: $(tail -3 <<<"$out" | tr '\n' ' ')"; return; }
    echo "$CQLITE_PKG" >"$stamp"
  fi
  # It must read a Cassandra-written 5.0 table before it judges ours.
  local S=.local/diff/5.0/sample
  if [ -d "$S/sample_ks/events" ]; then
    out=$(timeout 300 "$VENV/bin/python" scripts/sstables_check.py cqlite "$S/schema.cql" sample_ks events "$S/sample_ks/events" 2>&1) \
      || { CQLITE_SKIP="$CQLITE_PKG cannot read Cassandra 5.0's own $S/sample_ks/events: $(head -3 <<<"$out" | tr '\n' ' ')"; return; }
  fi
  PY_CQLITE=$VENV/bin/python
}

# cqlite_check KS TABLE NAME: after the node's checks (this rewrites the node's sstables).
cqlite_check() {
  local ks=$1 t=$2 name=$3 out base ndir
  [ -d "$OUT/$ks/$t" ] || { echo "skip CQLite $name: no $OUT/$ks/$t (see above)"; return; }
  if out=$(timeout 300 "$PY_CQLITE" scripts/sstables_check.py cqlite "$W/$ks.cql" "$ks" "$t" "$OUT/$ks/$t" 2>&1); then
    ok "CQLite reads every sstable: $name"
    echo "$out" >>"$W/all-output.log"
    return
  fi
  # Does CQLite read Cassandra's own sstables of the same data? The node rewrites the loaded ones.
  if ! base=$(timeout 600 "$C" nodetool upgradesstables -a "$ks" "$t" --version "$V" 2>&1); then
    bad "CQLite reads every sstable: $name (and Cassandra cannot rewrite them: $(grep -m1 -v '^\s' <<<"$base" | cut -c1-200))" "$out"
    return
  fi
  ndir=$(ls -d ".local/cassandra-$V/data/$ks/$t"-*/ 2>/dev/null | head -1)
  if base=$(timeout 300 "$PY_CQLITE" scripts/sstables_check.py cqlite "$W/$ks.cql" "$ks" "$t" "${ndir%/}" 2>&1); then
    bad "CQLite reads every sstable: $name (it reads Cassandra's own rewrite of them)" "$out"
  else
    echo "skip CQLite $name: it cannot read Cassandra $V's own sstables of this table either: $(head -1 <<<"$base" | cut -c1-300)"
  fi
}

# ---------------------------------------------------------------- kill -9
BIG=$W/big
# kill_test: kill -9 during to-sstables (twice), then a complete run into the same OUT.
kill_test() {
  local src=$BIG/narrow_ks/narrow schema=$BIG/schema.cql ks=ss_${FMT}_kill pid delay kills=0 want
  [ -d "$src" ] || { echo "skip kill -9 test: no $src"; return; }
  echo "== kill -9 during to-sstables --version $FMT, then a complete run"
  "$B" schema "$src" --schema "$schema" --replication SimpleStrategy:1 --target-keyspace "$ks" >"$W/$ks.cql" 2>/dev/null
  check "target DDL $ks" "$C" cql -f "$W/$ks.cql" --version "$V"
  # several sstables: --max-sstable-size 8 MiB
  local args=("$src" --schema "$schema" --version "$FMT" --target-keyspace "$ks" --now "$NOW" --max-sstable-size 8388608 --quiet)
  check "to-sstables, a clean run into another OUT" timeout 900 "$B" to-sstables "${args[@]}" --out "$W/out-clean"
  want=$(find "$W/out-clean/$ks/narrow" -maxdepth 1 -name '*-Data.db' 2>/dev/null | wc -l)
  for delay in 0.4 0.9; do
    "$B" to-sstables "${args[@]}" --out "$OUT" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    echo "     killed after $delay s: $(ls -A "$OUT/$ks/narrow" 2>/dev/null | wc -l) file(s) in $OUT/$ks/narrow; $OUT/$ks holds: $(ls -A "$OUT/$ks" 2>/dev/null | tr '\n' ' ')"
  done
  check "to-sstables into the same OUT after $kills kill(s)" timeout 900 "$B" to-sstables "${args[@]}" --out "$OUT"
  check "after the kills: complete $FMT sstables only" python3 scripts/sstables_check.py layout "$OUT/$ks/narrow" "$FMT"
  check "after the kills: as many sstables as the clean run ($want)" same_count "$want" "$OUT/$ks/narrow"
  check "after the kills: nothing else in $OUT/$ks" only_table_dir "$OUT/$ks" narrow
  check "sstableloader ($V) after the kills" load_table "$OUT/$ks/narrow"
  check "verify-cql after the kills: 0 differences" "$B" verify-cql "$src" --schema "$schema" "${CONN[@]}" --target-keyspace "$ks" --now "$(date +%s)"
  check "nodetool verify -e -c ($V) $ks" timeout 600 "$C" nodetool verify -e -c -f "$ks" --version "$V"
}

# ---------------------------------------------------------------- one node
run_node() {
  V=$1
  FMT=$2
  LOADED=()
  # nb: nothing purged, so every tombstone of the input is written (and the
  # data it shadows left out, as Cassandra's writers do); zstd chunks. oa: purged as a compaction
  # would; LZ4 chunks; 1 KiB promoted-index blocks, so that partitions of more
  # than one block carry a promoted index in Index.db.
  # The harness nodes use Murmur3Partitioner; the 2.x corpus tables were
  # written with ByteOrderedPartitioner, so they are re-sorted for the target.
  case "$FMT" in
    nb) TS_EXTRA=(--purge false --compression zstd --partitioner Murmur3Partitioner) ;;
    *) TS_EXTRA=(--column-index-size 1K --partitioner Murmur3Partitioner) ;;
  esac
  local s v out ds tdir t ks k311 d name e
  echo "== Cassandra $V node: to-sstables --version $FMT, sstableloader"
  "$C" stop --version "$V" >/dev/null 2>&1
  rm -rf ".local/cassandra-$V"
  s=$SECONDS
  if ! out=$("$C" start --version "$V" 2>&1); then
    bad "Cassandra $V node starts" "$out"
    return
  fi
  trap '"$C" stop --version "$V" >/dev/null 2>&1' EXIT
  echo "     Cassandra $V up after $((SECONDS - s)) s"

  for v in 5.0 4.1 3.11; do
    out=.local/diff/$v
    [ -d "$out" ] || { echo "skip $v: no $out (run scripts/differential.sh first)"; continue; }
    k311=()
    [ "$v" = 3.11 ] && k311=(--cassandra-3.11)
    for ds in sample sample_bti alltypes; do
      for tdir in "$out/$ds"/*/*/; do
        tdir=${tdir%/}
        t=$(basename "$tdir")
        ks=$(basename "$(dirname "$tdir")")
        [ -f "$out/$ks.$t.theirs.jsonl" ] || continue
        load_and_check "$v $ds.$t" "$tdir" "$out/$ks.$t.theirs.jsonl" "${k311[@]}" -- --schema "$out/$ds/schema.cql"
      done
    done
    for tdir in "$out"/tombstones/tombstones_ks/*/; do
      tdir=${tdir%/}
      [ -d "$tdir" ] || continue
      t=$(basename "$tdir")
      load_and_check "$v tombstones.$t" "$tdir" "$out/tombstones/expected/$t.jsonl" "${k311[@]}" -- --schema "$out/tombstones/schema.cql"
    done
    # The random tables differential.sh had the 3.11 node write (COMPACT
    # STORAGE among them), as nb.
    [ "$FMT-$v" = nb-3.11 ] || continue
    for tdir in .local/cassandra-"$v"/data/rand_ks/*/; do
      tdir=${tdir%/}
      t=$(basename "$tdir")
      t=${t%-*}
      [ -f "$out/rand_ks.$t.theirs.jsonl" ] || continue
      load_and_check "$v random.$t" "$tdir" "$out/rand_ks.$t.theirs.jsonl" "${k311[@]}" --
    done
  done

  local CORP=../shared/corpus/apache-cassandra
  for t in ka/legacy_tables/legacy_ka_clust ka/legacy_tables/legacy_ka_14873 ka/legacy_tables/legacy_ka_simple_counter \
    ka/legacy_tables/legacy_ka_indexed_static la/legacy_tables/legacy_la_clust la/legacy_tables/legacy_la_simple; do
    d="$CORP/$t"
    [ -d "$d" ] || continue
    name=$(basename "$t")
    [ -f "$W/$name.rows.jsonl" ] || "$B" dump "$d" --schema fixtures/schemas/legacy_ka.cql --now "$NOW" >"$W/$name.rows.jsonl"
    load_and_check "$name" "$d" "$W/$name.rows.jsonl" -- --schema fixtures/schemas/legacy_ka.cql
  done

  # Data directories written by real 2.x nodes (scripts/legacy-e2e.sh:
  # deletions across flushes, dropped columns, COMPACT STORAGE), with the
  # schema read from their own system tables (no --schema): 2.1.22's into
  # the 4.1 node, 2.2.19's into the 5.0 node. What the target then holds
  # must be what the 2.2.19 node's SELECT JSON gave (2.1 has no SELECT JSON;
  # the dataset and its expected rows are the same).
  local lv
  case "$FMT" in nb) lv=2.1 ;; *) lv=2.2 ;; esac
  for d in .local/legacy/"$lv"/data/legacy_ks/*/; do
    d=${d%/}
    [ -d "$d" ] || { echo "skip $lv node-written tables: none (run scripts/legacy-e2e.sh first)"; break; }
    name=$(basename "$d" | cut -d- -f1)
    [ -f ".local/legacy/2.2/expected/$name.jsonl" ] || continue
    load_and_check "$lv node legacy_ks.$name" "$d" ".local/legacy/2.2/expected/$name.jsonl" --
  done

  echo "== nodetool verify -e -c ($V) of every loaded keyspace"
  for e in "${LOADED[@]}"; do
    read -r ks t name <<<"$e"
    check "nodetool verify -e -c ($V) $ks ($name)" timeout 600 "$C" nodetool verify -e -c -f "$ks" --version "$V"
  done

  kill_test

  echo "== CQLite reads the $FMT sstables"
  if [ -z "$PY_CQLITE" ]; then
    echo "skip CQLite ($FMT): $CQLITE_SKIP"
  else
    for e in "${LOADED[@]}"; do
      read -r ks t name <<<"$e"
      cqlite_check "$ks" "$t" "$name"
    done
  fi

  "$C" stop --version "$V" >/dev/null 2>&1
  trap - EXIT
}

# ---------------------------------------------------------------- main
cqlite_setup
[ -n "$CQLITE_SKIP" ] && echo "skip CQLite: $CQLITE_SKIP"
# the kill -9 test's table: ~${SSTABLES_E2E_BIG_MB:-24} MiB of narrow rows, written offline by Cassandra 5.0
"$C" generate narrow "$BIG" --size-mb "${SSTABLES_E2E_BIG_MB:-24}" --version 5.0 >"$W/generate-big.log" 2>&1 \
  || { echo "skip kill -9 test: cassandra.sh generate narrow failed:"; tail -5 "$W/generate-big.log"; rm -rf "$BIG"; }

# one node at a time (the same ports, and memory): VERSION:FORMAT
for target in ${SSTABLES_E2E_TARGETS:-4.1:nb 5.0:oa}; do
  run_node "${target%%:*}" "${target#*:}"
done

echo
echo "sstables e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
