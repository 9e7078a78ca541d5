//! CompressionInfo.db, then every chunk of a Data.db made of the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::compression::CompressionInfo;
use sstable_format::Version;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let version = if data[0] & 1 == 0 { Version::Mc } else { Version::Nb };
    let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
    let (info, chunks) = data[3..].split_at(split);
    if let Ok(ci) = CompressionInfo::parse(info, version) {
        let mut out = Vec::new();
        for i in 0..ci.chunk_offsets.len().min(64) {
            let _ = ci.read_chunk(chunks, i as u64, data[0] & 2 == 0, &mut out);
        }
    }
});
