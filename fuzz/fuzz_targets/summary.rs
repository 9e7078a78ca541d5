//! Summary.db.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sstable_format::summary::Summary::parse(data);
});
