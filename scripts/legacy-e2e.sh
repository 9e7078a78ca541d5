#!/usr/bin/env bash
# End-to-end tests on Cassandra 2.1 / 2.2 data directories written by real
# nodes (scripts/cassandra.sh generate legacy: fixtures/cassandra/datasets/legacy.cql,
# four flushed batches, most deletions in a later sstable than the data they
# delete). For each version in $LEGACY_VERSIONS (default "2.1 2.2.6 2.2"; the
# 2.2 lines run first) and each table directory under
# .local/legacy/<v>/data/legacy_ks/:
#
#   * `dump DIR` without --schema (names and types from the data directory's
#     system.schema_* tables) equals the node's SELECT JSON * (expected/);
#     (2.2.6 prints timestamps and NaN the old way: diffcheck.py --cassandra-2.2.6);
#     2.1 has no SELECT JSON, so 2.1 is compared with 2.2.19's expected rows
#     (same dataset, same explicit timestamps; 2.2.6's if 2.2 is not run), after
#     checking that the 2.1 node's own SELECT * equals the 2.2 node's;
#   * `schema DIR` without --schema names the columns, types, static columns,
#     keys, clustering order and COMPACT STORAGE of the node's DESCRIBE
#     (schema.cql), parsed loosely (scripts/diffcheck.py ddl);
#   * `dump --schema schema.cql DIR` gives the same rows as without --schema.
#
#   * random tables (scripts/random_tables.py) written through the 2.2 and
#     2.1 nodes are read back the same way (random_tables below).
#
# Prints "ok"/"FAIL" per check and "legacy e2e: N passed, M failed"; exits 1
# on failures. Every node it starts is stopped again (trap).
set -uo pipefail
cd "$(dirname "$0")/.."

B=${SSTABLE_MIGRATE:-target/debug/sstable-migrate}
[ -x "$B" ] || cargo build -q -p migrate-cli
C=scripts/cassandra.sh
W=.local/legacy
KS=legacy_ks
mkdir -p "$W"

# 2.2 lines first: 2.1 borrows their expected rows
want=" ${LEGACY_VERSIONS:-2.1 2.2.6 2.2} "
versions=()
for v in 2.2 2.2.6 2.1; do
  case "$want" in *" $v "*) versions+=("$v") ;; esac
done
for v in $want; do
  case "$v" in 2.2|2.2.6|2.1) ;; *) echo "LEGACY_VERSIONS: unknown version '$v' (2.2, 2.2.6, 2.1)"; exit 2 ;; esac
done
# 2.1 alone: take 2.2's expected rows from an earlier run, or generate them
if [ "${versions[*]}" = 2.1 ] && [ ! -d "$W/2.2/expected" ] && [ ! -d "$W/2.2.6/expected" ]; then
  echo "(2.1 needs expected rows from a 2.2 node: running 2.2 too)"
  versions=(2.2 2.1)
fi

started=()
trap 'for v in "${started[@]}"; do "$C" stop --version "$v" >/dev/null 2>&1; done' EXIT

pass=0
fail=0
failed=()
check() { # label, command...
  local label=$1 output
  shift
  if output=$("$@" 2>&1); then
    pass=$((pass + 1))
    echo "ok   $label"
  else
    fail=$((fail + 1))
    failed+=("$label")
    echo "FAIL $label"
    echo "$output" | tail -20 | cut -c1-400 | sed 's/^/     /'
  fi
}

# rows_match OURS.jsonl EXPECTED.jsonl [DIFFCHECK-ARGS...] -- SSTABLE-MIGRATE-ARGS...:
# runs the tool into OURS (failing on its exit status) and compares the rows.
rows_match() {
  local ours=$1 expected=$2 dc=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do dc+=("$1"); shift; done
  shift
  [ -f "$expected" ] || { echo "no expected rows $expected"; return 1; }
  "$B" "$@" >"$ours" 2>"$ours.err" || { echo "sstable-migrate $* failed:"; cat "$ours.err"; return 1; }
  python3 scripts/diffcheck.py rows "$ours" "$expected" "${dc[@]}"
}

# ddl_match OURS.cql SCHEMA.cql DIR: `schema DIR` into OURS, compared with SCHEMA.cql.
ddl_match() {
  "$B" schema "$3" >"$1" 2>"$1.err" || { echo "sstable-migrate schema $3 failed:"; cat "$1.err"; return 1; }
  python3 scripts/diffcheck.py ddl "$1" "$2"
}

# Random tables (scripts/random_tables.py: colliding writes over three
# flushes, tied timestamps, TTLs, row, partition, column and element
# deletions), written through a node of version V into keyspace KS, read
# back from its data directory without --schema. On 2.2 (2.2.19): rand_ks
# with 2.2's types, whose `dump` must equal SELECT JSON; and rand21_ks with
# 2.1's types, whose SELECT JSON and SELECT * are 2.1's reference. On 2.1:
# rand21_ks (same seed), whose SELECT * must equal the 2.2 node's and
# whose `dump` the 2.2 node's SELECT JSON. RANDOM_SEED overrides the seeds.
random_tables() { # V KS GENERATOR-VERSION
  local v=$1 ks=$2 gv=$3 seed dir now tdir t ref=$W/2.2/random/rand21_ks
  seed=${RANDOM_SEED:-${gv//./}}
  dir=$W/$v/random/$ks
  rm -rf "$dir"
  mkdir -p "$dir/expected" "$dir/select" "$dir/ours"
  python3 scripts/random_tables.py "$dir" --seed "$seed" --version "$gv" --keyspace "$ks" --tables "${RANDOM_TABLES:-5}"
  check "$v random $ks: schema" "$C" cql -f "$dir/schema.cql" --version "$v"
  for b in "$dir"/batch-*.cql; do
    check "$v random $ks (seed $seed): writes $(basename "$b")" "$C" cql -f "$b" --version "$v"
    "$C" flush "$ks" --version "$v" >/dev/null
  done
  sleep 2 # let the TTL-1 cells expire
  now=$(date +%s)
  "$C" cql --describe "$ks" --version "$v" >"$dir/described.cql" 2>/dev/null
  for tdir in .local/cassandra-"$v"/data/"$ks"/*/; do
    tdir=${tdir%/}
    ls "$tdir"/*-Data.db >/dev/null 2>&1 || continue # dropped keyspaces leave empty directories
    t=$(basename "$tdir")
    t=${t%-*}
    "$C" cql "SELECT * FROM $ks.$t" --version "$v" >"$dir/select/$t.jsonl" 2>/dev/null
    local expected=$dir/expected/$t.jsonl
    if [ "$v" = 2.1 ]; then
      expected=$ref/expected/$t.jsonl
      check "2.1 random $ks.$t: the node's SELECT * = the 2.2 node's" \
        python3 scripts/diffcheck.py rows "$dir/select/$t.jsonl" "$ref/select/$t.jsonl"
    else
      "$C" cql "SELECT JSON * FROM $ks.$t" --version "$v" >"$expected" 2>/dev/null
    fi
    check "$v random $ks.$t: dump (schema from the system tables) = SELECT JSON" \
      rows_match "$dir/ours/$t.jsonl" "$expected" -- dump --now "$now" "$tdir"
    check "$v random $ks.$t: dump --threads 2 --unit-size 1K = dump" \
      rows_match "$dir/ours/$t.threads.jsonl" "$dir/ours/$t.jsonl" -- dump --now "$now" --threads 2 --unit-size 1K "$tdir"
    check "$v random $ks.$t: schema = the node's DESCRIBE" \
      ddl_match "$dir/ours/$t.schema.cql" "$dir/described.cql" "$tdir"
  done
}

start=$SECONDS
for v in "${versions[@]}"; do
  out=$W/$v
  rm -rf "$out"
  echo "== Cassandra $v: generate legacy -> $out"
  started+=("$v")
  t0=$SECONDS
  if ! "$C" generate legacy "$out" --version "$v" >"$W/generate-$v.log" 2>&1; then
    fail=$((fail + 1))
    failed+=("$v generate legacy")
    echo "FAIL $v generate legacy (log: $W/generate-$v.log)"
    tail -15 "$W/generate-$v.log" | sed 's/^/     /'
    continue
  fi
  echo "     ($((SECONDS - t0)) s; $(grep -c '' "$out/writes.cql") lines of CQL, $(find "$out/data/$KS" -name '*-Data.db' | wc -l) sstables in $KS)"

  expected=$out/expected
  # 2.2.6's SELECT JSON: timestamps without "Z", NaN/Infinity not null (see diffcheck.py)
  dc=()
  [ "$v" = 2.2.6 ] && dc=(--cassandra-2.2.6)
  if [ "$v" = 2.1 ]; then
    ref=2.2
    [ -d "$W/$ref/expected" ] || ref=2.2.6
    expected=$W/$ref/expected
    echo "== Cassandra 2.1: expected rows from the $ref node ($expected)"
    for f in "$out"/select/*.jsonl; do
      t=$(basename "$f" .jsonl)
      check "2.1 node's SELECT * = $ref node's: $t" python3 scripts/diffcheck.py rows "$f" "$W/$ref/select/$t.jsonl"
    done
  fi

  echo "== Cassandra $v: sstable-migrate on $out/data/$KS/<table>"
  mkdir -p "$out/ours"
  for f in "$out"/select/*.jsonl; do
    t=$(basename "$f" .jsonl)
    ls -d "$out/data/$KS/$t"-*/ >/dev/null 2>&1 || check "$v $t: has a table directory" false
  done
  for tdir in "$out/data/$KS"/*/; do
    tdir=${tdir%/}
    t=$(basename "$tdir")
    t=${t%-*}
    o=$out/ours/$t
    check "$v dump $t (schema from the system tables) = SELECT JSON" \
      rows_match "$o.rows.jsonl" "$expected/$t.jsonl" "${dc[@]}" -- dump "$tdir"
    check "$v schema $t (from the system tables) = the node's DESCRIBE" \
      ddl_match "$o.schema.cql" "$out/schema.cql" "$tdir"
    check "$v dump --schema schema.cql $t = dump without" \
      rows_match "$o.rows-schema.jsonl" "$o.rows.jsonl" -- dump --schema "$out/schema.cql" "$tdir"
  done

  # Random tables (see random_tables above), on 2.2.19 and 2.1
  case "$v" in
    2.2 | 2.1)
      echo "== Cassandra $v: random tables"
      if ! "$C" start --version "$v" >"$W/start-$v.log" 2>&1; then
        check "$v node starts for the random tables" false
        continue
      fi
      if [ "$v" = 2.2 ]; then
        random_tables 2.2 rand_ks 2.2
        random_tables 2.2 rand21_ks 2.1
      elif [ -d "$W/2.2/random/rand21_ks/expected" ]; then
        random_tables 2.1 rand21_ks 2.1
      else
        echo "(2.1 random tables need a 2.2 run's reference rows: LEGACY_VERSIONS must include 2.2)"
      fi
      "$C" stop --version "$v" >/dev/null 2>&1
      ;;
  esac
done

echo
if [ "$fail" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
fi
echo "($((SECONDS - start)) s)"
echo "legacy e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
