//! `to-sstables`.

use super::{write_table, TableWriteOptions, WriterOptions};
use crate::app::{now_secs, AppError, Opened, DEFAULT_GC_GRACE};
use crate::cassandra::cli::TargetArgs;
use sstable_format::compression::Codec;
use sstable_format::Version;
use sstable_reader::range::TokenRange;
use sstable_reader::ScanOptions;
use std::io::Write;
use std::path::PathBuf;

/// The options of `to-sstables`.
#[derive(Debug, Clone)]
pub struct ToSstablesArgs {
    pub root: PathBuf,
    pub version: String,
    pub target: TargetArgs,
    pub compression: String,
    pub chunk_length_kb: usize,
    pub column_index_size: u64,
    pub purge: bool,
    pub gc_grace: Option<i64>,
    /// Purge tombstones older than this instead of gc_grace (with `purge`).
    pub purge_before: Option<crate::app::PurgeBefore>,
    pub max_sstable_size: Option<u64>,
    pub range: TokenRange,
    pub threads: Option<usize>,
    /// The target cluster's partitioner (default: the source's).
    pub partitioner: Option<String>,
    pub quiet: bool,
}

pub fn to_sstables(
    opened: &[Opened],
    a: &ToSstablesArgs,
    scan: ScanOptions,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let version = Version::parse(&a.version).map_err(|e| AppError::Usage(e.to_string()))?;
    let codec = match a.compression.as_str() {
        "lz4" => Some(Codec::Lz4),
        "snappy" => Some(Codec::Snappy),
        "deflate" => Some(Codec::Deflate),
        "zstd" => Some(Codec::Zstd),
        _ => None,
    };
    if !(1..=1024).contains(&a.chunk_length_kb) || !a.chunk_length_kb.is_power_of_two() {
        return Err(AppError::Usage(format!(
            "--chunk-length-kb is a power of two from 1 to 1024, got {}",
            a.chunk_length_kb
        )));
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| AppError::Usage(e.to_string()))?;
    let now = a.target.now.unwrap_or_else(now_secs);
    if !a.purge && a.purge_before.is_some() {
        return Err(AppError::Usage(
            "--purge false keeps every tombstone; drop --purge-tombstones-before".into(),
        ));
    }
    // Key column names are not stored in sstables: placeholder names do.
    let jobs = crate::dynamo::cli::jobs(opened);
    if a.target.target_table.is_some() && jobs.len() != 1 {
        return Err(AppError::Usage(format!(
            "--target-table names one table, but the paths hold {}",
            jobs.len()
        )));
    }
    for job in jobs {
        let Some(first) = job.ssts.first() else {
            continue;
        };
        // Slices in parallel only where each is worth an sstable of its own.
        let units = if threads > 1 && job.data_bytes() >= 256 << 20 {
            threads as u64
        } else {
            1
        };
        let partitioner = match &a.partitioner {
            Some(p) => sstable_format::Partitioner::from_class(p)
                .map_err(|e| AppError::Usage(format!("--partitioner: {e}")))?,
            None => first.partitioner,
        };
        let mut writer = WriterOptions::new(version, partitioner.class_name());
        writer.codec = codec;
        writer.chunk_length = a.chunk_length_kb * 1024;
        writer.column_index_size = a.column_index_size;
        let keyspace = a
            .target
            .target_keyspace
            .clone()
            .unwrap_or_else(|| job.schema.keyspace.clone());
        let table = a
            .target
            .target_table
            .clone()
            .unwrap_or_else(|| job.schema.table.clone());
        let opts = TableWriteOptions {
            writer,
            keyspace,
            table,
            purge: a.purge,
            now,
            gc_grace: match a.purge_before {
                Some(p) => now.saturating_sub(p.gc_before(&job.schema, now)),
                None => a
                    .gc_grace
                    .or_else(|| job.schema.gc_grace_seconds())
                    .unwrap_or(DEFAULT_GC_GRACE),
            },
            max_sstable_size: a.max_sstable_size,
            range: a.range.clone(),
            scan,
            units,
        };
        let started = std::time::Instant::now();
        let w = pool
            .install(|| write_table(&job, &a.root, &opts))
            .map_err(|e| match e {
                super::TableWriteError::Read(r) => AppError::Read(r),
                super::TableWriteError::Write(w) => AppError::Usage(format!(
                    "{}.{}: writing sstables: {w}",
                    job.schema.keyspace, job.schema.table
                )),
            })?;
        let bytes: u64 = w.sstables.iter().map(|s| s.on_disk_bytes).sum();
        let data: u64 = w.sstables.iter().map(|s| s.data_bytes).sum();
        if !a.quiet {
            writeln!(
                out,
                "{}.{} -> {}: {} partitions, {} rows, {} range tombstone markers in {} sstable(s) ({} bytes of data, {} on disk) in {:.2}s",
                job.schema.keyspace,
                job.schema.table,
                w.dir.display(),
                w.partitions,
                w.rows,
                w.markers,
                w.sstables.len(),
                data,
                bytes,
                started.elapsed().as_secs_f64()
            )?;
        }
    }
    Ok(())
}
