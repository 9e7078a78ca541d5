//! One big-format sstable being written: Data.db (compressed chunks with
//! CRCs, or plain with CRC.db), Index.db with promoted indexes, Summary.db,
//! Filter.db, Statistics.db, CompressionInfo.db, Digest.crc32 and TOC.txt.
//!
//! Partitions stream through: only the current partition's index blocks,
//! the summary samples and the bloom filter stay in memory.

use super::encode::{put_short_bytes, put_uvint, put_vint, Layout, END_OF_PARTITION_BYTE};
use super::metadata::{self, Collector, Filter, HeaderTypes, StatsInput, MIN_INDEX_INTERVAL};
use sstable_format::compression::Codec;
use sstable_format::data::{BoundKind, DeletionTime, NO_DELETION_TIME};
use sstable_format::Version;
use sstable_reader::merge::{OwnedColumn, OwnedMarker, OwnedRow};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Encode(#[from] super::encode::EncodeError),
}

pub type Result<T> = std::result::Result<T, WriteError>;

/// Options of the sstables written.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub version: Version,
    /// `None`: uncompressed Data.db with CRC.db.
    pub codec: Option<Codec>,
    pub chunk_length: usize,
    /// Promoted-index block size (`column_index_size`).
    pub column_index_size: u64,
    pub partitioner: String,
}

impl WriterOptions {
    pub fn new(version: Version, partitioner: &str) -> WriterOptions {
        WriterOptions {
            version,
            codec: Some(Codec::Lz4),
            chunk_length: 16 * 1024,
            column_index_size: 64 * 1024,
            partitioner: partitioner.to_string(),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Data.db as it is written: chunks compressed with their CRC32, and the
/// running digest of the file.
struct DataOut {
    path: PathBuf,
    file: BufWriter<File>,
    codec: Option<Codec>,
    chunk_length: usize,
    pending: Vec<u8>,
    compressed: Vec<u8>,
    /// File offsets of the compressed chunks.
    offsets: Vec<u64>,
    /// CRCs of the uncompressed file's chunks (CRC.db).
    chunk_crcs: Vec<u32>,
    flushed: u64,
    on_disk: u64,
    digest: crc32fast::Hasher,
}

const CRC_CHUNK: usize = 64 * 1024;

impl DataOut {
    fn create(path: PathBuf, codec: Option<Codec>, chunk_length: usize) -> Result<DataOut> {
        let file = File::create(&path).map_err(io_err(&path))?;
        let chunk_length = if codec.is_some() {
            chunk_length
        } else {
            CRC_CHUNK
        };
        Ok(DataOut {
            path,
            file: BufWriter::with_capacity(256 * 1024, file),
            codec,
            chunk_length,
            pending: Vec::with_capacity(chunk_length * 2),
            compressed: Vec::new(),
            offsets: Vec::new(),
            chunk_crcs: Vec::new(),
            flushed: 0,
            on_disk: 0,
            digest: crc32fast::Hasher::new(),
        })
    }

    /// Position in the uncompressed stream.
    fn position(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(b);
        if self.pending.len() >= self.chunk_length {
            let mut start = 0;
            while self.pending.len() - start >= self.chunk_length {
                self.flush_chunk(start, start + self.chunk_length)?;
                start += self.chunk_length;
            }
            self.pending.drain(..start);
        }
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.digest.update(b);
        self.on_disk += b.len() as u64;
        self.file.write_all(b).map_err(io_err(&self.path))
    }

    fn flush_chunk(&mut self, start: usize, end: usize) -> Result<()> {
        let chunk = std::mem::take(&mut self.pending);
        let input = &chunk[start..end];
        let r = match self.codec {
            None => {
                self.chunk_crcs.push(crc32fast::hash(input));
                self.put(input)
            }
            Some(codec) => {
                let mut out = std::mem::take(&mut self.compressed);
                let r = compress(codec, input, &mut out, &self.path).and_then(|_| {
                    self.offsets.push(self.on_disk);
                    let crc = crc32fast::hash(&out);
                    self.put(&out)?;
                    self.put(&crc.to_be_bytes())
                });
                self.compressed = out;
                r
            }
        };
        self.pending = chunk;
        self.flushed += (end - start) as u64;
        r
    }

    /// Flush the last partial chunk and the file; the uncompressed length.
    fn finish(&mut self) -> Result<u64> {
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.flush_chunk(0, n)?;
            self.pending.clear();
        }
        self.file.flush().map_err(io_err(&self.path))?;
        Ok(self.flushed)
    }
}

fn compress(codec: Codec, input: &[u8], out: &mut Vec<u8>, path: &Path) -> Result<()> {
    out.clear();
    match codec {
        Codec::Lz4 => {
            // LZ4Compressor: the uncompressed length (little-endian), then a raw block.
            out.extend_from_slice(&(input.len() as u32).to_le_bytes());
            out.resize(4 + lz4_flex::block::get_maximum_output_size(input.len()), 0);
            let n = lz4_flex::block::compress_into(input, &mut out[4..]).map_err(|e| {
                WriteError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
            out.truncate(4 + n);
        }
        Codec::Snappy => {
            let v = snap::raw::Encoder::new()
                .compress_vec(input)
                .map_err(|e| io_err(path)(std::io::Error::other(e)))?;
            out.extend_from_slice(&v);
        }
        Codec::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(
                std::mem::take(out),
                flate2::Compression::default(),
            );
            e.write_all(input).map_err(io_err(path))?;
            *out = e.finish().map_err(io_err(path))?;
        }
        Codec::Zstd => {
            let v = zstd::bulk::compress(input, 3).map_err(io_err(path))?;
            out.extend_from_slice(&v);
        }
        _ => out.extend_from_slice(input),
    }
    Ok(())
}

/// The partition being written (its buffers are reused).
struct Partition {
    active: bool,
    key: Vec<u8>,
    start: u64,
    deletion: DeletionTime,
    header_length: u64,
    prev_start: u64,
    /// Start (relative to the partition) of the open index block.
    block_start: Option<u64>,
    /// The serialized clustering prefixes of the open block's first and of
    /// the last unfiltered written.
    first_prefix: Vec<u8>,
    last_prefix: Vec<u8>,
    open_marker: Option<DeletionTime>,
    blocks: Vec<u8>,
    block_offsets: Vec<u32>,
    unfiltereds: u64,
    cells: i64,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            active: false,
            key: Vec::new(),
            start: 0,
            deletion: DeletionTime::LIVE,
            header_length: 0,
            prev_start: 0,
            block_start: None,
            first_prefix: Vec::new(),
            last_prefix: Vec::new(),
            open_marker: None,
            blocks: Vec::new(),
            block_offsets: Vec::new(),
            unfiltereds: 0,
            cells: 0,
        }
    }
}

/// The paths of one written sstable.
#[derive(Debug, Clone)]
pub struct Written {
    pub data: PathBuf,
    pub partitions: u64,
    pub data_bytes: u64,
    pub on_disk_bytes: u64,
}

/// An sstable being written.
pub struct SstWriter {
    dir: PathBuf,
    generation: u64,
    opts: WriterOptions,
    layout: Layout,
    header: HeaderTypes,
    data: DataOut,
    index_path: PathBuf,
    index: BufWriter<File>,
    index_pos: u64,
    summary: Vec<(Vec<u8>, u64)>,
    keys: u64,
    filter: Filter,
    stats: Collector,
    part: Partition,
    entry: Vec<u8>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    first_key: Option<Vec<u8>>,
    last_key: Vec<u8>,
}

impl SstWriter {
    pub fn component(dir: &Path, version: Version, generation: u64, name: &str) -> PathBuf {
        dir.join(format!("{}-{generation}-big-{name}", version.as_str()))
    }

    /// Start sstable `generation` in `dir`, sizing its bloom filter for
    /// `expected_keys` partitions.
    pub fn create(
        dir: &Path,
        generation: u64,
        opts: WriterOptions,
        layout: Layout,
        header: HeaderTypes,
        expected_keys: u64,
    ) -> Result<SstWriter> {
        let v = opts.version;
        let data = DataOut::create(
            Self::component(dir, v, generation, "Data.db"),
            opts.codec,
            opts.chunk_length,
        )?;
        let index_path = Self::component(dir, v, generation, "Index.db");
        let index = File::create(&index_path).map_err(io_err(&index_path))?;
        Ok(SstWriter {
            dir: dir.to_path_buf(),
            generation,
            layout,
            header,
            data,
            index: BufWriter::with_capacity(128 * 1024, index),
            index_path,
            index_pos: 0,
            summary: Vec::new(),
            keys: 0,
            filter: Filter::new(expected_keys.max(1)),
            stats: Collector::default(),
            part: Partition::default(),
            entry: Vec::with_capacity(256),
            buf: Vec::with_capacity(4096),
            scratch: Vec::with_capacity(4096),
            first_key: None,
            last_key: Vec::new(),
            opts,
        })
    }

    /// Record that counter contexts with pre-2.1 local shards may be present.
    pub fn set_legacy_counter_shards(&mut self, present: bool) {
        self.stats.has_legacy_counter_shards = present;
    }

    /// Bytes of Data.db written so far (uncompressed).
    pub fn data_position(&self) -> u64 {
        self.data.position()
    }

    pub fn partitions(&self) -> u64 {
        self.keys
    }

    /// Begin a partition (keys must come in token order), with its static
    /// row if it has one.
    pub fn start_partition(
        &mut self,
        key: &[u8],
        deletion: DeletionTime,
        static_row: Option<&OwnedRow>,
    ) -> Result<()> {
        let start = self.data.position();
        self.buf.clear();
        put_short_bytes(&mut self.buf, key)?;
        self.layout.put_deletion(&mut self.buf, deletion)?;
        self.stats.cardinality.offer(key);
        if !deletion.is_live() {
            self.stats.has_partition_level_deletions = true;
            self.deletion_stats(deletion);
        }
        let mut cells = 0;
        // With static columns in the header every partition has a static
        // row, empty if need be: Cassandra's readers expect one.
        let empty;
        let static_row = match static_row {
            Some(r) => Some(r),
            None if !self.layout.statics.is_empty() => {
                empty = OwnedRow {
                    is_static: true,
                    clustering: Vec::new(),
                    liveness: sstable_format::data::LivenessInfo::EMPTY,
                    deletion: DeletionTime::LIVE,
                    columns: Vec::new(),
                };
                Some(&empty)
            }
            None => None,
        };
        if let Some(r) = static_row {
            let mut scratch = std::mem::take(&mut self.scratch);
            let res = self.layout.put_row(&mut self.buf, r, 0, &mut scratch);
            self.scratch = scratch;
            res?;
            if !r.columns.is_empty() || r.liveness.timestamp.is_some() || !r.deletion.is_live() {
                cells = self.row_stats(r);
            }
        }
        self.data.write(&self.buf)?;
        let p = &mut self.part;
        p.active = true;
        p.key.clear();
        p.key.extend_from_slice(key);
        p.start = start;
        p.deletion = deletion;
        p.header_length = self.data.position() - start;
        p.prev_start = 0;
        p.block_start = None;
        p.open_marker = None;
        p.blocks.clear();
        p.block_offsets.clear();
        p.unfiltereds = 0;
        p.cells = cells;
        Ok(())
    }

    fn deletion_stats(&mut self, d: DeletionTime) {
        if !d.is_live() {
            self.stats.timestamp(d.marked_for_delete_at);
            self.stats.ldt(d.local_deletion_time);
        }
    }

    /// `Rows.collectStats`: the number of cells.
    fn row_stats(&mut self, r: &OwnedRow) -> i64 {
        let s = &mut self.stats;
        if let Some(ts) = r.liveness.timestamp {
            s.timestamp(ts);
            s.ttl(r.liveness.ttl);
            s.ldt(r.liveness.local_expiration_time);
        }
        if !r.deletion.is_live() {
            s.timestamp(r.deletion.marked_for_delete_at);
            s.ldt(r.deletion.local_deletion_time);
        }
        let mut cells = 0i64;
        let mut columns = 0i64;
        let cell = |s: &mut Collector, c: &sstable_reader::merge::OwnedCell| {
            s.timestamp(c.timestamp);
            s.ttl(if c.is_expiring { c.ttl } else { 0 });
            s.ldt(if c.is_tombstone || c.is_expiring {
                c.local_deletion_time
            } else {
                NO_DELETION_TIME
            });
        };
        for c in &r.columns {
            match c {
                OwnedColumn::Simple { cell: c, .. } => {
                    cell(s, c);
                    cells += 1;
                    columns += 1;
                }
                OwnedColumn::Complex {
                    deletion,
                    cells: cs,
                    ..
                } => {
                    if !deletion.is_live() {
                        s.timestamp(deletion.marked_for_delete_at);
                        s.ldt(deletion.local_deletion_time);
                    }
                    for c in cs {
                        cell(s, c);
                    }
                    cells += cs.len() as i64;
                    if !cs.is_empty() {
                        columns += 1;
                    }
                }
            }
        }
        s.total_columns_set += columns;
        s.total_rows += 1;
        cells
    }

    fn add(
        &mut self,
        kind: BoundKind,
        clustering: &[Option<Vec<u8>>],
        write: impl FnOnce(&Layout, &mut Vec<u8>, u64, &mut Vec<u8>) -> super::encode::Result<()>,
    ) -> Result<()> {
        let pos = self.data.position();
        let p = &mut self.part;
        if !p.active {
            return Err(super::encode::EncodeError("a row outside a partition".into()).into());
        }
        let rel = pos - p.start;
        if p.block_start.is_none() {
            p.block_start = Some(rel);
            p.first_prefix.clear();
            self.layout
                .put_prefix(&mut p.first_prefix, kind, clustering)?;
        }
        self.buf.clear();
        write(
            &self.layout,
            &mut self.buf,
            rel - p.prev_start,
            &mut self.scratch,
        )?;
        self.data.write(&self.buf)?;
        p.last_prefix.clear();
        self.layout
            .put_prefix(&mut p.last_prefix, kind, clustering)?;
        p.prev_start = rel;
        p.unfiltereds += 1;
        let now_rel = self.data.position() - p.start;
        let full = p
            .block_start
            .is_some_and(|start| now_rel - start >= self.opts.column_index_size);
        if full {
            self.close_block()?;
        }
        Ok(())
    }

    /// Append a clustering row of the current partition.
    pub fn row(&mut self, r: &OwnedRow) -> Result<()> {
        let cells = self.row_stats(r);
        self.part.cells += cells;
        self.add(
            BoundKind::Clustering,
            &r.clustering,
            |l, out, prev, scratch| l.put_row(out, r, prev, scratch),
        )
    }

    /// Append a range-tombstone marker of the current partition.
    pub fn marker(&mut self, m: &OwnedMarker) -> Result<()> {
        self.deletion_stats(m.deletion);
        if let Some(d) = m.start_deletion {
            self.deletion_stats(d);
        }
        self.add(m.kind, &m.clustering, |l, out, prev, _| {
            l.put_marker(out, m, prev)
        })?;
        self.part.open_marker = m.open_deletion();
        Ok(())
    }

    /// `ColumnIndex.addIndexBlock`: serialize the IndexInfo of the block just ended.
    fn close_block(&mut self) -> Result<()> {
        let pos = self.data.position();
        let p = &mut self.part;
        let Some(start) = p.block_start.take() else {
            return Ok(());
        };
        p.block_offsets.push(p.blocks.len() as u32);
        let out = &mut p.blocks;
        out.extend_from_slice(&p.first_prefix);
        out.extend_from_slice(&p.last_prefix);
        put_uvint(out, start);
        put_vint(out, (pos - p.start - start) as i64 - 65536);
        match p.open_marker {
            Some(d) => {
                out.push(1);
                self.layout.put_deletion(out, d)?;
            }
            None => out.push(0),
        }
        Ok(())
    }

    /// End the current partition: its end marker, index entry, summary
    /// sample, filter bits and statistics.
    pub fn end_partition(&mut self) -> Result<()> {
        if !self.part.active {
            return Ok(());
        }
        self.data.write(&[END_OF_PARTITION_BYTE])?;
        if self.part.unfiltereds > 0 {
            self.close_block()?;
        }
        let p = &mut self.part;
        p.active = false;
        let size = self.data.position() - p.start;
        self.stats.partition_size.add(size as i64);
        self.stats.cells_per_partition.add(p.cells);
        // Index.db entry
        let e = &mut self.entry;
        e.clear();
        put_short_bytes(e, &p.key)?;
        put_uvint(e, p.start);
        if p.block_offsets.len() > 1 {
            let mut body = Vec::with_capacity(p.blocks.len() + 32);
            put_uvint(&mut body, p.header_length);
            self.layout.put_deletion(&mut body, p.deletion)?;
            put_uvint(&mut body, p.block_offsets.len() as u64);
            body.extend_from_slice(&p.blocks);
            for o in &p.block_offsets {
                body.extend_from_slice(&o.to_be_bytes());
            }
            put_uvint(e, body.len() as u64);
            e.extend_from_slice(&body);
        } else {
            put_uvint(e, 0);
        }
        if self.keys.is_multiple_of(MIN_INDEX_INTERVAL) {
            self.summary.push((p.key.clone(), self.index_pos));
        }
        self.index.write_all(e).map_err(io_err(&self.index_path))?;
        self.index_pos += e.len() as u64;
        self.keys += 1;
        self.filter.add(&p.key);
        if self.first_key.is_none() {
            self.first_key = Some(p.key.clone());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(&p.key);
        Ok(())
    }

    /// Write the remaining components. Returns what was written.
    pub fn finish(
        mut self,
        encoding_header: &sstable_format::statistics::EncodingStats,
    ) -> Result<Written> {
        let v = self.opts.version;
        let data_len = self.data.finish()?;
        self.index.flush().map_err(io_err(&self.index_path))?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let p = Self::component(&self.dir, v, self.generation, name);
            std::fs::write(&p, bytes).map_err(io_err(&p))
        };
        let mut toc = vec![
            "Data.db",
            "Index.db",
            "Summary.db",
            "Filter.db",
            "Statistics.db",
            "Digest.crc32",
            "TOC.txt",
        ];
        let ratio = match self.opts.codec {
            Some(codec) => {
                let mut ci = Vec::with_capacity(32 + self.data.offsets.len() * 8);
                let name = codec.name();
                ci.extend_from_slice(&(name.len() as u16).to_be_bytes());
                ci.extend_from_slice(name.as_bytes());
                ci.extend_from_slice(&0i32.to_be_bytes());
                ci.extend_from_slice(&(self.data.chunk_length as i32).to_be_bytes());
                if v.has_max_compressed_length() {
                    ci.extend_from_slice(&i32::MAX.to_be_bytes());
                }
                ci.extend_from_slice(&(data_len as i64).to_be_bytes());
                ci.extend_from_slice(&(self.data.offsets.len() as i32).to_be_bytes());
                for o in &self.data.offsets {
                    ci.extend_from_slice(&(*o as i64).to_be_bytes());
                }
                write("CompressionInfo.db", &ci)?;
                toc.push("CompressionInfo.db");
                if data_len == 0 {
                    0.0
                } else {
                    self.data.on_disk as f64 / data_len as f64
                }
            }
            None => {
                let mut crc = Vec::with_capacity(4 + self.data.chunk_crcs.len() * 4);
                crc.extend_from_slice(&(CRC_CHUNK as i32).to_be_bytes());
                for c in &self.data.chunk_crcs {
                    crc.extend_from_slice(&c.to_be_bytes());
                }
                write("CRC.db", &crc)?;
                toc.push("CRC.db");
                -1.0
            }
        };
        let first = self.first_key.clone().unwrap_or_default();
        write(
            "Summary.db",
            &metadata::summary(&self.summary, self.keys, &first, &self.last_key),
        )?;
        write("Filter.db", &self.filter.bytes())?;
        let stats = metadata::statistics(
            &self.stats,
            &StatsInput {
                version: v,
                partitioner: &self.opts.partitioner,
                fp_chance: Filter::FP_CHANCE,
                header: &self.header,
                encoding: *encoding_header,
                compression_ratio: ratio,
                first_key: &first,
                last_key: &self.last_key,
            },
        );
        write("Statistics.db", &stats)?;
        let digest = self.data.digest.clone().finalize();
        write("Digest.crc32", digest.to_string().as_bytes())?;
        let mut t = toc.join("\n");
        t.push('\n');
        write("TOC.txt", t.as_bytes())?;
        Ok(Written {
            data: self.data.path.clone(),
            partitions: self.keys,
            data_bytes: data_len,
            on_disk_bytes: self.data.on_disk,
        })
    }
}
