//! The `index` target: its body is `sstable_fuzz::index` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::index(data));
