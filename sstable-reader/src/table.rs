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
use crate::merge::{Lend, MergedUnfiltered, Merger, OwnedCell, OwnedColumn, OwnedMarker, OwnedRow};
use crate::range::TokenRange;
use crate::scanner::{ScanOptions, Scanner};
use crate::schema::{Column, TableSchema};
use crate::sstable::SSTable;
use sstable_format::cursor::Cursor;
use sstable_format::data::{
    BoundKind, Cell, ColumnData, DeletionTime, LivenessInfo, Row, RowBuffers, Unfiltered,
};
use sstable_format::{Component, CqlType, Token};

/// One live cell of a row, with its metadata; its path and value are lent
/// by the row being walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveCell<'a> {
    /// Write time, microseconds since the epoch.
    pub timestamp: i64,
    /// TTL in seconds (0 = none).
    pub ttl: i32,
    /// Expiry time in seconds since the epoch, for expiring cells.
    pub expires_at: Option<i64>,
    /// Element key of a collection/UDT cell.
    pub path: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// The live data of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumnData<'a> {
    /// Index into the schema's `statics` or `regulars`.
    pub index: usize,
    /// A multi-cell (non-frozen collection or UDT) column.
    pub complex: bool,
    /// One cell for a simple column; the live elements for a complex one.
    pub cells: LiveCells<'a>,
}

/// The live cells of one column: held inline when there is one (a simple
/// column), so that a row's columns cost no allocation each. Read it as a
/// slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveCells<'a> {
    One(LiveCell<'a>),
    Many(Vec<LiveCell<'a>>),
}

impl<'a> std::ops::Deref for LiveCells<'a> {
    type Target = [LiveCell<'a>];
    fn deref(&self) -> &[LiveCell<'a>] {
        match self {
            LiveCells::One(c) => std::slice::from_ref(c),
            LiveCells::Many(v) => v,
        }
    }
}

impl<'s, 'a> IntoIterator for &'s LiveCells<'a> {
    type Item = &'s LiveCell<'a>;
    type IntoIter = std::slice::Iter<'s, LiveCell<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> FromIterator<LiveCell<'a>> for LiveCells<'a> {
    fn from_iter<I: IntoIterator<Item = LiveCell<'a>>>(iter: I) -> Self {
        LiveCells::Many(iter.into_iter().collect())
    }
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
    pub statics: &'a [LiveColumnData<'a>],
    pub regulars: &'a [LiveColumnData<'a>],
    /// The row's own primary-key liveness: (timestamp, expiry time).
    pub liveness: Option<(i64, Option<i64>)>,
    /// The timestamp of the row's primary-key liveness when it has expired
    /// (the row lives through its cells): it still supersedes older
    /// liveness, so a target holding an older row marker must learn of it.
    pub expired_liveness: Option<i64>,
}

impl<'a> TableRow<'a> {
    /// The row of a partition's static columns alone: a partition with
    /// only static data, or a compact table's row.
    fn statics_only(partition: &'a PartitionInfo, statics: &'a [LiveColumnData<'a>]) -> Self {
        TableRow {
            partition,
            clustering: None,
            statics,
            regulars: &[],
            liveness: None,
            expired_liveness: None,
        }
    }
}

/// What a scan reports, in token then clustering order.
#[derive(Debug)]
pub enum TableEvent<'a> {
    /// A partition starts.
    Partition(&'a PartitionInfo),
    /// The partition's live static row (never for compact tables, whose
    /// "statics" are their regular columns).
    Statics(&'a PartitionInfo, &'a [LiveColumnData<'a>]),
    /// A live row.
    Row(TableRow<'a>),
    /// A row present in the sstables whose newest state is a deletion
    /// (row, range or partition tombstone, or every cell expired/deleted),
    /// with the newest timestamp that deleted it: that of the deletion over
    /// it or of its expired primary-key liveness, whichever is newer.
    DeadRow {
        partition: &'a PartitionInfo,
        clustering: &'a [Option<Vec<u8>>],
        deleted_at: Option<i64>,
    },
    /// A range tombstone of the merged state (the newest deletion over the
    /// range; rows inside it also carry it in their deletion).
    RangeDeletion {
        partition: &'a PartitionInfo,
        start: RangeBound<'a>,
        end: RangeBound<'a>,
        deletion: DeletionTime,
    },
    /// Cell deletions of the static row (`clustering` None) or of a row
    /// (only with `TableScanOptions::cell_deletions`).
    CellDeletions {
        partition: &'a PartitionInfo,
        clustering: Option<&'a [Option<Vec<u8>>]>,
        cells: &'a [DeadCell],
    },
}

/// A deletion that is the newest state of a cell: of a simple column's
/// cell, of one element (`path`) of a collection or UDT field, or of a whole
/// non-frozen collection (`whole`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadCell {
    /// Index into the schema's statics (`is_static`) or regulars.
    pub index: usize,
    pub is_static: bool,
    pub path: Option<Vec<u8>>,
    pub whole: bool,
    pub timestamp: i64,
}

/// Which tombstones a scan reports: with `gc_before`, none whose local
/// deletion time (an expired cell's or liveness's expiry) is before it, as a
/// compaction past gc_grace purges them. Shadowing is never affected: a
/// purged deletion still hides the older data it covers.
#[derive(Debug, Clone, Copy)]
struct Purge {
    gc_before: Option<i64>,
}

impl Purge {
    fn purgeable(self, local_deletion_time: i64) -> bool {
        self.gc_before.is_some_and(|g| local_deletion_time < g)
    }

    /// The deletion as reported: none when purgeable.
    fn deletion(self, d: DeletionTime) -> DeletionTime {
        if !d.is_live() && self.purgeable(d.local_deletion_time) {
            DeletionTime::LIVE
        } else {
            d
        }
    }
}

/// The cells of one column of a row being walked: the merge's owned
/// cells, or cells a lone sstable lends from its window.
enum ColumnCells<'r, C> {
    Simple(&'r C),
    Complex(DeletionTime, &'r [C]),
}

impl<C> Clone for ColumnCells<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for ColumnCells<'_, C> {}

/// A cell as a row being walked holds it.
trait AsCell {
    fn cell(&self) -> Cell<'_>;
}

impl AsCell for OwnedCell {
    fn cell(&self) -> Cell<'_> {
        self.as_cell()
    }
}

impl AsCell for Cell<'_> {
    fn cell(&self) -> Cell<'_> {
        *self
    }
}

/// The columns of a merged row: (index in the unified columns, cells).
fn owned_columns(
    row: &OwnedRow,
) -> impl Iterator<Item = (usize, ColumnCells<'_, OwnedCell>)> + Clone {
    row.columns.iter().map(|c| match c {
        OwnedColumn::Simple { column, cell } => (*column, ColumnCells::Simple(cell)),
        OwnedColumn::Complex {
            column,
            deletion,
            cells,
        } => (*column, ColumnCells::Complex(*deletion, &cells[..])),
    })
}

/// The columns of a lent row, numbered by its sstable, mapped through
/// `map` onto the unified columns (those it lacks left out).
fn lent_columns<'r, 'a>(
    row: &'r Row<'a>,
    map: &'r [usize],
) -> impl Iterator<Item = (usize, ColumnCells<'r, Cell<'a>>)> + Clone {
    row.columns.iter().filter_map(move |cd| {
        let idx = *map.get(cd.column())?;
        if idx == usize::MAX {
            return None;
        }
        Some(match cd {
            ColumnData::Simple { cell, .. } => (idx, ColumnCells::Simple(cell)),
            ColumnData::Complex {
                deletion, cells, ..
            } => (idx, ColumnCells::Complex(*deletion, &cells[..])),
        })
    })
}

/// The deletions of a row's cells that are not shadowed by `del` (the
/// partition, range and row deletions over it) nor purged. Expired cells
/// count as deletions at their write time.
fn dead_cells<'r, C: AsCell + 'r>(
    columns: impl Iterator<Item = (usize, ColumnCells<'r, C>)>,
    is_static: bool,
    del: DeletionTime,
    cols: &[Column],
    now: i64,
    purge: Purge,
) -> Vec<DeadCell> {
    let mut out = Vec::new();
    for (idx, cd) in columns {
        let Some(col) = cols.get(idx) else { continue };
        if !col.included {
            continue;
        }
        let dead = |c: &Cell, d: DeletionTime| {
            (c.is_tombstone || (c.is_expiring && now >= c.local_deletion_time))
                && !purge.purgeable(c.local_deletion_time)
                && !d.deletes(c.timestamp)
                && col.dropped_at.is_none_or(|t| c.timestamp > t)
        };
        match cd {
            ColumnCells::Simple(cell) => {
                let cell = cell.cell();
                if dead(&cell, del) {
                    out.push(DeadCell {
                        index: idx,
                        is_static,
                        path: None,
                        whole: false,
                        timestamp: cell.timestamp,
                    });
                }
            }
            ColumnCells::Complex(deletion, cells) => {
                let newest = newer(del, deletion);
                if !deletion.is_live()
                    && newest == deletion
                    && deletion != del
                    && !purge.purgeable(deletion.local_deletion_time)
                {
                    out.push(DeadCell {
                        index: idx,
                        is_static,
                        path: None,
                        whole: true,
                        timestamp: deletion.marked_for_delete_at,
                    });
                }
                for c in cells.iter().map(AsCell::cell).filter(|c| dead(c, newest)) {
                    out.push(DeadCell {
                        index: idx,
                        is_static,
                        path: c.path.map(<[u8]>::to_vec),
                        whole: false,
                        timestamp: c.timestamp,
                    });
                }
            }
        }
    }
    out
}

/// One end of a range deletion: a clustering prefix (empty: unbounded), in
/// clustering order, and whether rows with exactly that prefix are inside.
#[derive(Debug, Clone, Copy)]
pub struct RangeBound<'a> {
    pub prefix: &'a [Option<Vec<u8>>],
    pub inclusive: bool,
}

/// Options of a table scan.
#[derive(Debug, Clone)]
pub struct TableScanOptions {
    /// Only partitions whose token is in this range.
    pub range: TokenRange,
    /// "Now" for TTL expiry, seconds since the epoch.
    pub now: i64,
    pub scan: ScanOptions,
    /// Also report cell, collection-element and whole-collection deletions
    /// that are the newest state of their cells (`TableEvent::CellDeletions`).
    pub cell_deletions: bool,
    /// Purge tombstones whose local deletion time is before this instant
    /// (seconds since the epoch), as a compaction past gc_grace would:
    /// partition, range, row, cell and collection deletions, expired cells
    /// and expired row liveness are then not reported (`Partition`'s
    /// deletion is live, no `DeadRow`, `RangeDeletion` or `CellDeletions`
    /// for them). The live rows do not change: purged deletions still hide
    /// the data they cover.
    pub purge_before: Option<i64>,
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
            cell_deletions: false,
            purge_before: None,
        }
    }
}

/// Split a serialized partition key into its components.
pub fn split_partition_key(
    schema: &TableSchema,
    key: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, sstable_format::Error> {
    let mut parts = Vec::new();
    split_partition_key_into(schema, key, &mut parts)?;
    Ok(parts)
}

/// [`split_partition_key`] into `parts`, whose buffers are reused.
fn split_partition_key_into(
    schema: &TableSchema,
    key: &[u8],
    parts: &mut Vec<Vec<u8>>,
) -> std::result::Result<(), sstable_format::Error> {
    parts.resize_with(schema.partition_key.len().max(1), Vec::new);
    if schema.partition_key.len() <= 1 {
        for p in parts.iter_mut() {
            p.clear();
            p.extend_from_slice(key);
        }
        return Ok(());
    }
    let mut c = Cursor::new(key, Component::Value);
    for p in parts.iter_mut() {
        p.clear();
        p.extend_from_slice(c.short_bytes("partition key component")?);
        c.u8("end-of-component byte")?;
    }
    Ok(())
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

/// `v` emptied, its allocation kept, to hold the live columns of another
/// row (the columns borrow their row).
fn reuse<'b>(mut v: Vec<LiveColumnData<'_>>) -> Vec<LiveColumnData<'b>> {
    v.clear();
    // Collected in place (the element types differ only in lifetime), so
    // the allocation is kept; `filter` would not change the lifetime.
    #[allow(clippy::unnecessary_filter_map)]
    v.into_iter().filter_map(|_| None).collect()
}

/// The live columns of a row (`columns`) under deletion `del`, at `now`,
/// dropped columns removed; their cells borrow the row.
fn live_columns<'r, C: AsCell + 'r>(
    columns: impl Iterator<Item = (usize, ColumnCells<'r, C>)>,
    del: DeletionTime,
    cols: &[Column],
    now: i64,
    out: &mut Vec<LiveColumnData<'r>>,
) {
    out.clear();
    for (idx, cd) in columns {
        let Some(col) = cols.get(idx) else { continue };
        if !col.included {
            continue;
        }
        let keep = |c: &Cell, d: DeletionTime| {
            c.is_live(now)
                && !d.deletes(c.timestamp)
                && col.dropped_at.is_none_or(|t| c.timestamp > t)
        };
        let lc = |c: Cell<'r>| LiveCell {
            timestamp: c.timestamp,
            ttl: if c.is_expiring { c.ttl } else { 0 },
            expires_at: c.is_expiring.then_some(c.local_deletion_time),
            path: c.path,
            value: c.value,
        };
        match cd {
            ColumnCells::Simple(cell) => {
                let cell = cell.cell();
                if keep(&cell, del) {
                    out.push(LiveColumnData {
                        index: idx,
                        complex: false,
                        cells: LiveCells::One(lc(cell)),
                    });
                }
            }
            ColumnCells::Complex(deletion, cells) => {
                let d = newer(del, deletion);
                let live: LiveCells = cells
                    .iter()
                    .map(AsCell::cell)
                    .filter(|c| keep(c, d))
                    .map(lc)
                    .collect();
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
    m.set_now(opts.now);
    let has_clustering = !schema.visible_clustering().is_empty();
    let now = opts.now;
    let purge = Purge {
        gc_before: opts.purge_before,
    };
    // Allocations reused from row to row.
    let mut statics_buf: Vec<LiveColumnData<'static>> = Vec::new();
    let mut regulars_buf: Vec<LiveColumnData<'static>> = Vec::new();
    let mut key_parts: Vec<Vec<u8>> = Vec::new();
    let mut lent_bufs = RowBuffers::default();
    let mut lent_clustering: Vec<Option<Vec<u8>>> = Vec::new();
    // Without static columns no partition starts with a static row, so its
    // first row can be lent too.
    let statics_possible = m.has_static_columns();
    while let Some(p) = m.next_partition(partitioner)? {
        if !opts.range.contains(&p.token) {
            if matches!(&opts.range.end, Some(e) if p.token > *e) {
                break;
            }
            continue;
        }
        split_partition_key_into(schema, &p.key, &mut key_parts)
            .map_err(|e| ReadError::format(first.data_path(), e))?;
        // Shadowing uses the partition deletion even when it is purged.
        let partition_deletion = p.deletion;
        let info = PartitionInfo {
            key: p.key,
            key_parts: std::mem::take(&mut key_parts),
            token: p.token,
            deletion: purge.deletion(p.deletion),
        };
        f(TableEvent::Partition(&info))?;
        let mut emitted = 0u64;
        // The merge gives the static row first. Its live columns are lent
        // to every row of the partition, so it is held to the partition's end.
        let mut next = None;
        let mut static_row = None;
        if statics_possible {
            next = m.next_unfiltered()?;
            static_row = match next.take() {
                Some(MergedUnfiltered::Row(r)) if r.is_static => Some(r),
                other => {
                    next = other;
                    None
                }
            };
        }
        let mut statics = reuse(std::mem::take(&mut statics_buf));
        if let Some(row) = &static_row {
            let del = newer(partition_deletion, row.deletion);
            if opts.cell_deletions {
                let dead = dead_cells(
                    owned_columns(row),
                    row.is_static,
                    del,
                    &schema.statics,
                    now,
                    purge,
                );
                if !dead.is_empty() {
                    f(TableEvent::CellDeletions {
                        partition: &info,
                        clustering: None,
                        cells: &dead,
                    })?;
                }
            }
            live_columns(owned_columns(row), del, &schema.statics, now, &mut statics);
            if schema.compact_static {
                if !statics.is_empty() {
                    // A compact table's columns live in the static row.
                    f(TableEvent::Row(TableRow::statics_only(&info, &statics)))?;
                    emitted += 1;
                }
            } else if !statics.is_empty() {
                f(TableEvent::Statics(&info, &statics))?;
            }
        }
        let mut walk = RowWalk {
            schema,
            opts,
            purge,
            info: &info,
            partition_deletion,
            statics: &statics,
            regulars_buf: &mut regulars_buf,
            emitted: &mut emitted,
        };
        // The merged range tombstone open here, and the marker that opened it.
        let mut range_open: Option<OwnedMarker> = None;
        loop {
            // The range deletion over the next row, if any (live: none).
            let range_deletion = range_open
                .as_ref()
                .and_then(OwnedMarker::open_deletion)
                .unwrap_or(DeletionTime::LIVE);
            if next.is_none() {
                match m.lend_next(&mut lent_bufs)? {
                    Lend::Row(row, map) => {
                        lent_clustering.resize_with(row.clustering.len(), || None);
                        for (to, from) in lent_clustering.iter_mut().zip(&row.clustering) {
                            match (to, from) {
                                (Some(to), Some(from)) => {
                                    to.clear();
                                    to.extend_from_slice(from);
                                }
                                (to, from) => *to = from.map(<[u8]>::to_vec),
                            }
                        }
                        walk.row(
                            lent_columns(&row, map),
                            &lent_clustering,
                            row.liveness,
                            newer(row.deletion, range_deletion),
                            &mut f,
                        )?;
                        lent_bufs.recycle(Unfiltered::Row(row));
                        continue;
                    }
                    Lend::End => break,
                    Lend::Merge => {}
                }
            }
            let u = match next.take() {
                Some(u) => u,
                None => match m.next_unfiltered()? {
                    Some(u) => u,
                    None => break,
                },
            };
            let row = match u {
                MergedUnfiltered::Marker(mk) => {
                    if let Some(start) = range_open.take() {
                        let deletion = start.open_deletion().unwrap_or(DeletionTime::LIVE);
                        if !schema.compact_static && !purge.deletion(deletion).is_live() {
                            f(TableEvent::RangeDeletion {
                                partition: &info,
                                start: RangeBound {
                                    prefix: &start.clustering,
                                    inclusive: matches!(
                                        start.kind,
                                        BoundKind::InclStart | BoundKind::ExclEndInclStartBoundary
                                    ),
                                },
                                end: RangeBound {
                                    prefix: &mk.clustering,
                                    inclusive: matches!(
                                        mk.kind,
                                        BoundKind::InclEnd | BoundKind::InclEndExclStartBoundary
                                    ),
                                },
                                deletion,
                            })?;
                        }
                    }
                    if mk.open_deletion().is_some() {
                        range_open = Some(mk);
                    }
                    continue;
                }
                MergedUnfiltered::Row(r) => r,
            };
            if row.is_static {
                // The merge orders a partition's static row before all else.
                return Err(ReadError::other(
                    first.data_path(),
                    "a static row after the first row of its partition",
                ));
            }
            walk.row(
                owned_columns(&row),
                &row.clustering,
                row.liveness,
                newer(row.deletion, range_deletion),
                &mut f,
            )?;
            m.recycle_row(row);
        }
        if emitted == 0 && has_clustering && !schema.compact_static && !statics.is_empty() {
            f(TableEvent::Row(TableRow::statics_only(&info, &statics)))?;
        }
        statics_buf = reuse(statics);
        if let Some(row) = static_row {
            m.recycle_row(row);
        }
        key_parts = info.key_parts;
    }
    Ok(())
}

/// What walking one row of a partition needs.
struct RowWalk<'w, 's> {
    schema: &'w TableSchema,
    opts: &'w TableScanOptions,
    purge: Purge,
    info: &'w PartitionInfo,
    partition_deletion: DeletionTime,
    /// The partition's live static columns.
    statics: &'w [LiveColumnData<'s>],
    regulars_buf: &'w mut Vec<LiveColumnData<'static>>,
    /// Rows reported live in this partition.
    emitted: &'w mut u64,
}

impl RowWalk<'_, '_> {
    /// Report a (non-static) row with these columns, clustering, liveness
    /// and deletion (its own and the range deletion over it): live, dead,
    /// or (compact tables, whose data is in the static row) not at all.
    fn row<'r, C, F>(
        &mut self,
        columns: impl Iterator<Item = (usize, ColumnCells<'r, C>)> + Clone,
        clustering: &[Option<Vec<u8>>],
        liveness: LivenessInfo,
        deletion: DeletionTime,
        f: &mut F,
    ) -> Result<()>
    where
        C: AsCell + 'r,
        F: FnMut(TableEvent<'_>) -> Result<()>,
    {
        let (schema, now, purge) = (self.schema, self.opts.now, self.purge);
        let del = newer(self.partition_deletion, deletion);
        if self.opts.cell_deletions && !schema.compact_static {
            let dead = dead_cells(columns.clone(), false, del, &schema.regulars, now, purge);
            if !dead.is_empty() {
                f(TableEvent::CellDeletions {
                    partition: self.info,
                    clustering: Some(clustering),
                    cells: &dead,
                })?;
            }
        }
        if schema.compact_static {
            return Ok(());
        }
        let marker_live =
            liveness.is_live(now) && liveness.timestamp.is_some_and(|ts| !del.deletes(ts));
        // Expired liveness is a deletion of the row marker at its
        // timestamp (Cassandra's purger treats it so).
        let expired_liveness = liveness.timestamp.filter(|&ts| {
            liveness.ttl != 0
                && !liveness.is_live(now)
                && !del.deletes(ts)
                && !purge.purgeable(liveness.local_expiration_time)
        });
        let mut regulars = reuse(std::mem::take(self.regulars_buf));
        live_columns(columns.clone(), del, &schema.regulars, now, &mut regulars);
        if marker_live || !regulars.is_empty() {
            f(TableEvent::Row(TableRow {
                partition: self.info,
                clustering: Some(clustering),
                statics: self.statics,
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
                expired_liveness,
            }))?;
            *self.emitted += 1;
        } else {
            let reported = purge.deletion(del);
            let deleted = (!reported.is_live()).then_some(reported.marked_for_delete_at);
            // Purged, a row is reported dead only while some deletion of
            // it remains: its own or a cell's (compaction drops the rest).
            let remains = purge.gc_before.is_none()
                || deleted.is_some()
                || expired_liveness.is_some()
                || !dead_cells(columns, false, del, &schema.regulars, now, purge).is_empty();
            if remains {
                f(TableEvent::DeadRow {
                    partition: self.info,
                    clustering,
                    deleted_at: deleted.max(expired_liveness),
                })?;
            }
        }
        *self.regulars_buf = reuse(regulars);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector of live columns handed from row to row keeps its
    /// allocation, so rows cost none.
    #[test]
    fn reuse_keeps_the_allocation() {
        let value = vec![1u8, 2, 3];
        let mut v: Vec<LiveColumnData<'_>> = Vec::with_capacity(8);
        v.push(LiveColumnData {
            index: 0,
            complex: false,
            cells: LiveCells::One(LiveCell {
                timestamp: 1,
                ttl: 0,
                expires_at: None,
                path: None,
                value: &value,
            }),
        });
        let ptr = v.as_ptr() as usize;
        let w: Vec<LiveColumnData<'static>> = reuse(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 8);
        assert_eq!(w.as_ptr() as usize, ptr);
    }
}
