//! The Cassandra target commands: `to-cql` and `verify-cql`.

use super::load::{load_table, CqlLoadOptions};
use super::session::ConnArgs;
use super::verify::{verify_table, CqlVerifyOptions};
use crate::app::{now_secs, AppError, Opened};
use crate::dynamo::cli::{jobs, runtime};
use crate::dynamo::TableJob;
use sstable_reader::ScanOptions;
use std::io::Write;
use std::path::PathBuf;

/// Where the rows go in the target.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// Keyspace in the target (default: the source's).
    #[arg(long)]
    pub target_keyspace: Option<String>,
    /// Table in the target (default: the source's; one source table only).
    #[arg(long)]
    pub target_table: Option<String>,
    /// Judge TTL expiry at this instant (seconds since the epoch); default now.
    #[arg(long)]
    pub now: Option<i64>,
}

pub(crate) fn tables<'a>(
    opened: &'a [Opened],
    target: &TargetArgs,
) -> Result<Vec<TableJob<'a>>, AppError> {
    let jobs = jobs(opened);
    if target.target_table.is_some() && jobs.len() != 1 {
        return Err(AppError::Usage(format!(
            "--target-table names one table, but the paths hold {}",
            jobs.len()
        )));
    }
    for j in &jobs {
        if j.schema.placeholder_keys {
            return Err(AppError::Usage(format!(
                "{}.{}: the key column names are unknown (give --schema, or read the table from its data directory)",
                j.schema.keyspace, j.schema.table
            )));
        }
    }
    Ok(jobs)
}

/// `to-cql`.
#[allow(clippy::too_many_arguments)]
pub fn to_cql(
    opened: &[Opened],
    conn: &ConnArgs,
    target: &TargetArgs,
    scan: ScanOptions,
    concurrency: usize,
    threads: usize,
    max_rate: Option<f64>,
    checkpoint: Option<String>,
    max_attempts: u32,
    purge_before: Option<crate::app::PurgeBefore>,
    counters_add: bool,
    progress: bool,
    summary: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let rt = runtime()?;
    let mut all = Vec::new();
    let jobs = tables(opened, target)?;
    let several = jobs.len() > 1;
    for job in jobs {
        let (ck, remove) = match &checkpoint {
            Some(c) if !several => (Some(c.clone()), false),
            // One checkpoint per table.
            Some(c) => (
                Some(format!("{c}.{}.{}", job.schema.keyspace, job.schema.table)),
                false,
            ),
            _ => (
                Some(format!(
                    ".sstable-migrate-cql-{}.{}.checkpoint.json",
                    target
                        .target_keyspace
                        .as_deref()
                        .unwrap_or(&job.schema.keyspace),
                    target.target_table.as_deref().unwrap_or(&job.schema.table)
                )),
                true,
            ),
        };
        let opts = CqlLoadOptions {
            target_keyspace: target.target_keyspace.clone(),
            target_table: target.target_table.clone(),
            concurrency,
            threads,
            max_rate,
            now: target.now.unwrap_or_else(now_secs),
            scan,
            checkpoint: ck,
            remove_checkpoint_when_done: remove,
            max_attempts,
            purge_before,
            counters_add,
            progress,
        };
        let s = load_table(&rt, conn, &job, &opts)?;
        all.push(serde_json::to_value(&s).map_err(std::io::Error::other)?);
    }
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    if let Some(p) = summary {
        std::fs::write(p, text).map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

/// `verify-cql`.
pub fn verify_cql(
    opened: &[Opened],
    conn: &ConnArgs,
    target: &TargetArgs,
    scan: ScanOptions,
    sample_percent: f64,
    ttl_tolerance: i64,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let rt = runtime()?;
    let mut bad = 0;
    let mut reports = Vec::new();
    for job in tables(opened, target)? {
        let opts = CqlVerifyOptions {
            target_keyspace: target.target_keyspace.clone(),
            target_table: target.target_table.clone(),
            now: target.now.unwrap_or_else(now_secs),
            scan,
            sample_percent,
            ttl_tolerance,
        };
        let r = verify_table(&rt, conn, &job.ssts, &job.schema, &opts)?;
        bad += r.differences();
        reports.push(serde_json::to_value(&r).map_err(std::io::Error::other)?);
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&reports).map_err(std::io::Error::other)?
    )?;
    if bad > 0 {
        out.flush()?;
        return Err(AppError::Usage(format!("{bad} difference(s)")));
    }
    Ok(())
}
