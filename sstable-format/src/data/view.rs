//! Rows read lazily: a row's head (flags, clustering, size, liveness,
//! deletion and which columns are present) is decoded when the row is
//! reached, its cells one at a time as the caller asks for them.
//!
//! Nothing is collected: a scan that reads every cell through a
//! [`RowView`] allocates nothing and writes no per-cell entries, and each
//! cell is decoded exactly once. [`RowDecoder::unfiltered_in`] builds its
//! owned [`Row`]s from the same views, so both paths share one decoder.
//!
//! ```text
//! RowView::cells() yields, in header column order:
//!   Simple { column, cell }                 a simple column's cell
//!   Complex { column, deletion, cells: n }  a complex column starts ...
//!   ComplexCell { column, cell }  × n       ... and its cells follow
//! ```

use super::*;

/// Clustering values of a row or marker, checked when the view was made and
/// read again on demand (no copy is kept).
#[derive(Debug, Clone, Copy)]
pub struct ClusteringView<'a> {
    bytes: &'a [u8],
    lens: &'a [Option<usize>],
}

impl<'a> ClusteringView<'a> {
    /// The number of values (of the prefix, for a marker).
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// The encoded values (clustering headers included), as on disk.
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// The values in order: `None` = null, `Some(&[])` = empty.
    pub fn iter(&self) -> ClusteringIter<'a> {
        ClusteringIter {
            bytes: self.bytes,
            pos: 0,
            lens: self.lens.iter(),
            i: 0,
            header: 0,
        }
    }

    /// Append the values to `out`.
    pub fn collect_into(&self, out: &mut Vec<ClusteringValue<'a>>) -> Result<()> {
        let mut c = Cursor::new(self.bytes, C);
        read_clustering_by_lens(&mut c, self.lens.iter().copied(), out)
    }
}

/// The values of a [`ClusteringView`]. The bytes were checked when the view
/// was made (the same reads, on the same bytes), so iteration cannot fail.
#[derive(Debug, Clone)]
pub struct ClusteringIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    lens: std::slice::Iter<'a, Option<usize>>,
    i: usize,
    header: u64,
}

impl<'a> Iterator for ClusteringIter<'a> {
    type Item = ClusteringValue<'a>;

    #[inline]
    fn next(&mut self) -> Option<ClusteringValue<'a>> {
        let len = *self.lens.next()?;
        let i = self.i;
        self.i += 1;
        if i.is_multiple_of(32) {
            self.header = read_uvint(self.bytes, &mut self.pos)?;
        }
        let shift = (i % 32) * 2;
        if self.header & (1u64 << (shift + 1)) != 0 {
            Some(None)
        } else if self.header & (1u64 << shift) != 0 {
            Some(Some(&[][..]))
        } else {
            match len {
                Some(n) => {
                    let v = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
                    self.pos += n;
                    Some(Some(v))
                }
                None => read_vint_bytes(self.bytes, &mut self.pos).map(Some),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lens.size_hint()
    }
}

/// A row or a range-tombstone marker, read lazily.
// A view lives for one step of a scan and is consumed where it is made:
// boxing the row (the larger variant) would allocate once per row, which
// is what views are for avoiding.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum UnfilteredView<'a> {
    Row(RowView<'a>),
    Marker(MarkerView<'a>),
}

/// A range-tombstone bound or boundary marker, its clustering borrowed.
#[derive(Debug, Clone, Copy)]
pub struct MarkerView<'a> {
    pub kind: BoundKind,
    pub clustering: ClusteringView<'a>,
    /// For a bound: its deletion. For a boundary: the deletion that ends here.
    pub deletion: DeletionTime,
    /// For a boundary: the deletion that starts here.
    pub start_deletion: Option<DeletionTime>,
}

impl<'a> MarkerView<'a> {
    /// The owned marker, its clustering collected into `clustering` (emptied first).
    pub fn to_marker_in(
        &self,
        mut clustering: Vec<ClusteringValue<'a>>,
    ) -> Result<RangeTombstoneMarker<'a>> {
        clustering.clear();
        self.clustering.collect_into(&mut clustering)?;
        Ok(RangeTombstoneMarker {
            kind: self.kind,
            clustering,
            deletion: self.deletion,
            start_deletion: self.start_deletion,
        })
    }
}

/// A row whose head is decoded and whose cells are read by [`RowView::cells`].
#[derive(Debug, Clone)]
pub struct RowView<'a> {
    pub clustering: ClusteringView<'a>,
    pub deletion: DeletionTime,
    cells: Cells<'a>,
}

impl<'a> RowView<'a> {
    /// The static row?
    #[inline]
    pub fn is_static(&self) -> bool {
        self.cells.bits & VIEW_STATIC != 0
    }

    /// Is [`RowView::deletion`] shadowable?
    #[inline]
    pub fn shadowable_deletion(&self) -> bool {
        self.cells.bits & VIEW_SHADOWABLE != 0
    }

    /// The row's primary-key liveness (its "row marker").
    #[inline]
    pub fn liveness(&self) -> LivenessInfo {
        self.cells.liveness
    }

    /// The row's cells, decoded one by one; the iterator stops after the
    /// first error, and reports one if the cells do not end where the row's
    /// size says. Each call starts again from the first cell.
    pub fn cells(&self) -> Cells<'a> {
        self.cells.clone()
    }

    /// Call `f` with each of the row's cells in turn (what [`RowView::cells`]
    /// yields), stopping at the first error, the decoder's or `f`'s. Cheaper
    /// than the iterator when every cell is wanted: no per-item `Option`.
    #[inline]
    pub fn for_each_cell<E: From<Error>>(
        &self,
        mut f: impl FnMut(CellItem<'a>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        // The common case in a tight loop, on the view's own fields: simple
        // columns named by a bitmap (or all of fewer than 64), read by the
        // Result-free cell decoder. At the first column or cell it does not
        // take, the general steps below go on from there (and report any
        // error).
        let cells = &self.cells;
        let bits = match cells.present {
            Present::Bits(b) => Some(b),
            Present::All { next: 0, n } if n < 64 => Some((1u64 << n) - 1),
            _ => None,
        };
        let mut resume = None;
        if let Some(mut bits) = bits {
            let buf = cells.c.buf();
            let mut p = cells.c.position();
            while bits != 0 {
                let column = bits.trailing_zeros() as usize;
                let Some(col) = cells.cols.get(column).filter(|c| !c.complex) else {
                    break;
                };
                let Some(cell) = cells
                    .dec
                    .cell_fast(buf, &mut p, &cells.liveness, col, false)
                else {
                    break;
                };
                bits &= bits - 1;
                f(CellItem::Simple { column, cell })?;
            }
            if bits == 0 && p == buf.len() {
                return Ok(());
            }
            resume = Some((bits, p));
        }
        let mut cells = self.cells.clone();
        if let Some((bits, p)) = resume {
            cells.present = Present::Bits(bits);
            cells.c.advance_to(p);
        }
        while let Some(item) = cells.step()? {
            f(item)?;
        }
        Ok(())
    }

    /// The number of columns the row's kind (static or regular) has in the
    /// serialization header: an upper bound on its columns.
    pub fn header_columns(&self) -> usize {
        self.cells.cols.len()
    }
}

/// One step of a row's cells (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellItem<'a> {
    /// The cell of a simple column (index in the header's static or regular columns).
    Simple { column: usize, cell: Cell<'a> },
    /// A complex (multi-cell) column starts: its deletion (`LIVE` if none)
    /// and the number of its cells, which follow as `ComplexCell`s.
    Complex {
        column: usize,
        deletion: DeletionTime,
        cells: usize,
    },
    /// A cell of the complex column that started last.
    ComplexCell { column: usize, cell: Cell<'a> },
}

/// The columns present in a row, in order. A list of column indices is read
/// from the row's bytes at `at` (a position in the cells' cursor).
#[derive(Debug, Clone)]
enum Present {
    /// A bitmap (fewer than 64 columns, or all of them).
    Bits(u64),
    /// Columns `next..n`.
    All { next: usize, n: usize },
    /// `left` more present indices to read at `at`.
    Listed {
        at: usize,
        left: usize,
        superset: usize,
    },
    /// Every column but the increasing indices read at `at`.
    AllBut {
        at: usize,
        next: usize,
        superset: usize,
        next_missing: usize,
        missing_left: usize,
    },
}

impl Present {
    /// The next present column; `row` is a cursor over the row's bytes.
    #[inline]
    fn next(&mut self, row: &Cursor) -> Result<Option<usize>> {
        match self {
            Present::Bits(bits) => Ok((*bits != 0).then(|| {
                let i = bits.trailing_zeros() as usize;
                *bits &= *bits - 1;
                i
            })),
            Present::All { next, n } => Ok((*next < *n).then(|| {
                *next += 1;
                *next - 1
            })),
            Present::Listed { at, left, superset } => {
                if *left == 0 {
                    return Ok(None);
                }
                *left -= 1;
                let mut list = row.clone();
                list.advance_to(*at);
                let i = read_present_index(&mut list, *superset)?;
                *at = list.position();
                Ok(Some(i))
            }
            Present::AllBut {
                at,
                next,
                superset,
                next_missing,
                missing_left,
            } => loop {
                if *next >= *superset {
                    return Ok(None);
                }
                if *next == *next_missing {
                    *next += 1;
                    *next_missing = if *missing_left > 0 {
                        *missing_left -= 1;
                        let mut list = row.clone();
                        list.advance_to(*at);
                        let m = read_missing_index(&mut list, *next, *superset)?;
                        *at = list.position();
                        m
                    } else {
                        *superset
                    };
                    continue;
                }
                *next += 1;
                return Ok(Some(*next - 1));
            },
        }
    }
}

fn read_present_index(c: &mut Cursor, superset: usize) -> Result<usize> {
    let at = c.position();
    let i = c.uvint("present column index")?;
    if i >= superset as u64 {
        return Err(c.invalid_at(at, format!("a column index below {superset}, found {i}")));
    }
    Ok(i as usize)
}

/// A missing column's index, at least `from` (the list increases).
fn read_missing_index(c: &mut Cursor, from: usize, superset: usize) -> Result<usize> {
    let at = c.position();
    let m = c.uvint("missing column index")?;
    if m >= superset as u64 || (m as usize) < from {
        return Err(c.invalid_at(
            at,
            format!("an increasing column index below {superset}, found {m}"),
        ));
    }
    Ok(m as usize)
}

/// Read a column subset (`Columns.serializer.deserializeSubset`) of
/// `superset` columns at `c`: the present columns, their list (if any)
/// checked and stepped over so that `c` ends at the first cell.
#[inline]
fn read_present(c: &mut Cursor, superset: usize) -> Result<Present> {
    match read_subset_head(c, superset)? {
        SubsetHead::Present(bits) => Ok(Present::Bits(bits)),
        SubsetHead::Missing(0) => Ok(Present::All {
            next: 0,
            n: superset,
        }),
        SubsetHead::Missing(delta) => read_present_list(c, superset, delta),
    }
}

/// [`read_present`] of 64 columns or more, `delta` of them missing.
#[inline(never)]
fn read_present_list(c: &mut Cursor, superset: usize, delta: usize) -> Result<Present> {
    let at = c.position();
    let count = superset - delta;
    if count < superset / 2 {
        for _ in 0..count {
            read_present_index(c, superset)?;
        }
        return Ok(Present::Listed {
            at,
            left: count,
            superset,
        });
    }
    let mut from = 0;
    let mut first = None;
    for _ in 0..delta {
        let m = read_missing_index(c, from, superset)?;
        first.get_or_insert((m, c.position()));
        from = m + 1;
    }
    let (next_missing, at) = first.unwrap_or((superset, at));
    Ok(Present::AllBut {
        at,
        next: 0,
        superset,
        next_missing,
        missing_left: delta - 1,
    })
}

/// The cells of a [`RowView`], decoded one at a time.
#[derive(Debug, Clone)]
pub struct Cells<'a> {
    dec: &'a RowDecoder,
    cols: &'a [ColumnLayout],
    liveness: LivenessInfo,
    /// `VIEW_*` bits: one byte rather than several `bool`s, which a view's
    /// moves copy cheaply.
    bits: u8,
    /// At the next cell; ends where the row ends.
    c: Cursor<'a>,
    present: Present,
    /// The complex column being read: its index, layout and cells left.
    complex: Option<(usize, &'a ColumnLayout, usize)>,
}

const VIEW_STATIC: u8 = 1;
const VIEW_SHADOWABLE: u8 = 2;
const VIEW_COMPLEX_DELETIONS: u8 = 4;
const VIEW_DONE: u8 = 8;

impl<'a> Cells<'a> {
    #[inline]
    fn step(&mut self) -> Result<Option<CellItem<'a>>> {
        if let Some((column, col, left)) = &mut self.complex {
            if *left > 0 {
                *left -= 1;
                let (column, col) = (*column, *col);
                let cell = self.dec.read_cell(&mut self.c, &self.liveness, col, true)?;
                return Ok(Some(CellItem::ComplexCell { column, cell }));
            }
            self.complex = None;
        }
        let Some(column) = self.present.next(&self.c)? else {
            if !self.c.is_empty() {
                return Err(self.c.invalid(format!(
                    "the row to end at byte {} as its size says",
                    self.c.abs_position() + self.c.remaining() as u64
                )));
            }
            return Ok(None);
        };
        let Some(col) = self.cols.get(column) else {
            return Err(self.c.invalid("a column index within the header"));
        };
        if col.complex {
            let deletion = if self.bits & VIEW_COMPLEX_DELETIONS != 0 {
                self.dec.delta_deletion(&mut self.c)?
            } else {
                DeletionTime::LIVE
            };
            let cells = self.c.uvint_len(self.c.remaining(), "complex cell count")?;
            self.complex = Some((column, col, cells));
            return Ok(Some(CellItem::Complex {
                column,
                deletion,
                cells,
            }));
        }
        let cell = self
            .dec
            .read_cell(&mut self.c, &self.liveness, col, false)?;
        Ok(Some(CellItem::Simple { column, cell }))
    }
}

impl<'a> Iterator for Cells<'a> {
    type Item = Result<CellItem<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Result<CellItem<'a>>> {
        if self.bits & VIEW_DONE != 0 {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.bits |= VIEW_DONE;
                None
            }
            Err(e) => {
                self.bits |= VIEW_DONE;
                Some(Err(e))
            }
        }
    }
}

impl RowDecoder {
    /// Read the head of the unfiltered at the start of `buf` (`base` = its
    /// absolute offset): `None` at the end-of-partition flag. The second
    /// value is the number of bytes the unfiltered occupies; the whole of it
    /// must be in `buf` (its size is checked, its cells are not read yet).
    #[inline]
    pub fn view<'a>(
        &'a self,
        buf: &'a [u8],
        base: u64,
    ) -> Result<(Option<UnfilteredView<'a>>, usize)> {
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
            let (m, used) = self.marker_view(c)?;
            return Ok((Some(UnfilteredView::Marker(m)), used));
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
        let lens: &[Option<usize>] = if is_static {
            &[]
        } else {
            &self.clustering_lens
        };
        let clustering_at = c.position();
        match self.plain_row_size_at {
            // Every value present and of fixed length: a zero header, then
            // the values back to back.
            Some(at) if !is_static && (at == 1 || c.peek_u8() == Some(0)) => {
                c.skip(at - 1, "clustering")?
            }
            _ => skip_clustering_by_lens(&mut c, lens.iter().copied())?,
        }
        let clustering = ClusteringView {
            bytes: buf.get(clustering_at..c.position()).unwrap_or_default(),
            lens,
        };
        let row_size = c.uvint("row size")?;
        let body_start = c.position();
        if row_size > c.remaining() as u64 {
            return Err(c.truncated((row_size - c.remaining() as u64) as usize, "row body"));
        }
        let end = body_start + row_size as usize;
        let mut b = Cursor::with_base(buf.get(..end).unwrap_or_default(), C, base);
        b.set_position(body_start)?;
        b.uvint("previous unfiltered size")?;
        let mut liveness = LivenessInfo::EMPTY;
        if flags & HAS_TIMESTAMP != 0 {
            let ts = self.timestamp(&mut b)?;
            let expiring = if flags & HAS_TTL != 0 {
                Some((self.ttl(&mut b)?, self.raw_ldt(&mut b)?))
            } else {
                None
            };
            liveness = self.row_liveness(ts, expiring);
        }
        let deletion = if flags & HAS_DELETION != 0 {
            self.delta_deletion(&mut b)?
        } else {
            DeletionTime::LIVE
        };
        let cols: &[ColumnLayout] = if is_static {
            &self.statics
        } else {
            &self.regulars
        };
        let present = if flags & HAS_ALL_COLUMNS != 0 {
            Present::All {
                next: 0,
                n: cols.len(),
            }
        } else {
            read_present(&mut b, cols.len())?
        };
        Ok((
            Some(UnfilteredView::Row(RowView {
                clustering,
                deletion,
                cells: Cells {
                    dec: self,
                    cols,
                    liveness,
                    bits: if is_static { VIEW_STATIC } else { 0 }
                        | if ext & HAS_SHADOWABLE_DELETION != 0 {
                            VIEW_SHADOWABLE
                        } else {
                            0
                        }
                        | if flags & HAS_COMPLEX_DELETION != 0 {
                            VIEW_COMPLEX_DELETIONS
                        } else {
                            0
                        },
                    c: b,
                    present,
                    complex: None,
                },
            })),
            end,
        ))
    }

    /// A row's primary-key liveness from its timestamp and, if it expires,
    /// its TTL and local deletion time as stored.
    #[inline(always)]
    fn row_liveness(&self, timestamp: i64, expiring: Option<(i32, i64)>) -> LivenessInfo {
        let (ttl, local_expiration_time) = match expiring {
            Some((ttl, raw_ldt)) => (ttl, self.decode_ldt(raw_ldt, ttl)),
            None => (0, NO_DELETION_TIME),
        };
        LivenessInfo {
            timestamp: Some(timestamp),
            ttl,
            local_expiration_time,
        }
    }

    /// [`RowDecoder::view`] of the common row without `Result`s, for the
    /// hot path: a regular row with no extended flags and no row deletion,
    /// whose clustering values (at most 32) are all present and not empty,
    /// and which lies whole in `buf`. `None` for anything else (markers, the
    /// end of a partition, static rows, a row cut off by the end of `buf`,
    /// bad bytes), which the caller then reads with `view`. When it
    /// answers, it answers what `view` would (a property test checks it).
    #[inline(always)]
    pub fn view_fast<'a>(&'a self, buf: &'a [u8], base: u64) -> Option<(RowView<'a>, usize)> {
        let flags = *buf.first()?;
        if flags & (END_OF_PARTITION | IS_MARKER | EXTENSION_FLAG | HAS_DELETION) != 0 {
            return None;
        }
        // The clustering header (when there are values): 0 = all present
        // and not empty. Then the values: back to back when all are of
        // fixed length, else each variable one after its length.
        let lens = &self.clustering_lens;
        if !lens.is_empty() && *buf.get(1)? != 0 {
            return None;
        }
        let at = match self.plain_row_size_at {
            Some(at) => at,
            None if lens.len() <= 32 => {
                let mut p = 2usize;
                for len in lens {
                    let n = match *len {
                        Some(n) => n,
                        None => usize::try_from(read_uvint(buf, &mut p)?).ok()?,
                    };
                    p = p.checked_add(n)?;
                }
                p
            }
            None => return None,
        };
        let clustering = ClusteringView {
            bytes: buf.get(1..at)?,
            lens,
        };
        let mut p = at;
        let row_size = usize::try_from(read_uvint(buf, &mut p)?).ok()?;
        let end = p.checked_add(row_size)?;
        let row = buf.get(..end)?;
        read_uvint(row, &mut p)?; // the previous unfiltered's size
        let mut liveness = LivenessInfo::EMPTY;
        if flags & HAS_TIMESTAMP != 0 {
            let ts = (read_uvint(row, &mut p)? as i64).wrapping_add(self.stats.min_timestamp);
            let expiring = if flags & HAS_TTL != 0 {
                let ttl = fast_uvint32(row, &mut p)?.wrapping_add(self.stats.min_ttl);
                if ttl < 0 {
                    return None;
                }
                let ldt = fast_uvint32(row, &mut p)? as i64 + self.stats.min_local_deletion_time;
                Some((ttl, ldt))
            } else {
                None
            };
            liveness = self.row_liveness(ts, expiring);
        }
        let cols: &[ColumnLayout] = &self.regulars;
        let present = if flags & HAS_ALL_COLUMNS != 0 {
            Present::All {
                next: 0,
                n: cols.len(),
            }
        } else {
            // A bitmap of the missing columns (fewer than 64).
            let superset = cols.len();
            if superset >= 64 {
                return None;
            }
            let missing = read_uvint(row, &mut p)?;
            if missing >> superset != 0 {
                return None;
            }
            Present::Bits(!missing & ((1u64 << superset) - 1))
        };
        let mut c = Cursor::with_base(row, C, base);
        c.advance_to(p);
        Some((
            RowView {
                clustering,
                deletion: DeletionTime::LIVE,
                cells: Cells {
                    dec: self,
                    cols,
                    liveness,
                    bits: if flags & HAS_COMPLEX_DELETION != 0 {
                        VIEW_COMPLEX_DELETIONS
                    } else {
                        0
                    },
                    c,
                    present,
                    complex: None,
                },
            },
            end,
        ))
    }

    /// A marker, `c` just past its flags; the bytes it occupies from the flags on.
    fn marker_view<'a>(&'a self, mut c: Cursor<'a>) -> Result<(MarkerView<'a>, usize)> {
        let at = c.position();
        let k = c.u8("bound kind")?;
        let kind = BoundKind::from_ordinal(k)
            .filter(|k| !matches!(k, BoundKind::Clustering | BoundKind::StaticClustering))
            .ok_or_else(|| c.invalid_at(at, format!("a range tombstone bound kind, found {k}")))?;
        let size = c.u16("bound size")? as usize;
        let Some(lens) = self.clustering_lens.get(..size) else {
            return Err(c.invalid(format!(
                "at most {} clustering values, found {size}",
                self.clustering_types.len()
            )));
        };
        let clustering_at = c.position();
        let rest = c.rest();
        skip_clustering_by_lens(&mut c, lens.iter().copied())?;
        let clustering = ClusteringView {
            bytes: rest.get(..c.position() - clustering_at).unwrap_or_default(),
            lens,
        };
        let marker_size = c.uvint("marker size")?;
        if marker_size > c.remaining() as u64 {
            return Err(c.truncated((marker_size - c.remaining() as u64) as usize, "marker body"));
        }
        let end = c.position() + marker_size as usize;
        c.uvint("previous unfiltered size")?;
        let deletion = self.delta_deletion(&mut c)?;
        let start_deletion = if kind.is_boundary() {
            Some(self.delta_deletion(&mut c)?)
        } else {
            None
        };
        if c.position() != end {
            return Err(c.invalid(format!(
                "the marker to end at byte {} as its size says",
                c.abs_position() - c.position() as u64 + end as u64
            )));
        }
        Ok((
            MarkerView {
                kind,
                clustering,
                deletion,
                start_deletion,
            },
            end,
        ))
    }

    /// [`RowDecoder::unfiltered`] taking its vectors from `bufs` (see
    /// [`RowBuffers::recycle`]): the [`RowDecoder::view`] of the unfiltered,
    /// its cells collected.
    pub fn unfiltered_in<'a>(
        &'a self,
        buf: &'a [u8],
        base: u64,
        bufs: &mut RowBuffers,
    ) -> Result<(Option<Unfiltered<'a>>, usize)> {
        let (view, used) = match self.view_fast(buf, base) {
            Some((row, used)) => (Some(UnfilteredView::Row(row)), used),
            None => self.view(buf, base)?,
        };
        let r = match view {
            None => None,
            Some(UnfilteredView::Marker(m)) => {
                Some(Unfiltered::Marker(m.to_marker_in(bufs.take_clustering())?))
            }
            Some(UnfilteredView::Row(r)) => {
                let mut clustering = bufs.take_clustering();
                r.clustering.collect_into(&mut clustering)?;
                let mut columns = bufs.take_columns();
                columns.reserve(r.header_columns());
                r.for_each_cell(|item| -> Result<()> {
                    match item {
                        CellItem::Simple { column, cell } => {
                            columns.push(ColumnData::Simple { column, cell })
                        }
                        CellItem::Complex {
                            column,
                            deletion,
                            cells: n,
                        } => {
                            let mut cells = bufs.take_cells();
                            cells.reserve(n);
                            columns.push(ColumnData::Complex {
                                column,
                                deletion,
                                cells,
                            });
                        }
                        CellItem::ComplexCell { cell, .. } => {
                            if let Some(ColumnData::Complex { cells, .. }) = columns.last_mut() {
                                cells.push(cell);
                            }
                        }
                    }
                    Ok(())
                })?;
                Some(Unfiltered::Row(Row {
                    is_static: r.is_static(),
                    clustering,
                    liveness: r.liveness(),
                    deletion: r.deletion,
                    shadowable_deletion: r.shadowable_deletion(),
                    columns,
                }))
            }
        };
        Ok((r, used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::encode_uvint;
    use crate::statistics::HeaderColumn;
    use proptest::prelude::*;

    /// The present columns of a subset, and where its cells start.
    fn subset(b: &[u8], superset: usize) -> Result<(Vec<usize>, usize)> {
        let mut c = Cursor::new(b, C);
        let mut p = read_present(&mut c, superset)?;
        let mut out = Vec::new();
        while let Some(i) = p.next(&c)? {
            out.push(i);
        }
        Ok((out, c.position()))
    }

    fn uvints(vs: &[u64]) -> Vec<u8> {
        let mut b = Vec::new();
        for &v in vs {
            encode_uvint(v, &mut b);
        }
        b
    }

    /// A decoder, through [`RowDecoder::new`], for rows of `clustering`
    /// (fixed lengths or `None`) and `regulars` (fixed length or `None`,
    /// complex).
    fn decoder(
        clustering: &[Option<usize>],
        regulars: &[(Option<usize>, bool)],
        stats: EncodingStats,
    ) -> RowDecoder {
        let fixed = |len: Option<usize>| match len {
            Some(8) => CqlType::BigInt,
            Some(_) => CqlType::Int,
            None => CqlType::Text,
        };
        let column = |(i, &(len, complex)): (usize, &(Option<usize>, bool))| {
            let cql_type = if complex {
                CqlType::List {
                    elem: Box::new(CqlType::Int),
                    frozen: false,
                }
            } else {
                fixed(len)
            };
            HeaderColumn {
                name: format!("c{i}").into_bytes(),
                type_string: String::new(),
                cql_type,
            }
        };
        let header = SerializationHeader {
            stats,
            key_type_string: String::new(),
            key_type: CqlType::Int,
            clustering_types: clustering.iter().map(|&l| fixed(l)).collect(),
            clustering_type_strings: Vec::new(),
            static_columns: Vec::new(),
            regular_columns: regulars.iter().enumerate().map(column).collect(),
        };
        RowDecoder::new(Version::Oa, &header)
    }

    /// Every cell of a row through `for_each_cell` (its fast loop, then the
    /// general steps) and through the `cells()` iterator (steps only): the
    /// items up to the first error, and the error.
    fn both_ways<'a>(r: &RowView<'a>) -> (Vec<String>, Vec<String>) {
        let mut a = Vec::new();
        if let Err(e) = r.for_each_cell(|item| -> Result<()> {
            a.push(format!("{item:?}"));
            Ok(())
        }) {
            a.push(format!("{e:?}"));
        }
        let b = r
            .cells()
            .map(|item| match item {
                Ok(item) => format!("{item:?}"),
                Err(e) => format!("{e:?}"),
            })
            .collect();
        (a, b)
    }

    fn clustering_lens() -> impl Strategy<Value = Vec<Option<usize>>> {
        proptest::collection::vec(prop_oneof![Just(Some(4)), Just(Some(8)), Just(None)], 0..3)
    }

    fn regular_columns() -> impl Strategy<Value = Vec<(Option<usize>, bool)>> {
        proptest::collection::vec(
            (
                prop_oneof![Just(Some(4)), Just(None)],
                proptest::bool::weighted(0.15),
            ),
            0..6,
        )
    }

    /// One cell's choices: its flags, its value, whether the value's
    /// encoding is wrong for its column.
    type CellSpec = (u8, Vec<u8>, bool);

    fn cell_specs() -> impl Strategy<Value = Vec<CellSpec>> {
        let flags = prop_oneof![
            4 => Just(CELL_USE_ROW_TIMESTAMP),
            1 => Just(CELL_USE_ROW_TIMESTAMP | CELL_HAS_EMPTY_VALUE),
            1 => Just(CELL_USE_ROW_TIMESTAMP | CELL_USE_ROW_TTL),
            1 => Just(0u8),
            1 => Just(CELL_IS_EXPIRING),
            1 => Just(CELL_IS_DELETED | CELL_HAS_EMPTY_VALUE),
            1 => proptest::num::u8::ANY,
        ];
        let value = proptest::collection::vec(proptest::num::u8::ANY, 0..6);
        proptest::collection::vec((flags, value, proptest::bool::weighted(0.05)), 6)
    }

    /// The bytes of one cell of a column of `fixed` length (`complex`: a
    /// complex cell, with a path).
    fn cell_bytes((flags, v, wrong): &CellSpec, fixed: Option<usize>, complex: bool) -> Vec<u8> {
        let mut b = vec![*flags];
        if flags & CELL_USE_ROW_TIMESTAMP == 0 {
            b.push(3); // timestamp delta
        }
        if flags & (CELL_IS_EXPIRING | CELL_IS_DELETED) != 0 && flags & CELL_USE_ROW_TTL == 0 {
            b.push(5); // local deletion time delta
            if flags & CELL_IS_EXPIRING != 0 {
                b.push(7); // TTL delta
            }
        }
        if complex {
            b.extend_from_slice(&[1, 9]); // a one-byte path
        }
        if flags & CELL_HAS_EMPTY_VALUE == 0 {
            match (fixed, wrong) {
                (Some(n), false) => b.extend((0..n).map(|i| v.get(i).copied().unwrap_or(1))),
                _ => {
                    encode_uvint(v.len() as u64, &mut b);
                    b.extend_from_slice(v);
                }
            }
        }
        b
    }

    /// A row's body: its head as its flags say (or `noise` instead), then
    /// one cell per present column (a complex column: its deletion if the
    /// flags say so, and two cells).
    fn row_body(
        flags: u8,
        regulars: &[(Option<usize>, bool)],
        missing: u64,
        cells: &[CellSpec],
        noise: &Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut b = Vec::new();
        let mut present: Vec<usize> = (0..regulars.len()).collect();
        match noise {
            Some(n) => b.extend_from_slice(n),
            None => {
                b.push(0); // previous unfiltered size
                if flags & HAS_TIMESTAMP != 0 {
                    b.push(2);
                    if flags & HAS_TTL != 0 {
                        b.extend_from_slice(&[9, 4]);
                    }
                }
                if flags & HAS_ALL_COLUMNS == 0 {
                    let missing = missing & ((1u64 << regulars.len()) - 1);
                    encode_uvint(missing, &mut b);
                    present.retain(|i| missing & (1 << i) == 0);
                }
            }
        }
        for (i, spec) in present.into_iter().zip(cells) {
            let (fixed, complex) = regulars[i];
            if complex {
                if flags & HAS_COMPLEX_DELETION != 0 {
                    b.extend_from_slice(&[1, 1]);
                }
                b.push(2);
                b.extend(cell_bytes(spec, None, true));
                b.extend(cell_bytes(spec, None, true));
            } else {
                b.extend(cell_bytes(spec, fixed, false));
            }
        }
        b
    }

    proptest! {
        /// The Result-free row head answers exactly what `view` does, and
        /// answers for every plain row `view` reads; `for_each_cell`'s fast
        /// loop yields exactly what the general steps do, errors included.
        #[test]
        fn fast_rows_equal_checked_rows(
            clustering in clustering_lens(),
            regulars in regular_columns(),
            flags in prop_oneof![
                6 => (0u8..0x80).prop_map(|f| f & !(END_OF_PARTITION | IS_MARKER)),
                1 => proptest::num::u8::ANY,
            ],
            header in prop_oneof![8 => Just(0u8), 1 => proptest::num::u8::ANY],
            values in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..6), 3),
            missing in 0u64..64,
            cells in cell_specs(),
            noise in proptest::option::weighted(0.1, proptest::collection::vec(0u8..6, 0..6)),
            size_delta in prop_oneof![8 => Just(0i64), 1 => -3i64..3],
            cut in proptest::option::weighted(0.2, 0usize..64),
            trailing in proptest::collection::vec(proptest::num::u8::ANY, 0..4),
            min_timestamp in prop_oneof![Just(0i64), proptest::num::i64::ANY],
            min_ttl in prop_oneof![Just(0i32), proptest::num::i32::ANY],
        ) {
            let stats = EncodingStats { min_timestamp, min_local_deletion_time: 1_600_000_000, min_ttl };
            let dec = decoder(&clustering, &regulars, stats);
            let mut buf = vec![flags];
            if !clustering.is_empty() {
                buf.push(header);
            }
            for (len, v) in clustering.iter().zip(&values) {
                match len {
                    Some(n) => buf.extend((0..*n).map(|i| v.get(i).copied().unwrap_or(7))),
                    None => {
                        encode_uvint(v.len() as u64, &mut buf);
                        buf.extend_from_slice(v);
                    }
                }
            }
            let row = row_body(flags, &regulars, missing, &cells, &noise);
            encode_uvint((row.len() as i64 + size_delta).max(0) as u64, &mut buf);
            buf.extend_from_slice(&row);
            buf.extend_from_slice(&trailing);
            if let Some(n) = cut {
                buf.truncate(n);
            }
            let fast = dec.view_fast(&buf, 100);
            let checked = dec.view(&buf, 100);
            if let Some((r, used)) = &fast {
                match &checked {
                    Ok((Some(UnfilteredView::Row(r2)), used2)) => {
                        prop_assert_eq!(used, used2);
                        prop_assert_eq!(format!("{r:?}"), format!("{r2:?}"));
                    }
                    other => prop_assert!(false, "fast {:?} vs checked {:?}", fast, other),
                }
            }
            if let Ok((Some(UnfilteredView::Row(r2)), _)) = &checked {
                let plain = flags & (EXTENSION_FLAG | HAS_DELETION) == 0
                    && (clustering.is_empty() || header == 0);
                prop_assert!(!plain || fast.is_some(), "a plain row the fast head did not read");
                let (a, b) = both_ways(r2);
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn subset_small_and_large() {
        // A bitmap of the missing columns.
        assert_eq!(subset(&uvints(&[0b101]), 4).unwrap(), (vec![1, 3], 1));
        // 70 columns, none missing.
        let (v, at) = subset(&uvints(&[0]), 70).unwrap();
        assert_eq!((v, at), ((0..70).collect(), 1));
        // 70 columns, 2 missing (3 and 10), listed; a cell byte follows.
        let mut b = uvints(&[2, 3, 10]);
        b.push(0x42);
        let (v, at) = subset(&b, 70).unwrap();
        assert_eq!(v.len(), 68);
        assert!(!v.contains(&3) && !v.contains(&10));
        assert_eq!(at, 3);
        // The last column missing.
        let (v, _) = subset(&uvints(&[1, 69]), 70).unwrap();
        assert_eq!(v, (0..69).collect::<Vec<_>>());
        // 70 columns, 67 missing: the 3 present ones listed.
        assert_eq!(
            subset(&uvints(&[67, 1, 5, 69]), 70).unwrap(),
            (vec![1, 5, 69], 4)
        );
    }

    #[test]
    fn subset_errors() {
        // A bitmap naming a column beyond the superset.
        assert!(subset(&uvints(&[0b10000]), 4).is_err());
        // Missing indices that do not increase, or are out of range.
        assert!(subset(&uvints(&[2, 10, 3]), 70).is_err());
        assert!(subset(&uvints(&[2, 3, 70]), 70).is_err());
        // More missing than columns; a present index out of range.
        assert!(subset(&uvints(&[71]), 70).is_err());
        assert!(subset(&uvints(&[67, 1, 5, 70]), 70).is_err());
        // A list cut short.
        assert!(subset(&uvints(&[2, 3]), 70).is_err());
    }
}
