//! The `legacy_atoms` target: its body is `sstable_fuzz::legacy_atoms` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sstable_fuzz::legacy_atoms(data));
