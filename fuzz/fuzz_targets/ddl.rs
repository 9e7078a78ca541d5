//! CQL DDL: `--schema` files and the `schema.cql` of snapshots, read from
//! the directories given.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sstable_reader::ddl::parse_schema(text);
    }
});
