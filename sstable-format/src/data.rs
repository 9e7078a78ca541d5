//! `Data.db` in the 3.0+ storage engine (`ma` … `oa`): partitions,
//! rows, cells and range-tombstone markers.
//!
//! ```text
//! partition  := u16 key length, key, DeletionTime, [static row], unfiltered*, 0x01
//! DeletionTime (ma..nc) := i32 local deletion time, i64 marked-for-delete-at
//! DeletionTime (oa)     := 0x80 (live) | i64 marked-for-delete-at, u32 local deletion time
//! row        := flags, [extended flags], [clustering], vint row size, vint previous size,
//!               [timestamp delta [ttl delta, ldt delta]], [deletion: ts delta, ldt delta],
//!               [column subset], cells of the present columns in header order
//! marker     := flags (0x02), kind, u16 size, clustering values, vint size, vint previous size,
//!               deletion (bound) | end deletion, start deletion (boundary)
//! cell       := flags, [ts delta], [ldt delta], [ttl delta], [path], [value]
//! complex    := [complex deletion], vint cell count, cell*
//! ```
//!
//! Decoding works on a byte slice and reports how many bytes it used. It
//! borrows keys, clustering values, paths and values from the slice.

use crate::cursor::Cursor;
use crate::error::{Component, Error, Result};
use crate::statistics::{read_uvint32, EncodingStats, SerializationHeader};
use crate::types::CqlType;
use crate::version::Version;

const C: Component = Component::Data;

/// "No deletion" local deletion time.
pub const NO_DELETION_TIME: i64 = i64::MAX;
/// Deletion time Cassandra substitutes for invalid (negative/overflowed) values.
pub const INVALID_DELETION_TIME: i64 = (1i64 << 32) - 2;
/// Largest valid local deletion time (oa, unsigned).
pub const MAX_DELETION_TIME: i64 = (1i64 << 32) - 3;
/// TTL marking expired liveness (a row tombstone in disguise).
pub const EXPIRED_LIVENESS_TTL: i32 = i32::MAX;

/// A deletion: everything with timestamp ≤ `marked_for_delete_at` is shadowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionTime {
    pub marked_for_delete_at: i64,
    /// Seconds since the epoch when the tombstone was written.
    pub local_deletion_time: i64,
}

impl DeletionTime {
    pub const LIVE: DeletionTime = DeletionTime {
        marked_for_delete_at: i64::MIN,
        local_deletion_time: NO_DELETION_TIME,
    };

    pub fn is_live(&self) -> bool {
        *self == Self::LIVE
    }

    /// Does this deletion shadow data written at `timestamp`?
    pub fn deletes(&self, timestamp: i64) -> bool {
        !self.is_live() && timestamp <= self.marked_for_delete_at
    }

    fn build(mfda: i64, ldt: i64) -> DeletionTime {
        let ldt = if !(0..=MAX_DELETION_TIME).contains(&ldt) {
            INVALID_DELETION_TIME
        } else {
            ldt
        };
        DeletionTime {
            marked_for_delete_at: mfda,
            local_deletion_time: ldt,
        }
    }

    /// Read the fixed serialized form used in partition headers and Index.db.
    pub fn read(c: &mut Cursor, version: Version) -> Result<DeletionTime> {
        if version.has_uint_deletion_time() {
            let at = c.position();
            let first = c.peek_u8().ok_or_else(|| c.truncated(1, "deletion time"))?;
            if first & 0x80 != 0 {
                c.u8("deletion time")?;
                if first != 0x80 {
                    return Err(
                        c.invalid_at(at, format!("deletion time flags 0x80, found {first:#04x}"))
                    );
                }
                return Ok(DeletionTime::LIVE);
            }
            let mfda = c.i64("marked for delete at")?;
            let ldt = c.u32("local deletion time")?;
            let ldt = if ldt == u32::MAX {
                NO_DELETION_TIME
            } else {
                ldt as i64
            };
            Ok(DeletionTime {
                marked_for_delete_at: mfda,
                local_deletion_time: ldt,
            })
        } else {
            let ldt = c.i32("local deletion time")?;
            let mfda = c.i64("marked for delete at")?;
            if mfda == i64::MIN && ldt == i32::MAX {
                return Ok(DeletionTime::LIVE);
            }
            Ok(DeletionTime::build(mfda, ldt as i64))
        }
    }
}

/// Primary-key liveness of a row (the "row marker").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessInfo {
    /// `None`: the row has no liveness info of its own.
    pub timestamp: Option<i64>,
    /// 0 = no TTL; `EXPIRED_LIVENESS_TTL` = expired.
    pub ttl: i32,
    pub local_expiration_time: i64,
}

impl LivenessInfo {
    pub const EMPTY: LivenessInfo = LivenessInfo {
        timestamp: None,
        ttl: 0,
        local_expiration_time: NO_DELETION_TIME,
    };

    pub fn is_expiring(&self) -> bool {
        self.ttl != 0 && self.ttl != EXPIRED_LIVENESS_TTL
    }

    /// Live at `now` (seconds since the epoch)?
    pub fn is_live(&self, now: i64) -> bool {
        match self.timestamp {
            None => false,
            Some(_) if self.ttl == EXPIRED_LIVENESS_TTL => false,
            Some(_) if self.ttl != 0 => now < self.local_expiration_time,
            Some(_) => true,
        }
    }
}

/// One cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell<'a> {
    pub timestamp: i64,
    /// 0 when not expiring.
    pub ttl: i32,
    /// Expiration (expiring cells) or deletion (tombstones) time, in seconds; `NO_DELETION_TIME` otherwise.
    pub local_deletion_time: i64,
    pub is_tombstone: bool,
    pub is_expiring: bool,
    /// The element key of a multi-cell (collection/UDT) column.
    pub path: Option<&'a [u8]>,
    pub value: &'a [u8],
}

impl Cell<'_> {
    /// Live at `now` (seconds since the epoch)?
    pub fn is_live(&self, now: i64) -> bool {
        if self.is_tombstone {
            return false;
        }
        if self.is_expiring {
            return now < self.local_deletion_time;
        }
        true
    }
}

/// The data of one column in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnData<'a> {
    Simple {
        column: usize,
        cell: Cell<'a>,
    },
    Complex {
        column: usize,
        deletion: DeletionTime,
        cells: Vec<Cell<'a>>,
    },
}

impl ColumnData<'_> {
    /// Index of the column in the header's static or regular column list.
    pub fn column(&self) -> usize {
        match self {
            ColumnData::Simple { column, .. } | ColumnData::Complex { column, .. } => *column,
        }
    }
}

/// A clustering value: `None` = null, `Some(&[])` = empty.
pub type ClusteringValue<'a> = Option<&'a [u8]>;

/// A row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    pub is_static: bool,
    pub clustering: Vec<ClusteringValue<'a>>,
    pub liveness: LivenessInfo,
    pub deletion: DeletionTime,
    pub shadowable_deletion: bool,
    pub columns: Vec<ColumnData<'a>>,
}

/// Kinds of clustering prefixes (ordinals as on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BoundKind {
    ExclEnd = 0,
    InclStart = 1,
    ExclEndInclStartBoundary = 2,
    StaticClustering = 3,
    Clustering = 4,
    InclEndExclStartBoundary = 5,
    InclEnd = 6,
    ExclStart = 7,
}

impl BoundKind {
    pub fn from_ordinal(b: u8) -> Option<BoundKind> {
        Some(match b {
            0 => BoundKind::ExclEnd,
            1 => BoundKind::InclStart,
            2 => BoundKind::ExclEndInclStartBoundary,
            3 => BoundKind::StaticClustering,
            4 => BoundKind::Clustering,
            5 => BoundKind::InclEndExclStartBoundary,
            6 => BoundKind::InclEnd,
            7 => BoundKind::ExclStart,
            _ => return None,
        })
    }
    pub fn is_boundary(self) -> bool {
        matches!(
            self,
            BoundKind::ExclEndInclStartBoundary | BoundKind::InclEndExclStartBoundary
        )
    }
    pub fn is_start(self) -> bool {
        matches!(self, BoundKind::InclStart | BoundKind::ExclStart)
    }
}

/// A range-tombstone bound or boundary marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeTombstoneMarker<'a> {
    pub kind: BoundKind,
    pub clustering: Vec<ClusteringValue<'a>>,
    /// For a bound: its deletion. For a boundary: the deletion that ends here.
    pub deletion: DeletionTime,
    /// For a boundary: the deletion that starts here.
    pub start_deletion: Option<DeletionTime>,
}

impl RangeTombstoneMarker<'_> {
    /// The deletion that is open after this marker, if any.
    pub fn open_deletion(&self) -> Option<DeletionTime> {
        if self.kind.is_boundary() {
            self.start_deletion
        } else if self.kind.is_start() {
            Some(self.deletion)
        } else {
            None
        }
    }
    /// The deletion that closes at this marker, if any.
    pub fn close_deletion(&self) -> Option<DeletionTime> {
        if self.kind.is_boundary() || !self.kind.is_start() {
            Some(self.deletion)
        } else {
            None
        }
    }
}

/// A row or a range-tombstone marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfiltered<'a> {
    Row(Row<'a>),
    Marker(RangeTombstoneMarker<'a>),
}

/// A decoded partition header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionHeader<'a> {
    pub key: &'a [u8],
    pub deletion: DeletionTime,
}

/// Per-column facts the row decoder needs, precomputed once per sstable.
#[derive(Debug, Clone)]
pub struct ColumnLayout {
    pub complex: bool,
    /// Fixed length of the column type's values (`None`: vint length prefix).
    pub value_fixed_len: Option<usize>,
}

/// Everything needed to decode the rows of one sstable.
#[derive(Debug, Clone)]
pub struct RowDecoder {
    pub version: Version,
    pub stats: EncodingStats,
    pub clustering_types: Vec<CqlType>,
    pub statics: Vec<ColumnLayout>,
    pub regulars: Vec<ColumnLayout>,
    /// `clustering_types`' fixed value lengths.
    clustering_lens: Vec<Option<usize>>,
    /// Where a plain row's size starts when every clustering value is
    /// present and of fixed length (flags, clustering header, values).
    plain_row_size_at: Option<usize>,
}

fn layout(t: &CqlType) -> ColumnLayout {
    // Cell values are written with the *column's* type: a collection type is
    // variable-length, so complex cells always carry a vint length.
    ColumnLayout {
        complex: t.is_multi_cell(),
        value_fixed_len: t.fixed_length(),
    }
}

/// Spare vectors for decoding rows without allocating.
///
/// Decoding with [`RowDecoder::unfiltered_in`] takes its vectors from here,
/// and [`RowBuffers::recycle`] gives a decoded unfiltered's vectors back once
/// the caller is done with it, so that a scan allocates nothing per row.
/// The vectors are kept empty (a recycled row's borrowed values are dropped),
/// so they carry no lifetime.
#[derive(Debug, Default)]
pub struct RowBuffers {
    clustering: Vec<ClusteringValue<'static>>,
    columns: Vec<ColumnData<'static>>,
    cells: Vec<Vec<Cell<'static>>>,
    subset: Vec<usize>,
}

/// An empty vector of another element type with the same layout (here: the
/// same type with another lifetime) reusing `v`'s allocation: the standard
/// library collects a `Vec`'s `IntoIter` in place.
fn relabel<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None::<U>).collect()
}

/// Vectors grown past this many elements are not kept for reuse.
const MAX_KEPT: usize = 4096;
/// At most this many complex-cell vectors are kept.
const MAX_KEPT_CELL_VECS: usize = 64;

impl RowBuffers {
    /// Keep the vectors of `u` for the next decode.
    pub fn recycle(&mut self, u: Unfiltered<'_>) {
        match u {
            Unfiltered::Row(r) => {
                self.keep_clustering(r.clustering);
                let mut columns = r.columns;
                for cd in columns.drain(..) {
                    if let ColumnData::Complex { cells, .. } = cd {
                        if cells.capacity() <= MAX_KEPT && self.cells.len() < MAX_KEPT_CELL_VECS {
                            self.cells.push(relabel(cells));
                        }
                    }
                }
                if columns.capacity() <= MAX_KEPT && columns.capacity() > self.columns.capacity() {
                    self.columns = relabel(columns);
                }
            }
            Unfiltered::Marker(m) => self.keep_clustering(m.clustering),
        }
    }

    fn keep_clustering(&mut self, v: Vec<ClusteringValue<'_>>) {
        if v.capacity() <= MAX_KEPT && v.capacity() > self.clustering.capacity() {
            self.clustering = relabel(v);
        }
    }

    fn take_clustering<'a>(&mut self) -> Vec<ClusteringValue<'a>> {
        relabel(std::mem::take(&mut self.clustering))
    }

    fn take_columns<'a>(&mut self) -> Vec<ColumnData<'a>> {
        relabel(std::mem::take(&mut self.columns))
    }

    fn take_cells<'a>(&mut self) -> Vec<Cell<'a>> {
        self.cells.pop().map(relabel).unwrap_or_default()
    }
}

/// Read `types.len()` clustering values (the "values without size" encoding).
pub fn read_clustering_values<'a>(
    c: &mut Cursor<'a>,
    types: &[CqlType],
) -> Result<Vec<ClusteringValue<'a>>> {
    let mut out = Vec::with_capacity(types.len());
    read_clustering_by_lens(c, types.iter().map(CqlType::fixed_length), &mut out)?;
    Ok(out)
}

/// Clustering values of the given fixed lengths (`None`: vint length).
#[inline]
fn read_clustering_by_lens<'a>(
    c: &mut Cursor<'a>,
    lens: impl ExactSizeIterator<Item = Option<usize>>,
    out: &mut Vec<ClusteringValue<'a>>,
) -> Result<()> {
    out.reserve(lens.len());
    let mut header = 0u64;
    for (i, len) in lens.enumerate() {
        if i % 32 == 0 {
            header = c.uvint("clustering header")?;
        }
        let shift = (i % 32) * 2;
        if header & (1u64 << (shift + 1)) != 0 {
            out.push(None);
        } else if header & (1u64 << shift) != 0 {
            out.push(Some(&[][..]));
        } else {
            let v = match len {
                Some(n) => c.bytes(n, "clustering value")?,
                None => c.vint_bytes("clustering value")?,
            };
            out.push(Some(v));
        }
    }
    Ok(())
}

/// Step over clustering values (as [`read_clustering_values`] reads them)
/// without keeping them.
pub fn skip_clustering_values(c: &mut Cursor<'_>, types: &[CqlType]) -> Result<()> {
    skip_clustering_by_lens(c, types.iter().map(CqlType::fixed_length))
}

#[inline]
fn skip_clustering_by_lens(
    c: &mut Cursor<'_>,
    lens: impl Iterator<Item = Option<usize>>,
) -> Result<()> {
    let mut header = 0u64;
    for (i, len) in lens.enumerate() {
        if i % 32 == 0 {
            header = c.uvint("clustering header")?;
        }
        let shift = (i % 32) * 2;
        if header & (0b11 << shift) == 0 {
            match len {
                Some(n) => c.skip(n, "clustering value")?,
                None => {
                    c.vint_bytes("clustering value")?;
                }
            }
        }
    }
    Ok(())
}

/// Row flags (`UnfilteredSerializer`).
pub const END_OF_PARTITION: u8 = 0x01;
pub const IS_MARKER: u8 = 0x02;
pub const HAS_TIMESTAMP: u8 = 0x04;
pub const HAS_TTL: u8 = 0x08;
pub const HAS_DELETION: u8 = 0x10;
pub const HAS_ALL_COLUMNS: u8 = 0x20;
pub const HAS_COMPLEX_DELETION: u8 = 0x40;
pub const EXTENSION_FLAG: u8 = 0x80;
pub const IS_STATIC: u8 = 0x01;
pub const HAS_SHADOWABLE_DELETION: u8 = 0x02;

/// Cell flags (`Cell.Serializer`).
pub const CELL_IS_DELETED: u8 = 0x01;
pub const CELL_IS_EXPIRING: u8 = 0x02;
pub const CELL_HAS_EMPTY_VALUE: u8 = 0x04;
pub const CELL_USE_ROW_TIMESTAMP: u8 = 0x08;
pub const CELL_USE_ROW_TTL: u8 = 0x10;

impl RowDecoder {
    pub fn new(version: Version, header: &SerializationHeader) -> RowDecoder {
        let clustering_lens: Vec<Option<usize>> = header
            .clustering_types
            .iter()
            .map(CqlType::fixed_length)
            .collect();
        RowDecoder {
            version,
            stats: header.stats,
            clustering_types: header.clustering_types.clone(),
            plain_row_size_at: match clustering_lens.len() {
                0 => Some(1),
                1..=32 => clustering_lens
                    .iter()
                    .copied()
                    .sum::<Option<usize>>()
                    .map(|l| 2 + l),
                _ => None,
            },
            clustering_lens,
            statics: header
                .static_columns
                .iter()
                .map(|c| layout(&c.cql_type))
                .collect(),
            regulars: header
                .regular_columns
                .iter()
                .map(|c| layout(&c.cql_type))
                .collect(),
        }
    }

    /// Decode a partition header at the start of `buf` (`base` = its absolute offset).
    pub fn partition_header<'a>(
        &self,
        buf: &'a [u8],
        base: u64,
    ) -> Result<(PartitionHeader<'a>, usize)> {
        let mut c = Cursor::with_base(buf, C, base);
        let key = c.short_bytes("partition key")?;
        let deletion = DeletionTime::read(&mut c, self.version)?;
        Ok((PartitionHeader { key, deletion }, c.position()))
    }

    #[inline]
    fn timestamp(&self, c: &mut Cursor) -> Result<i64> {
        Ok((c.uvint("timestamp")? as i64).wrapping_add(self.stats.min_timestamp))
    }

    #[inline]
    fn raw_ldt(&self, c: &mut Cursor) -> Result<i64> {
        Ok(read_uvint32(c, "local deletion time")? as i64 + self.stats.min_local_deletion_time)
    }

    #[inline]
    fn ttl(&self, c: &mut Cursor) -> Result<i32> {
        let at = c.position();
        let t = read_uvint32(c, "ttl")?.wrapping_add(self.stats.min_ttl);
        if t < 0 {
            return Err(c.invalid_at(at, format!("a non-negative TTL, found {t}")));
        }
        Ok(t)
    }

    /// `Cell.decodeLocalDeletionTime`.
    fn decode_ldt(&self, ldt: i64, ttl: i32) -> i64 {
        if ldt >= ttl as i64 {
            return ldt;
        }
        if ldt < 0 {
            return if self.version.has_uint_deletion_time() {
                ldt as i32 as u32 as i64
            } else {
                INVALID_DELETION_TIME
            };
        }
        if ttl == EXPIRED_LIVENESS_TTL {
            return ldt;
        }
        INVALID_DELETION_TIME
    }

    fn delta_deletion(&self, c: &mut Cursor) -> Result<DeletionTime> {
        let mfda = self.timestamp(c)?;
        let ldt = self.raw_ldt(c)?;
        // A live deletion (written for complex columns without one when the
        // row has complex deletions) round-trips its timestamp exactly but
        // not, in 5.0's 32-bit delta, its "no deletion" time.
        if mfda == i64::MIN {
            return Ok(DeletionTime::LIVE);
        }
        Ok(DeletionTime::build(mfda, ldt))
    }

    /// Decode the next unfiltered at the start of `buf`. Returns `None` at the
    /// end-of-partition flag. The second value is the number of bytes used.
    pub fn unfiltered<'a>(
        &self,
        buf: &'a [u8],
        base: u64,
    ) -> Result<(Option<Unfiltered<'a>>, usize)> {
        self.unfiltered_in(buf, base, &mut RowBuffers::default())
    }

    /// [`RowDecoder::unfiltered`] taking its vectors from `bufs` (see
    /// [`RowBuffers::recycle`]).
    pub fn unfiltered_in<'a>(
        &self,
        buf: &'a [u8],
        base: u64,
        bufs: &mut RowBuffers,
    ) -> Result<(Option<Unfiltered<'a>>, usize)> {
        let mut c = Cursor::with_base(buf, C, base);
        let flags = c.u8("row flags")?;
        if flags & END_OF_PARTITION != 0 {
            if flags != END_OF_PARTITION {
                return Err(c.invalid_at(
                    0,
                    format!("end-of-partition flags 0x01, found {flags:#04x}"),
                ));
            }
            return Ok((None, 1));
        }
        if flags & IS_MARKER != 0 {
            let m = self.marker(&mut c, bufs.take_clustering())?;
            return Ok((Some(Unfiltered::Marker(m)), c.position()));
        }
        let ext = if flags & EXTENSION_FLAG != 0 {
            c.u8("extended row flags")?
        } else {
            0
        };
        if ext & !(IS_STATIC | HAS_SHADOWABLE_DELETION) != 0 {
            return Err(c.invalid_at(
                1,
                format!("extended row flags within 0x03, found {ext:#04x}"),
            ));
        }
        let is_static = ext & IS_STATIC != 0;
        let mut clustering = bufs.take_clustering();
        if !is_static {
            read_clustering_by_lens(
                &mut c,
                self.clustering_lens.iter().copied(),
                &mut clustering,
            )?;
        }
        let row_size = c.uvint("row size")?;
        let body_start = c.position();
        if row_size > c.remaining() as u64 {
            return Err(c.truncated((row_size - c.remaining() as u64) as usize, "row body"));
        }
        let end = body_start + row_size as usize;
        let mut b = Cursor::with_base(&buf[..end], C, base);
        b.set_position(body_start)?;
        b.uvint("previous unfiltered size")?;
        let mut liveness = LivenessInfo::EMPTY;
        if flags & HAS_TIMESTAMP != 0 {
            let ts = self.timestamp(&mut b)?;
            let (ttl, ldt) = if flags & HAS_TTL != 0 {
                let ttl = self.ttl(&mut b)?;
                let ldt = self.raw_ldt(&mut b)?;
                (ttl, self.decode_ldt(ldt, ttl))
            } else {
                (0, NO_DELETION_TIME)
            };
            liveness = LivenessInfo {
                timestamp: Some(ts),
                ttl,
                local_expiration_time: ldt,
            };
        }
        let deletion = if flags & HAS_DELETION != 0 {
            self.delta_deletion(&mut b)?
        } else {
            DeletionTime::LIVE
        };
        let cols = if is_static {
            &self.statics
        } else {
            &self.regulars
        };
        let mut columns = bufs.take_columns();
        columns.reserve(cols.len());
        let mut subset = std::mem::take(&mut bufs.subset);
        let mut each = |idx: usize, b: &mut Cursor<'a>| -> Result<()> {
            let col = cols
                .get(idx)
                .ok_or_else(|| b.invalid("a column index within the header"))?;
            if col.complex {
                let deletion = if flags & HAS_COMPLEX_DELETION != 0 {
                    self.delta_deletion(b)?
                } else {
                    DeletionTime::LIVE
                };
                let n = b.uvint_len(b.remaining(), "complex cell count")?;
                let mut cells = bufs.take_cells();
                cells.reserve(n);
                for _ in 0..n {
                    cells.push(self.cell(b, &liveness, col, true)?);
                }
                columns.push(ColumnData::Complex {
                    column: idx,
                    deletion,
                    cells,
                });
            } else {
                let cell = self.cell(b, &liveness, col, false)?;
                columns.push(ColumnData::Simple { column: idx, cell });
            }
            Ok(())
        };
        if flags & HAS_ALL_COLUMNS != 0 {
            for i in 0..cols.len() {
                each(i, &mut b)?;
            }
        } else {
            match read_subset_head(&mut b, cols.len())? {
                SubsetHead::Present(bits) => {
                    for i in present_columns(bits) {
                        each(i, &mut b)?;
                    }
                }
                SubsetHead::Missing(delta) => {
                    subset.clear();
                    read_large_subset(&mut b, cols.len(), delta, &mut subset)?;
                    for &i in &subset {
                        each(i, &mut b)?;
                    }
                }
            }
        }
        bufs.subset = subset;
        if b.position() != end {
            return Err(b.invalid(format!(
                "the row to end at byte {} as its size says",
                base + end as u64
            )));
        }
        Ok((
            Some(Unfiltered::Row(Row {
                is_static,
                clustering,
                liveness,
                deletion,
                shadowable_deletion: ext & HAS_SHADOWABLE_DELETION != 0,
                columns,
            })),
            end,
        ))
    }

    #[inline(always)]
    fn cell<'a>(
        &self,
        c: &mut Cursor<'a>,
        row: &LivenessInfo,
        col: &ColumnLayout,
        complex: bool,
    ) -> Result<Cell<'a>> {
        let at = c.position();
        let flags = c.u8("cell flags")?;
        if flags & !0x1f != 0 {
            return Err(c.invalid_at(at, format!("cell flags within 0x1f, found {flags:#04x}")));
        }
        let is_tombstone = flags & CELL_IS_DELETED != 0;
        let is_expiring = flags & CELL_IS_EXPIRING != 0;
        let use_row_ts = flags & CELL_USE_ROW_TIMESTAMP != 0;
        let use_row_ttl = flags & CELL_USE_ROW_TTL != 0;
        let timestamp = if use_row_ts {
            row.timestamp
                .ok_or_else(|| c.invalid_at(at, "a row timestamp for a cell that uses it"))?
        } else {
            self.timestamp(c)?
        };
        let (raw_ldt, ttl) = if use_row_ttl {
            (row.local_expiration_time, row.ttl)
        } else {
            let ldt = if is_tombstone || is_expiring {
                self.raw_ldt(c)?
            } else {
                NO_DELETION_TIME
            };
            let ttl = if is_expiring { self.ttl(c)? } else { 0 };
            (ldt, ttl)
        };
        let local_deletion_time = if raw_ldt == NO_DELETION_TIME {
            raw_ldt
        } else {
            self.decode_ldt(raw_ldt, ttl)
        };
        let path = if complex {
            Some(c.vint_bytes("cell path")?)
        } else {
            None
        };
        let value = if flags & CELL_HAS_EMPTY_VALUE != 0 {
            &[][..]
        } else {
            match col.value_fixed_len {
                Some(n) => c.bytes(n, "cell value")?,
                None => c.vint_bytes("cell value")?,
            }
        };
        Ok(Cell {
            timestamp,
            ttl,
            local_deletion_time,
            is_tombstone,
            is_expiring: is_expiring || (use_row_ttl && row.is_expiring()),
            path,
            value,
        })
    }

    fn marker<'a>(
        &self,
        c: &mut Cursor<'a>,
        mut clustering: Vec<ClusteringValue<'a>>,
    ) -> Result<RangeTombstoneMarker<'a>> {
        let at = c.position();
        let k = c.u8("bound kind")?;
        let kind = BoundKind::from_ordinal(k)
            .filter(|k| !matches!(k, BoundKind::Clustering | BoundKind::StaticClustering))
            .ok_or_else(|| c.invalid_at(at, format!("a range tombstone bound kind, found {k}")))?;
        let size = c.u16("bound size")? as usize;
        if size > self.clustering_types.len() {
            return Err(c.invalid(format!(
                "at most {} clustering values, found {size}",
                self.clustering_types.len()
            )));
        }
        read_clustering_by_lens(
            c,
            self.clustering_lens[..size].iter().copied(),
            &mut clustering,
        )?;
        let marker_size = c.uvint("marker size")?;
        if marker_size > c.remaining() as u64 {
            return Err(c.truncated((marker_size - c.remaining() as u64) as usize, "marker body"));
        }
        let end = c.position() + marker_size as usize;
        c.uvint("previous unfiltered size")?;
        let deletion = self.delta_deletion(c)?;
        let start_deletion = if kind.is_boundary() {
            Some(self.delta_deletion(c)?)
        } else {
            None
        };
        if c.position() != end {
            return Err(c.invalid(format!(
                "the marker to end at byte {} as its size says",
                c.abs_position() - c.position() as u64 + end as u64
            )));
        }
        Ok(RangeTombstoneMarker {
            kind,
            clustering,
            deletion,
            start_deletion,
        })
    }
}

/// `Columns.serializer.deserializeSubset`: indices of the present columns.
#[cfg(test)]
fn read_subset(c: &mut Cursor, superset: usize) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    match read_subset_head(c, superset)? {
        SubsetHead::Present(bits) => out.extend(present_columns(bits)),
        SubsetHead::Missing(delta) => read_large_subset(c, superset, delta, &mut out)?,
    }
    Ok(out)
}

/// How a column subset begins.
enum SubsetHead {
    /// The present columns as a bitmap (every column, or fewer than 64).
    Present(u64),
    /// 64 columns or more with this many missing: their list follows.
    Missing(usize),
}

/// Read a column subset's head (`Columns.serializer.deserializeSubset`).
#[inline]
fn read_subset_head(c: &mut Cursor, superset: usize) -> Result<SubsetHead> {
    let at = c.position();
    let encoded = c.uvint("column subset")?;
    if superset < 64 {
        // A bitmap of the missing columns.
        if encoded >> superset != 0 {
            return Err(c.invalid_at(
                at,
                format!("a bitmap of {superset} columns, found {encoded:#x}"),
            ));
        }
        return Ok(SubsetHead::Present(!encoded & ((1u64 << superset) - 1)));
    }
    if encoded == 0 {
        return Ok(SubsetHead::Missing(0));
    }
    // Large subset: `encoded` is the number of missing columns.
    if encoded > superset as u64 {
        return Err(c.invalid_at(
            at,
            format!("at most {superset} missing columns, found {encoded}"),
        ));
    }
    Ok(SubsetHead::Missing(encoded as usize))
}

/// The indices of the set bits of `bits`, in increasing order.
fn present_columns(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            i
        })
    })
}

/// The present columns of a subset of `superset` (64 or more) columns of
/// which `delta` are missing, read from the list that follows its head.
fn read_large_subset(
    c: &mut Cursor,
    superset: usize,
    delta: usize,
    out: &mut Vec<usize>,
) -> Result<()> {
    if delta == 0 {
        out.extend(0..superset);
        return Ok(());
    }
    let count = superset - delta;
    out.reserve(count);
    if count < superset / 2 {
        for _ in 0..count {
            let at = c.position();
            let i = c.uvint("present column index")?;
            if i >= superset as u64 {
                return Err(c.invalid_at(at, format!("a column index below {superset}, found {i}")));
            }
            out.push(i as usize);
        }
    } else {
        let mut idx = 0usize;
        let mut skipped = 0usize;
        loop {
            let next_missing = if skipped < delta {
                let at = c.position();
                let m = c.uvint("missing column index")?;
                if m >= superset as u64 || (m as usize) < idx {
                    return Err(c.invalid_at(
                        at,
                        format!("an increasing column index below {superset}, found {m}"),
                    ));
                }
                m as usize
            } else {
                superset
            };
            while idx < next_missing {
                out.push(idx);
                idx += 1;
            }
            if idx == superset {
                break;
            }
            idx += 1;
            skipped += 1;
        }
    }
    Ok(())
}

/// Sum of a counter context's shard counts (the counter's value).
pub fn counter_value(ctx: &[u8]) -> Result<i64> {
    let mut c = Cursor::new(ctx, Component::Value);
    let n = c.i16("counter context header size")?;
    let header_len = 2 + 2 * (n.unsigned_abs() as usize);
    c.set_position(header_len.min(ctx.len()))?;
    if header_len > ctx.len() || !(ctx.len() - header_len).is_multiple_of(32) {
        return Err(Error::invalid(
            Component::Value,
            0,
            format!(
                "a counter context of a header and 32-byte shards, found {} bytes",
                ctx.len()
            ),
        ));
    }
    let mut total: i64 = 0;
    while !c.is_empty() {
        c.skip(16, "counter id")?;
        c.i64("counter clock")?;
        total = total.wrapping_add(c.i64("counter count")?);
    }
    Ok(total)
}

impl RowDecoder {
    /// The number of bytes the unfiltered at the start of `buf` occupies,
    /// reading only its flags, clustering and size (no cells). Used by
    /// streaming readers to make the whole unfiltered contiguous first.
    pub fn measure_unfiltered(&self, buf: &[u8], base: u64) -> Result<usize> {
        match self.quick_measure(buf) {
            Some(n) => Ok(n),
            None => self.measure_unfiltered_fully(buf, base),
        }
    }

    /// [`RowDecoder::measure_unfiltered`] without its shortcut for plain rows.
    pub fn measure_unfiltered_fully(&self, buf: &[u8], base: u64) -> Result<usize> {
        let mut c = Cursor::with_base(buf, C, base);
        let flags = c.u8("row flags")?;
        if flags & END_OF_PARTITION != 0 {
            return Ok(1);
        }
        if flags & IS_MARKER != 0 {
            c.u8("bound kind")?;
            let size = c.u16("bound size")? as usize;
            if size > self.clustering_types.len() {
                return Err(c.invalid(format!(
                    "at most {} clustering values, found {size}",
                    self.clustering_types.len()
                )));
            }
            skip_clustering_by_lens(&mut c, self.clustering_lens[..size].iter().copied())?;
        } else {
            let ext = if flags & EXTENSION_FLAG != 0 {
                c.u8("extended row flags")?
            } else {
                0
            };
            if ext & IS_STATIC == 0 {
                skip_clustering_by_lens(&mut c, self.clustering_lens.iter().copied())?;
            }
        }
        let at = c.position();
        let size = c.uvint("unfiltered size")?;
        let total = (c.position() as u64)
            .checked_add(size)
            .filter(|t| *t <= usize::MAX as u64 / 2);
        total
            .map(|t| t as usize)
            .ok_or_else(|| c.invalid_at(at, format!("a plausible unfiltered size, found {size}")))
    }

    /// [`RowDecoder::measure_unfiltered`] of the common case, a row with no
    /// extended flags whose clustering values are all present and of fixed
    /// length, when it lies whole in `buf`; `None` otherwise.
    #[inline]
    pub fn quick_measure(&self, buf: &[u8]) -> Option<usize> {
        let at = self.plain_row_size_at?;
        let flags = *buf.first()?;
        if flags & (END_OF_PARTITION | IS_MARKER | EXTENSION_FLAG) != 0 {
            return None;
        }
        // The clustering header (when there are values): 0 = all present.
        if at > 1 && *buf.get(1)? != 0 {
            return None;
        }
        let first = *buf.get(at)?;
        let (size, len) = if first & 0x80 == 0 {
            (first as usize, 1)
        } else {
            let mut c = Cursor::new(buf.get(at..)?, C);
            let size = usize::try_from(c.uvint("row size").ok()?).ok()?;
            (size, c.position())
        };
        let total = (at + len).checked_add(size)?;
        (total <= buf.len()).then_some(total)
    }

    /// Bytes needed for the partition header at the start of `buf`, if the
    /// key length is readable.
    pub fn measure_partition_header(&self, buf: &[u8], base: u64) -> Result<usize> {
        let mut c = Cursor::with_base(buf, C, base);
        let n = c.u16("partition key length")? as usize;
        c.skip(n, "partition key")?;
        if self.version.has_uint_deletion_time() {
            let f = c.u8("deletion time")?;
            Ok(2 + n + if f & 0x80 != 0 { 1 } else { 12 })
        } else {
            Ok(2 + n + 12)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::encode_uvint;

    #[test]
    fn subset_small_and_large() {
        let mut b = Vec::new();
        encode_uvint(0b101, &mut b);
        let mut c = Cursor::new(&b, C);
        assert_eq!(read_subset(&mut c, 4).unwrap(), vec![1, 3]);
        // large: 70 columns, 2 missing (3 and 10), encoded as missing indices
        let mut b = Vec::new();
        encode_uvint(2, &mut b);
        encode_uvint(3, &mut b);
        encode_uvint(10, &mut b);
        let mut c = Cursor::new(&b, C);
        let v = read_subset(&mut c, 70).unwrap();
        assert_eq!(v.len(), 68);
        assert!(!v.contains(&3) && !v.contains(&10));
        // large: 70 columns, 67 missing → 3 present listed
        let mut b = Vec::new();
        encode_uvint(67, &mut b);
        for i in [1, 5, 69] {
            encode_uvint(i, &mut b);
        }
        let mut c = Cursor::new(&b, C);
        assert_eq!(read_subset(&mut c, 70).unwrap(), vec![1, 5, 69]);
    }

    #[test]
    fn recycled_vectors_keep_their_allocation() {
        let value = [1u8, 2];
        let mut v: Vec<ClusteringValue<'_>> = Vec::with_capacity(8);
        v.push(Some(&value[..]));
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let mut bufs = RowBuffers::default();
        bufs.keep_clustering(v);
        let again: Vec<ClusteringValue<'_>> = bufs.take_clustering();
        assert!(again.is_empty());
        assert_eq!((again.as_ptr() as usize, again.capacity()), (ptr, cap));
    }

    #[test]
    fn counter_context_sum() {
        let mut b = Vec::new();
        b.extend_from_slice(&0i16.to_be_bytes());
        for n in [3i64, 4] {
            b.extend_from_slice(&[7u8; 16]);
            b.extend_from_slice(&1i64.to_be_bytes());
            b.extend_from_slice(&n.to_be_bytes());
        }
        assert_eq!(counter_value(&b).unwrap(), 7);
        assert!(counter_value(&b[..20]).is_err());
    }

    #[test]
    fn deletion_time_forms() {
        let live = [0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
        let mut c = Cursor::new(&live, C);
        assert!(DeletionTime::read(&mut c, Version::Nb).unwrap().is_live());
        let mut c = Cursor::new(&[0x80], C);
        assert!(DeletionTime::read(&mut c, Version::Oa).unwrap().is_live());
        let mut c = Cursor::new(&[0x81], C);
        assert!(DeletionTime::read(&mut c, Version::Oa).is_err());
    }
}
