#!/usr/bin/env bash
# Build the release binary with profile-guided optimisation (PGO).
#
#   scripts/build-pgo.sh        # -> target/pgo/release/sstable-migrate
#
# 1. An instrumented release build (target/pgo-gen).
# 2. A training run of the offline commands on the sample that ships with
#    the repo (fixtures/sample): info, schema, verify, dump in its formats,
#    export with each compression, to-sstables. Nothing else is read, so
#    the profile is the same on every machine; it is not made from the
#    benchmark's data.
# 3. The profiles merged with the llvm-profdata of rustc's own LLVM (the
#    rustup component llvm-tools, installed if missing), and a release
#    build that uses them (target/pgo).
#
# The binary decodes and writes exactly what `cargo build --release` does;
# only the compiled code's layout and inlining change. Paths the training
# does not run (the network loaders' own code: the AWS SDK, the CQL
# driver) are laid out as cold code. Two full release builds: about 13
# minutes on two cores. See README, "Performance".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  rustup component add llvm-tools >&2
fi
[ -x "$profdata" ] || { echo "build-pgo: no llvm-profdata at $profdata" >&2; exit 1; }

raw="$root/target/pgo-data"
rm -rf "$raw"
mkdir -p "$raw"
echo "build-pgo: instrumented build (target/pgo-gen)" >&2
RUSTFLAGS="-Cprofile-generate=$raw" cargo build --release -q -p migrate-cli --target-dir target/pgo-gen
gen=target/pgo-gen/release/sstable-migrate

echo "build-pgo: training on fixtures/sample" >&2
S=fixtures/sample
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  LLVM_PROFILE_FILE="$raw/%p-%m.profraw" "$gen" "$@" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
}
run info "$S"
run --schema "$S/schema.cql" schema "$S"
run verify "$S"
for f in rows sstabledump; do
  run --schema "$S/schema.cql" dump "$S" --format "$f"
done
for c in zstd=1 zstd=-3 zstd=3 gzip=6 none; do
  level=()
  [ "$c" = none ] || level=(--compression-level="${c#*=}")
  for t in 1 2; do
    rm -rf "$work/out"
    run export "$S" --schema "$S/schema.cql" --format dynamodb-json --out "$work/out" \
      --compression "${c%%=*}" "${level[@]}" --threads "$t"
  done
done
for v in nb oa; do
  rm -rf "$work/sst"
  run to-sstables "$S" --schema "$S/schema.cql" --out "$work/sst" --version "$v"
done
"$profdata" merge -o "$root/target/pgo.profdata" "$raw"
# Named by its content: cargo does not track the file a flag names, so a
# new profile must change the flags to rebuild what used the old one.
rm -f "$root"/target/pgo-*.profdata
prof="$root/target/pgo-$(sha256sum "$root/target/pgo.profdata" | cut -c1-16).profdata"
mv "$root/target/pgo.profdata" "$prof"

echo "build-pgo: optimised build (target/pgo)" >&2
RUSTFLAGS="-Cprofile-use=$prof -Cllvm-args=-pgo-warn-missing-function=false" \
  cargo build --release -q -p migrate-cli --target-dir target/pgo
echo "$root/target/pgo/release/sstable-migrate"
