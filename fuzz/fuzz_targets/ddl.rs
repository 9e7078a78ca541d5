//! The `ddl` target: its body is `sstable_fuzz::ddl` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::ddl(data));
