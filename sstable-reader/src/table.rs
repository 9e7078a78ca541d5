//! A table's current state, row by row: the sstables of one table merged
//! (Cassandra's reconciliation), deletions and TTLs applied at a chosen
//! instant, dropped columns removed. This is what every sink consumes.
//!
//! ```no_run
//! # fn main() -> Result<(), sstable_reader::ReadError> {
//! use sstable_reader::table::{scan_table, TableEvent, TableScanOptions};
//! let sst = sstable_reader::SSTable::open(std::path::Path::new("ks/t-1/nb-1-big-Data.db"))?;
//! let schema = sstable_reader::TableSchema::from_header("ks", "t", &sst.header);
//! scan_table(&[&sst], &schema, &TableScanOptions::default(), |ev| {
//!     if let TableEvent::Row(r) = ev {
//!         println!("{} columns", r.regulars.len());
//!     }
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

use crate::error::{ReadError, Result};
use crate::merge::{Merger, OwnedColumn, OwnedRow};
use crate::range::TokenRange;
use crate::scanner::{ScanOptions, Scanner};
use crate::schema::{Column, TableSchema};
use crate::sstable::SSTable;
use sstable_format::cursor::Cursor;
use sstable_format::data::DeletionTime;
use sstable_format::{Component, CqlType, Token};

/// One live cell of a row, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCell {
    /// Write time, microseconds since the epoch.
    pub timestamp: i64,
    /// TTL in seconds (0 = none).
    pub ttl: i32,
    /// Expiry time in seconds since the epoch, for expiring cells.
    pub expires_at: Option<i64>,
    /// Element key of a collection/UDT cell.
    pub path: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// The live data of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumnData {
    /// Index into the schema's `statics` or `regulars`.
    pub index: usize,
    /// A multi-cell (non-frozen collection or UDT) column.
    pub complex: bool,
    /// One cell for a simple column; the live elements for a complex one.
    pub cells: Vec<LiveCell>,
}

/// A partition being walked.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// Serialized partition key.
    pub key: Vec<u8>,
    /// Serialized value of each partition-key column.
    pub key_parts: Vec<Vec<u8>>,
    pub token: Token,
    pub deletion: DeletionTime,
}

/// A live row, as `SELECT` returns it.
#[derive(Debug)]
pub struct TableRow<'a> {
    pub partition: &'a PartitionInfo,
    /// Clustering values; `None` for a partition that has only static data
    /// (or a compact table without clustering columns).
    pub clustering: Option<&'a [Option<Vec<u8>>]>,
    /// The partition's live static columns.
    pub statics: &'a [LiveColumnData],
    pub regulars: &'a [LiveColumnData],
    /// The row's own primary-key liveness: (timestamp, expiry time).
    pub liveness: Option<(i64, Option<i64>)>,
}

/// What a scan reports, in token then clustering order.
#[derive(Debug)]
pub enum TableEvent<'a> {
    /// A partition starts.
    Partition(&'a PartitionInfo),
    /// The partition's live static row (never for compact tables, whose
    /// "statics" are their regular columns).
    Statics(&'a PartitionInfo, &'a [LiveColumnData]),
    /// A live row.
    Row(TableRow<'a>),
    /// A row present in the sstables whose newest state is a deletion
    /// (row, range or partition tombstone, or every cell expired/deleted),
    /// with the newest timestamp that deleted it.
    DeadRow {
        partition: &'a PartitionInfo,
        clustering: &'a [Option<Vec<u8>>],
        deleted_at: Option<i64>,
    },
}

/// Options of a table scan.
#[derive(Debug, Clone)]
pub struct TableScanOptions {
    /// Only partitions whose token is in this range.
    pub range: TokenRange,
    /// "Now" for TTL expiry, seconds since the epoch.
    pub now: i64,
    pub scan: ScanOptions,
}

impl Default for TableScanOptions {
    fn default() -> Self {
        TableScanOptions {
            range: TokenRange::ALL,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            scan: ScanOptions::default(),
        }
    }
}

/// Split a serialized partition key into its components.
pub fn split_partition_key(
    schema: &TableSchema,
    key: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, sstable_format::Error> {
    if schema.partition_key.len() <= 1 {
        return Ok(vec![key.to_vec()]);
    }
    let mut c = Cursor::new(key, Component::Value);
    let mut v = Vec::with_capacity(schema.partition_key.len());
    for _ in 0..schema.partition_key.len() {
        v.push(c.short_bytes("partition key component")?.to_vec());
        c.u8("end-of-component byte")?;
    }
    Ok(v)
}

fn newer(a: DeletionTime, b: DeletionTime) -> DeletionTime {
    if a.is_live() {
        return b;
    }
    if b.is_live() || a.marked_for_delete_at >= b.marked_for_delete_at {
        a
    } else {
        b
    }
}

/// The live columns of `row` under deletion `del`, at `now`, dropped
/// columns removed.
fn live_columns(
    row: &OwnedRow,
    del: DeletionTime,
    cols: &[Column],
    now: i64,
) -> Vec<LiveColumnData> {
    let mut out = Vec::new();
    for cd in &row.columns {
        let idx = cd.column();
        let Some(col) = cols.get(idx) else { continue };
        if !col.included {
            continue;
        }
        let keep = |c: &crate::merge::OwnedCell, d: DeletionTime| {
            c.as_cell().is_live(now)
                && !d.deletes(c.timestamp)
                && col.dropped_at.is_none_or(|t| c.timestamp > t)
        };
        let lc = |c: &crate::merge::OwnedCell| LiveCell {
            timestamp: c.timestamp,
            ttl: if c.is_expiring { c.ttl } else { 0 },
            expires_at: c.is_expiring.then_some(c.local_deletion_time),
            path: c.path.clone(),
            value: c.value.clone(),
        };
        match cd {
            OwnedColumn::Simple { cell, .. } => {
                if keep(cell, del) {
                    out.push(LiveColumnData {
                        index: idx,
                        complex: false,
                        cells: vec![lc(cell)],
                    });
                }
            }
            OwnedColumn::Complex {
                deletion, cells, ..
            } => {
                let d = newer(del, *deletion);
                let live: Vec<LiveCell> = cells.iter().filter(|c| keep(c, d)).map(lc).collect();
                if !live.is_empty() {
                    out.push(LiveColumnData {
                        index: idx,
                        complex: true,
                        cells: live,
                    });
                }
            }
        }
    }
    out
}

/// A scanner of `sst` starting at the first partition `range` may hold.
pub fn scanner_for_range<'s>(
    sst: &'s SSTable,
    range: &crate::range::TokenRange,
    scan: crate::scanner::ScanOptions,
) -> Result<Scanner<'s>> {
    let start = crate::range::start_offset(sst, range)?;
    Ok(if start == 0 {
        Scanner::new(sst, scan)
    } else {
        Scanner::range(sst, scan, start, sst.data_length())
    })
}

/// A merger of the table's sstables, each positioned at the first
/// partition `range` may hold (partitions past it still come: callers stop).
pub fn merger_for_range<'s>(
    ssts: &[&'s SSTable],
    schema: &TableSchema,
    range: &crate::range::TokenRange,
    scan: crate::scanner::ScanOptions,
) -> Result<Merger<'s>> {
    let mut scans = Vec::with_capacity(ssts.len());
    for s in ssts {
        scans.push((*s, scanner_for_range(s, range, scan)?));
    }
    let ctypes: Vec<CqlType> = schema
        .clustering
        .iter()
        .map(|c| c.cql_type.clone())
        .collect();
    Ok(Merger::with_scanners(
        scans,
        ctypes,
        schema.statics.clone(),
        schema.regulars.clone(),
    ))
}

/// Walk the current state of a table made of `ssts` (all of one table;
/// `schema` the union schema), calling `f` for every event in token then
/// clustering order. Memory stays bounded: rows stream.
pub fn scan_table<F>(
    ssts: &[&SSTable],
    schema: &TableSchema,
    opts: &TableScanOptions,
    mut f: F,
) -> Result<()>
where
    F: FnMut(TableEvent<'_>) -> Result<()>,
{
    let Some(first) = ssts.first() else {
        return Ok(());
    };
    let partitioner = first.partitioner;
    let mut m = merger_for_range(ssts, schema, &opts.range, opts.scan)?;
    let has_clustering = !schema.visible_clustering().is_empty();
    let now = opts.now;
    while let Some(p) = m.next_partition(partitioner)? {
        if !opts.range.contains(&p.token) {
            if matches!(&opts.range.end, Some(e) if p.token > *e) {
                break;
            }
            continue;
        }
        let key_parts = split_partition_key(schema, &p.key)
            .map_err(|e| ReadError::format(first.data_path(), e))?;
        let info = PartitionInfo {
            key: p.key,
            key_parts,
            token: p.token,
            deletion: p.deletion,
        };
        f(TableEvent::Partition(&info))?;
        let mut statics: Vec<LiveColumnData> = Vec::new();
        let mut emitted = 0u64;
        while let Some(row) = m.next_row()? {
            let del = newer(info.deletion, row.deletion);
            if row.is_static {
                statics = live_columns(&row, del, &schema.statics, now);
                if schema.compact_static {
                    if !statics.is_empty() {
                        // A compact table's columns live in the static row.
                        f(TableEvent::Row(TableRow {
                            partition: &info,
                            clustering: None,
                            statics: &statics,
                            regulars: &[],
                            liveness: None,
                        }))?;
                        emitted += 1;
                    }
                } else if !statics.is_empty() {
                    f(TableEvent::Statics(&info, &statics))?;
                }
                continue;
            }
            if schema.compact_static {
                continue;
            }
            let liveness = row.liveness;
            let marker_live =
                liveness.is_live(now) && liveness.timestamp.is_some_and(|ts| !del.deletes(ts));
            let regulars = live_columns(&row, del, &schema.regulars, now);
            if marker_live || !regulars.is_empty() {
                f(TableEvent::Row(TableRow {
                    partition: &info,
                    clustering: Some(&row.clustering),
                    statics: &statics,
                    regulars: &regulars,
                    liveness: if marker_live {
                        liveness.timestamp.map(|t| {
                            (
                                t,
                                liveness
                                    .is_expiring()
                                    .then_some(liveness.local_expiration_time),
                            )
                        })
                    } else {
                        None
                    },
                }))?;
                emitted += 1;
            } else {
                f(TableEvent::DeadRow {
                    partition: &info,
                    clustering: &row.clustering,
                    deleted_at: (!del.is_live()).then_some(del.marked_for_delete_at),
                })?;
            }
        }
        if emitted == 0 && has_clustering && !schema.compact_static && !statics.is_empty() {
            f(TableEvent::Row(TableRow {
                partition: &info,
                clustering: None,
                statics: &statics,
                regulars: &[],
                liveness: None,
            }))?;
        }
    }
    Ok(())
}
