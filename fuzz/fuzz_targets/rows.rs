//! The `rows` target: its body is `sstable_fuzz::rows` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::rows(data));
