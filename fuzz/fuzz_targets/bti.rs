//! The `bti` target: its body is `sstable_fuzz::bti` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::bti(data));
