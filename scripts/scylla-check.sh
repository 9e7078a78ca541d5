#!/usr/bin/env bash
# Out-of-tree check against the sstables of ScyllaDB's test suite. Not part
# of CI: those files are not ours to ship, and CI does not reach GitHub.
#
#   scripts/scylla-check.sh SSTABLES_DIR
#
# SSTABLES_DIR is test/resource/sstables of a scylladb/scylladb checkout at
# 1a717f3014bcb0b45c664c93a3f2ef7310b251fe (the last commit under AGPL-3.0;
# take no files from later ones). Its files are only read.
#
# 1. Every mc/md/me sstable there: `dump --format sstabledump
#    --sstabledump-version 3.11` must equal, byte for byte, what Cassandra
#    3.11.19's sstabledump prints for it; where 3.11 cannot read the file
#    (Zstd, which 3.11 lacks) 4.1.10's is used, with our 4.1 flavour. Where
#    we refuse a file for a checksum or digest mismatch (Cassandra's tool
#    does not check them), the comparison is made with --no-verify. Where
#    neither Cassandra can read a file, it is listed, not judged. The KNOWN
#    files below are expected to differ, each for its stated reason.
# 2. The tables Cassandra 2.x wrote there (fixtures/scylla/tables.txt: ka/la
#    sstables, with the schemas Scylla's tests use), and the mc/md/me copies
#    of the same tables: each is loaded into a Cassandra 3.11 node
#    (nodetool refresh), and `dump --schema` must equal its SELECT JSON *,
#    and verify-cql must find every row, write time and TTL equal.
#
# STAGES="2" runs stage 2 alone (default "1 2").
# Prints "ok"/"FAIL" per check and "scylla check: N passed, M failed";
# exits 1 on failures. The node it starts is stopped again.
set -uo pipefail
cd "$(dirname "$0")/.."

S=${1:?usage: scripts/scylla-check.sh SCYLLA/test/resource/sstables}
S=$(cd "$S" && pwd) || exit 2
[ -d "$S/3.x/uncompressed" ] || { echo "$S: not Scylla's test/resource/sstables"; exit 2; }
B=${SSTABLE_MIGRATE:-target/release/sstable-migrate}
[ -x "$B" ] || cargo build -q --release -p migrate-cli
B=$(cd "$(dirname "$B")" && pwd)/$(basename "$B")
C=scripts/cassandra.sh
W=.local/scylla-check
rm -rf "$W" && mkdir -p "$W/dump" "$W/rows"

# file (relative to SSTABLES_DIR) -> why our output differs from Cassandra's
declare -A KNOWN=(
  [3.x/uncompressed/write_regular_and_shadowable_deletion/mc-1-big-Data.db]="written by Scylla with its own extended row flag 0x80 (a Scylla shadowable deletion), which we refuse and Cassandra ignores"
  [invalid_boundary/mc-33-big-Data.db]="hand-broken: a range tombstone marker of kind 3 (a static clustering), which we refuse"
  [schema_digest_test/system_schema/computed_columns-cc7c7069374033c192a4c3de78dbd2c4/md-18-big-Data.db]="written by Scylla with a minimum timestamp of Long.MIN_VALUE in its header; Cassandra prints its cells' timestamps off by 2^63 + the timestamp epoch"
  [schema_digest_test_cdc_options/system_schema/computed_columns-cc7c7069374033c192a4c3de78dbd2c4/md-26-big-Data.db]="the same (Scylla's minimum timestamp)"
  [schema_digest_test_cdc_options/system_schema/indexes-0feb57ac311f382fba6d9024d305702f/md-26-big-Data.db]="the same (Scylla's minimum timestamp)"
  [schema_digest_test_computed_columns/system_schema/computed_columns-cc7c7069374033c192a4c3de78dbd2c4/md-18-big-Data.db]="the same (Scylla's minimum timestamp)"
)

trap '"$C" stop --version 3.11 >/dev/null 2>&1' EXIT

pass=0
fail=0
failed=()
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); failed+=("$1"); echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2" | tail -5 | cut -c1-300 | sed 's/^/     /'; }

# ------------------------------------------------------------------ stage 1
# cass_dump REL N VERSION / our_dump REL N VERSION [ARGS...]: Cassandra's
# sstabledump and ours of one file, into $W/dump/N.{cass,ours}.VERSION.json
# (.err beside); each fails if its tool did.
cass_dump() { "$C" sstabledump "$S/$1" --version "$3" </dev/null >"$W/dump/$2.cass.$3.json" 2>"$W/dump/$2.cass.$3.err"; }
our_dump() {
  local rel=$1 n=$2 v=$3
  shift 3
  "$B" "$@" dump --format sstabledump --sstabledump-version "$v" "$S/$rel" </dev/null >"$W/dump/$n.ours.$v.json" 2>"$W/dump/$n.ours.$v.err"
}
same() { cmp -s "$W/dump/$1.ours.$2.json" "$W/dump/$1.cass.$2.json"; }

stages=" ${STAGES:-1 2} "
n=0
[[ "$stages" == *" 1 "* ]] && while read -r rel; do
  n=$((n + 1))
  v=3.11
  cass_dump "$rel" $n $v || { v=4.1; cass_dump "$rel" $n $v; } || {
    echo "--   $rel: no Cassandra sstabledump reads it ($(grep -m1 -o '[A-Za-z.]*Exception.*' "$W/dump/$n.cass.3.11.err" | cut -c1-120))"
    continue
  }
  label="sstabledump $v = ours: $rel"
  if our_dump "$rel" $n $v; then
    res=$(same $n $v && echo same || echo differs)
  elif grep -q 'checksum mismatch' "$W/dump/$n.ours.$v.err"; then
    label="$label (--no-verify: $(grep -o '[A-Za-z0-9.]*: checksum mismatch' "$W/dump/$n.ours.$v.err" | head -1))"
    if our_dump "$rel" $n $v --no-verify; then res=$(same $n $v && echo same || echo differs); else res=refused; fi
  else
    res=refused
  fi
  if [ -n "${KNOWN[$rel]:-}" ]; then
    if [ "$res" = same ]; then bad "$label: listed as known to differ, but equal (update KNOWN)"; else ok "$label: $res, as known: ${KNOWN[$rel]}"; fi
  elif [ "$res" = same ]; then
    ok "$label"
  else
    bad "$label: $res" "$(cat "$W/dump/$n.ours.$v.err"; diff "$W/dump/$n.ours.$v.json" "$W/dump/$n.cass.$v.json" 2>/dev/null | head -6)"
  fi
done < <(cd "$S" && find . -name '*-Data.db' | sed 's#^\./##' | grep -E '(^|/)m[cde]-[0-9]+-big-Data\.db$' | sort)

# ------------------------------------------------------------------ stage 2
# Table list: fixtures/scylla/tables.txt, plus, for each directory holding
# mc/md/me copies of a table, a table <name>_<version> of the same schema.
[[ "$stages" == *" 2 "* ]] || { echo "scylla check: $pass passed, $fail failed"; [ "$fail" = 0 ]; exit; }
list="$W/tables.txt"
grep -v '^#' fixtures/scylla/tables.txt >"$list"
while IFS='|' read -r kt dir _ ddl; do
  ks=${kt%.*}
  t=${kt#*.}
  for v in mc md me; do
    ls "$S/$dir/$v"-*-big-Data.db >/dev/null 2>&1 || continue
    echo "${kt}_$v|$dir|$(cd "$S/$dir" && ls $v-*-big-Data.db | sed 's/-big-Data.db$//' | tr '\n' ' ')|${ddl/TABLE $ks.$t (/TABLE $ks.${t}_$v (}"
  done
done < <(grep -v '^#' fixtures/scylla/tables.txt) >>"$list"

"$C" start --version 3.11 >/dev/null || { echo "could not start Cassandra 3.11"; exit 1; }
data="$W/data"
node=.local/cassandra-3.11/data
: >"$W/schema.cql"
for ks in $(cut -d'|' -f1 "$list" | cut -d. -f1 | sort -u); do
  "$C" cql "DROP KEYSPACE IF EXISTS $ks" --version 3.11 >/dev/null 2>&1
  "$C" cql "CREATE KEYSPACE $ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" --version 3.11
done
while IFS='|' read -r kt dir prefixes ddl; do
  ks=${kt%.*}
  t=${kt#*.}
  echo "$ddl" >>"$W/schema.cql"
  d="$data/$ks/$t-00000000000000000000000000000001"
  mkdir -p "$d"
  for p in $prefixes; do cp "$S/$dir/$p"-* "$d/"; done
  "$C" cql "$ddl" --version 3.11 </dev/null || { bad "$kt: CREATE TABLE"; continue; }
  # the table's directory, by its id (dropped tables' directories stay on disk)
  id=$("$C" cql "SELECT id FROM system_schema.tables WHERE keyspace_name = '$ks' AND table_name = '$t'" --version 3.11 </dev/null |
    python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["id"].replace("-", ""))')
  cp "$d"/* "$node/$ks/$t-$id/" || { bad "$kt: copy into the node's table directory"; continue; }
  "$C" nodetool refresh "$ks" "$t" --version 3.11 </dev/null >/dev/null || bad "$kt: nodetool refresh"
done <"$list"

while IFS='|' read -r kt _ _ _; do
  ks=${kt%.*}
  t=${kt#*.}
  exp="$W/rows/$kt.cass.jsonl"
  ours="$W/rows/$kt.ours.jsonl"
  "$C" cql "SELECT JSON * FROM $kt" --version 3.11 </dev/null >"$exp" 2>"$exp.err" || { bad "$kt: SELECT" "$(cat "$exp.err")"; continue; }
  # broken_ranges was edited by hand after Cassandra wrote it: its checksums no longer match
  nv=()
  [ "$kt" = ks.peers ] && nv=(--no-verify)
  if "$B" "${nv[@]}" --schema "$W/schema.cql" dump "$data/$ks/$t-00000000000000000000000000000001" </dev/null >"$ours" 2>"$ours.err" &&
    out=$(python3 scripts/diffcheck.py rows "$ours" "$exp" 2>&1); then
    ok "$kt: dump = SELECT JSON ($(wc -l <"$exp") rows)"
  else
    bad "$kt: dump = SELECT JSON" "$(cat "$ours.err"; echo "${out:-}")"
  fi
done <"$list"

# verify_summary VERIFY.json: prints tables and rows; fails if any differ.
verify_summary() {
  python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
keys = ("missing", "extra", "different", "writetime_different", "ttl_different")
bad = [t["table"] for t in d if any(t[k] for k in keys)]
rows = sum(t["source_rows"] for t in d)
print(f"{len(d)} tables, {rows} rows" + ("; differences in: " + ", ".join(bad) if bad else ""))
sys.exit(1 if bad else 0)
EOF
}
if "$B" verify-cql "$data" --schema "$W/schema.cql" --no-verify --contact-points 127.0.0.1:19042 >"$W/verify.json" 2>"$W/verify.err"; then
  if summary=$(verify_summary "$W/verify.json"); then
    ok "verify-cql: values, write times and TTLs equal: $summary"
  else
    bad "verify-cql: $summary"
  fi
else
  bad "verify-cql ran" "$(cat "$W/verify.err")"
fi

echo "scylla check: $pass passed, $fail failed"
for f in "${failed[@]}"; do echo "  failed: $f"; done
[ "$fail" = 0 ]
