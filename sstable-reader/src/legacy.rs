//! Reading 2.1/2.2 sstables (`ka`, `la`, `lb`): their cell-based layout
//! has no serialization header, so a table definition (DDL) describes it.
//! Cells are grouped into rows of the same model as 3.0+.

use crate::ddl::{ColumnKind, TableDef};
use crate::error::{ReadError, Result};
use sstable_format::data::{
    Cell, ColumnData, DeletionTime, LivenessInfo, Row, EXPIRED_LIVENESS_TTL, NO_DELETION_TIME,
};
use sstable_format::legacy::{
    parse_composite, read_atom, LegacyAtom, LegacyCell, COUNTER_UPDATE_MASK,
};
use sstable_format::statistics::{sort_columns, EncodingStats, HeaderColumn, SerializationHeader};
use sstable_format::{Component, CqlType, Error as FmtError, Version};
use std::cmp::Ordering;

/// How a legacy table lays out its cell names.
#[derive(Debug, Clone)]
pub struct LegacyLayout {
    /// Cell names are CompositeType values.
    pub compound: bool,
    /// COMPACT STORAGE with clustering columns: the name is the clustering.
    pub dense: bool,
    pub clustering_types: Vec<CqlType>,
    pub statics: Vec<(Vec<u8>, bool)>,
    pub regulars: Vec<(Vec<u8>, bool)>,
    /// The value column of a dense table (index in `regulars`).
    pub compact_value: Option<usize>,
}

/// A column a cell name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColRef {
    Marker,
    Static(usize),
    Regular(usize),
    /// Not in the schema (dropped): ignored, as Cassandra does.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Name<'a> {
    is_static: bool,
    clustering: Vec<&'a [u8]>,
    column: ColRef,
    element: Option<&'a [u8]>,
}

fn bad(offset: u64, expected: String) -> FmtError {
    FmtError::Invalid {
        component: Component::Data,
        offset,
        expected,
    }
}

impl LegacyLayout {
    /// Derive the layout and a synthesized serialization header from DDL.
    pub fn from_ddl(def: &TableDef) -> (LegacyLayout, SerializationHeader) {
        let compact_static = def.compact_storage && def.clustering.is_empty();
        let dense = def.compact_storage && !def.clustering.is_empty();
        let compound = !def.compact_storage || def.clustering.len() > 1;
        let clustering_types: Vec<CqlType> = def
            .clustering
            .iter()
            .zip(&def.clustering_desc)
            .filter_map(|(n, desc)| {
                def.column(n).map(|c| {
                    if *desc {
                        CqlType::Reversed(Box::new(c.cql_type.clone()))
                    } else {
                        c.cql_type.clone()
                    }
                })
            })
            .collect();
        let col = |c: &crate::ddl::ColumnDef| HeaderColumn {
            name: c.name.as_bytes().to_vec(),
            type_string: c.cql_type.marshal_name(),
            cql_type: c.cql_type.clone(),
        };
        // A static COMPACT STORAGE table keeps its columns as statics, as 3.0 does.
        let static_kind =
            |k: ColumnKind| k == ColumnKind::Static || (compact_static && k == ColumnKind::Regular);
        let mut statics: Vec<HeaderColumn> = def
            .columns
            .iter()
            .filter(|c| static_kind(c.kind))
            .map(col)
            .collect();
        let mut regulars: Vec<HeaderColumn> = def
            .columns
            .iter()
            .filter(|c| c.kind == ColumnKind::Regular && !compact_static)
            .map(col)
            .collect();
        sort_columns(&mut statics);
        sort_columns(&mut regulars);
        let pk: Vec<CqlType> = def
            .partition_key
            .iter()
            .filter_map(|n| def.column(n).map(|c| c.cql_type.clone()))
            .collect();
        let key_type = if pk.len() == 1 {
            pk[0].clone()
        } else {
            CqlType::Composite(pk)
        };
        let header = SerializationHeader {
            stats: EncodingStats {
                min_timestamp: 0,
                min_local_deletion_time: 0,
                min_ttl: 0,
            },
            key_type_string: key_type.marshal_name(),
            key_type,
            clustering_type_strings: clustering_types.iter().map(|t| t.marshal_name()).collect(),
            clustering_types: clustering_types.clone(),
            static_columns: statics.clone(),
            regular_columns: regulars.clone(),
        };
        let names = |v: &[HeaderColumn]| {
            v.iter()
                .map(|c| (c.name.clone(), c.cql_type.is_multi_cell()))
                .collect::<Vec<_>>()
        };
        let layout = LegacyLayout {
            compound,
            dense,
            clustering_types: if compact_static {
                Vec::new()
            } else {
                clustering_types
            },
            statics: names(&statics),
            regulars: names(&regulars),
            compact_value: if dense && regulars.len() == 1 {
                Some(0)
            } else {
                None
            },
        };
        (layout, header)
    }

    fn lookup(&self, name: &[u8], is_static: bool) -> ColRef {
        let list = if is_static {
            &self.statics
        } else {
            &self.regulars
        };
        match list.iter().position(|(n, _)| n.as_slice() == name) {
            Some(i) if is_static => ColRef::Static(i),
            Some(i) => ColRef::Regular(i),
            None => ColRef::Unknown,
        }
    }

    fn decode_name<'a>(&self, name: &'a [u8], at: u64) -> std::result::Result<Name<'a>, FmtError> {
        let n = self.clustering_types.len();
        if !self.compound {
            if self.dense {
                let column = self
                    .compact_value
                    .map(ColRef::Regular)
                    .unwrap_or(ColRef::Marker);
                return Ok(Name {
                    is_static: false,
                    clustering: vec![name],
                    column,
                    element: None,
                });
            }
            // Static compact table: the name is the column name (a static in 3.0 terms).
            return Ok(Name {
                is_static: true,
                clustering: Vec::new(),
                column: self.lookup(name, true),
                element: None,
            });
        }
        let c = parse_composite(name).map_err(|e| e.rebase(Component::Data, at))?;
        if self.dense {
            let column = self
                .compact_value
                .map(ColRef::Regular)
                .unwrap_or(ColRef::Marker);
            return Ok(Name {
                is_static: false,
                clustering: c.components,
                column,
                element: None,
            });
        }
        if c.components.len() < n + 1 {
            return Err(bad(
                at,
                format!(
                    "a cell name of at least {} components, found {}",
                    n + 1,
                    c.components.len()
                ),
            ));
        }
        let col = c.components[n];
        let column = if col.is_empty() {
            ColRef::Marker
        } else {
            self.lookup(col, c.is_static)
        };
        let clustering = if c.is_static {
            Vec::new()
        } else {
            c.components[..n].to_vec()
        };
        Ok(Name {
            is_static: c.is_static,
            clustering,
            column,
            element: c.components.get(n + 1).copied(),
        })
    }
}

/// (static?, clustering, column name) a collection tombstone applies to.
type CollectionTarget<'b> = (bool, Vec<&'b [u8]>, &'b [u8]);

/// (static?, clustering values) identifying a row.
pub type RowKey = (bool, Vec<Vec<u8>>);

/// A legacy range tombstone, owned (it may outlive the window it came from).
#[derive(Debug, Clone)]
pub struct LegacyRangeTombstone {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    pub deletion: DeletionTime,
}

impl LegacyRangeTombstone {
    /// The row a collection tombstone belongs to.
    pub fn collection_row(&self, layout: &LegacyLayout) -> Option<RowKey> {
        let (is_static, ck, _) = self.collection_column(layout)?;
        Some((is_static, ck.iter().map(|v| v.to_vec()).collect()))
    }

    /// A collection tombstone on (`is_static`, clustering, column)? Both
    /// bounds name the same collection (3.0's `isCollectionTombstone`).
    fn collection_column<'b>(&'b self, layout: &LegacyLayout) -> Option<CollectionTarget<'b>> {
        let n = layout.clustering_types.len();
        let s = self.bound(layout, &self.start).ok()?;
        let e = self.bound(layout, &self.end).ok()?;
        if s.1.len() != n + 1 || e.1.len() != n + 1 || s.1[n] != e.1[n] {
            return None;
        }
        let clustering = if s.0 { Vec::new() } else { s.1[..n].to_vec() };
        Some((s.0, clustering, s.1[n]))
    }

    /// The clustering range a tombstone that is not a collection
    /// tombstone deletes; `None` for collection, static and malformed ones.
    ///
    /// 2.x keeps a partition's tombstones in a `RangeTombstoneList`, which
    /// splits a row (or range) deletion around a newer collection tombstone
    /// inside it: `[row start, collection start)`, the collection
    /// tombstone, `(collection end, row end]`. The outer pieces have a
    /// collection name on one bound only: that bound is widened to the
    /// whole row, which is what the pieces cover together (Cassandra 3.0's
    /// `LegacyLayout.LegacyRangeTombstone` does so for a row deletion; for
    /// the deletion of a shorter clustering prefix it keeps the bound's own
    /// kind and leaves the row under it uncovered, where 2.x and this
    /// reader delete it). A piece between two collections loses both names.
    fn row_range(&self, layout: &LegacyLayout) -> Option<(ClusteringPos, ClusteringPos)> {
        let n = layout.clustering_types.len();
        let s = self.bound(layout, &self.start).ok()?;
        let e = self.bound(layout, &self.end).ok()?;
        if s.0 || e.0 || s.1.len() > n + 1 || e.1.len() > n + 1 {
            return None;
        }
        let (s_named, e_named) = (s.1.len() > n, e.1.len() > n);
        if s_named && e_named && s.1[n] == e.1[n] {
            return None;
        }
        let prefix = |c: &[&[u8]]| c[..c.len().min(n)].iter().map(|v| v.to_vec()).collect();
        // Widened: a bound naming a collection when the other names none
        // takes in the whole row (3.0's inclusiveStartOf/inclusiveEndOf).
        let widen_start = s_named && !e_named;
        let widen_end = e_named && !s_named;
        // Otherwise a start is inclusive at EOC <= 0, an end at EOC >= 0,
        // except a short prefix's EOC 0, which stops before the rows under it.
        let start_weight = if widen_start || s.2 <= 0 { -1 } else { 1 };
        let end_len = e.1.len().min(n);
        let end_inclusive = e.2 > 0 || (e.2 == 0 && end_len == n);
        let end_weight = if widen_end || e.1.is_empty() || end_inclusive {
            1
        } else {
            -1
        };
        Some((
            ClusteringPos {
                prefix: prefix(&s.1),
                weight: start_weight,
            },
            ClusteringPos {
                prefix: prefix(&e.1),
                weight: end_weight,
            },
        ))
    }

    #[allow(clippy::type_complexity)]
    fn bound<'b>(
        &self,
        layout: &LegacyLayout,
        b: &'b [u8],
    ) -> std::result::Result<(bool, Vec<&'b [u8]>, i8), FmtError> {
        if b.is_empty() {
            return Ok((false, Vec::new(), 0));
        }
        if !layout.compound {
            return Ok((false, vec![b], 0));
        }
        let c = parse_composite(b)?;
        Ok((c.is_static, c.components, c.last_eoc))
    }
}

/// Where the next row starts and whether the partition ends.
pub enum Step {
    /// A cell of a new row begins at this atom.
    RowAtom,
    /// A range tombstone (consumed).
    Tombstone(LegacyRangeTombstone),
    /// End of partition (the marker consumed).
    End,
}

/// Row key of the cell at the start of `buf`, or what else is there.
pub fn peek(
    layout: &LegacyLayout,
    buf: &[u8],
    base: u64,
    version: Version,
) -> sstable_format::Result<(Step, usize, Option<RowKey>)> {
    let (atom, n) = read_atom(buf, base, version)?;
    Ok(match atom {
        None => (Step::End, n, None),
        Some(LegacyAtom::RangeTombstone {
            start,
            end,
            deletion,
        }) => (
            Step::Tombstone(LegacyRangeTombstone {
                start: start.to_vec(),
                end: end.to_vec(),
                deletion,
            }),
            n,
            None,
        ),
        Some(LegacyAtom::Cell(c)) => {
            let name = layout.decode_name(c.name, base)?;
            (
                Step::RowAtom,
                n,
                Some((
                    name.is_static,
                    name.clustering.iter().map(|v| v.to_vec()).collect(),
                )),
            )
        }
    })
}

fn to_cell<'a>(c: &LegacyCell<'a>, element: Option<&'a [u8]>) -> Cell<'a> {
    Cell {
        timestamp: c.timestamp,
        ttl: c.ttl,
        local_deletion_time: c.local_deletion_time.unwrap_or(NO_DELETION_TIME),
        is_tombstone: c.is_deleted(),
        is_expiring: c.is_expiring(),
        path: element,
        value: c.value,
    }
}

/// Build a row from the atoms in `buf` (all cells of one row).
pub fn assemble_row<'a>(
    layout: &LegacyLayout,
    buf: &'a [u8],
    base: u64,
    version: Version,
    tombstones: &[LegacyRangeTombstone],
    key: &'a RowKey,
) -> Result<Row<'a>> {
    let mut pos = 0usize;
    let mut row = Row {
        is_static: false,
        clustering: Vec::new(),
        liveness: LivenessInfo::EMPTY,
        deletion: DeletionTime::LIVE,
        shadowable_deletion: false,
        columns: Vec::new(),
    };
    let mut first = true;
    let fmt = |e: FmtError| ReadError::format("Data.db", e);
    while pos < buf.len() {
        let at = base + pos as u64;
        let (atom, n) = read_atom(&buf[pos..], at, version).map_err(fmt)?;
        pos += n;
        let Some(LegacyAtom::Cell(c)) = atom else {
            continue;
        };
        let name = layout.decode_name(c.name, at).map_err(fmt)?;
        if first {
            row.is_static = name.is_static;
            row.clustering = name.clustering.iter().map(|v| Some(*v)).collect();
            first = false;
        }
        if c.mask & COUNTER_UPDATE_MASK != 0 {
            return Err(fmt(bad(
                at,
                "a counter cell, found an unmerged counter update".into(),
            )));
        }
        match name.column {
            ColRef::Unknown => {}
            ColRef::Marker => {
                // A deleted marker still shadows older ones, as an expired
                // liveness (3.0's CellGrouper, CASSANDRA-13320): 2.x
                // compaction turns an expired marker into a tombstone, and
                // deletes a row of a dense COMPACT STORAGE table without a
                // value column with a tombstone in its one cell.
                let ttl = if c.is_deleted() {
                    EXPIRED_LIVENESS_TTL
                } else if c.is_expiring() {
                    c.ttl
                } else {
                    0
                };
                row.liveness = LivenessInfo {
                    timestamp: Some(c.timestamp),
                    ttl,
                    local_expiration_time: c.local_deletion_time.unwrap_or(NO_DELETION_TIME),
                };
            }
            ColRef::Static(i) | ColRef::Regular(i) => {
                let complex = if matches!(name.column, ColRef::Static(_)) {
                    layout.statics[i].1
                } else {
                    layout.regulars[i].1
                };
                if complex {
                    let cell = to_cell(&c, Some(name.element.unwrap_or(&[])));
                    match row.columns.last_mut() {
                        Some(ColumnData::Complex { column, cells, .. }) if *column == i => {
                            cells.push(cell)
                        }
                        _ => row.columns.push(ColumnData::Complex {
                            column: i,
                            deletion: DeletionTime::LIVE,
                            cells: vec![cell],
                        }),
                    }
                } else {
                    row.columns.push(ColumnData::Simple {
                        column: i,
                        cell: to_cell(&c, None),
                    });
                }
            }
        }
    }
    if first {
        // No cells: a row that only a collection tombstone names.
        row.is_static = key.0;
        row.clustering = key.1.iter().map(|v| Some(v.as_slice())).collect();
    }
    // Apply the row's collection tombstones (row and range deletions are
    // markers: `RangeTombstoneSweep`).
    let clustering: Vec<&[u8]> = row.clustering.iter().map(|v| v.unwrap_or(&[])).collect();
    for rt in tombstones {
        if let Some((is_static, ck, col)) = rt.collection_column(layout) {
            if is_static == row.is_static && (is_static || ck == clustering) {
                if let ColRef::Static(i) | ColRef::Regular(i) = layout.lookup(col, is_static) {
                    for cd in &mut row.columns {
                        if let ColumnData::Complex {
                            column, deletion, ..
                        } = cd
                        {
                            if *column == i
                                && (deletion.is_live()
                                    || deletion.marked_for_delete_at
                                        < rt.deletion.marked_for_delete_at)
                            {
                                *deletion = rt.deletion;
                            }
                        }
                    }
                    if !row.columns.iter().any(|cd| cd.column() == i) {
                        row.columns.push(ColumnData::Complex {
                            column: i,
                            deletion: rt.deletion,
                            cells: Vec::new(),
                        });
                        row.columns.sort_by_key(|cd| cd.column());
                    }
                }
            }
        }
    }
    // Columns in header order, as the 3.0 layout has them.
    row.columns.sort_by_key(|cd| cd.column());
    Ok(row)
}

/// A position in a partition's clustering order: a clustering prefix and
/// where it sits among the clusterings that start with it (`-1` before them
/// all, `+1` after them all, `0` a row's own full clustering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusteringPos {
    pub prefix: Vec<Vec<u8>>,
    pub weight: i8,
}

fn cmp_pos(types: &[CqlType], a: &ClusteringPos, b: &ClusteringPos) -> Ordering {
    for (i, (x, y)) in a.prefix.iter().zip(&b.prefix).enumerate() {
        let t = types.get(i).unwrap_or(&CqlType::Blob);
        let o = sstable_format::compare::compare_values(t, x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    match a.prefix.len().cmp(&b.prefix.len()) {
        Ordering::Equal => a.weight.cmp(&b.weight),
        // `a` is a prefix of `b`: its weight places it.
        Ordering::Less if a.weight > 0 => Ordering::Greater,
        Ordering::Less => Ordering::Less,
        Ordering::Greater if b.weight > 0 => Ordering::Less,
        Ordering::Greater => Ordering::Greater,
    }
}

/// A range-tombstone marker of the 3.0 model, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMarker {
    pub kind: sstable_format::data::BoundKind,
    pub clustering: Vec<Vec<u8>>,
    /// For a bound: its deletion; for a boundary: the deletion that ends.
    pub deletion: DeletionTime,
    /// For a boundary: the deletion that starts.
    pub start_deletion: Option<DeletionTime>,
}

fn supersedes(a: DeletionTime, b: DeletionTime) -> bool {
    (a.marked_for_delete_at, a.local_deletion_time)
        > (b.marked_for_delete_at, b.local_deletion_time)
}

/// Turns a 2.x partition's range tombstones, which may overlap, into the
/// 3.0 model's markers (one deletion open at a time, the newest), placed in
/// clustering order among the rows, as Cassandra 3.0's `LegacyLayout` does.
/// Row deletions are range tombstones in 2.x, so this is what makes them
/// shadow rows written to other sstables.
///
/// Tombstones come in start order; the caller advances the sweep to each
/// one's start as it reads it (when no row is being assembled), so it holds
/// only the tombstones open there: its work and memory stay proportional to
/// the overlap, not to the partition.
#[derive(Debug, Default)]
pub struct RangeTombstoneSweep {
    /// Seen, not yet open, in start order: (start, end, deletion).
    pending: std::collections::VecDeque<(ClusteringPos, ClusteringPos, DeletionTime)>,
    /// Open: (start, end, deletion).
    active: Vec<(ClusteringPos, ClusteringPos, DeletionTime)>,
    open: Option<DeletionTime>,
    /// Where the last markers went: nothing may be placed before it.
    last: Option<ClusteringPos>,
    out: std::collections::VecDeque<LegacyMarker>,
}

impl RangeTombstoneSweep {
    pub fn clear(&mut self) {
        self.pending.clear();
        self.active.clear();
        self.open = None;
        self.last = None;
        self.out.clear();
    }

    /// Register a tombstone read from the partition; `false` for those that
    /// are not ranges of rows (collection or static tombstones).
    pub fn add(&mut self, layout: &LegacyLayout, rt: &LegacyRangeTombstone) -> bool {
        let Some((start, end)) = rt.row_range(layout) else {
            return false;
        };
        let mut t = (start, end, rt.deletion);
        // 2.x repeats open tombstones at index-block starts.
        let repeat = |x: &(ClusteringPos, ClusteringPos, DeletionTime)| *x == t;
        if self.active.iter().any(repeat) || self.pending.iter().rev().take(64).any(repeat) {
            return true;
        }
        let types = &layout.clustering_types;
        // Out of order (a malformed file): it cannot reach back before what
        // was already emitted.
        if let Some(last) = &self.last {
            if cmp_pos(types, &t.0, last) == Ordering::Less {
                t.0 = last.clone();
            }
        }
        // Keep start order (a tombstone may share its start with the last).
        let at = self
            .pending
            .iter()
            .rposition(|p| cmp_pos(types, &p.0, &t.0) != Ordering::Greater)
            .map_or(0, |i| i + 1);
        self.pending.insert(at, t);
        true
    }

    /// Emit the markers of every start and end before the start of the
    /// latest tombstone seen (read where no row is being assembled: every
    /// row before it has been emitted).
    pub fn advance_to_latest(&mut self, types: &[CqlType]) {
        if let Some(to) = self.pending.back().map(|p| p.0.clone()) {
            self.advance(types, Some(&to));
        }
    }

    /// Emit the markers of every tombstone start and end before `to` (all
    /// of them at the end of the partition, `None`).
    pub fn advance(&mut self, types: &[CqlType], to: Option<&ClusteringPos>) {
        loop {
            let next_start = self.pending.front().map(|p| &p.0);
            let next_end = self
                .active
                .iter()
                .map(|a| &a.1)
                .min_by(|a, b| cmp_pos(types, a, b));
            let at = match (next_start, next_end) {
                (None, None) => return,
                (Some(s), None) => s,
                (None, Some(e)) => e,
                (Some(s), Some(e)) => {
                    if cmp_pos(types, s, e) == Ordering::Greater {
                        e
                    } else {
                        s
                    }
                }
            }
            .clone();
            if to.is_some_and(|to| cmp_pos(types, &at, to) != Ordering::Less) {
                return;
            }
            while self
                .pending
                .front()
                .is_some_and(|p| cmp_pos(types, &p.0, &at) != Ordering::Greater)
            {
                if let Some(t) = self.pending.pop_front() {
                    self.active.push(t);
                }
            }
            // Ends at or before this position (an empty range ends where it starts).
            self.active
                .retain(|a| cmp_pos(types, &a.1, &at) == Ordering::Greater);
            let newest =
                self.active
                    .iter()
                    .map(|a| a.2)
                    .reduce(|x, y| if supersedes(y, x) { y } else { x });
            self.emit(&at, newest);
            self.last = Some(at);
        }
    }

    fn emit(&mut self, at: &ClusteringPos, newest: Option<DeletionTime>) {
        use sstable_format::data::BoundKind as K;
        let before = at.weight < 0;
        let m = match (self.open, newest) {
            (None, Some(d)) => LegacyMarker {
                kind: if before { K::InclStart } else { K::ExclStart },
                clustering: at.prefix.clone(),
                deletion: d,
                start_deletion: None,
            },
            (Some(o), None) => LegacyMarker {
                kind: if before { K::ExclEnd } else { K::InclEnd },
                clustering: at.prefix.clone(),
                deletion: o,
                start_deletion: None,
            },
            (Some(o), Some(d)) if o != d => LegacyMarker {
                kind: if before {
                    K::ExclEndInclStartBoundary
                } else {
                    K::InclEndExclStartBoundary
                },
                clustering: at.prefix.clone(),
                deletion: o,
                start_deletion: Some(d),
            },
            _ => return,
        };
        self.open = newest;
        self.out.push_back(m);
    }

    /// The next marker to emit, in clustering order.
    pub fn pop(&mut self) -> Option<LegacyMarker> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sstable_format::data::BoundKind;

    fn layout() -> LegacyLayout {
        LegacyLayout {
            compound: true,
            dense: false,
            clustering_types: vec![CqlType::Int],
            statics: Vec::new(),
            regulars: Vec::new(),
            compact_value: None,
        }
    }

    /// A one-component composite bound; `None` is unbounded.
    fn bound(v: Option<i32>, eoc: i8) -> Vec<u8> {
        let Some(v) = v else { return Vec::new() };
        let mut b = vec![0, 4];
        b.extend_from_slice(&v.to_be_bytes());
        b.push(eoc as u8);
        b
    }

    fn row(v: i32) -> ClusteringPos {
        ClusteringPos {
            prefix: vec![v.to_be_bytes().to_vec()],
            weight: 0,
        }
    }

    /// (start value or unbounded, start inclusive, end value or unbounded,
    /// end inclusive, timestamp, local deletion time)
    type Rt = (Option<i32>, bool, Option<i32>, bool, i64, i64);

    fn covers(rt: &Rt, v: i32) -> bool {
        let after_start = match rt.0 {
            None => true,
            Some(s) => v > s || (v == s && rt.1),
        };
        let before_end = match rt.2 {
            None => true,
            Some(e) => v < e || (v == e && rt.3),
        };
        after_start && before_end
    }

    fn rt_strategy() -> impl Strategy<Value = Rt> {
        (
            proptest::option::weighted(0.85, 0i32..12),
            any::<bool>(),
            proptest::option::weighted(0.85, 0i32..12),
            any::<bool>(),
            1i64..6,
            1i64..3,
        )
    }

    /// A composite bound of the given components and end-of-component byte.
    fn composite(components: &[&[u8]], eoc: i8) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, c) in components.iter().enumerate() {
            b.extend_from_slice(&(c.len() as u16).to_be_bytes());
            b.extend_from_slice(c);
            b.push(if i + 1 == components.len() {
                eoc as u8
            } else {
                0
            });
        }
        b
    }

    fn rt(start: Vec<u8>, end: Vec<u8>, at: i64) -> LegacyRangeTombstone {
        LegacyRangeTombstone {
            start,
            end,
            deletion: DeletionTime {
                marked_for_delete_at: at,
                local_deletion_time: 1,
            },
        }
    }

    fn pos(v: i32, weight: i8) -> ClusteringPos {
        ClusteringPos {
            prefix: vec![v.to_be_bytes().to_vec()],
            weight,
        }
    }

    /// A row deletion that 2.x split around a newer collection tombstone
    /// (as a Cassandra 2.2 node writes a row deleted, then rewritten with
    /// a collection, in one memtable): both outer pieces delete the whole
    /// row, the middle one stays a collection tombstone.
    #[test]
    fn a_row_deletion_split_around_a_collection_tombstone_covers_the_row() {
        let l = layout();
        let p = 7i32.to_be_bytes();
        let before = rt(composite(&[&p], -1), composite(&[&p, b"v1"], -1), 10);
        let coll = rt(composite(&[&p, b"v1"], -1), composite(&[&p, b"v1"], 1), 20);
        let after = rt(composite(&[&p, b"v1"], 1), composite(&[&p], 1), 10);
        let whole = Some((pos(7, -1), pos(7, 1)));
        assert_eq!(before.row_range(&l), whole);
        assert_eq!(after.row_range(&l), whole);
        assert_eq!(coll.row_range(&l), None);
        assert!(before.collection_column(&l).is_none());
        assert!(after.collection_column(&l).is_none());
        assert_eq!(
            coll.collection_column(&l),
            Some((false, vec![&p[..]], &b"v1"[..]))
        );

        // Read in file order: the row's deletion opens before it and
        // closes after it, once.
        let mut sweep = RangeTombstoneSweep::default();
        assert!(sweep.add(&l, &before));
        sweep.advance(&l.clustering_types, Some(&row(7)));
        assert!(!sweep.add(&l, &coll));
        assert!(sweep.add(&l, &after));
        sweep.advance(&l.clustering_types, None);
        let kinds: Vec<_> = std::iter::from_fn(|| sweep.pop())
            .map(|m| (m.kind, m.deletion.marked_for_delete_at))
            .collect();
        assert_eq!(
            kinds,
            vec![(BoundKind::InclStart, 10), (BoundKind::InclEnd, 10)]
        );

        // The piece between two collection tombstones names neither: it
        // runs from after the row to before it, and deletes nothing.
        let between = rt(composite(&[&p, b"v1"], 1), composite(&[&p, b"v2"], -1), 10);
        assert_eq!(between.row_range(&l), Some((pos(7, 1), pos(7, -1))));
    }

    /// An end bound on a shorter prefix with EOC 0 stops before the rows
    /// under that prefix (2.x compares it below them); with EOC 1 it
    /// takes them in.
    #[test]
    fn a_short_end_bound_with_eoc_zero_is_exclusive() {
        let mut l = layout();
        l.clustering_types = vec![CqlType::Int, CqlType::Int];
        let (a, b) = (1i32.to_be_bytes(), 2i32.to_be_bytes());
        let end = |eoc| rt(composite(&[&a], -1), composite(&[&b], eoc), 1).row_range(&l);
        let at = |v: &[u8; 4], weight| ClusteringPos {
            prefix: vec![v.to_vec()],
            weight,
        };
        assert_eq!(end(0), Some((at(&a, -1), at(&b, -1))));
        assert_eq!(end(-1), Some((at(&a, -1), at(&b, -1))));
        assert_eq!(end(1), Some((at(&a, -1), at(&b, 1))));
    }

    proptest! {
        /// Whatever the overlaps and repeats, the markers are well formed
        /// and every row is covered by the newest tombstone over it.
        #[test]
        fn sweep_matches_the_newest_covering_tombstone(mut rts in proptest::collection::vec(rt_strategy(), 0..8), repeat in any::<bool>()) {
            let l = layout();
            // On disk, tombstones come in start order; 2.x repeats some.
            rts.sort_by_key(|r| (r.0.is_some(), r.0, !r.1));
            if repeat && !rts.is_empty() {
                let again = rts[0];
                rts.insert(1, again);
            }
            let mut sweep = RangeTombstoneSweep::default();
            // As the scanner reads them: tombstones at their starts among
            // the rows, each placed (advance_to_latest) when read.
            let start_of = |r: &Rt| ClusteringPos {
                prefix: r.0.map(|v| vec![v.to_be_bytes().to_vec()]).unwrap_or_default(),
                weight: if r.0.is_some() && !r.1 { 1 } else { -1 },
            };
            let mut queue: Vec<Rt> = rts.clone();
            let mut open: Option<DeletionTime> = None;
            let mut markers = 0;
            let mut check = |m: LegacyMarker, open: &mut Option<DeletionTime>| -> std::result::Result<(), TestCaseError> {
                markers += 1;
                match m.kind {
                    BoundKind::InclStart | BoundKind::ExclStart => {
                        prop_assert!(open.is_none());
                        *open = Some(m.deletion);
                    }
                    BoundKind::InclEnd | BoundKind::ExclEnd => {
                        prop_assert_eq!(*open, Some(m.deletion));
                        *open = None;
                    }
                    _ => {
                        prop_assert_eq!(*open, Some(m.deletion));
                        prop_assert!(m.start_deletion.is_some() && m.start_deletion != Some(m.deletion));
                        *open = m.start_deletion;
                    }
                }
                Ok(())
            };
            for v in -1..14 {
                while let Some(r) = queue.first().copied() {
                    if cmp_pos(&l.clustering_types, &start_of(&r), &row(v)) == Ordering::Greater {
                        break;
                    }
                    queue.remove(0);
                    let rt = LegacyRangeTombstone {
                        start: bound(r.0, if r.1 { -1 } else { 1 }),
                        end: bound(r.2, if r.3 { 1 } else { -1 }),
                        deletion: DeletionTime { marked_for_delete_at: r.4, local_deletion_time: r.5 },
                    };
                    prop_assert!(sweep.add(&l, &rt));
                    sweep.advance_to_latest(&l.clustering_types);
                    while let Some(m) = sweep.pop() {
                        check(m, &mut open)?;
                    }
                }
                sweep.advance(&l.clustering_types, Some(&row(v)));
                while let Some(m) = sweep.pop() {
                    check(m, &mut open)?;
                }
                let expected = rts
                    .iter()
                    .filter(|r| covers(r, v))
                    .map(|r| DeletionTime { marked_for_delete_at: r.4, local_deletion_time: r.5 })
                    .reduce(|a, b| if supersedes(b, a) { b } else { a });
                prop_assert_eq!(open, expected, "row {}", v);
            }
            for r in queue {
                let rt = LegacyRangeTombstone {
                    start: bound(r.0, if r.1 { -1 } else { 1 }),
                    end: bound(r.2, if r.3 { 1 } else { -1 }),
                    deletion: DeletionTime { marked_for_delete_at: r.4, local_deletion_time: r.5 },
                };
                prop_assert!(sweep.add(&l, &rt));
            }
            sweep.advance(&l.clustering_types, None);
            while let Some(m) = sweep.pop() {
                check(m, &mut open)?;
            }
            prop_assert_eq!(open, None);
            let _ = markers;
        }
    }
}

#[cfg(test)]
mod scale_tests {
    use crate::ddl::parse_schema;
    use crate::{SSTable, ScanOptions, Scanner};
    use std::path::Path;

    fn component(v: &[u8], eoc: u8) -> Vec<u8> {
        let mut b = (v.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(v);
        b.push(eoc);
        b
    }

    /// A 2.x partition of `n` row deletions (range tombstones) and no
    /// cells, as a tombstone-heavy sstable holds: `n` rows deleted, one
    /// range-tombstone atom each.
    fn tombstone_partition(n: i32) -> Vec<u8> {
        let mut d = vec![0, 4, 0, 0, 0, 1];
        d.extend_from_slice(&i32::MAX.to_be_bytes());
        d.extend_from_slice(&i64::MIN.to_be_bytes());
        for i in 0..n {
            let prefix = component(b"a", 0);
            let mut start = prefix.clone();
            start.extend(component(&i.to_be_bytes(), 0xff));
            let mut end = prefix;
            end.extend(component(&i.to_be_bytes(), 1));
            d.extend_from_slice(&(start.len() as u16).to_be_bytes());
            d.extend_from_slice(&start);
            d.push(sstable_format::legacy::RANGE_TOMBSTONE_MASK);
            d.extend_from_slice(&(end.len() as u16).to_be_bytes());
            d.extend_from_slice(&end);
            d.extend_from_slice(&1_700_000_000i32.to_be_bytes());
            d.extend_from_slice(&(1_700_000_000_000_000i64 + i as i64).to_be_bytes());
        }
        d.extend_from_slice(&[0, 0]);
        d
    }

    /// Every tombstone of a long run without rows becomes its markers, and
    /// the work stays linear: the sweep holds only the open tombstones.
    #[test]
    fn a_long_run_of_row_tombstones_streams() {
        let stats = Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../shared/corpus/apache-cassandra/la/legacy_tables/legacy_la_clust/la-1-big-Statistics.db",
        );
        let stats = std::fs::read(stats).expect("corpus Statistics.db");
        let schema = parse_schema(
            "CREATE TABLE ks.t (pk int, c1 text, c2 int, v text, PRIMARY KEY (pk, c1, c2));",
        )
        .unwrap();
        let n = 200_000;
        let parts = vec![
            ("Data.db".to_string(), tombstone_partition(n)),
            ("Statistics.db".to_string(), stats),
        ];
        let sst = SSTable::open_in_memory_with_schema(
            Path::new("mem"),
            "la-1-big-",
            parts,
            Some(&schema.tables[0]),
        )
        .unwrap();
        let mut scan = Scanner::new(
            &sst,
            ScanOptions {
                verify_checksums: false,
            },
        );
        scan.next_partition().unwrap().unwrap();
        let mut markers = 0;
        while let Some(u) = scan.next_unfiltered().unwrap() {
            assert!(matches!(u, sstable_format::data::Unfiltered::Marker(_)));
            markers += 1;
        }
        // Adjacent row deletions: a start, then a boundary or an end each.
        assert!(markers > n as usize, "{markers}");
    }
}
