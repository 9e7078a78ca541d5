#!/usr/bin/env bash
# The project's one test command: formatting, lints, the whole test suite
# (golden tests over ../shared/corpus, corruption tests, unit and property
# tests) and docs; clippy --all-targets compiles the benchmarks. CI (.ci/run)
# calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# One build, no incremental caches: a fresh clone's target stays small.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

if [ ! -f ../shared/corpus/MANIFEST.md ]; then
  echo "error: ../shared/corpus is missing (the tests read the real Cassandra corpus from there)" >&2
  exit 1
fi

# Each stage's header shows the time the run has taken so far.
stage() { echo "== $1 [$((SECONDS / 60))m$((SECONDS % 60))s]"; }

stage "cargo fmt --check"
cargo fmt --all --check
stage "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
stage "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
stage "cargo test"
cargo test --workspace

if [ "${SKIP_DIFFERENTIAL:-0}" != 1 ]; then
  stage "differential tests against real Cassandra"
  # `cargo test` above built target/debug/sstable-migrate with the features
  # the whole workspace's tests unify to; `cargo build -p migrate-cli` would
  # resolve other features and compile every dependency a second time.
  [ -x target/debug/sstable-migrate ] || cargo build -q -p migrate-cli
  # Stop any harness node this run leaves behind, whatever happens.
  trap 'for v in 5.0 4.1 3.11 2.2 2.2.6 2.1; do scripts/cassandra.sh stop --version "$v" >/dev/null 2>&1 || true; done' EXIT
  scripts/differential.sh
  stage "2.1/2.2 nodes: schema from system tables, deletions across flushes"
  scripts/legacy-e2e.sh
  stage "DynamoDB end to end (dynalite, moto, SeaweedFS, fault proxy)"
  scripts/dynamo-e2e.sh
  stage "Cassandra over CQL end to end (TLS, password auth)"
  scripts/cql-e2e.sh
  stage "sstables for sstableloader end to end (Cassandra 4.1 nb, 5.0 oa)"
  scripts/sstables-e2e.sh
fi
stage "done"
