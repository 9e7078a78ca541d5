//! Whole-sstable open, full scan and verification, from in-memory
//! components. Input: version byte, then (u8 component id, u32 LE length,
//! bytes) records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_reader::verify::verify;
use sstable_reader::{SSTable, ScanOptions, Scanner};
use std::path::Path;

const NAMES: [&str; 8] = [
    "Data.db", "Statistics.db", "CompressionInfo.db", "Index.db", "Summary.db", "Filter.db", "CRC.db", "Digest.crc32",
];
const PREFIXES: [&str; 6] = ["mc-1-big-", "na-1-big-", "nb-1-big-", "oa-1-big-", "la-1-big-", "da-1-bti-"];

fuzz_target!(|data: &[u8]| {
    let Some((v, mut rest)) = data.split_first() else { return };
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    while rest.len() >= 5 {
        let id = rest[0] as usize % NAMES.len();
        let len = (u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize).min(rest.len() - 5);
        let bytes = rest[5..5 + len].to_vec();
        rest = &rest[5 + len..];
        if !parts.iter().any(|p| p.0 == NAMES[id]) {
            parts.push((NAMES[id].to_string(), bytes));
        }
    }
    let prefix = PREFIXES[*v as usize % PREFIXES.len()];
    let Ok(sst) = SSTable::open_in_memory(Path::new("fuzz"), prefix, parts) else { return };
    let mut scan = Scanner::new(&sst, ScanOptions { verify_checksums: v & 0x80 == 0 });
    'outer: for _ in 0..10_000 {
        match scan.next_partition() {
            Ok(Some(_)) => loop {
                match scan.next_unfiltered() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            },
            _ => break,
        }
    }
    // The scan's fast path (row heads and cells read without Results).
    let mut scan = Scanner::new(&sst, ScanOptions { verify_checksums: v & 0x80 == 0 });
    let mut budget = 100_000u32;
    let _ = scan.for_each_view(|u| {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Err(sstable_reader::ReadError::Schema("enough".into()));
        }
        if let sstable_format::data::UnfilteredView::Row(r) = u {
            if let Err(e) = r.for_each_cell(|_| Ok::<(), sstable_format::Error>(())) {
                return Err(sstable_reader::ReadError::Schema(e.to_string()));
            }
        }
        Ok(())
    });
    // The merged table path (owned rows, their buffers reused, live
    // columns), with the schema the header gives.
    let schema = sstable_reader::TableSchema::from_header("ks", "t", &sst.header);
    let mut budget = 100_000u32;
    let _ = sstable_reader::table::scan_table(&[&sst], &schema, &Default::default(), |_| {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Err(sstable_reader::ReadError::Schema("enough".into()));
        }
        Ok(())
    });
    let _ = verify(&sst);
});
