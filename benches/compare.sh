#!/usr/bin/env bash
# Side-by-side benchmark of the reader engine (not a test), on the same
# Cassandra-written files, like against like:
#
#   benches/compare.sh [MB]        (default 1024: tables of at least 1 GiB)
#
# Inputs: the harness's `narrow` (many small partitions) and `wide` (few huge
# partitions) datasets, written by Cassandra 5.0.6 (`oa`) and 4.1.10 (`nb`)
# with CQLSSTableWriter, LZ4 (scripts/cassandra.sh generate; cached under
# .local/bench/compare/).
#
# Per input:
#  - the same JSON: `sstable-migrate dump --format sstabledump` (all cores,
#    and --threads 1) vs Cassandra's own sstabledump, all to /dev/null;
#  - a full row scan: our library iterating every row and cell
#    (target/release/scan, one thread and all cores) vs CQLite (PyPI
#    cqlite-py 0.17.0, `execute_streaming` over every row, each row turned
#    into a dict; stopped after $CQLITE_LIMIT s, default 300, and then
#    measured on the rows it had read). cqlite-py ships no CLI of its own, so
#    there is no Python-free CQLite figure;
#  - the floor: bare verification + LZ4 decompression of the same chunks.
# Each input's files are read once first (warm page cache for every tool).
# The single runs in the table are then checked by PAIRS (default 5)
# alternating pairs of scan vs floor and of 2-thread vs 1-thread scans,
# whose median ratios are printed after the table (the machine is noisy).
# Every command runs under /usr/bin/time -v: whole-process wall time and
# peak RSS (which counts the file-backed mapped pages of the sstables). Our
# scan reports its peak anonymous RSS (heap only), and our dumps' is sampled
# from /proc in one more, untimed, run of each. Results go to stdout
# and benches/results/compare-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-1024}
C=scripts/cassandra.sh
cargo build -q --release -p migrate-cli -p sstable-benches
B=target/release/sstable-migrate
SCAN=target/release/scan
W=.local/bench/compare
VENV=.local/venv
mkdir -p "$W" benches/results
if ! "$VENV/bin/python" -c 'import cqlite' 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q cqlite-py==0.17.0
fi
CORES=$(nproc)
CQLITE_LIMIT=${CQLITE_LIMIT:-300}
PAIRED=()
out=benches/results/compare-$(date -u +%F).md
[ -e "$out" ] && out=benches/results/compare-$(date -u +%F-%H%M).md # never overwrite a committed run

timed() { # OUTFILE cmd... : runs cmd under /usr/bin/time -v, stdout to OUTFILE
  local o=$1
  shift
  /usr/bin/time -v "$@" >"$o" 2>"$W/t.time" || { echo "failed: $*" >&2; tail -5 "$W/t.time" >&2; return 1; }
  python3 - "$W/t.time" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
print(f"{secs:.3f} {rss}")
PY
}

cat >"$W/cqlite_scan.py" <<'PY'
# Iterate every row of a table with CQLite, as a user of cqlite-py would.
import sys, cqlite
root, schema, ks, table = sys.argv[1:5]
n = 0
with cqlite.open(root, schema=schema) as db:
    for row in db.execute_streaming(f"SELECT * FROM {ks}.{table}"):
        row.to_dict()
        n += 1
        if n % 10000 == 0:
            print(n, flush=True)  # progress, for a run stopped at the time limit
print(n)
PY

cat >"$W/anon_peak.py" <<'PY'
# Run a command (stdout to /dev/null) and print its peak anonymous RSS in
# KiB (heap, not file-backed mapped pages), sampled every 10 ms.
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        for l in open(f"/proc/{p.pid}/status"):
            if l.startswith("RssAnon:"):
                peak = max(peak, int(l.split()[1]))
    except OSError:
        pass
    time.sleep(0.01)
if p.returncode:
    sys.exit(p.returncode)
print(peak)
PY

{
  echo "# Reader engine vs sstabledump and CQLite, $(date -u +%FT%TZ)"
  echo
  echo "Machine: $CORES cores ($(uname -m)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM. Rerun: \`benches/compare.sh $MB\`."
  echo "Wall times are whole-process (JVM and Python start-up included). MB/s are of uncompressed Data.db."
  echo "Peak RSS counts mapped sstable pages; \"anon\" is our heap-only peak (dump: sampled in a separate, untimed run)."
  echo
  echo "| input | command | wall s | rows/s | MB/s | peak RSS MiB | vs ours |"
  echo "|---|---|---|---|---|---|---|"
} | tee "$out"

for ds in narrow wide; do
  for v in 5.0 4.1; do
    D="$W/$ds-$v-$MB"
    if [ ! -f "$D/.done" ]; then
      rm -rf "$D"
      "$C" generate "$ds" "$D" --size-mb "$MB" --version "$v" >/dev/null
      touch "$D/.done"
    fi
    T=$(dirname "$(find "$D" -name '*-Data.db' | head -1)")
    ks=$(basename "$(dirname "$T")")
    table=$(basename "$T")
    S="$D/schema.cql"
    label="$ds $(basename "$(find "$T" -name '*-Data.db' | head -1)" | cut -d- -f1)"
    cat "$T"/* >/dev/null
    # Our scan, one thread, gives the row count and the byte count.
    read -r s1 r1 < <(timed "$W/scan1.json" "$SCAN" --threads 1 "$T")
    rows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$W/scan1.json")
    bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$W/scan1.json")
    anon1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_rss_anon_kib"])' "$W/scan1.json")
    read -r sn rn < <(timed "$W/scann.json" "$SCAN" --threads "$CORES" "$T")
    anonn=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_rss_anon_kib"])' "$W/scann.json")
    read -r sf rf < <(timed "$W/floor.json" "$SCAN" --floor --threads 1 "$T")
    # The same JSON, per sstable (sstabledump takes one file), times summed.
    so=0; ro=0; so1=0; ro1=0; st=0; rt=0; ao=0; ao1=0
    for f in "$T"/*-Data.db; do
      a=$(python3 "$W/anon_peak.py" "$B" dump --format sstabledump "$f" --sstabledump-version "$v"); ao=$((ao > a ? ao : a))
      a=$(python3 "$W/anon_peak.py" "$B" dump --format sstabledump --threads 1 "$f" --sstabledump-version "$v"); ao1=$((ao1 > a ? ao1 : a))
      read -r a b < <(timed /dev/null "$B" dump --format sstabledump "$f" --sstabledump-version "$v")
      so=$(python3 -c "print($so + $a)"); ro=$((ro > b ? ro : b))
      read -r a b < <(timed /dev/null "$B" dump --format sstabledump --threads 1 "$f" --sstabledump-version "$v")
      so1=$(python3 -c "print($so1 + $a)"); ro1=$((ro1 > b ? ro1 : b))
      read -r a b < <(timed /dev/null "$C" sstabledump "$f" --version "$v")
      st=$(python3 -c "print($st + $a)"); rt=$((rt > b ? rt : b))
    done
    # CQLite: a root of its own holding the table.
    croot="$W/cqlite-root"
    rm -rf "$croot"; mkdir -p "$croot/$ks"; ln -s "$(realpath "$T")" "$croot/$ks/$table"
    /usr/bin/time -v timeout -s INT -k 5 "$CQLITE_LIMIT" "$VENV/bin/python" "$W/cqlite_scan.py" "$croot" "$S" "$ks" "$table" \
      >"$W/cqlite.out" 2>"$W/t.time" || true
    cq=$(python3 - "$W/t.time" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t)
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
if wall and rss:
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.group(1).split(":"))))
    print(f"{secs:.3f} {rss.group(1)}")
else:
    print("x x")
PY
)
    cqrows=$(grep -E '^[0-9]+$' "$W/cqlite.out" | tail -1 || true)
    cqrows=${cqrows:-0}
    python3 - "$label" "$rows" "$bytes" "$CORES" "$s1" "$r1" "$anon1" "$sn" "$rn" "$anonn" "$sf" "$rf" "$so" "$ro" "$so1" "$ro1" "$st" "$rt" "${cq:-x x}" "$cqrows" "$ao" "$ao1" <<'PY' | tee -a "$out"
import sys
(label, rows, nbytes, cores, s1, r1, a1, sn, rn, an, sf, rf, so, ro, so1, ro1, st, rt, cq, cqrows, ao, ao1) = sys.argv[1:]
rows, nbytes = int(rows), int(nbytes)
mb = nbytes / 2**20
def line(cmd, secs, rss_kib, vs="", anon=None, nrows=rows):
    secs = float(secs)
    rss = f"{int(rss_kib)/1024:.0f}" + (f" (anon {int(anon)/1024:.1f})" if anon is not None else "")
    rps = f"{nrows/secs:,.0f}" if nrows else "-"
    print(f"| {label} | {cmd} | {secs:.2f} | {rps} | {mb/secs:.1f} | {rss} | {vs} |")
line(f"ours: dump --format sstabledump ({cores} threads)", so, ro, "1", ao)
line("ours: dump --format sstabledump --threads 1", so1, ro1, f"{float(so1)/float(so):.2f}x the {cores}-thread time", ao1)
line("Cassandra sstabledump", st, rt, f"{float(st)/float(so):.2f}x slower ({float(st)/float(so1):.2f}x than 1 thread)")
line("ours: scan, 1 thread", s1, r1, "1", a1)
line(f"ours: scan, {cores} threads", sn, rn, f"{float(s1)/float(sn):.2f}x faster than 1 thread", an)
cqs, cqr = cq.split()
if cqs != "x":
    # Compare rows/s: a run stopped at the time limit read only some rows.
    if int(cqrows) == 0:
        note = f"no row read in {float(cqs):.0f} s (stopped)"
    else:
        ratio = (rows / float(s1)) / (int(cqrows) / float(cqs))
        note = f"{ratio:.2f}x slower (rows/s)" + ("" if int(cqrows) == rows else f"; stopped after {float(cqs):.0f} s at {int(cqrows):,} of {rows:,} rows")
    line("CQLite (cqlite-py), 1 thread", cqs, cqr, note, nrows=int(cqrows))
else:
    print(f"| {label} | CQLite (cqlite-py) | failed | | | | |")
line("floor: verify + LZ4 chunks, 1 thread", sf, rf, f"scan/floor = {float(s1)/float(sf):.2f}", nrows=0)
PY
    PAIRED+=("$label|$T")
  done
done

# Alternating pairs: the ratio of each pair, then their median.
pair_ratio() { # "A command" "B command" -> median of A/B wall times over PAIRS pairs
  local ratios=() t0 t1 t2
  for _ in $(seq "${PAIRS:-5}"); do
    t0=$(date +%s.%N); $1 >/dev/null; t1=$(date +%s.%N)
    $2 >/dev/null; t2=$(date +%s.%N)
    ratios+=("$(python3 -c "print(($t1 - $t0) / ($t2 - $t1))")")
  done
  python3 -c "import statistics, sys; r = [float(x) for x in sys.argv[1:]]; print(f'{statistics.median(r):.2f} (pairs {min(r):.2f} to {max(r):.2f})')" "${ratios[@]}"
}
{
  echo
  echo "Paired checks (${PAIRS:-5} alternating pairs each, median ratio of whole-process wall times):"
  echo
  for p in "${PAIRED[@]}"; do
    label=${p%%|*}
    T=${p#*|}
    echo "- $label: scan (1 thread) / floor = $(pair_ratio "$SCAN --threads 1 $T" "$SCAN --floor --threads 1 $T")"
    echo "- $label: scan speed-up, 1 thread / $CORES threads = $(pair_ratio "$SCAN --threads 1 $T" "$SCAN --threads $CORES $T")"
  done
} | tee -a "$out"
echo | tee -a "$out"
echo "Results: $out"
