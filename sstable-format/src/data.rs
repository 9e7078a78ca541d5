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

use crate::cursor::{read_uvint, read_vint_bytes, Cursor};
use crate::error::{Component, Error, Result};
use crate::statistics::{read_uvint32, EncodingStats, SerializationHeader};
use crate::types::CqlType;
use crate::version::Version;

const C: Component = Component::Data;

mod view;
pub use view::{
    CellItem, Cells, ClusteringIter, ClusteringView, MarkerView, RowView, UnfilteredView,
};

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

/// A live deletion in its pre-`oa` form: local deletion time `i32::MAX`,
/// marked-for-delete-at `i64::MIN`.
const LIVE_NB_DELETION: [u8; 12] = [0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];

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

    /// Does `self` win over `other` when two versions of a row meet
    /// (Cassandra's `LivenessInfo.supersedes`, 4.0 and later)? The newer
    /// timestamp; on a tie an expired liveness, then an expiring one over
    /// one that never expires, then the later expiry, then the shorter TTL.
    pub fn supersedes(&self, other: &LivenessInfo) -> bool {
        if self.timestamp == other.timestamp
            && self.is_expiring()
            && other.is_expiring()
            && self.local_expiration_time == other.local_expiration_time
        {
            return self.ttl < other.ttl;
        }
        self.supersedes_3x(other)
    }

    /// `LivenessInfo.supersedes` of Cassandra 3.x: as [`Self::supersedes`]
    /// without the last rule (the TTL).
    pub fn supersedes_3x(&self, other: &LivenessInfo) -> bool {
        let ts = |l: &LivenessInfo| l.timestamp.unwrap_or(i64::MIN);
        if ts(self) != ts(other) {
            return ts(self) > ts(other);
        }
        let expired = |l: &LivenessInfo| l.ttl == EXPIRED_LIVENESS_TTL;
        if expired(self) != expired(other) {
            return expired(self);
        }
        if self.is_expiring() == other.is_expiring() {
            return self.local_expiration_time > other.local_expiration_time;
        }
        self.is_expiring()
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
    #[inline]
    pub fn partition_header<'a>(
        &self,
        buf: &'a [u8],
        base: u64,
    ) -> Result<(PartitionHeader<'a>, usize)> {
        // The common case first: a live partition whose header is whole in `buf`.
        if let Some(&[a, b]) = buf.get(..2) {
            let n = u16::from_be_bytes([a, b]) as usize;
            if let Some(key) = buf.get(2..2 + n) {
                let live_len = if self.version.has_uint_deletion_time() {
                    (buf.get(2 + n) == Some(&0x80)).then_some(1)
                } else {
                    (buf.get(2 + n..2 + n + 12) == Some(&LIVE_NB_DELETION[..])).then_some(12)
                };
                if let Some(len) = live_len {
                    let deletion = DeletionTime::LIVE;
                    return Ok((PartitionHeader { key, deletion }, 2 + n + len));
                }
            }
        }
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
        &'a self,
        buf: &'a [u8],
        base: u64,
    ) -> Result<(Option<Unfiltered<'a>>, usize)> {
        self.unfiltered_in(buf, base, &mut RowBuffers::default())
    }

    /// [`RowDecoder::cell`] without `Result`s, for the hot path: the cell at
    /// `buf[*pos..]` and `*pos` moved past it, or `None` (`*pos` unchanged)
    /// for anything it does not decode (bad or truncated bytes), which the
    /// caller then reads with `cell` for the precise error. When it answers,
    /// it answers what `cell` would (a property test checks it).
    #[inline(always)]
    fn cell_fast<'a>(
        &self,
        buf: &'a [u8],
        pos: &mut usize,
        row: &LivenessInfo,
        col: &ColumnLayout,
        complex: bool,
    ) -> Option<Cell<'a>> {
        let mut p = *pos;
        let flags = *buf.get(p)?;
        p += 1;
        if flags & !0x1f != 0 {
            return None;
        }
        let is_tombstone = flags & CELL_IS_DELETED != 0;
        let is_expiring = flags & CELL_IS_EXPIRING != 0;
        let use_row_ttl = flags & CELL_USE_ROW_TTL != 0;
        let timestamp = if flags & CELL_USE_ROW_TIMESTAMP != 0 {
            row.timestamp?
        } else {
            (read_uvint(buf, &mut p)? as i64).wrapping_add(self.stats.min_timestamp)
        };
        let (raw_ldt, ttl) = if use_row_ttl {
            (row.local_expiration_time, row.ttl)
        } else {
            let ldt = if is_tombstone || is_expiring {
                fast_uvint32(buf, &mut p)? as i64 + self.stats.min_local_deletion_time
            } else {
                NO_DELETION_TIME
            };
            let ttl = if is_expiring {
                let t = fast_uvint32(buf, &mut p)?.wrapping_add(self.stats.min_ttl);
                if t < 0 {
                    return None;
                }
                t
            } else {
                0
            };
            (ldt, ttl)
        };
        let path = if complex {
            Some(read_vint_bytes(buf, &mut p)?)
        } else {
            None
        };
        let value = if flags & CELL_HAS_EMPTY_VALUE != 0 {
            &[][..]
        } else {
            match col.value_fixed_len {
                Some(n) => {
                    let v = buf.get(p..p.checked_add(n)?)?;
                    p += n;
                    v
                }
                None => read_vint_bytes(buf, &mut p)?,
            }
        };
        *pos = p;
        Some(self.make_cell(flags, row, timestamp, (raw_ldt, ttl), path, value))
    }

    /// The cell at `c`: [`RowDecoder::cell_fast`], or for what it does not
    /// decode, [`RowDecoder::cell`] with its precise error.
    #[inline(always)]
    fn read_cell<'a>(
        &self,
        c: &mut Cursor<'a>,
        row: &LivenessInfo,
        col: &ColumnLayout,
        complex: bool,
    ) -> Result<Cell<'a>> {
        let mut p = c.position();
        match self.cell_fast(c.buf(), &mut p, row, col, complex) {
            Some(cell) => {
                c.advance_to(p);
                Ok(cell)
            }
            None => self.cell(c, row, col, complex),
        }
    }

    /// The checked cell decoder (the slow path of [`RowDecoder::read_cell`]).
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
        Ok(self.make_cell(flags, row, timestamp, (raw_ldt, ttl), path, value))
    }

    /// A cell from its decoded parts (`raw_ldt` as stored, before
    /// `decodeLocalDeletionTime`).
    #[inline(always)]
    fn make_cell<'a>(
        &self,
        flags: u8,
        row: &LivenessInfo,
        timestamp: i64,
        (raw_ldt, ttl): (i64, i32),
        path: Option<&'a [u8]>,
        value: &'a [u8],
    ) -> Cell<'a> {
        let local_deletion_time = if raw_ldt == NO_DELETION_TIME {
            raw_ldt
        } else {
            self.decode_ldt(raw_ldt, ttl)
        };
        let use_row_ttl = flags & CELL_USE_ROW_TTL != 0;
        Cell {
            timestamp,
            ttl,
            local_deletion_time,
            is_tombstone: flags & CELL_IS_DELETED != 0,
            is_expiring: flags & CELL_IS_EXPIRING != 0 || (use_row_ttl && row.is_expiring()),
            path,
            value,
        }
    }
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

/// [`read_uvint32`] without a `Result`.
#[inline(always)]
fn fast_uvint32(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let v = read_uvint(buf, pos)? as i64;
    (v as i32 as i64 == v).then_some(v as i32)
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

    fn decoder(version: Version, stats: EncodingStats) -> RowDecoder {
        RowDecoder {
            version,
            stats,
            clustering_types: Vec::new(),
            statics: Vec::new(),
            regulars: Vec::new(),
            clustering_lens: Vec::new(),
            plain_row_size_at: Some(1),
        }
    }

    #[test]
    fn liveness_ties_go_to_the_expiring_row_marker() {
        let l = |timestamp: Option<i64>, ttl: i32, local_expiration_time: i64| LivenessInfo {
            timestamp,
            ttl,
            local_expiration_time,
        };
        let plain = l(Some(250), 0, NO_DELETION_TIME);
        let expiring = l(Some(250), 1, 1_700_000_000);
        let later = l(Some(250), 1, 1_700_000_001);
        let expired = l(Some(250), EXPIRED_LIVENESS_TTL, 1_600_000_000);
        // INSERT … USING TIMESTAMP 250 AND TTL 1, then INSERT … USING
        // TIMESTAMP 250: the node keeps the expiring marker, and the row
        // dies with it.
        assert!(expiring.supersedes(&plain) && !plain.supersedes(&expiring));
        assert!(later.supersedes(&expiring) && !expiring.supersedes(&later));
        assert!(expired.supersedes(&later) && !later.supersedes(&expired));
        // 4.0+: equal expiry, the shorter TTL; 3.x: neither wins.
        let short = l(Some(250), 10, 1_700_000_000);
        let long = l(Some(250), 20, 1_700_000_000);
        assert!(short.supersedes(&long) && !long.supersedes(&short));
        assert!(!short.supersedes_3x(&long) && !long.supersedes_3x(&short));
        assert!(expiring.supersedes_3x(&plain) && !plain.supersedes_3x(&expiring));
        // A newer timestamp wins whatever else; no liveness loses to any.
        let newer = l(Some(251), 0, NO_DELETION_TIME);
        assert!(newer.supersedes(&expired) && !expired.supersedes(&newer));
        assert!(plain.supersedes(&LivenessInfo::EMPTY));
        assert!(!LivenessInfo::EMPTY.supersedes(&plain));
    }

    use proptest::prelude::*;

    proptest! {
        /// The Result-free cell decoder answers exactly what the checked one
        /// does, and answers whenever the checked one succeeds.
        #[test]
        fn fast_cells_equal_checked_cells(
            bytes in proptest::collection::vec(
                prop_oneof![proptest::num::u8::ANY, 0u8..0x20, 0x80u8..0x90, Just(0xffu8)],
                0..48,
            ),
            start in 0usize..4,
            fixed in proptest::option::of(0usize..10),
            complex: bool,
            oa: bool,
            row_ts in proptest::option::of(-5i64..5),
            row_ttl in prop_oneof![Just(0i32), 1i32..100, Just(EXPIRED_LIVENESS_TTL)],
            min_timestamp in prop_oneof![Just(0i64), proptest::num::i64::ANY],
            min_ldt in prop_oneof![Just(0i64), 0i64..2_000_000_000],
            min_ttl in prop_oneof![Just(0i32), proptest::num::i32::ANY],
        ) {
            let version = if oa { Version::Oa } else { Version::Nb };
            let dec = decoder(version, EncodingStats { min_timestamp, min_local_deletion_time: min_ldt, min_ttl });
            let row = LivenessInfo { timestamp: row_ts, ttl: row_ttl, local_expiration_time: 1_700_000_000 };
            let col = ColumnLayout { complex, value_fixed_len: fixed };
            let start = start.min(bytes.len());
            let mut p = start;
            let fast = dec.cell_fast(&bytes, &mut p, &row, &col, complex);
            let mut c = Cursor::new(&bytes, C);
            c.set_position(start).unwrap();
            let checked = dec.cell(&mut c, &row, &col, complex);
            match (fast, checked) {
                (Some(f), Ok(s)) => {
                    prop_assert_eq!(f, s);
                    prop_assert_eq!(p, c.position());
                }
                (None, Err(_)) => prop_assert_eq!(p, start),
                (f, s) => prop_assert!(false, "fast {:?} vs checked {:?}", f, s),
            }
        }
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
