#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 600), seeded from ../shared/corpus.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (needs a nightly toolchain and cargo-fuzz)
# FUZZ_SEED_DIRS="DIR ..." adds the sstables found under those directories to the seeds.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(statistics compression_info index summary rows sstable legacy_atoms legacy_rows bti ddl)
python3 seed.py ${FUZZ_SEED_DIRS:-}
mkdir -p logs
for t in "${targets[@]}"; do
  if cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 >"logs/$t.log" 2>&1; then
    printf '%s: ok, %s\n' "$t" "$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "logs/$t.log" | tail -1)"
  else
    echo "$t: CRASH, see fuzz/logs/$t.log and fuzz/artifacts/$t"
    exit 1
  fi
done
