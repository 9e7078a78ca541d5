#!/usr/bin/env bash
# to-sstables benchmark (not a test): whole-process timings anyone can rerun.
#
#   benches/sstables.sh [MB]
#
# On the harness's `narrow` table (Cassandra 5.0, MB of values, default 100):
#  - `to-sstables --version oa --threads 1` (merge, purge, LZ4 chunks,
#    Index/Summary/Filter/Statistics) and the same with `--version nb`;
#  - our own full scans of the same input, one thread: `verify` (decompress,
#    checksum and decode every row) and `dump --format rows > /dev/null`
#    (merge and render every row as JSON).
# MB/s are of the input's uncompressed Data.db; each command runs under
# /usr/bin/time -v (wall clock, peak RSS). Results go to stdout and
# benches/results/sstables-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-100}
C=scripts/cassandra.sh
cargo build -q --release -p migrate-cli
B=target/release/sstable-migrate
W=.local/bench
mkdir -p "$W" benches/results
D="$W/narrow-$MB"
[ -f "$D/schema.cql" ] || "$C" generate narrow "$D" --size-mb "$MB" --version 5.0 >/dev/null
T="$D/narrow_ks/narrow"
S="$D/schema.cql"
BYTES=$("$B" info "$T" --schema "$S" | awk '$1 == "compression.uncompressed_length" { s += $2 } END { print s + 0 }')
out=benches/results/sstables-$(date +%F).md
timed() { # label cmd...
  local label=$1
  shift
  /usr/bin/time -v "$@" >/dev/null 2>"$W/t.time"
  python3 - "$W/t.time" "$BYTES" "$label" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
mb = int(sys.argv[2]) / 2**20
print(f"| {sys.argv[3]} | {secs:.2f} | {mb/secs:.1f} | {rss/1024:.0f} |")
PY
}
{
  echo "# to-sstables benchmark, $(date -u +%FT%TZ)"
  echo
  echo "Machine: $(nproc) cores, $(uname -m). Input: harness \`narrow\` table, Cassandra 5.0.6 \`oa\`, LZ4,"
  echo "$((BYTES / 1048576)) MiB of uncompressed Data.db. One thread everywhere. Rerun: \`benches/sstables.sh $MB\`."
  echo
  echo "| command | wall s | input MiB/s | peak RSS MiB |"
  echo "|---|---|---|---|"
  rm -rf "$W/sst-out"
  timed "to-sstables --version oa" "$B" to-sstables "$T" --schema "$S" --out "$W/sst-out" --version oa --threads 1 --quiet
  timed "to-sstables --version nb" "$B" to-sstables "$T" --schema "$S" --out "$W/sst-out" --version nb --threads 1 --quiet
  timed "verify (full scan: decompress, checksums, decode)" "$B" verify "$T" --schema "$S"
  timed "dump --format rows > /dev/null (full scan, JSON)" "$B" dump "$T" --schema "$S"
} | tee "$out"
