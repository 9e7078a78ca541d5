//! The `compression_info` target: its body is `sstable_fuzz::compression_info` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::compression_info(data));
