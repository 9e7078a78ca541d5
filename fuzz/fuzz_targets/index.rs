//! Index.db entries with promoted indexes, for a table with (int, text) clustering.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::index::IndexEntries;
use sstable_format::{CqlType, Version};

fuzz_target!(|data: &[u8]| {
    let Some((v, rest)) = data.split_first() else { return };
    let version = if v & 1 == 0 { Version::Nb } else { Version::Oa };
    let types = [CqlType::Int, CqlType::Text];
    for e in IndexEntries::new(rest, version, &types).take(10_000) {
        if e.is_err() {
            break;
        }
    }
});
