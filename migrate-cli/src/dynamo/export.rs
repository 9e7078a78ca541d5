//! `export --format dynamodb-json`: files in the exact format DynamoDB's
//! ImportTable reads (one `{"Item":{...}}` per line), compressed, sharded
//! by size, items shuffled within a bounded window, written to a directory
//! or uploaded to S3 as they are produced.
//!
//! Layout of one table's export (`OUT/<keyspace>.<table>/`):
//! - `data/part-UUUUU-SSS.json[.gz|.zst]`: the items (the ImportTable
//!   prefix);
//! - `manifest.json`: key schema, compression, files and counts (written
//!   last: its presence means the export is complete);
//! - `checkpoint.json`: finished units, so a killed export resumes.

use super::attr::write_map_json;
use super::checkpoint::Checkpoint;
use super::mapping::Mapper;
use super::s3::{S3Location, Upload, S3};
use super::zstd_json::JsonZstd;
use super::{produce_unit_json, Counters, Emit, Op, ProduceOptions, Rng, TableJob};
use crate::app::AppError;
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Compression of export files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => ".json.gz",
            Compression::Zstd => ".json.zst",
            Compression::None => ".json",
        }
    }
    /// The level to use: `asked`, checked against the codec's range, or
    /// the default (gzip 6; zstd 1, which takes the JSON match
    /// finder: on the benchmark's JSON, files 10 % larger than level 3's
    /// in a third of its time).
    pub fn level(self, asked: Option<i32>) -> Result<i32, AppError> {
        let (range, default) = match self {
            Compression::Gzip => (0..=9, 6),
            Compression::Zstd => (-7..=22, 1),
            Compression::None => (0..=0, 0),
        };
        match asked {
            None => Ok(default),
            Some(_) if self == Compression::None => Err(AppError::Usage(
                "--compression-level needs --compression gzip or zstd".into(),
            )),
            Some(l) if range.contains(&l) => Ok(l),
            Some(l) => Err(AppError::Usage(format!(
                "--compression-level {l}: {} takes {} to {}",
                self.import_name().to_lowercase(),
                range.start(),
                range.end()
            ))),
        }
    }
    /// ImportTable's `InputCompressionType`.
    pub fn import_name(self) -> &'static str {
        match self {
            Compression::Gzip => "GZIP",
            Compression::Zstd => "ZSTD",
            Compression::None => "NONE",
        }
    }
}

/// Where an export goes.
#[derive(Debug, Clone)]
pub enum Out {
    Dir(PathBuf),
    S3(S3Location),
}

impl Out {
    pub fn parse(s: &str) -> Result<Out, AppError> {
        if s.starts_with("s3://") {
            Ok(Out::S3(S3Location::parse(s)?))
        } else {
            Ok(Out::Dir(PathBuf::from(s)))
        }
    }
    pub fn join(&self, name: &str) -> Out {
        match self {
            Out::Dir(p) => Out::Dir(p.join(name)),
            Out::S3(l) => Out::S3(l.join(name)),
        }
    }
    fn display(&self) -> String {
        match self {
            Out::Dir(p) => p.display().to_string(),
            Out::S3(l) => l.to_string(),
        }
    }
}

/// Export options.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub compression: Compression,
    /// A level within the codec's range ([`Compression::level`]).
    pub compression_level: i32,
    /// Uncompressed bytes per file (about).
    pub target_file_size: u64,
    pub threads: usize,
    pub produce: ProduceOptions,
    /// Items shuffled within windows of this many.
    pub shuffle_window: usize,
}

/// What an export did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    pub table: String,
    pub out: String,
    pub items: u64,
    pub rows: u64,
    pub oversize_skipped: u64,
    pub oversize_keys: Vec<String>,
    pub numbers_as_strings: u64,
    pub files: usize,
    pub uncompressed_bytes: u64,
    pub units: u64,
    pub units_resumed: u64,
    pub seconds: f64,
    pub items_per_second: f64,
}

/// Bytes of a file written between two starts of its writeback.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// An export file being written. Every [`WRITEBACK_EVERY`] bytes the kernel
/// is told to start writing the new bytes to disk (and to drop the previous
/// ones from the page cache, by then clean), so the `fsync` that ends the
/// file waits for its last bytes only, and a long export does not fill the
/// page cache with files no one reads back.
struct OutFile {
    f: std::fs::File,
    written: u64,
    /// Where the last writeback started; before it, where the one before.
    advised: [u64; 2],
}

impl OutFile {
    fn new(f: std::fs::File) -> OutFile {
        OutFile {
            f,
            written: 0,
            advised: [0; 2],
        }
    }

    /// `POSIX_FADV_DONTNEED` over the bytes since the writeback before last:
    /// Linux starts writing the dirty pages back without waiting, and drops
    /// the clean ones. Only advice: an error changes nothing.
    fn start_writeback(&mut self) {
        let (from, to) = self.advice();
        #[cfg(target_os = "linux")]
        {
            let len = std::num::NonZeroU64::new(to - from);
            let _ = rustix::fs::fadvise(&self.f, from, len, rustix::fs::Advice::DontNeed);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to);
    }

    /// The bytes to advise now: those whose writeback started last time
    /// (clean by now, so dropped) and those written since (written back).
    fn advice(&mut self) -> (u64, u64) {
        let [from, last] = self.advised;
        self.advised = [last, self.written];
        (from, self.written)
    }
}

impl Write for OutFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.f.write(b)?;
        self.written += n as u64;
        if self.written - self.advised[1] >= WRITEBACK_EVERY {
            self.start_writeback();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

enum Sink {
    File {
        w: std::io::BufWriter<OutFile>,
        tmp: PathBuf,
        path: PathBuf,
    },
    S3(Upload),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File { w, .. } => w.write(b),
            Sink::S3(u) => u.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File { w, .. } => w.flush(),
            Sink::S3(u) => u.flush(),
        }
    }
}

impl Sink {
    fn open(out: &Out, name: &str, s3: Option<&S3>) -> Result<Sink, AppError> {
        match out {
            Out::Dir(dir) => {
                let path = dir.join(name);
                let tmp = dir.join(format!(".{name}.tmp"));
                let f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
                Ok(Sink::File {
                    w: std::io::BufWriter::with_capacity(1 << 20, OutFile::new(f)),
                    tmp,
                    path,
                })
            }
            Out::S3(loc) => {
                let s3 = s3.ok_or_else(|| AppError::Usage("no S3 client".into()))?;
                Ok(Sink::S3(s3.upload(loc.join(name))))
            }
        }
    }

    /// Make the file appear whole.
    fn commit(self) -> Result<(), AppError> {
        match self {
            Sink::File { w, tmp, path } => {
                let f = w.into_inner().map_err(|e| io_err(&tmp, e.into_error()))?;
                f.f.sync_all().map_err(|e| io_err(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
                // Before the checkpoint lists the file as written.
                super::checkpoint::sync_dir(&path).map_err(|e| io_err(&path, e))
            }
            Sink::S3(u) => u.finish(),
        }
    }
}

fn io_err(p: &Path, e: std::io::Error) -> AppError {
    AppError::Usage(format!("{}: {e}", p.display()))
}

/// Bytes gathered before each call into the zstd stream: one call per
/// batch instead of one per line, from a buffer still in cache.
const ZSTD_BATCH: usize = 128 << 10;

/// The zstd window at levels 1 and below, where [`JsonZstd`] finds the
/// matches: 128 KiB, one block, as its matches never reach outside their
/// block (a wider window would only make decoders hold more). Higher
/// levels, chosen for their ratio, keep zstd's own match finder and window.
const ZSTD_WINDOW_LOG: u32 = 17;

enum Enc {
    Gz(Box<flate2::write::GzEncoder<Sink>>),
    /// One frame per file: some decoders stop after a file's first frame,
    /// so an export never writes more than one.
    Zstd(std::io::BufWriter<zstd::Encoder<'static, Sink>>),
    /// The same, with matches found by [`JsonZstd`]'s finder. Lines reach
    /// it through a `BufWriter` too: handing zstd each line in its own
    /// call takes fewer instructions (callgrind, the 5 MB bench table:
    /// 300.5M against 303.1M) but more time (1.023x the CPU time, median
    /// of 30 alternating pairs on the 100 MB table at -3).
    ZstdJson(std::io::BufWriter<JsonZstd<Sink>>),
    Plain(Sink),
}

impl Enc {
    fn new(c: Compression, level: i32, s: Sink) -> Result<Enc, AppError> {
        Ok(match c {
            Compression::Gzip => Enc::Gz(Box::new(flate2::write::GzEncoder::new(
                s,
                flate2::Compression::new(level.clamp(0, 9) as u32),
            ))),
            // Level 0 is zstd's default, level 3.
            Compression::Zstd if level <= 1 && level != 0 => {
                Enc::ZstdJson(std::io::BufWriter::with_capacity(
                    ZSTD_BATCH,
                    JsonZstd::new(s, level, ZSTD_WINDOW_LOG)?,
                ))
            }
            Compression::Zstd => Enc::Zstd(std::io::BufWriter::with_capacity(
                ZSTD_BATCH,
                zstd::Encoder::new(s, level)?,
            )),
            Compression::None => Enc::Plain(s),
        })
    }
    fn w(&mut self) -> &mut dyn Write {
        match self {
            Enc::Gz(e) => e,
            Enc::Zstd(e) => e,
            Enc::ZstdJson(e) => e,
            Enc::Plain(s) => s,
        }
    }
    fn finish(self) -> Result<Sink, AppError> {
        Ok(match self {
            Enc::Gz(e) => (*e).finish()?,
            Enc::Zstd(e) => e.into_inner().map_err(|e| e.into_error())?.finish()?,
            Enc::ZstdJson(e) => e.into_inner().map_err(|e| e.into_error())?.finish()?,
            Enc::Plain(s) => s,
        })
    }
}

/// Writes one unit's files, rotating at the target size.
struct UnitWriter<'a> {
    out: &'a Out,
    s3: Option<&'a S3>,
    unit: u64,
    compression: Compression,
    level: i32,
    target: u64,
    current: Option<(Enc, u64)>,
    files: Vec<String>,
    bytes: u64,
}

impl UnitWriter<'_> {
    fn write_line(&mut self, line: &[u8]) -> Result<(), AppError> {
        if self.current.is_none() {
            let name = format!(
                "part-{:05}-{:03}{}",
                self.unit,
                self.files.len(),
                self.compression.suffix()
            );
            let sink = Sink::open(self.out, &name, self.s3)?;
            self.current = Some((Enc::new(self.compression, self.level, sink)?, 0));
            self.files.push(name);
        }
        if let Some((enc, n)) = &mut self.current {
            enc.w().write_all(line)?;
            *n += line.len() as u64;
            self.bytes += line.len() as u64;
            if *n >= self.target {
                self.close()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), AppError> {
        if let Some((enc, _)) = self.current.take() {
            enc.finish()?.commit()?;
        }
        Ok(())
    }
}

/// Most bytes of lines a [`Shuffle`] holds back.
const SHUFFLE_BYTES: usize = 16 << 20;

/// Items held back and written in a random order, so that a partition's
/// rows (adjacent in the scan) are spread over the file: batches of up to
/// `window` lines (and [`SHUFFLE_BYTES`]) are gathered in one buffer and
/// written in a random permutation. Deterministic for a seed.
///
/// The buffer is the caller's, so that items' maps can be written into it
/// in place: it always ends with the start of the next line
/// ([`Shuffle::open`]), which the map is appended to.
struct Shuffle {
    rng: Rng,
    window: usize,
    ends: Vec<usize>,
    order: Vec<u32>,
}

/// What comes before an item's map in its line.
const LINE_START: &str = "{\"Item\":";

impl Shuffle {
    fn new(seed: u64, window: usize) -> Shuffle {
        Shuffle {
            rng: Rng::new(seed),
            window: window.max(1),
            ends: Vec::new(),
            order: Vec::new(),
        }
    }

    /// A new buffer of lines, the first line started.
    fn open() -> String {
        LINE_START.to_string()
    }

    /// Hold the line of the item whose attribute map (as JSON) has just
    /// been appended to `lines`, and start the next; true when the batch
    /// is full and must be drained.
    fn push(&mut self, lines: &mut String) -> bool {
        lines.push_str("}\n");
        self.ends.push(lines.len());
        lines.push_str(LINE_START);
        self.ends.len() >= self.window || lines.len() >= SHUFFLE_BYTES
    }

    /// Write the held lines in a random order; `lines` keeps only the
    /// start of the next.
    fn drain(
        &mut self,
        lines: &mut String,
        mut write: impl FnMut(&[u8]) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let n = self.ends.len();
        self.order.clear();
        self.order.extend(0..n as u32);
        for i in (1..n).rev() {
            let j = self.rng.below(i + 1);
            self.order.swap(i, j);
        }
        for &i in &self.order {
            let i = i as usize;
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            write(&lines.as_bytes()[start..self.ends[i]])?;
        }
        lines.clear();
        lines.push_str(LINE_START);
        self.ends.clear();
        Ok(())
    }
}

/// Remove files a killed run left for `unit`.
fn clean_unit(out: &Out, unit: u64, s3: Option<&S3>) -> Result<(), AppError> {
    let prefix = format!("part-{unit:05}-");
    match out {
        Out::Dir(dir) => {
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(_) => return Ok(()),
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with(&prefix) || name.starts_with(&format!(".{prefix}")) {
                    std::fs::remove_file(e.path()).map_err(|er| io_err(&e.path(), er))?;
                }
            }
        }
        Out::S3(loc) => {
            if let Some(s3) = s3 {
                for k in s3.list(&loc.join(&prefix))? {
                    s3.delete(&S3Location {
                        bucket: loc.bucket.clone(),
                        key: k,
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// Export one table to `out` (the table's own folder or prefix).
pub fn export_table(
    job: &TableJob,
    mapper: &Mapper,
    out: &Out,
    opts: &ExportOptions,
    s3: Option<&S3>,
) -> Result<ExportSummary, AppError> {
    let started = std::time::Instant::now();
    let data = out.join("data");
    if let Out::Dir(d) = &data {
        std::fs::create_dir_all(d).map_err(|e| io_err(d, e))?;
    }
    // Units: about one file each, at least one per thread for big tables.
    let est = job.data_bytes().saturating_mul(2);
    let target = opts.target_file_size.max(1).max(est / 50_000 + 1);
    let mut n = est.div_ceil(target).max(1);
    if est > 64 << 20 {
        n = n.max(opts.threads as u64 * 2);
    }
    let units = job.units(n);
    let fingerprint = job.fingerprint(&format!(
        "export|{:?}|{}|{}|{:?}|{:?}",
        opts.compression,
        target,
        units.len(),
        mapper.cfg,
        opts.produce.on_oversize
    ));
    let ck_loc = out.join("checkpoint.json");
    let ck_text = ck_loc.display();
    let ck = Checkpoint::open(
        Some(&ck_text),
        &fingerprint,
        opts.produce.now,
        units.len() as u64,
        || {
            s3.cloned()
                .ok_or_else(|| AppError::Usage("no S3 client".into()))
        },
    )
    .map_err(|e| match e {
        AppError::OtherJob(m) => AppError::OtherJob(format!(
            "{m}\n(the export folder {} holds another export: remove it or choose another --out)",
            out.display()
        )),
        e => e,
    })?;
    let now = ck.state().now;
    let produce = ProduceOptions {
        now,
        ..opts.produce.clone()
    };
    let counters = Counters::default();
    let resumed = (0..units.len() as u64).filter(|u| ck.is_done(*u)).count() as u64;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| AppError::Usage(format!("thread pool: {e}")))?;
    let total_bytes = std::sync::atomic::AtomicU64::new(0);
    let results: Vec<Result<(), AppError>> = pool.install(|| {
        units
            .par_iter()
            .enumerate()
            .map(|(u, range)| {
                let u = u as u64;
                if ck.is_done(u) {
                    return Ok(());
                }
                clean_unit(&data, u, s3)?;
                let mut w = UnitWriter {
                    out: &data,
                    s3,
                    unit: u,
                    compression: opts.compression,
                    level: opts.compression_level,
                    target,
                    current: None,
                    files: Vec::new(),
                    bytes: 0,
                };
                let mut shuffle = Shuffle::new(u + 1, opts.shuffle_window);
                let mut items = 0u64;
                let mut lines = Shuffle::open();
                produce_unit_json(
                    job,
                    mapper,
                    range,
                    &produce,
                    &counters,
                    &mut lines,
                    |e, lines| {
                        match e {
                            Emit::Json => {}
                            Emit::Op(Op::Put(item)) => write_map_json(&item, lines),
                            Emit::Op(_) => return Ok(()),
                        }
                        items += 1;
                        if shuffle.push(lines) {
                            shuffle.drain(lines, |l| w.write_line(l))?;
                        }
                        Ok(())
                    },
                )?;
                shuffle.drain(&mut lines, |l| w.write_line(l))?;
                w.close()?;
                counters.add(&counters.items, items);
                total_bytes.fetch_add(w.bytes, Ordering::Relaxed);
                ck.set_done(u, std::mem::take(&mut w.files), items)
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let st = ck.state();
    let files: Vec<String> = st
        .files
        .values()
        .flatten()
        .map(|f| format!("data/{f}"))
        .collect();
    let manifest = serde_json::json!({
        "format": "DYNAMODB_JSON",
        "compression": opts.compression.import_name(),
        "keyspace": job.schema.keyspace,
        "table": job.schema.table,
        "partition_key": {"name": mapper.keys.partition.0, "type": mapper.keys.partition.1.as_str()},
        "sort_key": mapper.keys.sort.as_ref().map(|(n, t)| serde_json::json!({"name": n, "type": t.as_str()})),
        "items": st.written,
        "files": files,
        "ttl_attribute": mapper.cfg.ttl_attribute,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(std::io::Error::other)?;
    match out.join("manifest.json") {
        Out::Dir(p) => std::fs::write(&p, text).map_err(|e| io_err(&p, e))?,
        Out::S3(l) => s3
            .ok_or_else(|| AppError::Usage("no S3 client".into()))?
            .put(&l, text.into_bytes())?,
    }
    let secs = started.elapsed().as_secs_f64();
    let items = counters.items.load(Ordering::Relaxed);
    Ok(ExportSummary {
        table: format!("{}.{}", job.schema.keyspace, job.schema.table),
        out: out.display(),
        items: st.written,
        rows: counters.rows.load(Ordering::Relaxed),
        oversize_skipped: counters.oversize.load(Ordering::Relaxed),
        oversize_keys: counters
            .oversize_keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default(),
        numbers_as_strings: mapper.stats.numbers_as_strings.load(Ordering::Relaxed),
        files: files.len(),
        uncompressed_bytes: total_bytes.load(Ordering::Relaxed),
        units: units.len() as u64,
        units_resumed: resumed,
        seconds: secs,
        items_per_second: if secs > 0.0 { items as f64 / secs } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines written to a zstd export file at `level`, and the file.
    fn zstd_file(level: i32) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let out = Out::Dir(dir.path().to_path_buf());
        let sink = Sink::open(&out, "t.json.zst", None).unwrap();
        let mut enc = Enc::new(Compression::Zstd, level, sink).unwrap();
        let mut want = Vec::new();
        let mut rng = Rng::new(7);
        // Lines of assorted lengths, several batches in all.
        while want.len() < ZSTD_BATCH * 7 / 2 {
            let n = rng.below(700);
            let line: Vec<u8> = (0..n)
                .map(|_| b"abcdefgh{}\":,"[rng.below(13)])
                .chain(std::iter::once(b'\n'))
                .collect();
            enc.w().write_all(&line).unwrap();
            want.extend_from_slice(&line);
        }
        enc.finish().unwrap().commit().unwrap();
        (want, std::fs::read(dir.path().join("t.json.zst")).unwrap())
    }

    /// Decode the first frame of `raw` with a window of at most
    /// 2^`window_log` bytes.
    fn unzstd(raw: &[u8], window_log: u32) -> std::io::Result<Vec<u8>> {
        let mut first = zstd::stream::read::Decoder::new(raw)?.single_frame();
        first.window_log_max(window_log)?;
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut first, &mut got)?;
        Ok(got)
    }

    /// A zstd export file is one frame holding every line written; at
    /// levels 1 and below its window is [`ZSTD_WINDOW_LOG`], above that
    /// the level's own.
    #[test]
    fn zstd_file_is_one_frame() {
        for level in [1, -3] {
            let (want, raw) = zstd_file(level);
            let n = zstd::zstd_safe::find_frame_compressed_size(&raw).unwrap();
            assert_eq!(n, raw.len(), "one frame");
            assert_eq!(unzstd(&raw, ZSTD_WINDOW_LOG).unwrap(), want);
        }
        for level in [0, 3] {
            let (want, raw) = zstd_file(level);
            assert!(unzstd(&raw, ZSTD_WINDOW_LOG).is_err(), "level {level}");
            assert_eq!(unzstd(&raw, 27).unwrap(), want);
        }
    }

    /// A file written past several writeback starts holds every byte.
    #[test]
    fn file_with_writeback_holds_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = OutFile::new(std::fs::File::create(&path).unwrap());
        let mut want = Vec::new();
        let mut rng = Rng::new(3);
        while want.len() < 3 * WRITEBACK_EVERY as usize + 12_345 {
            let chunk: Vec<u8> = (0..rng.below(300_000))
                .map(|_| rng.below(256) as u8)
                .collect();
            f.write_all(&chunk).unwrap();
            want.extend_from_slice(&chunk);
        }
        assert_eq!(f.written, want.len() as u64);
        assert!(f.advised[1] >= 2 * WRITEBACK_EVERY, "{:?}", f.advised);
        f.f.sync_all().unwrap();
        drop(f);
        assert!(std::fs::read(&path).unwrap() == want);
    }

    /// Each advice covers the bytes of the one before it that were new
    /// then, and the bytes written since.
    #[test]
    fn writeback_advice_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = OutFile::new(std::fs::File::create(dir.path().join("f")).unwrap());
        let mut got = Vec::new();
        for w in [8, 17, 25, 40] {
            f.written = w;
            got.push(f.advice());
        }
        assert_eq!(got, [(0, 8), (0, 17), (8, 25), (17, 40)]);
    }

    #[test]
    fn shuffle_writes_every_line_once_in_a_seeded_order() {
        let run = |seed: u64, window: usize, count: usize| {
            let mut sh = Shuffle::new(seed, window);
            let mut lines = Shuffle::open();
            let mut got: Vec<String> = Vec::new();
            let mut collect = |l: &[u8]| {
                got.push(String::from_utf8(l.to_vec()).unwrap());
                Ok(())
            };
            for i in 0..count {
                lines.push_str(&format!("{{\"n\":{{\"N\":\"{i}\"}}}}"));
                if sh.push(&mut lines) {
                    sh.drain(&mut lines, &mut collect).unwrap();
                }
            }
            sh.drain(&mut lines, &mut collect).unwrap();
            assert_eq!(lines, LINE_START);
            got
        };
        let a = run(3, 64, 1000);
        assert_eq!(a, run(3, 64, 1000));
        assert_ne!(a, run(4, 64, 1000));
        let mut sorted = a.clone();
        sorted.sort_by_key(|l| l[19..l.len() - 5].parse::<usize>().unwrap());
        let want: Vec<String> = (0..1000)
            .map(|i| format!("{{\"Item\":{{\"n\":{{\"N\":\"{i}\"}}}}}}\n"))
            .collect();
        assert_eq!(sorted, want);
        assert_ne!(a, want);
        // Lines move only within their batch of 64.
        for (pos, l) in a.iter().enumerate() {
            let i: usize = l[19..l.len() - 5].parse().unwrap();
            assert_eq!(i / 64, pos / 64, "{l}");
        }
        // A window of one keeps the scan's order.
        assert_eq!(run(3, 1, 100), want[..100].to_vec());
    }
}
