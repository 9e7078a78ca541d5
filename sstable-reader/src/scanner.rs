//! Sequential, lazy scanning of Data.db: partitions, then their rows and
//! markers, decoded from a bounded window of the (decompressed) stream.
//!
//! Memory is bounded by the largest single row, not by the partition or the
//! file: the window holds the current unfiltered plus at most one chunk.

use crate::error::{ReadError, Result};
use crate::sstable::SSTable;
use sstable_format::data::{
    DeletionTime, RangeTombstoneMarker, RowBuffers, Unfiltered, UnfilteredView, END_OF_PARTITION,
};
use sstable_format::{Component, Error as FmtError};

/// Compressed scans look at releasing the pages they have read every this
/// many chunks ...
const RELEASE_EVERY_CHUNKS: u64 = 16;
/// ... and release once at least this many bytes are behind them.
const RELEASE_MIN_BYTES: u64 = 2 << 20;

/// The start of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStart {
    pub key: Vec<u8>,
    pub deletion: DeletionTime,
    /// Offset of the partition in the uncompressed Data.db stream.
    pub position: u64,
}

/// The start of a partition, its key borrowed from the scanner
/// ([`Scanner::next_partition_ref`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRef<'a> {
    pub key: &'a [u8],
    pub deletion: DeletionTime,
    /// Offset of the partition in the uncompressed Data.db stream.
    pub position: u64,
}

/// Scanner options.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Verify chunk CRCs (and the whole-file digest on full scans).
    pub verify_checksums: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            verify_checksums: true,
        }
    }
}

/// A lending iterator over one sstable's Data.db.
pub struct Scanner<'s> {
    sst: &'s SSTable,
    opts: ScanOptions,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    avail_end: u64,
    end: u64,
    next_chunk: u64,
    digest: Option<sstable_format::checksum::Hasher>,
    /// Some 2.1 writers' digests cover the compressed chunks without their checksums.
    digest_alt: Option<sstable_format::checksum::Hasher>,
    /// Bytes of the Data.db file fed to the digest so far.
    digest_upto: u64,
    /// Compressed scans: the Data.db offset below which this scanner has
    /// released the mapped pages it read (`None` until its first chunk).
    released_upto: Option<u64>,
    /// [`RELEASE_EVERY_CHUNKS`] and [`RELEASE_MIN_BYTES`] (tests lower them).
    release_every: u64,
    release_min: u64,
    in_partition: bool,
    /// 2.x: the atoms of the row being assembled, and the partition's range tombstones.
    row_buf: Vec<u8>,
    legacy_tombstones: Vec<crate::legacy::LegacyRangeTombstone>,
    /// 2.x: the partition's range tombstones as 3.0 markers, and a row read
    /// ahead (its span) while the markers before it are emitted.
    legacy_sweep: crate::legacy::RangeTombstoneSweep,
    legacy_row_ahead: Option<(u64, u64)>,
    legacy_key: crate::legacy::RowKey,
    legacy_marker: Option<crate::legacy::LegacyMarker>,
    failed: bool,
}

/// A sequential scan (one that has released pages) releases the rest of
/// what it read when it ends, so that a table scanned in many slices leaves
/// no slice's tail mapped until the file is unmapped.
impl Drop for Scanner<'_> {
    fn drop(&mut self) {
        // `released_upto` is set once a chunk has been read.
        let (Some(from), Some(ci), Some(last)) = (
            self.released_upto,
            &self.sst.compression,
            self.next_chunk.checked_sub(1),
        ) else {
            return;
        };
        if let Ok(span) = ci.chunk_span(last, self.sst.data.len()) {
            // The chunk and its 4-byte checksum.
            let end = span.offset.saturating_add(span.length as u64 + 4);
            self.sst.data.release(from, end);
        }
    }
}

impl<'s> Scanner<'s> {
    /// Scan the whole sstable from the start.
    pub fn new(sst: &'s SSTable, opts: ScanOptions) -> Scanner<'s> {
        sst.data.advise_sequential();
        let digest = match sst.digest {
            Some((kind, _, _)) if opts.verify_checksums => Some(kind.hasher()),
            _ => None,
        };
        Scanner {
            sst,
            opts,
            buf: Vec::new(),
            buf_start: 0,
            pos: 0,
            avail_end: 0,
            end: sst.data_length(),
            next_chunk: 0,
            digest_alt: match (
                &digest,
                sst.version().is_legacy() && sst.compression.is_some(),
            ) {
                (Some(h), true) => Some(h.clone()),
                _ => None,
            },
            digest,
            released_upto: None,
            release_every: RELEASE_EVERY_CHUNKS,
            release_min: RELEASE_MIN_BYTES,
            digest_upto: 0,
            in_partition: false,
            failed: false,
            row_buf: Vec::new(),
            legacy_tombstones: Vec::new(),
            legacy_sweep: Default::default(),
            legacy_row_ahead: None,
            legacy_key: (false, Vec::new()),
            legacy_marker: None,
        }
    }

    /// Scan the partitions in `[start, end)` of the uncompressed stream;
    /// `start` must be a partition boundary.
    pub fn range(sst: &'s SSTable, opts: ScanOptions, start: u64, end: u64) -> Scanner<'s> {
        let mut s = Scanner::new(sst, opts);
        s.digest = None;
        s.end = end.min(sst.data_length());
        s.seek(start.min(s.end));
        s
    }

    /// Scan the rows in `[start, end)` of one partition: `start` is a row
    /// boundary inside it (a promoted-index block), `end` one too or the
    /// partition's end. The rows come from [`Scanner::next_unfiltered`]
    /// straight away (there is no partition header to read); 3.0+ formats
    /// only (2.x rows are assembled across the partition: a scanner of
    /// those yields nothing).
    pub fn rows(sst: &'s SSTable, opts: ScanOptions, start: u64, end: u64) -> Scanner<'s> {
        let mut s = Scanner::range(sst, opts, start, end);
        s.in_partition = sst.legacy.is_none() && !sst.is_raw_legacy() && s.pos < s.end;
        s
    }

    fn seek(&mut self, pos: u64) {
        let chunk = self.chunk_size();
        self.next_chunk = pos / chunk;
        self.buf.clear();
        self.buf_start = self.next_chunk * chunk;
        self.avail_end = self.buf_start;
        self.pos = pos;
        // Pages are released only behind a run of chunks this scanner read.
        self.released_upto = None;
        if self.buf_start != 0 {
            self.digest = None;
            self.digest_alt = None;
        }
    }

    fn chunk_size(&self) -> u64 {
        match (&self.sst.compression, &self.sst.crc) {
            (Some(c), _) => c.chunk_length as u64,
            (None, Some(crc)) if self.opts.verify_checksums => crc.chunk_size as u64,
            _ => self.sst.data.len().max(1),
        }
    }

    /// Current offset in the uncompressed stream.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn err(&self, e: FmtError) -> ReadError {
        ReadError::format(self.sst.data_path(), e)
    }

    /// Make one more chunk available. Returns false at the end of the data.
    fn grow(&mut self) -> Result<bool> {
        let data_len = self.sst.data_length();
        if self.avail_end >= data_len {
            return Ok(false);
        }
        let bytes = self.sst.data.bytes();
        match &self.sst.compression {
            Some(ci) => {
                // Drop what has been consumed before appending.
                let consumed =
                    (self.pos.saturating_sub(self.buf_start) as usize).min(self.buf.len());
                if consumed > 0 {
                    self.buf.drain(..consumed);
                    self.buf_start += consumed as u64;
                }
                let idx = self.next_chunk;
                let had = self.buf.len();
                if let Err(e) =
                    ci.read_chunk_append(bytes, idx, self.opts.verify_checksums, &mut self.buf)
                {
                    self.buf.truncate(had);
                    return Err(self.err(e));
                }
                if self.digest.is_some() {
                    let span = ci
                        .chunk_span(idx, bytes.len() as u64)
                        .map_err(|e| self.err(e))?;
                    let end = span.offset + span.length as u64 + 4;
                    if let Some(h) = self.digest.as_mut() {
                        h.update(&bytes[self.digest_upto as usize..end as usize]);
                    }
                    if let Some(h) = self.digest_alt.as_mut() {
                        h.update(&bytes[span.offset as usize..span.offset as usize + span.length]);
                    }
                    self.digest_upto = end;
                }
                self.avail_end += (self.buf.len() - had) as u64;
                // The first chunk of a run marks where its release starts.
                if self.released_upto.is_none() || idx.is_multiple_of(self.release_every) {
                    self.release_read(ci, idx, bytes.len() as u64);
                }
                self.next_chunk += 1;
            }
            None => {
                let chunk = self.chunk_size();
                let start = self.avail_end;
                let stop = (start + chunk).min(data_len);
                let piece = &bytes[start as usize..stop as usize];
                if self.opts.verify_checksums {
                    if let Some(crc) = &self.sst.crc {
                        let idx = (start / chunk) as usize;
                        crc.verify_chunk(idx, piece).map_err(|e| self.err(e))?;
                    }
                }
                if let Some(h) = &mut self.digest {
                    h.update(piece);
                }
                self.digest_upto = stop;
                self.avail_end = stop;
                self.next_chunk += 1;
            }
        }
        Ok(true)
    }

    /// Release the mapped pages of the compressed chunks read before chunk
    /// `idx` (see [`crate::mmap::MappedFile::release`]), at least
    /// `release_min` bytes at a time. Nothing at or after chunk `idx`'s
    /// offset is released: the digest may still need it.
    fn release_read(
        &mut self,
        ci: &sstable_format::compression::CompressionInfo,
        idx: u64,
        file_len: u64,
    ) {
        let Ok(span) = ci.chunk_span(idx, file_len) else {
            return;
        };
        let upto = span.offset;
        match self.released_upto {
            None => self.released_upto = Some(upto),
            Some(from) if upto >= from + self.release_min => {
                self.sst.data.release(from, upto);
                self.released_upto = Some(upto);
            }
            Some(_) => {}
        }
    }

    /// Ensure `n` bytes are available from `pos`.
    fn ensure(&mut self, n: usize, what: &'static str) -> Result<()> {
        while self.avail_end.saturating_sub(self.pos) < n as u64 {
            if !self.grow()? {
                return Err(self.err(FmtError::Truncated {
                    component: Component::Data,
                    offset: self.pos,
                    needed: n as u64 - self.avail_end.saturating_sub(self.pos),
                    what,
                }));
            }
        }
        Ok(())
    }

    /// Measure with `f` on the window, growing it until `f` stops asking for more bytes.
    fn measure(
        &mut self,
        f: impl Fn(&[u8], u64) -> sstable_format::Result<usize>,
    ) -> Result<usize> {
        loop {
            let r = f(
                window(
                    self.sst,
                    &self.buf,
                    self.buf_start,
                    self.pos,
                    self.avail_end,
                ),
                self.pos,
            );
            match r {
                Ok(n) => return Ok(n),
                Err(FmtError::Truncated { .. }) if self.avail_end < self.sst.data_length() => {
                    self.grow()?;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// Advance to the next partition (skipping the rest of the current one).
    pub fn next_partition(&mut self) -> Result<Option<PartitionStart>> {
        Ok(self.next_partition_ref()?.map(|p| PartitionStart {
            key: p.key.to_vec(),
            deletion: p.deletion,
            position: p.position,
        }))
    }

    /// [`Scanner::next_partition`] borrowing the key (no allocation).
    pub fn next_partition_ref(&mut self) -> Result<Option<PartitionRef<'_>>> {
        if self.failed {
            return Ok(None);
        }
        let r = self.next_partition_inner();
        if r.is_err() {
            self.failed = true;
        }
        Ok(r?.map(|(position, deletion, key_len)| PartitionRef {
            key: self.key_at(position, key_len),
            deletion,
            position,
        }))
    }

    /// The key of the partition header just read at `position`.
    fn key_at(&self, position: u64, key_len: usize) -> &[u8] {
        let w = window(
            self.sst,
            &self.buf,
            self.buf_start,
            position,
            self.avail_end,
        );
        w.get(2..2 + key_len).unwrap_or_default()
    }

    /// Read the next partition header: its position, deletion and key length.
    fn next_partition_inner(&mut self) -> Result<Option<(u64, DeletionTime, usize)>> {
        while self.in_partition && self.pos < self.end {
            self.skip_unfiltered()?;
        }
        self.in_partition = false;
        if self.pos >= self.end {
            self.finish()?;
            return Ok(None);
        }
        if self.sst.legacy.is_some() {
            self.legacy_tombstones.clear();
            self.legacy_sweep.clear();
            self.legacy_row_ahead = None;
        }
        let position = self.pos;
        let dec = &self.sst.decoder;
        // Usually the header is whole in the window already; if not, it is
        // measured and the window grown first.
        let w = window(
            self.sst,
            &self.buf,
            self.buf_start,
            position,
            self.avail_end,
        );
        let (h, used) = match dec.partition_header(w, position) {
            Ok((h, used)) => (h, used),
            Err(FmtError::Truncated { .. }) => {
                let n = self.measure(|w, b| dec.measure_partition_header(w, b))?;
                self.ensure(n, "partition header")?;
                let w = window(
                    self.sst,
                    &self.buf,
                    self.buf_start,
                    position,
                    self.avail_end,
                );
                dec.partition_header(w, position).map_err(|e| self.err(e))?
            }
            Err(e) => return Err(self.err(e)),
        };
        let found = (position, h.deletion, h.key.len());
        self.pos += used as u64;
        self.in_partition = true;
        Ok(Some(found))
    }

    fn finish(&mut self) -> Result<()> {
        if self.pos == self.sst.data_length() {
            // Make sure every byte went through the digest.
            while self.grow()? {}
            if let (Some(mut h), Some((expected, name))) =
                (self.digest.take(), self.sst.digest.map(|d| (d.1, d.2)))
            {
                // Anything after the last chunk (e.g. an empty trailing chunk).
                if let Some(rest) = self.sst.data.bytes().get(self.digest_upto as usize..) {
                    h.update(rest);
                }
                let actual = h.finalize();
                let alt = self.digest_alt.take().map(|h| h.finalize());
                if actual != expected && alt != Some(expected) {
                    return Err(ReadError::format(
                        self.sst.component_path(name),
                        FmtError::ChecksumMismatch {
                            component: Component::Digest,
                            chunk: 0,
                            offset: 0,
                            expected,
                            actual,
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    fn skip_unfiltered(&mut self) -> Result<()> {
        if self.sst.version().is_legacy() {
            let v = self.sst.version();
            let n = self.measure(|w, b| sstable_format::legacy::measure_atom(w, b, v))?;
            self.ensure(n, "cell")?;
            if n == 2 {
                self.in_partition = false;
            }
            self.pos += n as u64;
            return Ok(());
        }
        let dec = &self.sst.decoder;
        let n = self.measure(|w, b| dec.measure_unfiltered(w, b))?;
        self.ensure(n, "row")?;
        if n == 1 {
            let w = window(
                self.sst,
                &self.buf,
                self.buf_start,
                self.pos,
                self.avail_end,
            );
            if w.first() == Some(&1) {
                self.in_partition = false;
            }
        }
        self.pos += n as u64;
        Ok(())
    }

    /// The next row or marker of the current partition; `None` at its end.
    pub fn next_unfiltered(&mut self) -> Result<Option<Unfiltered<'_>>> {
        Ok(self.next_unfiltered_span()?.map(|(_, _, u)| u))
    }

    /// Like [`Scanner::next_unfiltered`], with the start and end offsets of
    /// the unfiltered in the uncompressed stream.
    pub fn next_unfiltered_span(&mut self) -> Result<Option<(u64, u64, Unfiltered<'_>)>> {
        self.next_unfiltered_span_in(&mut RowBuffers::default())
    }

    /// [`Scanner::next_unfiltered`] decoding into vectors from `bufs`: give
    /// each unfiltered back with [`RowBuffers::recycle`] when done with it
    /// and the scan allocates nothing per row.
    pub fn next_unfiltered_in(&mut self, bufs: &mut RowBuffers) -> Result<Option<Unfiltered<'_>>> {
        Ok(self.next_unfiltered_span_in(bufs)?.map(|(_, _, u)| u))
    }

    /// [`Scanner::next_unfiltered_span`] decoding into vectors from `bufs`.
    pub fn next_unfiltered_span_in(
        &mut self,
        bufs: &mut RowBuffers,
    ) -> Result<Option<(u64, u64, Unfiltered<'_>)>> {
        if self.failed {
            return Ok(None);
        }
        if self.sst.legacy.is_some() {
            return self.next_legacy_unfiltered();
        }
        if !self.whole_unfiltered()? {
            return Ok(None);
        }
        let pos = self.pos;
        let w = window(self.sst, &self.buf, self.buf_start, pos, self.avail_end);
        match self.sst.decoder.unfiltered_in(w, pos, bufs) {
            Ok((u, used)) => {
                self.pos += used as u64;
                match u {
                    None => {
                        self.in_partition = false;
                        Ok(None)
                    }
                    Some(u) => Ok(Some((pos, self.pos, u))),
                }
            }
            Err(e) => {
                self.failed = true;
                Err(ReadError::format(self.sst.data_path(), e))
            }
        }
    }

    /// The next row or marker of the current partition read lazily (3.0+
    /// formats): its head decoded, its cells read as
    /// [`RowView::cells`](sstable_format::data::RowView::cells) asks for them,
    /// borrowed from the scanner's window. Nothing is collected, so this is
    /// the cheapest way to visit every cell. `None` at the partition's end.
    /// 2.x sstables, whose rows are assembled from cells spread over the
    /// partition, are read with [`Scanner::next_unfiltered`] instead (an
    /// error here).
    ///
    /// ```no_run
    /// use sstable_format::data::{CellItem, UnfilteredView};
    /// use sstable_reader::{SSTable, ScanOptions, Scanner};
    ///
    /// let sst = SSTable::open("data/ks/tbl-0123/oa-1-big-Data.db".as_ref())?;
    /// let mut scan = Scanner::new(&sst, ScanOptions::default());
    /// while let Some(p) = scan.next_partition_ref()? {
    ///     let _key = p.key;
    ///     while let Some(u) = scan.next_view()? {
    ///         if let UnfilteredView::Row(row) = u {
    ///             let _clustering: Vec<_> = row.clustering.iter().collect();
    ///             for item in row.cells() {
    ///                 match item? {
    ///                     CellItem::Simple { column, cell } | CellItem::ComplexCell { column, cell } => {
    ///                         let _ = (column, cell.timestamp, cell.value);
    ///                     }
    ///                     CellItem::Complex { .. } => {} // a collection/UDT column starts
    ///                 }
    ///             }
    ///         }
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn next_view(&mut self) -> Result<Option<UnfilteredView<'_>>> {
        if self.failed {
            return Ok(None);
        }
        if self.sst.legacy.is_some() {
            self.failed = true;
            return Err(ReadError::other(
                self.sst.data_path(),
                format!(
                    "{} rows are assembled from cells: read them with next_unfiltered, not as views",
                    self.sst.version()
                ),
            ));
        }
        if !self.whole_unfiltered()? {
            return Ok(None);
        }
        let pos = self.pos;
        let w = window(self.sst, &self.buf, self.buf_start, pos, self.avail_end);
        match self.sst.decoder.view(w, pos) {
            Ok((u, used)) => {
                self.pos += used as u64;
                if u.is_none() {
                    self.in_partition = false;
                }
                Ok(u)
            }
            Err(e) => {
                self.failed = true;
                Err(ReadError::format(self.sst.data_path(), e))
            }
        }
    }

    /// [`Scanner::next_view`] for the rest of the current partition: `f` is
    /// called with each row or marker in turn, stopping at the first error,
    /// the scanner's or `f`'s. Each view goes straight to `f` (nothing is
    /// returned through the scanner), the cheapest way to visit every row.
    #[inline]
    pub fn for_each_view<E: From<ReadError>>(
        &mut self,
        mut f: impl FnMut(UnfilteredView<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        if self.failed {
            return Ok(());
        }
        if self.sst.legacy.is_some() {
            // The same error as next_view's.
            return self.next_view().map(|_| ()).map_err(E::from);
        }
        let raw_legacy = self.sst.is_raw_legacy();
        loop {
            // The common cases first, read once: the partition's end, or a
            // plain row whole in the window.
            let mut fast = None;
            if self.in_partition && !raw_legacy && self.pos < self.end && self.avail_end > self.pos
            {
                let pos = self.pos;
                let w = window(self.sst, &self.buf, self.buf_start, pos, self.avail_end);
                if w.first() == Some(&END_OF_PARTITION) {
                    self.pos += 1;
                    self.in_partition = false;
                    break;
                }
                fast = self.sst.decoder.view_fast(w, pos);
            }
            let (u, used) = match fast {
                Some((row, used)) => (UnfilteredView::Row(row), used),
                None => {
                    // Anything else: measured, made whole, and read with
                    // its errors.
                    if !self.whole_unfiltered()? {
                        break;
                    }
                    let pos = self.pos;
                    let w = window(self.sst, &self.buf, self.buf_start, pos, self.avail_end);
                    match self.sst.decoder.view(w, pos) {
                        Ok((None, used)) => {
                            self.pos += used as u64;
                            self.in_partition = false;
                            break;
                        }
                        Ok((Some(u), used)) => (u, used),
                        Err(e) => {
                            self.failed = true;
                            return Err(ReadError::format(self.sst.data_path(), e).into());
                        }
                    }
                }
            };
            self.pos += used as u64;
            // One call site, so that `f` can be inlined into the loop.
            f(u)?;
        }
        Ok(())
    }

    /// Make the next unfiltered of the current (3.0+) partition whole in the
    /// window. False at the partition's end (consumed) or the scan's.
    #[inline]
    fn whole_unfiltered(&mut self) -> Result<bool> {
        if !self.in_partition {
            return Ok(false);
        }
        if self.sst.is_raw_legacy() {
            self.failed = true;
            return Err(ReadError::other(
                self.sst.data_path(),
                format!(
                    "{} sstables have no serialization header: pass --schema FILE with the table's CREATE TABLE (or dump --format atoms for raw cells)",
                    self.sst.version()
                ),
            ));
        }
        if self.pos >= self.end {
            // A scan of part of a partition ends at its last row.
            self.in_partition = false;
            return Ok(false);
        }
        // The common cases, a partition's end or a plain row already whole
        // in the window, need no measuring.
        if self.avail_end > self.pos {
            let w = window(
                self.sst,
                &self.buf,
                self.buf_start,
                self.pos,
                self.avail_end,
            );
            if w.first() == Some(&END_OF_PARTITION) {
                self.pos += 1;
                self.in_partition = false;
                return Ok(false);
            }
            if self.sst.decoder.quick_measure(w).is_some() {
                return Ok(true);
            }
        }
        // (The shortcut did not apply: measure without retrying it.)
        let dec = &self.sst.decoder;
        let n = self
            .measure(|w, b| dec.measure_unfiltered_fully(w, b))
            .and_then(|n| self.ensure(n, "row"));
        if let Err(e) = n {
            self.failed = true;
            return Err(e);
        }
        Ok(true)
    }
}

impl Scanner<'_> {
    /// 2.x: rows assembled from their cells, with the partition's range
    /// tombstones as markers between them, in clustering order.
    fn next_legacy_unfiltered(&mut self) -> Result<Option<(u64, u64, Unfiltered<'_>)>> {
        let Some(layout) = &self.sst.legacy else {
            return Ok(None);
        };
        loop {
            if let Some(m) = self.legacy_sweep.pop() {
                let m = self.legacy_marker.insert(m);
                let marker = RangeTombstoneMarker {
                    kind: m.kind,
                    clustering: m.clustering.iter().map(|v| Some(v.as_slice())).collect(),
                    deletion: m.deletion,
                    start_deletion: m.start_deletion,
                };
                return Ok(Some((self.pos, self.pos, Unfiltered::Marker(marker))));
            }
            if let Some((start, end)) = self.legacy_row_ahead.take() {
                let v = self.sst.version();
                return match crate::legacy::assemble_row(
                    layout,
                    &self.row_buf,
                    start,
                    v,
                    &self.legacy_tombstones,
                    &self.legacy_key,
                ) {
                    Ok(row) => Ok(Some((start, end, Unfiltered::Row(row)))),
                    Err(e) => {
                        self.failed = true;
                        Err(match e {
                            ReadError::Format { source, .. } => {
                                ReadError::format(self.sst.data_path(), source)
                            }
                            e => e,
                        })
                    }
                };
            }
            if !self.in_partition {
                return Ok(None);
            }
            match self.legacy_row() {
                // A tombstone between rows: place what comes before it.
                Ok(Some((_, _, None))) => self
                    .legacy_sweep
                    .advance_to_latest(&layout.clustering_types),
                Ok(Some((start, end, Some(key)))) => {
                    if !key.0 {
                        let at = crate::legacy::ClusteringPos {
                            prefix: key.1.clone(),
                            weight: 0,
                        };
                        self.legacy_sweep
                            .advance(&layout.clustering_types, Some(&at));
                    }
                    self.legacy_key = key;
                    self.legacy_row_ahead = Some((start, end));
                }
                // The partition ends: the tombstones still open close.
                Ok(None) => self.legacy_sweep.advance(&layout.clustering_types, None),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
    }
}

impl Scanner<'_> {
    /// 2.x: the next raw cell or range tombstone of the current partition,
    /// with its offset; `None` at the end of the partition. Works without a schema.
    pub fn next_atom(&mut self) -> Result<Option<(u64, sstable_format::legacy::LegacyAtom<'_>)>> {
        if !self.in_partition || self.failed || !self.sst.version().is_legacy() {
            return Ok(None);
        }
        let v = self.sst.version();
        let n = self.measure(|w, b| sstable_format::legacy::measure_atom(w, b, v))?;
        self.ensure(n, "cell")?;
        let pos = self.pos;
        let w = window(self.sst, &self.buf, self.buf_start, pos, self.avail_end);
        let (atom, used) = sstable_format::legacy::read_atom(w, pos, v)
            .map_err(|e| ReadError::format(self.sst.data_path(), e))?;
        self.pos += used as u64;
        match atom {
            None => {
                self.in_partition = false;
                Ok(None)
            }
            Some(a) => Ok(Some((pos, a))),
        }
    }

    /// 2.x: gather the atoms of the next row into `row_buf`; returns its span.
    /// 2.x: gather the atoms of the next row into `row_buf` and return its
    /// span and key; or return early, without a key, after a range
    /// tombstone read between rows (so that the caller places it before
    /// reading on); `None` at the end of the partition.
    #[allow(clippy::type_complexity)]
    fn legacy_row(&mut self) -> Result<Option<(u64, u64, Option<crate::legacy::RowKey>)>> {
        use crate::legacy::{peek, Step};
        let Some(layout) = &self.sst.legacy else {
            return Ok(None);
        };
        let v = self.sst.version();
        self.row_buf.clear();
        // Collection tombstones of the row before, applied already.
        self.legacy_tombstones.clear();
        let mut key: Option<crate::legacy::RowKey> = None;
        let start = self.pos;
        loop {
            let n = self.measure(|w, b| sstable_format::legacy::measure_atom(w, b, v))?;
            self.ensure(n, "cell")?;
            let w = window(
                self.sst,
                &self.buf,
                self.buf_start,
                self.pos,
                self.avail_end,
            );
            let (step, used, k) = peek(layout, w, self.pos, v)
                .map_err(|e| ReadError::format(self.sst.data_path(), e))?;
            match step {
                Step::End => {
                    if key.is_none() {
                        self.pos += used as u64;
                        self.in_partition = false;
                        return Ok(None);
                    }
                    break;
                }
                Step::Tombstone(rt) => {
                    if self.legacy_sweep.add(layout, &rt) {
                        self.pos += used as u64;
                        if key.is_none() {
                            return Ok(Some((start, self.pos, None)));
                        }
                        continue;
                    }
                    // A collection tombstone belongs to its row, which may
                    // have no cells in this sstable.
                    if let Some(k) = rt.collection_row(layout) {
                        match &key {
                            None => key = Some(k),
                            Some(cur) if *cur != k => break,
                            _ => {}
                        }
                    }
                    self.legacy_tombstones.push(rt);
                    self.pos += used as u64;
                }
                Step::RowAtom => {
                    match &key {
                        None => key = k,
                        Some(cur) if Some(cur) != k.as_ref() => break,
                        _ => {}
                    }
                    self.row_buf.extend_from_slice(&w[..used]);
                    self.pos += used as u64;
                }
            }
        }
        Ok(key.map(|k| (start, self.pos, Some(k))))
    }
}

fn window<'a>(
    sst: &'a SSTable,
    buf: &'a [u8],
    buf_start: u64,
    pos: u64,
    avail_end: u64,
) -> &'a [u8] {
    if sst.compression.is_some() {
        let s = (pos - buf_start) as usize;
        &buf[s.min(buf.len())..]
    } else {
        let b = sst.data.bytes();
        if pos >= avail_end {
            return &[];
        }
        &b[pos as usize..(avail_end as usize).min(b.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Every partition and unfiltered of a scan, as text.
    fn dump(mut s: Scanner<'_>) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match s.next_partition() {
                Ok(Some(p)) => out.push(format!("{p:?}")),
                Ok(None) => break,
                Err(e) => {
                    out.push(e.to_string());
                    break;
                }
            }
            loop {
                match s.next_unfiltered() {
                    Ok(Some(u)) => out.push(format!("{u:?}")),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(e.to_string());
                        return out;
                    }
                }
            }
        }
        out
    }

    /// Releasing the pages read after every chunk changes nothing a scan
    /// returns, on every compressed sstable of the corpus (with digests
    /// verified, which read the released chunks' bytes first).
    #[test]
    fn releasing_read_pages_changes_nothing() {
        let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
        assert!(
            corpus.join("MANIFEST.md").exists(),
            "the shared corpus is missing"
        );
        let files = crate::discover::discover(&[corpus]).expect("the corpus is readable");
        let mut released = 0;
        for f in files.iter().flat_map(|g| &g.data_files) {
            let Ok(sst) = SSTable::open(f) else { continue };
            if sst.compression.is_none() {
                continue;
            }
            let plain = dump(Scanner::new(&sst, ScanOptions::default()));
            let mut s = Scanner::new(&sst, ScanOptions::default());
            s.release_every = 1;
            s.release_min = 1;
            let eager = dump(s);
            assert_eq!(plain, eager, "{}", f.display());
            if sst.data.len() > 2 * crate::mmap::RELEASE_ALIGN as u64 {
                released += 1;
            }
        }
        assert!(released > 0, "no corpus sstable spans two release blocks");
    }
}
