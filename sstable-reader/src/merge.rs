//! Merging the sstables of one table into the table's current state, with
//! Cassandra's reconciliation rules: partitions in token order, rows in
//! clustering order, newer data winning, deletions shadowing what they cover.
//!
//! Rows stream: a partition is never held whole. Each source sstable
//! contributes its next row at a time (copied out of its window), and the
//! merged row carries, in its deletion, the newest range tombstone covering it.
//! A partition that one sstable alone holds needs no merge: its rows can be
//! lent as decoded, values still in the window ([`Merger::lend_next`]).

use crate::error::Result;
use crate::scanner::{ScanOptions, Scanner};
use crate::schema::Column;
use crate::sstable::SSTable;
use sstable_format::compare::compare_clustering;
use sstable_format::data::{
    BoundKind, Cell, ColumnData, DeletionTime, LivenessInfo, RangeTombstoneMarker, Row, RowBuffers,
    Unfiltered,
};
use sstable_format::{CqlType, Token, Version};
use std::cmp::Ordering;

/// An owned cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedCell {
    pub timestamp: i64,
    pub ttl: i32,
    pub local_deletion_time: i64,
    pub is_tombstone: bool,
    pub is_expiring: bool,
    pub path: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

impl OwnedCell {
    pub fn as_cell(&self) -> Cell<'_> {
        Cell {
            timestamp: self.timestamp,
            ttl: self.ttl,
            local_deletion_time: self.local_deletion_time,
            is_tombstone: self.is_tombstone,
            is_expiring: self.is_expiring,
            path: self.path.as_deref(),
            value: &self.value,
        }
    }
}

/// The data of one column of an owned row (indices into the unified schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedColumn {
    Simple {
        column: usize,
        cell: OwnedCell,
    },
    Complex {
        column: usize,
        deletion: DeletionTime,
        cells: Vec<OwnedCell>,
    },
}

impl OwnedColumn {
    pub fn column(&self) -> usize {
        match self {
            OwnedColumn::Simple { column, .. } | OwnedColumn::Complex { column, .. } => *column,
        }
    }
}

/// An owned row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRow {
    pub is_static: bool,
    pub clustering: Vec<Option<Vec<u8>>>,
    pub liveness: LivenessInfo,
    pub deletion: DeletionTime,
    pub columns: Vec<OwnedColumn>,
}

impl OwnedRow {
    /// A borrowed view in the row model every sink understands.
    pub fn as_row(&self) -> Row<'_> {
        Row {
            is_static: self.is_static,
            clustering: self.clustering.iter().map(|v| v.as_deref()).collect(),
            liveness: self.liveness,
            deletion: self.deletion,
            shadowable_deletion: false,
            columns: self
                .columns
                .iter()
                .map(|c| match c {
                    OwnedColumn::Simple { column, cell } => ColumnData::Simple {
                        column: *column,
                        cell: cell.as_cell(),
                    },
                    OwnedColumn::Complex {
                        column,
                        deletion,
                        cells,
                    } => ColumnData::Complex {
                        column: *column,
                        deletion: *deletion,
                        cells: cells.iter().map(OwnedCell::as_cell).collect(),
                    },
                })
                .collect(),
        }
    }
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

/// Whose rules settle a tie (equal timestamps) between two versions of a
/// cell or of a row's liveness. Cassandra changed them in 4.0
/// (CASSANDRA-14592, and values compared as unsigned bytes): a table is read
/// by the rules of the Cassandra that wrote its newest sstables, as that
/// node would answer a `SELECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// 4.0 and later (`na` onwards): a tombstone or expiring cell beats a
    /// plain one and a tombstone an expiring one, then the later deletion
    /// or expiry, then (both expiring) the shorter TTL, then the greater
    /// value as unsigned bytes. Liveness: [`LivenessInfo::supersedes`].
    Current,
    /// 3.x and 2.x: a cell dead at `now` (seconds) beats a live one, then
    /// the greater value as signed bytes (`ByteBuffer.compareTo`), then the
    /// later deletion or expiry. Liveness: [`LivenessInfo::supersedes_3x`].
    Legacy { now: i64 },
}

impl Rules {
    /// The rules of the newest of `versions`, with `now` for 3.x's.
    pub fn for_versions(versions: impl IntoIterator<Item = Version>, now: i64) -> Rules {
        if versions.into_iter().any(Version::is_cassandra_4_or_later) {
            Rules::Current
        } else {
            Rules::Legacy { now }
        }
    }

    /// Does `a` win over `b` (two versions of a row's liveness)?
    pub fn liveness_wins(self, a: &LivenessInfo, b: &LivenessInfo) -> bool {
        match self {
            Rules::Current => a.supersedes(b),
            Rules::Legacy { .. } => a.supersedes_3x(b),
        }
    }
}

/// Cassandra's cell reconciliation ([`Rules::Current`]).
pub fn reconcile(a: OwnedCell, b: OwnedCell) -> OwnedCell {
    reconcile_by(Rules::Current, a, b)
}

/// Cell reconciliation by `rules`: the higher timestamp wins, then the tie
/// rules of [`Rules`].
pub fn reconcile_by(rules: Rules, a: OwnedCell, b: OwnedCell) -> OwnedCell {
    if a.timestamp != b.timestamp {
        return if a.timestamp > b.timestamp { a } else { b };
    }
    let a_wins = match rules {
        Rules::Current => {
            let dead = |c: &OwnedCell| c.is_tombstone || c.is_expiring;
            if dead(&a) != dead(&b) {
                dead(&a)
            } else if dead(&a) && a.is_tombstone != b.is_tombstone {
                a.is_tombstone
            } else if dead(&a) && a.local_deletion_time != b.local_deletion_time {
                a.local_deletion_time > b.local_deletion_time
            } else if a.is_expiring && b.is_expiring && a.ttl != b.ttl {
                a.ttl < b.ttl
            } else {
                a.value >= b.value
            }
        }
        Rules::Legacy { now } => {
            let live = |c: &OwnedCell| c.as_cell().is_live(now);
            if live(&a) != live(&b) {
                !live(&a)
            } else {
                let signed_a = a.value.iter().map(|&x| x as i8);
                match signed_a.cmp(b.value.iter().map(|&x| x as i8)) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal => a.local_deletion_time >= b.local_deletion_time,
                }
            }
        }
    };
    if a_wins {
        a
    } else {
        b
    }
}

/// Merge two counter contexts: shards by counter id, the higher clock wins.
pub fn merge_counter_contexts(a: &[u8], b: &[u8]) -> Vec<u8> {
    let shards = |c: &[u8]| -> Vec<([u8; 16], i64, i64)> {
        if c.len() < 2 {
            return Vec::new();
        }
        let n = i16::from_be_bytes([c[0], c[1]]).unsigned_abs() as usize;
        let body = c.get(2 + 2 * n..).unwrap_or(&[]);
        body.chunks_exact(32)
            .map(|s| {
                let mut id = [0u8; 16];
                id.copy_from_slice(&s[..16]);
                let clock = i64::from_be_bytes(s[16..24].try_into().unwrap_or([0; 8]));
                let count = i64::from_be_bytes(s[24..32].try_into().unwrap_or([0; 8]));
                (id, clock, count)
            })
            .collect()
    };
    let mut all = shards(a);
    for s in shards(b) {
        match all.iter_mut().find(|x| x.0 == s.0) {
            // The higher clock wins; equal clocks with different counts are
            // an invalid state Cassandra resolves to the higher count.
            Some(x) if s.1 > x.1 || (s.1 == x.1 && s.2 > x.2) => *x = s,
            Some(_) => {}
            None => all.push(s),
        }
    }
    all.sort_by_key(|x| x.0);
    let mut out = vec![0u8, 0u8];
    for (id, clock, count) in all {
        out.extend_from_slice(&id);
        out.extend_from_slice(&clock.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
    }
    out
}

fn merge_cell(a: OwnedCell, b: OwnedCell, counter: bool, rules: Rules) -> OwnedCell {
    if counter && !a.is_tombstone && !b.is_tombstone {
        let value = merge_counter_contexts(&a.value, &b.value);
        let mut c = if a.timestamp >= b.timestamp { a } else { b };
        c.value = value;
        return c;
    }
    reconcile_by(rules, a, b)
}

fn path_type(t: &CqlType) -> CqlType {
    match t {
        CqlType::List { .. } => CqlType::TimeUuid,
        CqlType::Set { elem, .. } => (**elem).clone(),
        CqlType::Map { key, .. } => (**key).clone(),
        CqlType::Udt(_) => CqlType::SmallInt,
        _ => CqlType::Blob,
    }
}

fn merge_rows(a: OwnedRow, b: OwnedRow, cols: &[Column], rules: Rules) -> OwnedRow {
    let liveness = if rules.liveness_wins(&b.liveness, &a.liveness) {
        b.liveness
    } else {
        a.liveness
    };
    let deletion = newer(a.deletion, b.deletion);
    let mut columns: Vec<OwnedColumn> = Vec::with_capacity(a.columns.len().max(b.columns.len()));
    let mut ia = a.columns.into_iter().peekable();
    let mut ib = b.columns.into_iter().peekable();
    loop {
        let next = match (ia.peek(), ib.peek()) {
            (None, None) => break,
            (Some(_), None) => ia.next(),
            (None, Some(_)) => ib.next(),
            (Some(x), Some(y)) => match x.column().cmp(&y.column()) {
                Ordering::Less => ia.next(),
                Ordering::Greater => ib.next(),
                Ordering::Equal => {
                    let (x, y) = (ia.next(), ib.next());
                    match (x, y) {
                        (Some(x), Some(y)) => Some(merge_column(x, y, cols, rules)),
                        (x, y) => x.or(y),
                    }
                }
            },
        };
        if let Some(c) = next {
            columns.push(c);
        }
    }
    OwnedRow {
        is_static: a.is_static,
        clustering: a.clustering,
        liveness,
        deletion,
        columns,
    }
}

fn merge_column(x: OwnedColumn, y: OwnedColumn, cols: &[Column], rules: Rules) -> OwnedColumn {
    match (x, y) {
        (OwnedColumn::Simple { column, cell: a }, OwnedColumn::Simple { cell: b, .. }) => {
            let counter = cols.get(column).is_some_and(|c| c.cql_type.is_counter());
            OwnedColumn::Simple {
                column,
                cell: merge_cell(a, b, counter, rules),
            }
        }
        (
            OwnedColumn::Complex {
                column,
                deletion: da,
                cells: ca,
            },
            OwnedColumn::Complex {
                deletion: db,
                cells: cb,
                ..
            },
        ) => {
            let pt = cols
                .get(column)
                .map(|c| path_type(&c.cql_type))
                .unwrap_or(CqlType::Blob);
            let mut cells: Vec<OwnedCell> = Vec::with_capacity(ca.len() + cb.len());
            let mut ia = ca.into_iter().peekable();
            let mut ib = cb.into_iter().peekable();
            loop {
                let next = match (ia.peek(), ib.peek()) {
                    (None, None) => break,
                    (Some(_), None) => ia.next(),
                    (None, Some(_)) => ib.next(),
                    (Some(p), Some(q)) => {
                        let (pp, qp) = (
                            p.path.as_deref().unwrap_or(&[]),
                            q.path.as_deref().unwrap_or(&[]),
                        );
                        match sstable_format::compare::compare_values(&pt, pp, qp) {
                            Ordering::Less => ia.next(),
                            Ordering::Greater => ib.next(),
                            Ordering::Equal => match (ia.next(), ib.next()) {
                                (Some(p), Some(q)) => Some(reconcile_by(rules, p, q)),
                                (p, q) => p.or(q),
                            },
                        }
                    }
                };
                if let Some(c) = next {
                    cells.push(c);
                }
            }
            OwnedColumn::Complex {
                column,
                deletion: newer(da, db),
                cells,
            }
        }
        // A column cannot be simple in one sstable and complex in another;
        // keep the first if that ever happens.
        (x, _) => x,
    }
}

/// Position of a marker relative to a row with the same prefix.
fn bound_weight(kind: BoundKind) -> i32 {
    match kind {
        BoundKind::InclStart | BoundKind::ExclEnd | BoundKind::ExclEndInclStartBoundary => -1,
        BoundKind::Clustering | BoundKind::StaticClustering => 0,
        BoundKind::ExclStart | BoundKind::InclEnd | BoundKind::InclEndExclStartBoundary => 1,
        _ => 0,
    }
}

/// One element of a source: a row (already remapped) or a marker.
#[derive(Debug, Clone)]
enum Elem {
    Row(OwnedRow),
    Marker {
        kind: BoundKind,
        clustering: Vec<Option<Vec<u8>>>,
        open_after: Option<DeletionTime>,
    },
}

impl Elem {
    fn clustering(&self) -> (&[Option<Vec<u8>>], i32) {
        match self {
            Elem::Row(r) => (&r.clustering, if r.is_static { -2 } else { 0 }),
            Elem::Marker {
                kind, clustering, ..
            } => (clustering, bound_weight(*kind)),
        }
    }
}

fn cmp_elems(types: &[CqlType], a: &Elem, b: &Elem) -> Ordering {
    let (ca, wa) = a.clustering();
    let (cb, wb) = b.clustering();
    if wa == -2 || wb == -2 {
        return wb.cmp(&wa).reverse();
    }
    let n = ca.len().min(cb.len());
    match compare_clustering(types, &ca[..n], &cb[..n]) {
        Ordering::Equal => {}
        o => return o,
    }
    // Equal on the common prefix: the kinds decide (a bound is before or
    // after all rows that extend its prefix).
    let ka = if ca.len() > n { 0 } else { wa };
    let kb = if cb.len() > n { 0 } else { wb };
    ka.cmp(&kb)
}

struct Source<'s> {
    scan: Scanner<'s>,
    statics: Vec<usize>,
    regulars: Vec<usize>,
    /// `regulars` increases (past unknown columns): the sstable's rows
    /// list their columns in unified order, so they can be lent as read.
    regulars_ordered: bool,
    partition: Option<(Token, crate::scanner::PartitionStart)>,
    head: Option<Elem>,
    open: Option<DeletionTime>,
    bufs: sstable_format::data::RowBuffers,
}

/// A range-tombstone marker of the merged stream (same model as
/// [`RangeTombstoneMarker`], owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMarker {
    pub kind: BoundKind,
    pub clustering: Vec<Option<Vec<u8>>>,
    /// For a bound: its deletion. For a boundary: the deletion that ends here.
    pub deletion: DeletionTime,
    /// For a boundary: the deletion that starts here.
    pub start_deletion: Option<DeletionTime>,
}

impl OwnedMarker {
    /// The deletion open after this marker, if any.
    pub fn open_deletion(&self) -> Option<DeletionTime> {
        self.as_marker().open_deletion()
    }

    /// The marker that moves the open deletion from `prev` to `next` at the
    /// position of a bound of kind `at` (before or after the rows with this
    /// clustering prefix), as Cassandra's `RangeTombstoneMarker.Merger` makes
    /// it; `None` when nothing changes. Live deletions mean "none open".
    pub fn transition(
        at: BoundKind,
        clustering: &[Option<Vec<u8>>],
        prev: DeletionTime,
        next: DeletionTime,
    ) -> Option<OwnedMarker> {
        if prev == next {
            return None;
        }
        let before = bound_weight(at) < 0;
        let (kind, deletion, start_deletion) = if prev.is_live() {
            let k = if before {
                BoundKind::InclStart
            } else {
                BoundKind::ExclStart
            };
            (k, next, None)
        } else if next.is_live() {
            let k = if before {
                BoundKind::ExclEnd
            } else {
                BoundKind::InclEnd
            };
            (k, prev, None)
        } else {
            let k = if before {
                BoundKind::ExclEndInclStartBoundary
            } else {
                BoundKind::InclEndExclStartBoundary
            };
            (k, prev, Some(next))
        };
        Some(OwnedMarker {
            kind,
            clustering: clustering.to_vec(),
            deletion,
            start_deletion,
        })
    }

    /// A borrowed view in the decoder's model.
    pub fn as_marker(&self) -> RangeTombstoneMarker<'_> {
        RangeTombstoneMarker {
            kind: self.kind,
            clustering: self.clustering.iter().map(|v| v.as_deref()).collect(),
            deletion: self.deletion,
            start_deletion: self.start_deletion,
        }
    }
}

/// One element of a merged partition: a row, or a range-tombstone marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergedUnfiltered {
    Row(OwnedRow),
    Marker(OwnedMarker),
}

/// What [`Merger::lend_next`] gives.
#[derive(Debug)]
pub enum Lend<'m> {
    /// The partition's next row, lent by its only sstable: values borrowed
    /// from the scanner's window, columns numbered as that sstable's header
    /// numbers its regular columns. The slice maps each to its index in
    /// the unified regular columns (`usize::MAX`: not among them); the
    /// indices of the row's columns increase in the row's order.
    Row(Row<'m>, &'m [usize]),
    /// The partition has no more elements.
    End,
    /// Take the next element from [`Merger::next_unfiltered`].
    Merge,
}

/// Does `a` supersede `b` (Cassandra's `DeletionTime.supersedes`)?
pub fn supersedes(a: DeletionTime, b: DeletionTime) -> bool {
    if a.is_live() {
        return false;
    }
    if b.is_live() {
        return true;
    }
    a.marked_for_delete_at > b.marked_for_delete_at
        || (a.marked_for_delete_at == b.marked_for_delete_at
            && a.local_deletion_time > b.local_deletion_time)
}

/// A merged partition's header.
#[derive(Debug, Clone)]
pub struct MergedPartition {
    pub key: Vec<u8>,
    pub token: Token,
    pub deletion: DeletionTime,
}

/// K-way merge of the sstables of one table.
pub struct Merger<'s> {
    sources: Vec<Source<'s>>,
    clustering_types: Vec<CqlType>,
    statics: Vec<Column>,
    regulars: Vec<Column>,
    current: Vec<usize>,
    started: bool,
    /// The open range deletion of the merged stream (`next_unfiltered`).
    merged_open: DeletionTime,
    partition_deletion: DeletionTime,
    /// Buffers of rows already consumed (see [`Merger::recycle_row`]).
    pool: RowPool,
    /// Tie rules: those of the newest sstable's Cassandra.
    rules: Rules,
}

/// Spare buffers for building owned rows, so that a steady scan allocates
/// almost nothing per row. Bounded: at most `POOL_MAX` of each kind, none
/// larger than `POOL_MAX_BYTES`.
#[derive(Default)]
struct RowPool {
    columns: Vec<Vec<OwnedColumn>>,
    clustering: Vec<Vec<Option<Vec<u8>>>>,
    bytes: Vec<Vec<u8>>,
}

const POOL_MAX: usize = 64;
const POOL_MAX_BYTES: usize = 64 * 1024;

impl RowPool {
    fn bytes_from(&mut self, v: &[u8]) -> Vec<u8> {
        match self.bytes.pop() {
            Some(mut b) => {
                b.clear();
                b.extend_from_slice(v);
                b
            }
            None => v.to_vec(),
        }
    }

    fn give_bytes(&mut self, b: Vec<u8>) {
        if self.bytes.len() < POOL_MAX && b.capacity() <= POOL_MAX_BYTES && b.capacity() > 0 {
            self.bytes.push(b);
        }
    }

    fn cell(&mut self, c: &Cell) -> OwnedCell {
        OwnedCell {
            timestamp: c.timestamp,
            ttl: c.ttl,
            local_deletion_time: c.local_deletion_time,
            is_tombstone: c.is_tombstone,
            is_expiring: c.is_expiring,
            path: c.path.map(|p| self.bytes_from(p)),
            value: self.bytes_from(c.value),
        }
    }

    fn give_cell(&mut self, c: OwnedCell) {
        if let Some(p) = c.path {
            self.give_bytes(p);
        }
        self.give_bytes(c.value);
    }
}

fn index_map(cols: &[sstable_format::statistics::HeaderColumn], unified: &[Column]) -> Vec<usize> {
    cols.iter()
        .map(|c| {
            let name = c.name_str();
            unified
                .iter()
                .position(|u| u.name == name)
                .unwrap_or(usize::MAX)
        })
        .collect()
}

impl<'s> Merger<'s> {
    /// `statics` and `regulars` name the unified columns (the union over the
    /// sstables); every sstable's columns are mapped onto them by name.
    pub fn new(
        ssts: &[&'s SSTable],
        opts: ScanOptions,
        clustering_types: Vec<CqlType>,
        statics: Vec<Column>,
        regulars: Vec<Column>,
    ) -> Self {
        let scans = ssts.iter().map(|s| (*s, Scanner::new(s, opts))).collect();
        Self::with_scanners(scans, clustering_types, statics, regulars)
    }

    /// Merge the given scanners (e.g. positioned on a token range or key).
    pub fn with_scanners(
        scans: Vec<(&'s SSTable, Scanner<'s>)>,
        clustering_types: Vec<CqlType>,
        statics: Vec<Column>,
        regulars: Vec<Column>,
    ) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let rules = Rules::for_versions(scans.iter().map(|(s, _)| s.version()), now);
        let sources = scans
            .into_iter()
            .map(|(s, scan)| {
                let regulars = index_map(&s.header.regular_columns, &regulars);
                Source {
                    scan,
                    statics: index_map(&s.header.static_columns, &statics),
                    regulars_ordered: regulars
                        .iter()
                        .filter(|&&c| c != usize::MAX)
                        .is_sorted_by(|a, b| a < b),
                    regulars,
                    partition: None,
                    head: None,
                    open: None,
                    bufs: Default::default(),
                }
            })
            .collect();
        Merger {
            sources,
            clustering_types,
            statics,
            regulars,
            current: Vec::new(),
            started: false,
            merged_open: DeletionTime::LIVE,
            partition_deletion: DeletionTime::LIVE,
            pool: RowPool::default(),
            rules,
        }
    }

    /// Read as at `now` (seconds since the epoch; by default the clock's):
    /// 3.x's tie rules ([`Rules::Legacy`]) depend on what has expired.
    pub fn set_now(&mut self, now: i64) {
        if let Rules::Legacy { now: n } = &mut self.rules {
            *n = now;
        }
    }

    /// The tie rules this merger reconciles by.
    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Hand back a row this merger returned, once done with it: its
    /// buffers serve the next rows. Optional; dropping rows is fine too.
    pub fn recycle_row(&mut self, row: OwnedRow) {
        let OwnedRow {
            mut columns,
            mut clustering,
            ..
        } = row;
        for c in columns.drain(..) {
            match c {
                OwnedColumn::Simple { cell, .. } => self.pool.give_cell(cell),
                OwnedColumn::Complex { cells, .. } => {
                    for c in cells {
                        self.pool.give_cell(c);
                    }
                }
            }
        }
        for v in clustering.drain(..).flatten() {
            self.pool.give_bytes(v);
        }
        if self.pool.columns.len() < POOL_MAX {
            self.pool.columns.push(columns);
        }
        if self.pool.clustering.len() < POOL_MAX {
            self.pool.clustering.push(clustering);
        }
    }

    fn advance_partition(
        src: &mut Source<'s>,
        sst_partitioner: sstable_format::Partitioner,
    ) -> Result<()> {
        src.partition = src
            .scan
            .next_partition()?
            .map(|p| (sst_partitioner.token(&p.key), p));
        src.head = None;
        src.open = None;
        Ok(())
    }

    /// The next partition in token order, merged across the sources.
    pub fn next_partition(
        &mut self,
        partitioner: sstable_format::Partitioner,
    ) -> Result<Option<MergedPartition>> {
        // Finish the previous group: move its sources on.
        let mut moved = Ok(());
        for &i in &self.current {
            moved = Self::advance_partition(&mut self.sources[i], partitioner);
            if moved.is_err() {
                break;
            }
        }
        self.current.clear();
        moved?;
        if !self.started {
            self.started = true;
            for s in &mut self.sources {
                Self::advance_partition(s, partitioner)?;
            }
        }
        // The first (token, key) of the sources' partitions.
        let mut best: Option<(&Token, &[u8])> = None;
        for s in &self.sources {
            if let Some((t, p)) = &s.partition {
                let k = (t, p.key.as_slice());
                if best.is_none_or(|b| k < b) {
                    best = Some(k);
                }
            }
        }
        let Some((token, key)) = best.map(|(t, k)| (t.clone(), k.to_vec())) else {
            return Ok(None);
        };
        let mut deletion = DeletionTime::LIVE;
        for (i, s) in self.sources.iter().enumerate() {
            if let Some((t, p)) = &s.partition {
                if *t == token && p.key == key {
                    self.current.push(i);
                    deletion = newer(deletion, p.deletion);
                }
            }
        }
        self.merged_open = DeletionTime::LIVE;
        self.partition_deletion = deletion;
        Ok(Some(MergedPartition {
            key,
            token,
            deletion,
        }))
    }

    fn fill_head(&mut self, i: usize) -> Result<()> {
        let src = &mut self.sources[i];
        if src.head.is_some() {
            return Ok(());
        }
        let Some(u) = src.scan.next_unfiltered_in(&mut src.bufs)? else {
            return Ok(());
        };
        src.head = Some(owned_elem(&u, &src.statics, &src.regulars, &mut self.pool));
        src.bufs.recycle(u);
        Ok(())
    }

    /// Does any source's sstable have static columns? Without them no
    /// partition has a static row.
    pub fn has_static_columns(&self) -> bool {
        self.sources.iter().any(|s| !s.statics.is_empty())
    }

    /// The next element of the current partition without copying it, when
    /// it is a row of the partition's only sstable: a partition most
    /// sstables do not share needs no merge. Otherwise (several sources,
    /// an element already read, a marker or static row, or columns the
    /// sstable orders unlike the unified schema) the element is left for
    /// [`Merger::next_unfiltered`]. A lent row is decoded into `bufs`;
    /// hand its vectors back there ([`RowBuffers::recycle`]).
    pub fn lend_next<'m>(&'m mut self, bufs: &mut RowBuffers) -> Result<Lend<'m>> {
        let &[i] = self.current.as_slice() else {
            return Ok(Lend::Merge);
        };
        let Some(src) = self.sources.get_mut(i) else {
            return Ok(Lend::Merge);
        };
        if src.head.is_some() || !src.regulars_ordered {
            return Ok(Lend::Merge);
        }
        let Some(u) = src.scan.next_unfiltered_in(bufs)? else {
            return Ok(Lend::End);
        };
        match u {
            Unfiltered::Row(row) if !row.is_static => Ok(Lend::Row(row, &src.regulars)),
            u => {
                src.head = Some(owned_elem(&u, &src.statics, &src.regulars, &mut self.pool));
                bufs.recycle(u);
                Ok(Lend::Merge)
            }
        }
    }

    /// The next merged row of the current partition (static row first);
    /// its `deletion` includes the newest range tombstone covering it.
    pub fn next_row(&mut self) -> Result<Option<OwnedRow>> {
        loop {
            let group = self.current.clone();
            for &i in &group {
                self.fill_head(i)?;
            }
            // The smallest head.
            let mut min: Option<usize> = None;
            for &i in &group {
                let Some(h) = &self.sources[i].head else {
                    continue;
                };
                min = match min {
                    None => Some(i),
                    Some(m) => {
                        let mh = self.sources[m].head.as_ref();
                        match mh {
                            Some(mh)
                                if cmp_elems(&self.clustering_types, h, mh) == Ordering::Less =>
                            {
                                Some(i)
                            }
                            _ => Some(m),
                        }
                    }
                };
            }
            let Some(m) = min else { return Ok(None) };
            let head = self.sources[m].head.take();
            match head {
                Some(Elem::Marker { open_after, .. }) => {
                    self.sources[m].open = open_after;
                    continue;
                }
                Some(Elem::Row(row)) => {
                    // Merge equal rows from the other sources.
                    let mut row = self.merge_equal_heads(m, row);
                    if !row.is_static {
                        for &i in &group {
                            if let Some(d) = self.sources[i].open {
                                row.deletion = newer(row.deletion, d);
                            }
                        }
                    }
                    return Ok(Some(row));
                }
                None => return Ok(None),
            }
        }
    }
}

impl Merger<'_> {
    /// Merge into `row` (the head taken from source `m`) the equal rows at
    /// the heads of the other sources of the current partition.
    fn merge_equal_heads(&mut self, m: usize, mut row: OwnedRow) -> OwnedRow {
        for g in 0..self.current.len() {
            let i = self.current[g];
            if i == m {
                continue;
            }
            let equal = match &self.sources[i].head {
                Some(Elem::Row(o)) => {
                    o.is_static == row.is_static
                        && (row.is_static
                            || cmp_rows(&self.clustering_types, o, &row) == Ordering::Equal)
                }
                _ => false,
            };
            if equal {
                if let Some(Elem::Row(other)) = self.sources[i].head.take() {
                    let cols = if row.is_static {
                        &self.statics
                    } else {
                        &self.regulars
                    };
                    row = merge_rows(row, other, cols, self.rules);
                }
            }
        }
        row
    }

    /// The index of the source whose head comes first, filling heads.
    fn min_head(&mut self) -> Result<Option<usize>> {
        let mut min: Option<usize> = None;
        for g in 0..self.current.len() {
            let i = self.current[g];
            self.fill_head(i)?;
            let Some(h) = &self.sources[i].head else {
                continue;
            };
            min = match min {
                Some(m) => match &self.sources[m].head {
                    Some(mh) if cmp_elems(&self.clustering_types, h, mh) != Ordering::Less => {
                        Some(m)
                    }
                    _ => Some(i),
                },
                None => Some(i),
            };
        }
        Ok(min)
    }

    /// The next element of the current partition in the merged stream that
    /// a compaction would write: rows merged (their own deletion only), and
    /// range-tombstone markers merged so that one deletion is open at a time
    /// (the newest; none where the partition deletion covers it).
    pub fn next_unfiltered(&mut self) -> Result<Option<MergedUnfiltered>> {
        loop {
            let Some(m) = self.min_head()? else {
                return Ok(None);
            };
            match self.sources[m].head.take() {
                Some(head @ Elem::Marker { .. }) => {
                    let group = self.current.clone();
                    // Every source's marker at this same position moves at once.
                    let mut at = head;
                    for &i in &group {
                        let same = i == m
                            || matches!(&self.sources[i].head, Some(h @ Elem::Marker { .. })
                                if cmp_elems(&self.clustering_types, h, &at) == Ordering::Equal);
                        if !same {
                            continue;
                        }
                        let e = if i == m {
                            at.clone()
                        } else {
                            match self.sources[i].head.take() {
                                Some(e) => e,
                                None => continue,
                            }
                        };
                        if let Elem::Marker { open_after, .. } = &e {
                            self.sources[i].open = *open_after;
                        }
                        at = e;
                    }
                    let mut open = self.partition_deletion;
                    for &i in &group {
                        if let Some(d) = self.sources[i].open {
                            if supersedes(d, open) {
                                open = d;
                            }
                        }
                    }
                    if open == self.partition_deletion {
                        open = DeletionTime::LIVE;
                    }
                    let prev = std::mem::replace(&mut self.merged_open, open);
                    if let Elem::Marker {
                        kind, clustering, ..
                    } = &at
                    {
                        if let Some(mk) = OwnedMarker::transition(*kind, clustering, prev, open) {
                            return Ok(Some(MergedUnfiltered::Marker(mk)));
                        }
                    }
                }
                Some(Elem::Row(row)) => {
                    let row = self.merge_equal_heads(m, row);
                    return Ok(Some(MergedUnfiltered::Row(row)));
                }
                None => return Ok(None),
            }
        }
    }

    /// The range deletion open in the merged stream at this point.
    pub fn open_deletion(&self) -> DeletionTime {
        self.merged_open
    }
}

fn cmp_rows(types: &[CqlType], a: &OwnedRow, b: &OwnedRow) -> Ordering {
    compare_clustering(types, &a.clustering, &b.clustering)
}

/// A source's row or marker as the merge holds it: owned, its columns
/// mapped onto the unified schema (through `statics` or `regulars`) and
/// sorted by their unified index.
fn owned_elem(u: &Unfiltered, statics: &[usize], regulars: &[usize], pool: &mut RowPool) -> Elem {
    let r = match u {
        Unfiltered::Row(r) => r,
        Unfiltered::Marker(m) => return marker_elem(m),
    };
    let map = if r.is_static { statics } else { regulars };
    let mut columns = pool.columns.pop().unwrap_or_default();
    for cd in &r.columns {
        let Some(&col) = map.get(cd.column()) else {
            continue;
        };
        if col == usize::MAX {
            continue;
        }
        columns.push(match cd {
            ColumnData::Simple { cell, .. } => OwnedColumn::Simple {
                column: col,
                cell: pool.cell(cell),
            },
            ColumnData::Complex {
                deletion, cells, ..
            } => OwnedColumn::Complex {
                column: col,
                deletion: *deletion,
                cells: cells.iter().map(|c| pool.cell(c)).collect(),
            },
        });
    }
    columns.sort_by_key(OwnedColumn::column);
    let mut clustering = pool.clustering.pop().unwrap_or_default();
    for v in &r.clustering {
        clustering.push(v.map(|v| pool.bytes_from(v)));
    }
    Elem::Row(OwnedRow {
        is_static: r.is_static,
        clustering,
        liveness: r.liveness,
        deletion: r.deletion,
        columns,
    })
}

fn marker_elem(m: &RangeTombstoneMarker) -> Elem {
    Elem::Marker {
        kind: m.kind,
        clustering: m.clustering.iter().map(|v| v.map(<[u8]>::to_vec)).collect(),
        open_after: m.open_deletion(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ts: i64, v: &[u8]) -> OwnedCell {
        OwnedCell {
            timestamp: ts,
            ttl: 0,
            local_deletion_time: i64::MAX,
            is_tombstone: false,
            is_expiring: false,
            path: None,
            value: v.to_vec(),
        }
    }

    #[test]
    fn reconciliation_rules() {
        assert_eq!(reconcile(cell(1, b"a"), cell(2, b"b")).value, b"b");
        let mut t = cell(2, b"");
        t.is_tombstone = true;
        assert!(reconcile(cell(2, b"z"), t.clone()).is_tombstone);
        let mut e = cell(2, b"a");
        e.is_expiring = true;
        assert!(reconcile(cell(2, b"z"), e).is_expiring);
        assert_eq!(reconcile(cell(2, b"a"), cell(2, b"b")).value, b"b");
        // Values tie-break as unsigned bytes from 4.0, as signed ones in
        // 3.x: 2147483647 against -1 (an int), 0 against 1E+10 (a decimal).
        let (max, minus1) = (&0x7fff_ffffi32.to_be_bytes(), &(-1i32).to_be_bytes());
        assert_eq!(reconcile(cell(2, max), cell(2, minus1)).value, minus1);
        let legacy = Rules::Legacy { now: 0 };
        assert_eq!(
            reconcile_by(legacy, cell(2, max), cell(2, minus1)).value,
            max
        );
        assert_eq!(
            reconcile_by(legacy, cell(2, minus1), cell(2, max)).value,
            max
        );
    }

    #[test]
    fn counter_contexts_merge_by_shard() {
        let ctx = |shards: &[([u8; 16], i64, i64)]| {
            let mut v = vec![0, 0];
            for (id, clock, count) in shards {
                v.extend_from_slice(id);
                v.extend_from_slice(&clock.to_be_bytes());
                v.extend_from_slice(&count.to_be_bytes());
            }
            v
        };
        let a = ctx(&[([1; 16], 1, 5), ([2; 16], 3, 7)]);
        let b = ctx(&[([1; 16], 2, 6), ([3; 16], 1, 1)]);
        let m = merge_counter_contexts(&a, &b);
        assert_eq!(sstable_format::data::counter_value(&m).unwrap(), 6 + 7 + 1);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn any_cell() -> impl Strategy<Value = OwnedCell> {
            // Few distinct timestamps and values, so ties happen often.
            (
                0i64..4,
                any::<bool>(),
                any::<bool>(),
                0i64..3,
                proptest::collection::vec(0u8..3, 0..3),
            )
                .prop_map(|(ts, tomb, exp, ldt, value)| OwnedCell {
                    timestamp: ts,
                    ttl: if exp && !tomb {
                        10 + 10 * (value.len() as i32 % 2)
                    } else {
                        0
                    },
                    local_deletion_time: if tomb || exp { 100 + ldt } else { i64::MAX },
                    is_tombstone: tomb,
                    is_expiring: exp && !tomb,
                    path: None,
                    value: if tomb { Vec::new() } else { value },
                })
        }

        fn counter_ctx() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::btree_map(0u8..4, (0i64..5, -3i64..3), 0..4).prop_map(|m| {
                let mut out = vec![0u8, 0u8];
                for (id, (clock, count)) in m {
                    out.extend_from_slice(&[id; 16]);
                    out.extend_from_slice(&clock.to_be_bytes());
                    out.extend_from_slice(&(count + clock).to_be_bytes());
                }
                out
            })
        }

        /// `cells` in an order drawn from `seed`.
        fn shuffle(cells: &[OwnedCell], seed: u64) -> Vec<OwnedCell> {
            let mut shuffled = cells.to_vec();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            shuffled
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// Replicas and sstables may be merged in any order: the
            /// reconciled cell is the same (Cassandra's rules define a
            /// total order).
            #[test]
            fn reconcile_is_order_independent(cells in proptest::collection::vec(any_cell(), 1..6), seed in any::<u64>()) {
                let fold = |v: &[OwnedCell]| v.iter().cloned().reduce(reconcile).unwrap();
                let forward = fold(&cells);
                let shuffled = shuffle(&cells, seed);
                prop_assert_eq!(&forward, &fold(&shuffled));
                // And it is the cell Cassandra's rules rank highest.
                let key = |c: &OwnedCell| {
                    (c.timestamp, c.is_tombstone, c.is_expiring, c.local_deletion_time,
                     std::cmp::Reverse(c.ttl), c.value.clone())
                };
                let best = cells.iter().max_by_key(|c| key(c)).unwrap();
                prop_assert_eq!(key(&forward), key(best));
            }

            /// The same for 3.x's rules, at any `now`.
            #[test]
            fn legacy_reconcile_is_order_independent(
                cells in proptest::collection::vec(any_cell(), 1..6),
                seed in any::<u64>(),
                now in 99i64..104,
            ) {
                let rules = Rules::Legacy { now };
                let fold = |v: &[OwnedCell]| v.iter().cloned().reduce(|a, b| reconcile_by(rules, a, b)).unwrap();
                let forward = fold(&cells);
                let shuffled = shuffle(&cells, seed);
                let key = |c: &OwnedCell| {
                    let signed: Vec<i8> = c.value.iter().map(|&b| b as i8).collect();
                    (c.timestamp, !c.as_cell().is_live(now), signed, c.local_deletion_time)
                };
                prop_assert_eq!(key(&forward), key(&fold(&shuffled)));
                let best = cells.iter().max_by_key(|c| key(c)).unwrap();
                prop_assert_eq!(key(&forward), key(best));
            }

            /// Counter contexts merge by shard, commutatively, associatively
            /// and idempotently (the same shard seen on two replicas counts once).
            #[test]
            fn counter_merge_laws(a in counter_ctx(), b in counter_ctx(), c in counter_ctx()) {
                let m = merge_counter_contexts;
                prop_assert_eq!(m(&a, &b), m(&b, &a));
                prop_assert_eq!(m(&m(&a, &b), &c), m(&a, &m(&b, &c)));
                prop_assert_eq!(m(&a, &a), m(&a, &[0, 0]));
                prop_assert_eq!(m(&m(&a, &b), &b), m(&a, &b));
            }
        }
    }
}
