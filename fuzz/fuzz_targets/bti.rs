//! The BTI trie walker: Partitions.db footers, tries, payloads and lookups,
//! and Rows.db entries with their block tries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::bti::{PartitionIndex, PartitionPos, RowIndexEntry};
use sstable_format::Version;

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else { return };
    if sel & 1 == 0 {
        if let Ok(pi) = PartitionIndex::parse(rest) {
            if let Ok(ps) = pi.positions(rest) {
                for (_, p) in ps.iter().take(1000) {
                    if let PartitionPos::Rows(r) = p {
                        if let Ok(e) = RowIndexEntry::parse(rest, *r, Version::Da) {
                            let _ = e.block_offsets(rest);
                        }
                    }
                }
            }
            let _ = pi.lookup(rest, &rest[..rest.len().min(16)]);
        }
    } else if rest.len() >= 2 {
        let pos = (u16::from_le_bytes([rest[0], rest[1]]) as usize) % rest.len().max(1);
        if let Ok(e) = RowIndexEntry::parse(&rest[2..], pos as u64, Version::Da) {
            let _ = e.block_offsets(&rest[2..]);
        }
    }
});
