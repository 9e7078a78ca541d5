//! The `sstable` target: its body is `sstable_fuzz::sstable` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::sstable(data));
