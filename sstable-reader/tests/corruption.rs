//! Deterministic corruption: truncations and bit flips over every component
//! of a few real sstables. Opening and verifying must never panic, and
//! whenever a checksummed component changed, an error must come back.

mod common;

use sstable_reader::verify::verify;
use sstable_reader::SSTable;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Is the byte at `at` (or a truncation to `at` bytes) of this component
/// covered by a checksum? (CRC.db's leading chunk size is not.)
fn checksummed(component: &str, version: &str, at: usize) -> bool {
    match component {
        "Data.db" | "Digest.crc32" => true,
        "CRC.db" => at >= 4,
        "Statistics.db" => version >= "na",
        _ => false,
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn check(dir: &Path, data_name: &str) -> Result<(), String> {
    let data = dir.join(data_name);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let sst = SSTable::open(&data).map_err(|e| e.to_string())?;
        verify(&sst).map(|_| ()).map_err(|e| e.to_string())
    }));
    match r {
        Ok(r) => r,
        Err(_) => panic!("panic while reading a corrupted copy in {}", dir.display()),
    }
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let cases = [
        "apache-cassandra/oa/legacy_tables/legacy_oa_clust",
        "apache-cassandra/nb/legacy_tables/legacy_nb_simple_counter",
        "apache-cassandra/mc/legacy_tables/legacy_mc_clust",
        "scylladb/mc/test_ks/uncompressed__static_row",
        "scylladb/mc/test_ks/snappy__partition_key_with_values_of_different_types",
        "scylladb/mc/test_ks/uncompressed__collections",
    ];
    let mut rng = Lcg(0x5eed);
    let mut mutations = 0;
    let mut detected = 0;
    let mut undetected_unchecked = std::collections::BTreeMap::<String, usize>::new();
    for case in cases {
        let src = common::corpus().join(case);
        let data_name = std::fs::read_dir(&src)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with("-Data.db"))
            .unwrap();
        let prefix = data_name.trim_end_matches("Data.db").to_string();
        let version = &prefix[..2];
        // The untouched copy verifies.
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&src, tmp.path());
        check(tmp.path(), &data_name)
            .unwrap_or_else(|e| panic!("{case}: pristine copy fails: {e}"));
        let mut comps: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        comps.sort();
        for comp_file in comps {
            let component = comp_file.trim_start_matches(&prefix).to_string();
            let original = std::fs::read(src.join(&comp_file)).unwrap();
            let len = original.len();
            let mut variants: Vec<(usize, Vec<u8>)> = Vec::new();
            for cut in [0, 1, len / 3, len / 2, len.saturating_sub(1)] {
                if cut < len {
                    variants.push((cut.max(4), original[..cut].to_vec()));
                }
            }
            for _ in 0..24 {
                if len == 0 {
                    break;
                }
                let mut v = original.clone();
                let at = rng.next(len);
                v[at] ^= 1 << rng.next(8);
                variants.push((at, v));
            }
            for (at, v) in variants {
                let tmp = tempfile::tempdir().unwrap();
                copy_dir(&src, tmp.path());
                std::fs::write(tmp.path().join(&comp_file), &v).unwrap();
                mutations += 1;
                let r = check(tmp.path(), &data_name);
                if r.is_err() {
                    detected += 1;
                } else if checksummed(&component, version, at) {
                    panic!(
                        "{case}: a changed {component} ({} of {len} bytes kept) was not detected",
                        v.len()
                    );
                } else {
                    *undetected_unchecked.entry(component.clone()).or_default() += 1;
                }
            }
        }
    }
    eprintln!(
        "{mutations} corrupted copies, {detected} detected; undetected (components without checksums): {:?}",
        undetected_unchecked
    );
    assert!(mutations > 500);
}
