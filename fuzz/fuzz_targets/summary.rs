//! The `summary` target: its body is `sstable_fuzz::summary` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::summary(data));
