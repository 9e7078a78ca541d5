//! Whole-sstable verification: checksums, digest, and the consistency of
//! Index.db, Summary.db and Filter.db with Data.db (keys, positions,
//! tokens), like Cassandra's `sstableverify`.

use crate::error::{ReadError, Result};
use crate::scanner::{ScanOptions, Scanner};
use crate::sstable::SSTable;
use sstable_format::filter::BloomFilter;
use sstable_format::{Component, Error as FmtError, Token};

/// What a verification saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub partitions: u64,
    pub unfiltereds: u64,
    pub index_entries: u64,
    pub promoted_index_blocks: u64,
    pub summary_entries: u64,
    pub filter_checked: bool,
}

fn bad(
    sst: &SSTable,
    comp: &str,
    component: Component,
    offset: u64,
    expected: String,
) -> ReadError {
    ReadError::format(
        sst.component_path(comp),
        FmtError::Invalid {
            component,
            offset,
            expected,
        },
    )
}

/// Verify everything that can be verified about `sst`.
pub fn verify(sst: &SSTable) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut keys: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut scan = Scanner::new(
        sst,
        ScanOptions {
            verify_checksums: true,
        },
    );
    let mut prev: Option<(Token, Vec<u8>)> = None;
    while let Some(p) = scan.next_partition()? {
        let tok = sst.partitioner.token(&p.key);
        if let Some((pt, pk)) = &prev {
            if (pt, pk) >= (&tok, &p.key) {
                return Err(bad(
                    sst,
                    "Data.db",
                    Component::Data,
                    p.position,
                    format!("partitions in increasing token order; token {tok} follows {pt}"),
                ));
            }
        }
        if sst.is_raw_legacy() {
            // No schema: walk the raw cells.
            while scan.next_atom()?.is_some() {
                report.unfiltereds += 1;
            }
        } else {
            while scan.next_unfiltered()?.is_some() {
                report.unfiltereds += 1;
            }
        }
        report.partitions += 1;
        keys.push((p.key.clone(), p.position));
        prev = Some((tok, p.key));
    }
    // Index.db: one entry per partition, same keys and positions.
    if let Some(entries) = sst.index_entries() {
        let mut i = 0usize;
        for e in entries {
            let e = e.map_err(|e| ReadError::format(sst.component_path("Index.db"), e))?;
            let Some((k, pos)) = keys.get(i) else {
                return Err(bad(
                    sst,
                    "Index.db",
                    Component::Index,
                    e.offset.0,
                    format!("{} entries (one per partition)", keys.len()),
                ));
            };
            if e.key != k.as_slice() || e.position.0 != *pos {
                return Err(bad(
                    sst,
                    "Index.db",
                    Component::Index,
                    e.offset.0,
                    format!("the key and position of partition {i} (Data.db offset {pos})"),
                ));
            }
            if let Some(pi) = &e.promoted {
                let end = keys.get(i + 1).map(|k| k.1).unwrap_or(sst.data_length());
                for b in &pi.blocks {
                    if pos.saturating_add(b.offset).saturating_add(b.width) > end {
                        return Err(bad(
                            sst,
                            "Index.db",
                            Component::Index,
                            e.offset.0,
                            "index blocks inside their partition".into(),
                        ));
                    }
                }
                report.promoted_index_blocks += pi.blocks.len() as u64;
            }
            i += 1;
        }
        if i != keys.len() {
            return Err(bad(
                sst,
                "Index.db",
                Component::Index,
                0,
                format!("{} entries, found {i}", keys.len()),
            ));
        }
        report.index_entries = i as u64;
    }
    // BTI: Partitions.db lists every partition with its position; Rows.db
    // entries point back at their partitions and their blocks inside them.
    if let Some(pf) = &sst.partitions {
        use sstable_format::bti::{PartitionIndex, PartitionPos, RowIndexEntry};
        let pbytes = pf.bytes();
        let fmt = |e| ReadError::format(sst.component_path("Partitions.db"), e);
        let pi = PartitionIndex::parse(pbytes).map_err(fmt)?;
        let positions = pi.positions(pbytes).map_err(fmt)?;
        if positions.len() as u64 != pi.key_count || positions.len() != keys.len() {
            return Err(bad(
                sst,
                "Partitions.db",
                Component::Index,
                0,
                format!(
                    "{} partitions (key count {}), found {}",
                    keys.len(),
                    pi.key_count,
                    positions.len()
                ),
            ));
        }
        if let (Some(f), Some(l)) = (keys.first(), keys.last()) {
            if pi.first_key != f.0.as_slice() || pi.last_key != l.0.as_slice() {
                return Err(bad(
                    sst,
                    "Partitions.db",
                    Component::Index,
                    0,
                    "first and last keys equal to Data.db's".into(),
                ));
            }
        }
        let rbytes = sst.rows_index.as_ref().map(|r| r.bytes()).unwrap_or(&[]);
        for (i, ((hash, pos), (key, data_pos))) in positions.iter().zip(&keys).enumerate() {
            if let Some(h) = hash {
                if *h != sstable_format::partitioner::murmur3_x64_128(key, 0)[1] as u8 {
                    return Err(bad(
                        sst,
                        "Partitions.db",
                        Component::Index,
                        0,
                        format!("the key hash of partition {i}"),
                    ));
                }
            }
            let dp = match pos {
                PartitionPos::Data(p) => *p,
                PartitionPos::Rows(r) => {
                    let e = RowIndexEntry::parse(rbytes, *r, sst.version())
                        .map_err(|e| ReadError::format(sst.component_path("Rows.db"), e))?;
                    if e.key != key.as_slice() {
                        return Err(bad(
                            sst,
                            "Rows.db",
                            Component::Index,
                            *r,
                            format!("the key of partition {i}"),
                        ));
                    }
                    let end = keys.get(i + 1).map(|k| k.1).unwrap_or(sst.data_length());
                    let blocks = e
                        .block_offsets(rbytes)
                        .map_err(|e| ReadError::format(sst.component_path("Rows.db"), e))?;
                    if blocks.len() as u64 != e.block_count + 1
                        || blocks
                            .last()
                            .map(|b| e.data_position.saturating_add(b.0).saturating_add(1))
                            != Some(end)
                    {
                        return Err(bad(
                            sst,
                            "Rows.db",
                            Component::Index,
                            *r,
                            format!("{} blocks ending at the partition's end", e.block_count),
                        ));
                    }
                    report.promoted_index_blocks += e.block_count;
                    e.data_position
                }
            };
            if dp != *data_pos {
                return Err(bad(
                    sst,
                    "Partitions.db",
                    Component::Index,
                    0,
                    format!("the Data.db position {data_pos} of partition {i}, found {dp}"),
                ));
            }
        }
        report.index_entries = positions.len() as u64;
    }
    // Summary.db: sampled keys point at their Index.db entries.
    if let (Some(summary), Some(index)) = (sst.summary(), &sst.index) {
        let summary = summary?;
        for (key, off) in &summary.entries {
            let mut it = sstable_format::index::IndexEntries::starting_at(
                index.bytes(),
                *off,
                sst.version(),
                &sst.header.clustering_types,
            )
            .map_err(|e| ReadError::format(sst.component_path("Summary.db"), e))?;
            match it.next() {
                Some(Ok(e)) if e.key == *key => {}
                _ => {
                    return Err(bad(
                        sst,
                        "Summary.db",
                        Component::Summary,
                        0,
                        format!("an Index.db entry for a sampled key at {}", off.0),
                    ))
                }
            }
        }
        if let (Some(first), Some(last)) = (keys.first(), keys.last()) {
            if summary.first_key != first.0.as_slice() || summary.last_key != last.0.as_slice() {
                return Err(bad(
                    sst,
                    "Summary.db",
                    Component::Summary,
                    0,
                    "first and last keys equal to Data.db's".into(),
                ));
            }
        }
        report.summary_entries = summary.entries.len() as u64;
    }
    // Filter.db: must not deny any present key.
    if let Some(f) = &sst.filter {
        let old = !sst.version().has_new_bloom_filter_format()
            || sst
                .statistics
                .stats
                .as_ref()
                .is_some_and(|s| s.pre_release_na);
        let mut bf = BloomFilter::parse_with_format(f.bytes(), old)
            .map_err(|e| ReadError::format(f.path(), e))?;
        bf.old_hash_order = sst.version().has_old_bf_hash_order();
        let all_in = |bf: &BloomFilter| keys.iter().position(|(k, _)| !bf.may_contain(k));
        let mut missing = all_in(&bf);
        if missing.is_some()
            && matches!(
                sst.version(),
                sstable_format::Version::La | sstable_format::Version::Lb
            )
        {
            bf.old_hash_order = !bf.old_hash_order;
            missing = all_in(&bf);
        }
        if let Some(i) = missing {
            return Err(bad(
                sst,
                "Filter.db",
                Component::Filter,
                0,
                format!(
                    "the bloom filter to contain the key at Data.db offset {}",
                    keys[i].1
                ),
            ));
        }
        report.filter_checked = true;
    }
    Ok(report)
}
