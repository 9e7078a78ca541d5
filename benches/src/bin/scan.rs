//! The full-scan side of `benches/compare.sh`: iterate every row and cell of
//! the given sstables with our library (chunk checksums, decompression, row
//! decoding), on one thread or several (sstables cut into partition-aligned
//! slices from their Summary/Index); or, with `--floor`, only verify and
//! decompress their chunks: the floor a scan cannot go below. Rows are read
//! lazily (`Scanner::next_view`); `--collect` decodes them into collected
//! rows instead (`Scanner::next_unfiltered_in`, what the merge uses).
//!
//! ```text
//! scan [--threads N] [--floor | --collect] PATH...   (Data.db files or directories)
//! ```
//! Prints one JSON line: rows, cells, the bytes of their clustering and cell
//! values, uncompressed bytes, seconds, and the
//! peak anonymous RSS (heap, not file-backed mapped pages) in KiB, sampled
//! every 10 ms from /proc/self/status, and once more at the end.

use rayon::prelude::*;
use sstable_format::data::{Cell, CellItem, ColumnData, Unfiltered, UnfilteredView};
use sstable_reader::range::{split_wide, start_offsets, DataSlice, TokenRange};
use sstable_reader::{RowBuffers, SSTable, ScanOptions, Scanner};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the peak anonymous RSS is sampled. Each sample reads
/// /proc/self/status, which costs the scanning threads a core's time now
/// and then; the heap the scan uses is allocated up front and stays flat.
const SAMPLE_MS: u64 = 10;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn data_files(p: &Path, out: &mut Vec<PathBuf>) -> Res<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            data_files(&e, out)?;
        }
    } else if p.to_string_lossy().ends_with("-Data.db") {
        out.push(p.to_path_buf());
    }
    Ok(())
}

fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// (rows, cells, bytes of cell values) of one slice of an sstable: every
/// row's clustering and every cell read (lazily, through row views; 2.x
/// sstables, or all with `collect`, through collected rows, as the merge
/// reads them).
fn scan(sst: &SSTable, slice: DataSlice, collect: bool) -> Res<(u64, u64, u64)> {
    let opts = ScanOptions {
        verify_checksums: true,
    };
    let mut s = if slice.mid_partition {
        Scanner::rows(sst, opts, slice.start, slice.end)
    } else {
        Scanner::range(sst, opts, slice.start, slice.end)
    };
    // Rows, cells, and the bytes of clustering and cell values seen.
    let mut t = (0u64, 0u64, 0u64);
    fn row<'a>(t: &mut (u64, u64, u64), clustering: impl Iterator<Item = Option<&'a [u8]>>) {
        t.0 += 1;
        t.2 += clustering.flatten().map(|v| v.len() as u64).sum::<u64>();
    }
    fn cell(t: &mut (u64, u64, u64), c: &Cell) {
        t.1 += 1;
        t.2 += c.value.len() as u64;
    }
    let legacy = collect || sst.version().is_legacy();
    let mut bufs = RowBuffers::default();
    let mut count = |s: &mut Scanner| -> Res<()> {
        if legacy {
            while let Some(u) = s.next_unfiltered_in(&mut bufs)? {
                if let Unfiltered::Row(r) = &u {
                    row(&mut t, r.clustering.iter().copied());
                    for cd in &r.columns {
                        match cd {
                            ColumnData::Simple { cell: c, .. } => cell(&mut t, c),
                            ColumnData::Complex { cells, .. } => {
                                cells.iter().for_each(|c| cell(&mut t, c))
                            }
                        }
                    }
                }
                bufs.recycle(u);
            }
            return Ok(());
        }
        s.for_each_view(|u| -> Res<()> {
            if let UnfilteredView::Row(r) = u {
                row(&mut t, r.clustering.iter());
                r.for_each_cell(|item| -> Res<()> {
                    match item {
                        CellItem::Simple { cell: c, .. }
                        | CellItem::ComplexCell { cell: c, .. } => cell(&mut t, &c),
                        CellItem::Complex { .. } => {}
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        Ok(())
    };
    if slice.mid_partition {
        count(&mut s)?;
    }
    while s.next_partition_ref()?.is_some() {
        count(&mut s)?;
    }
    Ok(t)
}

/// Verify and decompress chunks `[from, to)` of one sstable; their bytes.
fn floor(sst: &SSTable, from: u64, to: u64) -> Res<u64> {
    let ci = sst
        .compression
        .as_ref()
        .ok_or("--floor needs compressed sstables")?;
    let data = sst.data.bytes();
    let mut out = Vec::new();
    let mut n = 0u64;
    for i in from..to {
        ci.read_chunk(data, i, true, &mut out)?;
        n += out.len() as u64;
    }
    Ok(n)
}

fn main() -> Res<()> {
    let mut threads = 1usize;
    let mut floor_only = false;
    let mut collect = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--floor" => floor_only = true,
            "--collect" => collect = true,
            p => data_files(Path::new(p), &mut paths)?,
        }
    }
    if paths.is_empty() {
        return Err("usage: scan [--threads N] [--floor | --collect] PATH...".into());
    }
    let ssts: Vec<SSTable> = paths
        .iter()
        .map(|p| SSTable::open(p))
        .collect::<Result<_, _>>()?;
    let bytes: u64 = ssts.iter().map(|s| s.data_length()).sum();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_anon_kib()));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_anon_kib(), Ordering::Relaxed);
                std::thread::park_timeout(Duration::from_millis(SAMPLE_MS));
            }
            peak.fetch_max(rss_anon_kib(), Ordering::Relaxed);
        })
    };
    let t0 = Instant::now();
    // Work units: (sstable, slice of Data.db), or chunk indexes for --floor.
    let slices = (threads * 8) as u64;
    let mut units: Vec<(usize, DataSlice)> = Vec::new();
    let whole = |start, end| DataSlice {
        start,
        end,
        mid_partition: false,
    };
    for (i, s) in ssts.iter().enumerate() {
        if floor_only {
            let chunks = s
                .compression
                .as_ref()
                .map_or(0, |c| c.chunk_offsets.len() as u64);
            let step = chunks.div_ceil(if threads > 1 { slices } else { 1 }).max(1);
            units.extend(
                (0..chunks)
                    .step_by(step as usize)
                    .map(|c| (i, whole(c, (c + step).min(chunks)))),
            );
            continue;
        }
        if threads == 1 {
            units.push((i, whole(0, s.data_length())));
            continue;
        }
        // Token slices cut at partition boundaries; a slice much larger
        // than its share (a wide partition) is cut again at the promoted-
        // index blocks of its partitions.
        let share = (s.data_length() / slices).max(1);
        let ranges = (0..slices)
            .map(|k| TokenRange::shard(k, slices, s.partitioner))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cuts = start_offsets(s, &ranges)?;
        cuts.push(s.data_length());
        for (r, w) in ranges.iter().zip(cuts.windows(2)) {
            if w[1] > w[0] + 2 * share {
                units.extend(
                    split_wide(s, r, w[0], w[1], share)?
                        .into_iter()
                        .map(|d| (i, d)),
                );
            } else if w[1] > w[0] {
                units.push((i, whole(w[0], w[1])));
            }
        }
    }
    let setup = t0.elapsed().as_secs_f64();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (rows, cells, value_bytes, out_bytes) = pool.install(|| {
        units
            .par_iter()
            .map(|&(i, d)| -> Res<(u64, u64, u64, u64)> {
                if floor_only {
                    Ok((0, 0, 0, floor(&ssts[i], d.start, d.end)?))
                } else {
                    let (r, c, v) = scan(&ssts[i], d, collect)?;
                    Ok((r, c, v, 0))
                }
            })
            .try_reduce(
                || (0, 0, 0, 0),
                |x, y| Ok((x.0 + y.0, x.1 + y.1, x.2 + y.2, x.3 + y.3)),
            )
    })?;
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sampler.thread().unpark();
    let _ = sampler.join();
    println!(
        "{{\"mode\": \"{}\", \"threads\": {threads}, \"rows\": {rows}, \"cells\": {cells}, \"value_bytes\": {value_bytes}, \"bytes\": {}, \"seconds\": {secs:.3}, \"setup_seconds\": {setup:.3}, \"units\": {}, \"peak_rss_anon_kib\": {}}}",
        if floor_only { "floor" } else { "scan" },
        if floor_only { out_bytes } else { bytes },
        units.len(),
        peak.load(Ordering::Relaxed)
    );
    Ok(())
}
