//! Statistics.db for every version (the first byte picks the version).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::statistics::Statistics;
use sstable_format::Version;

const VERSIONS: [Version; 9] = [
    Version::Ma, Version::Mb, Version::Mc, Version::Md, Version::Me, Version::Na, Version::Nb, Version::Nc, Version::Oa,
];

fuzz_target!(|data: &[u8]| {
    let Some((v, rest)) = data.split_first() else { return };
    let _ = Statistics::parse(rest, VERSIONS[*v as usize % VERSIONS.len()]);
});
