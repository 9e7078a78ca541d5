//! The `sstable-migrate` commands.

use crate::literal::serialize_key;
use crate::render::{
    key_components, DumpCompat, DumpOptions, RenderError, RowsWriter, SstableDumpWriter,
};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Map, Value as Json};
use sstable_format::value::get_string;
use sstable_reader::ddl::{parse_schema, SchemaFile};
use sstable_reader::range::TokenRange;
use sstable_reader::{discover_all, ReadError, SSTable, ScanOptions, TableGroup, TableSchema};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "sstable-migrate",
    version,
    about = "Read Apache Cassandra sstables natively and migrate their data."
)]
pub struct Cli {
    /// CQL DDL (cqlsh DESCRIBE output) naming the tables' columns.
    #[arg(long, global = true, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Skip CRC and digest verification.
    #[arg(long, global = true)]
    pub no_verify: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print each sstable's metadata.
    Info {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// JSON output (one object per sstable, JSON Lines).
        #[arg(long)]
        json: bool,
    },
    /// Print the CREATE TABLE recovered from the sstables.
    Schema {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `cql` (CREATE TABLE) or `json` (columns as in system_schema.columns).
        #[arg(long, default_value = "cql")]
        format: String,
        /// Print the complete DDL for a 4.x/5.0 target (CREATE KEYSPACE, TYPEs, TABLEs) with this
        /// replication: `NetworkTopologyStrategy:aiven=3[,dc2=3]` or `SimpleStrategy:N`.
        #[arg(long, value_name = "CLASS:SETTINGS")]
        replication: Option<String>,
        /// Keyspace name in the target DDL (default: the source's).
        #[arg(long, requires = "replication")]
        target_keyspace: Option<String>,
    },
    /// Point lookup of one partition (Filter → Summary → Index → Data), merged
    /// across the table's sstables, optionally sliced by clustering.
    Get {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// CQL literals of the partition key columns, comma-separated.
        #[arg(long, allow_hyphen_values = true)]
        key: String,
        /// First clustering prefix to return (CQL literals, comma-separated; inclusive).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Last clustering prefix to return (inclusive).
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        #[arg(long)]
        with_meta: bool,
        #[arg(long)]
        now: Option<i64>,
    },
    /// Verify checksums, the digest, and Index/Summary/Filter against Data.
    Verify {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Dump the data.
    Dump {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = DumpFormat::Rows)]
        format: DumpFormat,
        /// Only this partition: CQL literals of the key columns, comma-separated.
        #[arg(long, allow_hyphen_values = true)]
        key: Option<String>,
        /// Add `_writetime` and `_ttl` objects per row (rows format).
        #[arg(long)]
        with_meta: bool,
        /// Judge TTL expiry at this instant (seconds since the epoch); default now.
        #[arg(long)]
        now: Option<i64>,
        /// Show each sstable separately instead of the table's merged state.
        #[arg(long)]
        no_merge: bool,
        /// Only partitions whose token is in START:END (start exclusive, end inclusive; either may be empty).
        #[arg(
            long,
            value_name = "START:END",
            conflicts_with = "shard",
            allow_hyphen_values = true
        )]
        token_range: Option<String>,
        /// Only shard I of N equal slices of the token ring (I in 0..N).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// With --format sstabledump: reproduce the sstabledump of Cassandra 5.0 (default), 4.1 or 3.11.
        #[arg(long, default_value = "5.0", value_parser = ["5.0", "4.1", "4.0", "3.11"])]
        sstabledump_version: String,
        /// Worker threads for the merged rows of large tables (default: all
        /// cores); the output stays in token order.
        #[arg(long)]
        threads: Option<usize>,
        /// Uncompressed Data.db bytes per unit of a parallel dump (tests use tiny ones).
        #[arg(long, default_value = "2M", value_parser = parse_size, hide = true)]
        unit_size: u64,
    },
    /// Export items to files: DynamoDB JSON for ImportTable, to a folder or s3://bucket/prefix.
    Export {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, default_value = "dynamodb-json", value_parser = ["dynamodb-json"])]
        format: String,
        /// Folder or s3://bucket/prefix; each table goes to KEYSPACE.TABLE/ under it.
        #[arg(long)]
        out: String,
        #[arg(long, value_enum, default_value_t = crate::dynamo::export::Compression::Gzip)]
        compression: crate::dynamo::export::Compression,
        /// Compression level: gzip 0-9 (default 6), zstd -7 to 22 (default 1). zstd
        /// levels 1 and below use a match finder made for DynamoDB JSON; the
        /// negative ones (all alike with it) store literals raw: faster, larger.
        #[arg(long, allow_negative_numbers = true)]
        compression_level: Option<i32>,
        /// Uncompressed bytes per file, about (suffixes K, M, G).
        #[arg(long, default_value = "1G", value_parser = parse_size)]
        target_file_size: u64,
        /// Also write the summary (JSON) to this file.
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
        #[command(flatten)]
        mapping: crate::dynamo::cli::MappingArgs,
        #[command(flatten)]
        aws: crate::dynamo::cli::AwsArgs,
    },
    /// Load one table into DynamoDB with BatchWriteItem (resumable).
    ToDynamodb {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The DynamoDB table.
        #[arg(long)]
        table: String,
        /// Create the table (on demand, keys from the mapping) if it does not exist.
        #[arg(long)]
        create_table: bool,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Write capacity units per second, at most.
        #[arg(long)]
        max_wcu: Option<f64>,
        /// Last write wins: PutItem only over items with an older writetime
        /// attribute (default `_writetime`), so snapshots of several nodes load in any order.
        #[arg(long)]
        conditional: bool,
        /// Also delete items whose newest source state is a deletion.
        #[arg(long)]
        delete_tombstoned: bool,
        /// Purge tombstones (deletions, expired cells) whose local deletion
        /// time is before WHEN, as a compaction past gc_grace would: they are
        /// not sent. `gc-grace` = now minus the table's gc_grace_seconds;
        /// else seconds since the epoch. Live data is the same either way.
        #[arg(long, value_name = "WHEN", value_parser = PurgeBefore::parse)]
        purge_tombstones_before: Option<PurgeBefore>,
        /// Checkpoint file or s3://bucket/key (default: .sstable-migrate-TABLE.checkpoint.json, removed when done).
        #[arg(long, value_name = "FILE|s3://…")]
        checkpoint: Option<String>,
        /// S3 endpoint for an s3:// checkpoint, if not AWS's.
        #[arg(long, value_name = "URL")]
        s3_endpoint_url: Option<String>,
        /// Attempts per batch (throttling, unprocessed items, 5xx) before failing.
        #[arg(long, default_value_t = 12)]
        max_attempts: u32,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also write the summary (JSON) to this file.
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
        #[command(flatten)]
        mapping: crate::dynamo::cli::MappingArgs,
        #[command(flatten)]
        aws: crate::dynamo::cli::AwsArgs,
    },
    /// Compare a DynamoDB table with the source, item by item.
    VerifyDynamodb {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        table: String,
        /// Parallel scan segments.
        #[arg(long, default_value_t = 4)]
        segments: i32,
        /// The load used --conditional (items carry the writetime attribute).
        #[arg(long)]
        conditional: bool,
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
        #[command(flatten)]
        mapping: crate::dynamo::cli::MappingArgs,
        #[command(flatten)]
        aws: crate::dynamo::cli::AwsArgs,
    },
    /// Load tables into Cassandra over CQL, keeping write times, TTLs and deletions (resumable).
    ToCql {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        conn: crate::cassandra::session::ConnArgs,
        #[command(flatten)]
        target: crate::cassandra::cli::TargetArgs,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Worker threads reading sstables (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Statements per second, at most.
        #[arg(long)]
        max_rate: Option<f64>,
        /// Checkpoint file (default: .sstable-migrate-cql-KS.TABLE.checkpoint.json, removed when done).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<String>,
        /// Attempts per statement (timeouts, overloaded, unavailable) before failing.
        #[arg(long, default_value_t = 10)]
        max_attempts: u32,
        /// Purge tombstones (deletions, expired cells) whose local deletion
        /// time is before WHEN, as a compaction past gc_grace would: they are
        /// not sent. `gc-grace` = now minus the table's gc_grace_seconds;
        /// else seconds since the epoch. Live data is the same either way.
        #[arg(long, value_name = "WHEN", value_parser = PurgeBefore::parse)]
        purge_tombstones_before: Option<PurgeBefore>,
        /// Counters: `set` (each ends equal to the source's value: the target's
        /// is read first and the difference added, so re-runs and resumed runs
        /// are exact) or `add` (the source's value is added to the target's,
        /// to merge counts from several sources; not idempotent).
        #[arg(long, value_parser = ["set", "add"], default_value = "set")]
        counters: String,
        #[arg(long)]
        quiet: bool,
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
    },
    /// Write big-format sstables (nb: Cassandra 4.x, oa: 5.0) under
    /// OUT/KEYSPACE/TABLE/, ready for sstableloader or nodetool import.
    ToSstables {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output root; each table goes to OUT/KEYSPACE/TABLE/ (replaced if present).
        #[arg(long)]
        out: PathBuf,
        /// sstable format: nb (Cassandra 4.0/4.1) or oa (5.0).
        #[arg(long, value_parser = ["nb", "oa"])]
        version: String,
        #[command(flatten)]
        target: crate::cassandra::cli::TargetArgs,
        /// Data.db chunk compression.
        #[arg(long, default_value = "lz4", value_parser = ["lz4", "snappy", "deflate", "zstd", "none"])]
        compression: String,
        /// Compression chunk length in KiB.
        #[arg(long, default_value_t = 16)]
        chunk_length_kb: usize,
        /// Bytes per promoted-index block of wide partitions (Cassandra's column_index_size).
        #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_size)]
        column_index_size: u64,
        /// Purge what can no longer matter, as a compaction would: data
        /// shadowed by deletions, and tombstones and expired cells older than
        /// gc_grace. `--purge false` writes the merged input as it is.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        purge: bool,
        /// gc_grace_seconds for purging (default: the table's, else 864000).
        #[arg(long)]
        gc_grace: Option<i64>,
        /// Purge tombstones whose local deletion time is before WHEN
        /// (seconds since the epoch) instead of now minus gc_grace.
        #[arg(long, value_name = "WHEN", value_parser = PurgeBefore::parse, conflicts_with = "gc_grace")]
        purge_tombstones_before: Option<PurgeBefore>,
        /// Start a new sstable when Data.db reaches this size (bytes, or with K/M/G suffix).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_sstable_size: Option<u64>,
        /// Only partitions whose token is in START:END (start exclusive, end inclusive).
        #[arg(
            long,
            value_name = "START:END",
            conflicts_with = "shard",
            allow_hyphen_values = true
        )]
        token_range: Option<String>,
        /// Only shard I of N equal slices of the token ring.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Worker threads (token-range slices written in parallel, each to its own sstables).
        #[arg(long)]
        threads: Option<usize>,
        /// The target cluster's partitioner (Murmur3Partitioner, RandomPartitioner,
        /// ByteOrderedPartitioner; default: the source's). Another than the source's
        /// re-sorts the partitions in the target's token order.
        #[arg(long)]
        partitioner: Option<String>,
        #[arg(long)]
        quiet: bool,
    },
    /// Compare the source with the target's SELECT JSON, writetime() and ttl().
    VerifyCql {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        conn: crate::cassandra::session::ConnArgs,
        #[command(flatten)]
        target: crate::cassandra::cli::TargetArgs,
        /// Compare only this share of the rows (by key hash), in percent.
        #[arg(long, default_value_t = 100.0)]
        sample_percent: f64,
        /// Seconds a TTL may differ by.
        #[arg(long, default_value_t = 120)]
        ttl_tolerance: i64,
    },
    /// Start DynamoDB ImportTable from an export on S3 and wait for it.
    ImportTable {
        /// s3://bucket/prefix/KEYSPACE.TABLE (the folder with manifest.json).
        #[arg(long)]
        from: String,
        /// The new DynamoDB table.
        #[arg(long)]
        table: String,
        /// S3 endpoint, if not the DynamoDB one (S3-compatible servers).
        #[arg(long, value_name = "URL")]
        s3_endpoint_url: Option<String>,
        /// Return once the import has started.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        aws: crate::dynamo::cli::AwsArgs,
    },
}

/// `1G`, `512M`, `100K` or bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 1G, 512M)"))
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// JSON Lines, one live CQL row per line, as SELECT JSON prints it.
    Rows,
    /// The JSON document Cassandra's sstabledump prints.
    Sstabledump,
    /// 2.x only: the raw cells and range tombstones, names in hex (needs no schema).
    Atoms,
}

/// Cassandra's default `gc_grace_seconds` (ten days).
pub const DEFAULT_GC_GRACE: i64 = 864_000;

/// When tombstones are purged (`--purge-tombstones-before`): those whose
/// local deletion time (an expired cell's expiry) is before the instant go,
/// as a compaction past gc_grace drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeBefore {
    /// `gc-grace`: now minus the table's gc_grace_seconds (else 864000).
    GcGrace,
    /// Seconds since the epoch.
    At(i64),
}

impl PurgeBefore {
    /// `gc-grace`, or seconds since the epoch.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("gc-grace") || s.eq_ignore_ascii_case("gc_grace") {
            return Ok(PurgeBefore::GcGrace);
        }
        s.parse::<i64>()
            .map(PurgeBefore::At)
            .map_err(|_| format!("`{s}`: expected gc-grace or seconds since the epoch"))
    }

    /// The instant before which tombstones of `schema`'s table are purged.
    pub fn gc_before(self, schema: &TableSchema, now: i64) -> i64 {
        match self {
            PurgeBefore::GcGrace => {
                now.saturating_sub(schema.gc_grace_seconds().unwrap_or(DEFAULT_GC_GRACE))
            }
            PurgeBefore::At(t) => t,
        }
    }
}

/// A failure of a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    Usage(String),
    /// A saved checkpoint that another job (other input, table or options)
    /// wrote.
    #[error("{0}")]
    OtherJob(String),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

impl AppError {
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            AppError::Output(e) => Some(e),
            AppError::Render(RenderError::Output(e)) => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One sstable with the schema resolved for it.
pub struct Opened {
    pub sst: SSTable,
    pub schema: TableSchema,
}

/// Largest `schema.cql` read from a snapshot.
const SCHEMA_CQL_MAX: u64 = 16 << 20;

/// The table of `g` as the `schema.cql` that Cassandra writes into every
/// snapshot describes it (with its dropped columns and their drop times),
/// from the sstables' own directories: the newest such file that names the
/// table, or holds one table only (a snapshot copied under another name).
/// Files are parsed once (`seen`); one that does not parse is reported
/// and passed over.
fn snapshot_schema(
    g: &TableGroup,
    seen: &mut std::collections::HashMap<PathBuf, Option<SchemaFile>>,
) -> Option<sstable_reader::ddl::TableDef> {
    let mut best: Option<(std::time::SystemTime, sstable_reader::ddl::TableDef)> = None;
    // Each directory once (the files are sorted: a directory's are together).
    let mut dirs: Vec<&std::path::Path> = g.data_files.iter().filter_map(|f| f.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        let path = dir.join("schema.cql");
        let loaded = seen.entry(path.clone()).or_insert_with(|| {
            // A snapshot's schema.cql holds one table: kilobytes.
            let len = std::fs::metadata(&path).ok()?.len();
            if len > SCHEMA_CQL_MAX {
                eprintln!(
                    "warning: {}: not used: {len} bytes, more than a table's schema",
                    path.display()
                );
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            match parse_schema(&text) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("warning: {}: not used: {e}", path.display());
                    None
                }
            }
        });
        let Some(file) = loaded.as_ref() else {
            continue;
        };
        let def = file
            .table(Some(&g.keyspace), &g.table)
            .or(match &file.tables[..] {
                [only] => Some(only),
                _ => None,
            });
        let Some(def) = def else { continue };
        let when = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| when > *t) {
            best = Some((when, def.clone()));
        }
    }
    best.map(|(_, d)| d)
}

/// Open every sstable under `paths`, with schemas.
/// Schema sources, in order: `--schema FILE`, then the `schema.cql` of a
/// snapshot the sstables are in, then the schema tables (`system_schema`,
/// or 2.x's `system.schema_*`) of the data directory the sstables are in,
/// then the serialization header (placeholder key names). Drop times of
/// dropped columns come from the schema tables even with `--schema`, since
/// DDL has none. The `snapshots/` and `backups/` of table directories, and
/// the system keyspaces, met while walking the paths are not read (a note
/// says so).
pub fn open_all(paths: &[PathBuf], ddl: Option<&SchemaFile>) -> Result<Vec<Opened>, AppError> {
    let mut out = Vec::new();
    let mut system: std::collections::HashMap<PathBuf, Option<SchemaFile>> =
        std::collections::HashMap::new();
    let mut snapshot_files = std::collections::HashMap::new();
    let found = discover_all(paths)?;
    if let Some(first) = found.skipped.first() {
        eprintln!(
            "note: {} snapshot or backup director{} not read (first: {}): they hold sstables \
             of other times, which would count rows twice and bring back purged deletions; \
             give a snapshot's directory as a PATH to read it",
            found.skipped.len(),
            if found.skipped.len() == 1 { "y" } else { "ies" },
            first.display()
        );
    }
    if let Some(first) = found.unfinished.first() {
        eprintln!(
            "note: {} sstable{} of unfinished or replaced writes not read (first: {}): their \
             transaction logs (or 2.x temporary names) say so, as in a copy of a running node; \
             Cassandra deletes them when it starts",
            found.unfinished.len(),
            if found.unfinished.len() == 1 { "" } else { "s" },
            first.display()
        );
    }
    if !found.system.is_empty() {
        let names: Vec<String> = found
            .system
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        eprintln!(
            "note: Cassandra's own keyspaces not read ({}): give a keyspace's directory as a \
             PATH to read it",
            names.join(", ")
        );
    }
    for mut g in found.groups {
        let mut def = ddl
            .and_then(|d| d.table(Some(&g.keyspace), &g.table))
            .cloned();
        if ddl.is_some() && def.is_none() {
            eprintln!(
                "warning: {}.{}: not in the --schema file",
                g.keyspace, g.table
            );
        }
        if def.is_none() {
            def = snapshot_schema(&g, &mut snapshot_files);
            if let Some(d) = &def {
                // The snapshot's own names win over the directories'.
                g.table = d.name.clone();
                if let Some(ks) = &d.keyspace {
                    g.keyspace = ks.clone();
                }
            }
        }
        if !g.keyspace.starts_with("system") {
            let data_dir = g.data_files[0]
                .parent()
                .and_then(sstable_reader::system_schema::data_dir_of);
            if let Some(dd) = data_dir {
                if !system.contains_key(&dd) {
                    let loaded = match sstable_reader::system_schema::load(&dd) {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!(
                                "warning: {}: could not read the schema tables: {e}",
                                dd.display()
                            );
                            None
                        }
                    };
                    system.insert(dd.clone(), loaded);
                }
                let found = system
                    .get(&dd)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.table(Some(&g.keyspace), &g.table));
                match (&mut def, found) {
                    (None, Some(f)) => def = Some(f.clone()),
                    // DDL never carries drop times: take them from the schema
                    // tables, so a column dropped and re-added keeps its old
                    // cells hidden, as Cassandra does.
                    (Some(d), Some(f)) => {
                        for (name, at) in &f.dropped {
                            if !d.dropped.iter().any(|(n, _)| n == name) {
                                d.dropped.push((name.clone(), *at));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for f in &g.data_files {
            let sst = SSTable::open_with_schema(f, def.as_ref())?;
            let schema = match &def {
                Some(def) => TableSchema::with_ddl(&g.keyspace, &g.table, &sst.header, def)?,
                None => TableSchema::from_header(&g.keyspace, &g.table, &sst.header),
            };
            out.push(Opened { sst, schema });
        }
    }
    if out.is_empty() {
        return Err(AppError::Usage(
            "no sstables (no *-Data.db files) found under the given paths".into(),
        ));
    }
    Ok(out)
}

/// Dump a large table's merged rows with `threads` workers: the ring is cut
/// into units of about `unit_bytes` of uncompressed Data.db (2 MiB by
/// default, about 9 MiB of JSON each: 8 MiB units made a 2-thread dump
/// hold 113 MiB of heap instead of 43, and 2 MiB units took 1.07x their
/// wall time), and the units' output is written in token order (see
/// [`in_parallel`]: a unit is held whole up to [`DUMP_HOLD`], then
/// streamed, so the memory held is bounded by the threads, not by the
/// table or a partition). Returns `false`, having written nothing, when the
/// table is too small or its partitioner has no even split.
fn dump_parallel(
    ssts: &[&SSTable],
    schema: &TableSchema,
    opts: &DumpOptions,
    threads: usize,
    unit_bytes: u64,
    out: &mut dyn Write,
) -> Result<bool, AppError> {
    let Some(units) = dump_units(ssts, opts, threads, unit_bytes) else {
        return Ok(false);
    };
    let Some(first) = ssts.first() else {
        return Ok(false);
    };
    let pool = BufPool::new(DUMP_HOLD.most);
    in_parallel(
        &units,
        threads,
        &pool,
        DUMP_HOLD,
        |r, unit_out| {
            let o = DumpOptions {
                range: r.clone(),
                ..opts.clone()
            };
            let mut w = RowsWriter::new(first, schema, &o, unit_out);
            if ssts.len() == 1 {
                w.dump()?;
            } else {
                w.dump_merged(ssts)?;
            }
            Ok(())
        },
        |_, p| {
            if let Piece::Bytes(b) = p {
                out.write_all(&b)?;
                pool.give(b);
            }
            Ok(())
        },
    )?;
    Ok(true)
}

/// `dump --format sstabledump` of one sstable on `threads` workers: the
/// token slices of [`dump_units`], each as its Data.db extent, and any
/// extent much larger than its share (a wide partition) cut again at
/// promoted-index blocks; the workers' pieces are joined in order into the
/// same document, byte for byte.
fn sstabledump_parallel(
    o: &Opened,
    opts: &DumpOptions,
    threads: usize,
    unit_bytes: u64,
    out: &mut dyn Write,
) -> Result<bool, AppError> {
    use sstable_reader::range::{split_wide, start_offsets, DataSlice};
    let sst = &o.sst;
    if sst.legacy.is_some() || sst.is_raw_legacy() {
        return Ok(false);
    }
    let Some(units) = dump_units(&[sst], opts, threads, unit_bytes) else {
        return Ok(false);
    };
    let share = unit_bytes.max(1);
    let mut slices: Vec<DataSlice> = Vec::new();
    // Where each unit's partitions start and end (Summary.db read once).
    let starts = start_offsets(sst, &units)?;
    let ends = start_offsets(
        sst,
        &units
            .iter()
            .map(|r| TokenRange {
                start: r.end.clone(),
                end: None,
            })
            .collect::<Vec<_>>(),
    )?;
    for ((r, &a), &b) in units.iter().zip(&starts).zip(&ends) {
        let b = if r.end.is_some() {
            b
        } else {
            sst.data_length()
        };
        if b > a.saturating_add(share.saturating_mul(2)) {
            slices.extend(split_wide(sst, r, a, b, share)?);
        } else if b > a {
            slices.push(DataSlice {
                start: a,
                end: b,
                mid_partition: false,
            });
        }
    }
    let work: Vec<(DataSlice, bool)> = slices
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, slices.get(i + 1).is_some_and(|n| n.mid_partition)))
        .collect();
    out.write_all(b"[")?;
    let mut partitions = 0u64;
    let pool = BufPool::new(DUMP_HOLD.most);
    // Whether the unit being written has written bytes yet.
    let mut begun = false;
    in_parallel(
        &work,
        threads,
        &pool,
        DUMP_HOLD,
        |&(d, open_end), unit_out| {
            let (_, n) =
                SstableDumpWriter::new(sst, &o.schema, opts, unit_out).dump_slice(d, open_end)?;
            Ok(n)
        },
        |i, p| {
            match p {
                Piece::Bytes(b) => {
                    // A slice's first partition comes after a comma, but not
                    // the document's first (rows going on inside a partition
                    // always do).
                    let mid = work.get(i).is_some_and(|w| w.0.mid_partition);
                    let skip = usize::from(partitions == 0 && !mid && !begun && !b.is_empty());
                    out.write_all(b.get(skip..).unwrap_or_default())?;
                    begun |= !b.is_empty();
                    pool.give(b);
                }
                Piece::End(n) => {
                    partitions += n;
                    begun = false;
                }
            }
            Ok(())
        },
    )?;
    out.write_all(if partitions > 0 { b"\n]" } else { b" ]" })?;
    Ok(true)
}

/// The token slices of a parallel dump of `ssts` (of about `unit_bytes`
/// of Data.db each, at least `threads`), within `opts.range`; `None` when
/// the table is too small, a key is asked for, or its partitioner has no
/// even split.
fn dump_units(
    ssts: &[&SSTable],
    opts: &DumpOptions,
    threads: usize,
    unit_bytes: u64,
) -> Option<Vec<TokenRange>> {
    let bytes: u64 = ssts.iter().map(|s| s.data_length()).sum();
    let unit_bytes = unit_bytes.max(1);
    if threads < 2 || opts.key.is_some() || bytes < unit_bytes.saturating_mul(2) {
        return None;
    }
    let first = ssts.first()?;
    let n = (bytes / unit_bytes).clamp(threads as u64, 65_536);
    let units = (0..n)
        .map(|i| TokenRange::shard(i, n, first.partitioner))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(
        units
            .iter()
            .filter_map(|u| intersect(u, &opts.range))
            .collect(),
    )
}

/// Output buffers handed back once written, so that workers reuse their
/// memory instead of faulting in fresh pages for every unit. A new buffer
/// reserves room for a unit's output up front (`cap`: only the pages
/// written are resident), so it does not grow through a series of copies
/// whose freed blocks the allocator would hold on to.
struct BufPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    cap: usize,
}

impl BufPool {
    fn new(cap: usize) -> BufPool {
        BufPool {
            free: Default::default(),
            cap,
        }
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| Vec::with_capacity(self.cap))
    }

    fn give(&self, mut b: Vec<u8>) {
        b.clear();
        if let Ok(mut v) = self.free.lock() {
            v.push(b);
        }
    }
}

/// How much of a unit's output [`in_parallel`] holds: a unit is handed on
/// whole when it ends, unless its output grows past `most` bytes. Then it
/// is handed on at once if it is the next unit to be written, or else when
/// its turn comes, its worker waiting until then; and from there on in
/// pieces of an eighth of that (so a wide partition's unit streams,
/// whatever its size).
#[derive(Clone, Copy)]
struct Hold {
    most: usize,
}

/// The hold of parallel dumps: their units of 2 MiB of Data.db give about
/// 9 MiB of JSON (narrow and wide harness tables).
const DUMP_HOLD: Hold = Hold { most: 12 << 20 };

/// A piece of a unit's output, or its end, as [`in_parallel`] hands them on.
enum Piece<T> {
    Bytes(Vec<u8>),
    End(T),
}

/// What the workers of [`in_parallel`] share.
struct Flow<'a> {
    /// How many units are written whole.
    written: std::sync::Mutex<usize>,
    turn: std::sync::Condvar,
    stop: std::sync::atomic::AtomicBool,
    pool: &'a BufPool,
    hold: Hold,
}

impl Flow<'_> {
    fn written(&self) -> std::sync::MutexGuard<'_, usize> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait until fewer than `n` units stand between `unit` and the next
    /// one to be written (`n = 1`: until it is next); false once stopped.
    fn wait_within(&self, unit: usize, n: usize) -> bool {
        let mut done = self.written();
        while unit >= *done + n && !self.stopped() {
            done = self.turn.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        !self.stopped()
    }
}

/// The output of one unit of [`in_parallel`]: held whole while other units
/// are written before it, and streamed once it is next.
struct UnitOut<'a, T> {
    unit: usize,
    buf: Vec<u8>,
    /// Hand the buffer on once it holds this much: `hold.most`, then, once
    /// the unit streams, an eighth of it.
    limit: usize,
    flow: &'a Flow<'a>,
    tx: &'a std::sync::mpsc::SyncSender<(usize, Piece<Result<T, AppError>>)>,
}

impl<T> UnitOut<'_, T> {
    fn send(&mut self, p: Piece<Result<T, AppError>>) -> std::io::Result<()> {
        self.tx
            .send((self.unit, p))
            .map_err(|_| std::io::Error::other("the dump stopped"))
    }

    /// Hand the buffered bytes on, once this unit is the next to be written.
    fn pass_on(&mut self) -> std::io::Result<()> {
        if !self.flow.wait_within(self.unit, 1) {
            return Err(std::io::Error::other("the dump stopped"));
        }
        let full = std::mem::replace(&mut self.buf, self.flow.pool.take());
        self.limit = (self.flow.hold.most / 8).max(1);
        self.send(Piece::Bytes(full))
    }
}

impl<T> Write for UnitOut<'_, T> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= self.limit {
            self.pass_on()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Render `units` on `threads` workers and hand their output to `write`
/// in unit order, on the calling thread: each unit's bytes (in one or more
/// pieces), then its end. Workers take the next unit as soon as they
/// finish one (no unit waits for a slower neighbour), but none starts a
/// unit more than `threads` ahead of the next one to be written, and a unit
/// holds at most about `hold.most` bytes (see [`Hold`]). So the output held
/// at once is bounded by `threads` and `hold`, not by the table or a
/// partition. The first error (in unit order) stops the workers and is
/// returned.
fn in_parallel<U: Sync, T: Send>(
    units: &[U],
    threads: usize,
    pool: &BufPool,
    hold: Hold,
    render: impl Fn(&U, &mut UnitOut<'_, T>) -> Result<T, AppError> + Sync,
    mut write: impl FnMut(usize, Piece<T>) -> Result<(), AppError>,
) -> Result<(), AppError> {
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Condvar, Mutex};
    let threads = threads.clamp(1, units.len().max(1));
    let window = threads + 1;
    let next = AtomicUsize::new(0);
    let flow = Flow {
        written: Mutex::new(0),
        turn: Condvar::new(),
        stop: Default::default(),
        pool,
        hold,
    };
    // One piece in the channel: a worker streaming faster than `write`
    // waits for it (`write` takes pieces as they come, in any order).
    let (tx, rx) = mpsc::sync_channel::<(usize, Piece<Result<T, AppError>>)>(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, flow, render) = (&next, &flow, &render);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(u) = units.get(i) else { break };
                if !flow.wait_within(i, window) {
                    break;
                }
                let mut out = UnitOut {
                    unit: i,
                    buf: flow.pool.take(),
                    limit: hold.most,
                    flow,
                    tx: &tx,
                };
                let r = render(u, &mut out);
                let rest = std::mem::take(&mut out.buf);
                let sent = if r.is_ok() && !rest.is_empty() {
                    out.send(Piece::Bytes(rest))
                } else {
                    flow.pool.give(rest);
                    Ok(())
                };
                if sent.and_then(|()| out.send(Piece::End(r))).is_err() || flow.stopped() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, VecDeque<Piece<Result<T, AppError>>>> = BTreeMap::new();
        let mut want = 0usize;
        let mut result = Ok(());
        'recv: for (i, p) in rx.iter() {
            pending.entry(i).or_default().push_back(p);
            while let Some(p) = pending.get_mut(&want).and_then(|q| q.pop_front()) {
                let end = matches!(p, Piece::End(_));
                let step = match p {
                    Piece::Bytes(b) => write(want, Piece::Bytes(b)),
                    Piece::End(r) => r.and_then(|t| write(want, Piece::End(t))),
                };
                if let Err(e) = step {
                    result = Err(e);
                    break 'recv;
                }
                if end {
                    pending.remove(&want);
                    want += 1;
                    *flow.written() = want;
                    flow.turn.notify_all();
                }
            }
        }
        if result.is_err() {
            flow.stop.store(true, Ordering::Relaxed);
            // Wake the workers waiting for their turn (they see `stop`), and
            // those waiting to send (they see the channel closed).
            drop(rx);
            let _guard = flow.written();
            flow.turn.notify_all();
        }
        result
    })
}

/// The tokens in both ranges, if any.
fn intersect(a: &TokenRange, b: &TokenRange) -> Option<TokenRange> {
    let start = match (&a.start, &b.start) {
        (Some(x), Some(y)) => Some(x.max(y).clone()),
        (x, y) => x.clone().or_else(|| y.clone()),
    };
    let end = match (&a.end, &b.end) {
        (Some(x), Some(y)) => Some(x.min(y).clone()),
        (x, y) => x.clone().or_else(|| y.clone()),
    };
    match (&start, &end) {
        (Some(s), Some(e)) if s >= e => None,
        _ => Some(TokenRange { start, end }),
    }
}

/// `dump` of a 2.x table without any schema falls back to raw cells.
fn warn_raw(o: &Opened) {
    eprintln!(
        "warning: {}.{}: {} sstables carry no schema and none was found (no --schema, no \
         system tables in their data directory): dumping raw cells, names and values in \
         hex (--format atoms); pass --schema FILE with the CREATE TABLE for typed rows",
        o.schema.keyspace,
        o.schema.table,
        o.sst.version()
    );
}

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), AppError> {
    let ddl = match &cli.schema {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ReadError::Io {
                path: p.clone(),
                source,
            })?;
            Some(
                parse_schema(&text)
                    .map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?,
            )
        }
        None => None,
    };
    let scan = ScanOptions {
        verify_checksums: !cli.no_verify,
    };
    match cli.command {
        Command::Info { paths, json } => {
            for o in open_all(&paths, ddl.as_ref())? {
                let v = info_json(&o)?;
                if json {
                    serde_json::to_writer(&mut *out, &v).map_err(std::io::Error::other)?;
                    writeln!(out)?;
                } else {
                    write_info_text(&v, out)?;
                }
            }
        }
        Command::Schema {
            paths,
            format,
            replication,
            target_keyspace,
        } => {
            // One schema per table: the union of the columns its sstables have.
            let mut tables: Vec<TableSchema> = Vec::new();
            for o in open_all(&paths, ddl.as_ref())? {
                match tables
                    .iter_mut()
                    .find(|t| t.keyspace == o.schema.keyspace && t.table == o.schema.table)
                {
                    Some(t) => t.merge_columns(&o.schema),
                    None => tables.push(o.schema),
                }
            }
            if let Some(r) = replication {
                let r = crate::cassandra::ddl::parse_replication(&r).map_err(AppError::Usage)?;
                write!(
                    out,
                    "{}",
                    crate::cassandra::ddl::target_ddl(&tables, target_keyspace.as_deref(), &r)
                )?;
                out.flush()?;
                return Ok(());
            }
            for t in &tables {
                match format.as_str() {
                    "cql" => write!(out, "{}", t.create_table())?,
                    "json" => writeln!(out, "{}", schema_json(t))?,
                    other => {
                        return Err(AppError::Usage(format!(
                            "unknown schema format `{other}` (cql, json)"
                        )))
                    }
                }
            }
        }
        Command::Get {
            paths,
            key,
            from,
            to,
            with_meta,
            now,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            let now = now.unwrap_or_else(now_secs);
            for group in group_tables(&opened) {
                let first = group[0];
                let types: Vec<_> = first
                    .schema
                    .partition_key
                    .iter()
                    .map(|c| c.cql_type.clone())
                    .collect();
                let kbytes = serialize_key(&types, &key).map_err(AppError::Usage)?;
                let ctypes: Vec<_> = first
                    .schema
                    .visible_clustering()
                    .iter()
                    .map(|c| c.cql_type.clone())
                    .collect();
                let slice = |s: &Option<String>| -> Result<Option<Vec<Vec<u8>>>, AppError> {
                    match s {
                        None => Ok(None),
                        Some(s) => {
                            let parts = crate::literal::split_key(s);
                            if parts.len() > ctypes.len() {
                                return Err(AppError::Usage(format!(
                                    "the table has {} clustering column(s); got `{s}`",
                                    ctypes.len()
                                )));
                            }
                            parts
                                .iter()
                                .zip(&ctypes)
                                .map(|(p, t)| {
                                    crate::literal::parse_literal(t, p).map_err(AppError::Usage)
                                })
                                .collect::<Result<Vec<_>, _>>()
                                .map(Some)
                        }
                    }
                };
                let opts = DumpOptions {
                    key: Some(kbytes),
                    with_meta,
                    now,
                    scan,
                    sstabledump_compat: DumpCompat::V50,
                    range: TokenRange::ALL,
                    slice: (slice(&from)?, slice(&to)?),
                };
                let mut schema = first.schema.clone();
                for o in &group[1..] {
                    schema.merge_columns(&o.schema);
                }
                let ssts: Vec<&SSTable> = group.iter().map(|o| &o.sst).collect();
                if group.len() == 1 {
                    RowsWriter::new(&first.sst, &first.schema, &opts, &mut *out).dump()?;
                } else {
                    RowsWriter::new(&first.sst, &schema, &opts, &mut *out).dump_merged(&ssts)?;
                }
            }
        }
        Command::Verify { paths } => {
            let mut failed = 0usize;
            for o in open_all(&paths, ddl.as_ref())? {
                match sstable_reader::verify::verify(&o.sst) {
                    Ok(r) => writeln!(
                        out,
                        "OK   {} ({} partitions, {} rows/markers, {} index entries, {} index blocks, {} summary entries{})",
                        o.sst.data_path().display(),
                        r.partitions,
                        r.unfiltereds,
                        r.index_entries,
                        r.promoted_index_blocks,
                        r.summary_entries,
                        if r.filter_checked { ", bloom filter checked" } else { "" }
                    )?,
                    Err(e) => {
                        failed += 1;
                        writeln!(out, "FAIL {e}")?;
                    }
                }
            }
            if failed > 0 {
                out.flush()?;
                return Err(AppError::Usage(format!(
                    "{failed} sstable(s) failed verification"
                )));
            }
        }
        Command::Dump {
            paths,
            format,
            key,
            with_meta,
            now,
            no_merge,
            sstabledump_version,
            token_range,
            shard,
            threads,
            unit_size,
        } => {
            let sstabledump_compat = match sstabledump_version.as_str() {
                "5.0" => DumpCompat::V50,
                "3.11" => DumpCompat::V311,
                _ => DumpCompat::V4,
            };
            let opened = open_all(&paths, ddl.as_ref())?;
            let now = now.unwrap_or_else(now_secs);
            let partitioner = opened[0].sst.partitioner;
            let range = parse_range(token_range.as_deref(), shard.as_deref(), partitioner)?;
            let key_of = |o: &Opened| -> Result<Option<Vec<u8>>, AppError> {
                match &key {
                    Some(k) => {
                        let types: Vec<_> = o
                            .schema
                            .partition_key
                            .iter()
                            .map(|c| c.cql_type.clone())
                            .collect();
                        Ok(Some(serialize_key(&types, k).map_err(AppError::Usage)?))
                    }
                    None => Ok(None),
                }
            };
            if format == DumpFormat::Rows && !no_merge {
                // One merged stream per table.
                for group in group_tables(&opened) {
                    let first = group[0];
                    let opts = DumpOptions {
                        key: key_of(first)?,
                        with_meta,
                        now,
                        scan,
                        sstabledump_compat,
                        range: range.clone(),
                        slice: (None, None),
                    };
                    if first.sst.is_raw_legacy() {
                        warn_raw(first);
                        for o in &group {
                            crate::render::dump_atoms(&o.sst, &opts, &mut *out)?;
                        }
                        continue;
                    }
                    let mut schema = first.schema.clone();
                    for o in &group[1..] {
                        schema.merge_columns(&o.schema);
                    }
                    let ssts: Vec<&SSTable> = group.iter().map(|o| &o.sst).collect();
                    let threads = threads.unwrap_or_else(|| {
                        std::thread::available_parallelism()
                            .map(|n| n.get())
                            .unwrap_or(1)
                    });
                    if dump_parallel(&ssts, &schema, &opts, threads, unit_size, &mut *out)? {
                        continue;
                    }
                    if group.len() == 1 {
                        RowsWriter::new(&first.sst, &first.schema, &opts, &mut *out).dump()?;
                    } else {
                        RowsWriter::new(&first.sst, &schema, &opts, &mut *out)
                            .dump_merged(&ssts)?;
                    }
                }
            } else {
                for (i, o) in opened.iter().enumerate() {
                    let opts = DumpOptions {
                        key: key_of(o)?,
                        with_meta,
                        now,
                        scan,
                        sstabledump_compat,
                        range: range.clone(),
                        slice: (None, None),
                    };
                    match format {
                        DumpFormat::Rows if o.sst.is_raw_legacy() => {
                            warn_raw(o);
                            crate::render::dump_atoms(&o.sst, &opts, &mut *out)?;
                        }
                        DumpFormat::Rows => {
                            let mut w = RowsWriter::new(&o.sst, &o.schema, &opts, &mut *out);
                            w.dump()?;
                        }
                        DumpFormat::Atoms => {
                            crate::render::dump_atoms(&o.sst, &opts, &mut *out)?;
                        }
                        DumpFormat::Sstabledump => {
                            if i > 0 {
                                writeln!(out)?;
                            }
                            let threads = threads.unwrap_or_else(|| {
                                std::thread::available_parallelism()
                                    .map(|n| n.get())
                                    .unwrap_or(1)
                            });
                            if !sstabledump_parallel(o, &opts, threads, unit_size, &mut *out)? {
                                SstableDumpWriter::new(&o.sst, &o.schema, &opts, &mut *out)
                                    .dump()?;
                            }
                        }
                    }
                }
            }
        }
        Command::Export {
            paths,
            format: _,
            out: dest,
            compression,
            compression_level,
            target_file_size,
            summary_json,
            mapping,
            aws,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            crate::dynamo::cli::export(
                &opened,
                &mapping,
                &aws,
                scan,
                &dest,
                compression,
                compression_level,
                target_file_size,
                summary_json.as_ref(),
                out,
            )?;
        }
        Command::ToDynamodb {
            paths,
            table,
            create_table,
            concurrency,
            max_wcu,
            conditional,
            delete_tombstoned,
            purge_tombstones_before,
            checkpoint,
            s3_endpoint_url,
            max_attempts,
            quiet,
            summary_json,
            mapping,
            aws,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            use std::io::IsTerminal;
            crate::dynamo::cli::to_dynamodb(
                &opened,
                &mapping,
                &aws,
                scan,
                &table,
                create_table,
                concurrency,
                max_wcu,
                conditional,
                delete_tombstoned,
                purge_tombstones_before,
                checkpoint,
                s3_endpoint_url.as_deref(),
                max_attempts,
                !quiet && std::io::stderr().is_terminal(),
                summary_json.as_ref(),
                out,
            )?;
        }
        Command::VerifyDynamodb {
            paths,
            table,
            segments,
            conditional,
            summary_json,
            mapping,
            aws,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            crate::dynamo::cli::verify_dynamodb(
                &opened,
                &mapping,
                &aws,
                scan,
                &table,
                segments,
                conditional,
                summary_json.as_ref(),
                out,
            )?;
        }
        Command::ToCql {
            paths,
            conn,
            target,
            concurrency,
            threads,
            max_rate,
            checkpoint,
            max_attempts,
            purge_tombstones_before,
            counters,
            quiet,
            summary_json,
        } => {
            use std::io::IsTerminal;
            let opened = open_all(&paths, ddl.as_ref())?;
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            });
            crate::cassandra::cli::to_cql(
                &opened,
                &conn,
                &target,
                scan,
                concurrency,
                threads,
                max_rate,
                checkpoint,
                max_attempts,
                purge_tombstones_before,
                counters == "add",
                !quiet && std::io::stderr().is_terminal(),
                summary_json.as_ref(),
                out,
            )?;
        }
        Command::ToSstables {
            paths,
            out: root,
            version,
            target,
            compression,
            chunk_length_kb,
            column_index_size,
            purge,
            gc_grace,
            purge_tombstones_before,
            max_sstable_size,
            token_range,
            shard,
            threads,
            partitioner: target_partitioner,
            quiet,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            let partitioner = opened[0].sst.partitioner;
            let range = parse_range(token_range.as_deref(), shard.as_deref(), partitioner)?;
            crate::sstables::cli::to_sstables(
                &opened,
                &crate::sstables::cli::ToSstablesArgs {
                    root,
                    version,
                    target,
                    compression,
                    chunk_length_kb,
                    column_index_size,
                    purge,
                    gc_grace,
                    purge_before: purge_tombstones_before,
                    max_sstable_size,
                    range,
                    threads,
                    partitioner: target_partitioner,
                    quiet,
                },
                scan,
                out,
            )?;
        }
        Command::VerifyCql {
            paths,
            conn,
            target,
            sample_percent,
            ttl_tolerance,
        } => {
            let opened = open_all(&paths, ddl.as_ref())?;
            crate::cassandra::cli::verify_cql(
                &opened,
                &conn,
                &target,
                scan,
                sample_percent,
                ttl_tolerance,
                out,
            )?;
        }
        Command::ImportTable {
            from,
            table,
            s3_endpoint_url,
            no_wait,
            aws,
        } => {
            crate::dynamo::cli::import_table(
                &aws,
                s3_endpoint_url.as_deref(),
                &from,
                &table,
                !no_wait,
                out,
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The opened sstables grouped by keyspace and table, in order.
pub fn group_tables(opened: &[Opened]) -> Vec<Vec<&Opened>> {
    let mut groups: Vec<Vec<&Opened>> = Vec::new();
    for o in opened {
        match groups.iter_mut().find(|g| {
            g[0].schema.keyspace == o.schema.keyspace && g[0].schema.table == o.schema.table
        }) {
            Some(g) => g.push(o),
            None => groups.push(vec![o]),
        }
    }
    groups
}

/// The table's columns as `system_schema.columns` lists them.
pub fn schema_json(s: &TableSchema) -> Json {
    let mut cols = Vec::new();
    let col = |name: &str, kind: &str, pos: i64, t: &sstable_format::CqlType, order: &str| json!({"column_name": name, "kind": kind, "position": pos, "type": t.base().cql_name(), "clustering_order": order});
    for (i, c) in s.partition_key.iter().enumerate() {
        cols.push(col(&c.name, "partition_key", i as i64, &c.cql_type, "none"));
    }
    for (i, c) in s.visible_clustering().iter().enumerate() {
        cols.push(col(
            &c.name,
            "clustering",
            i as i64,
            &c.cql_type,
            if c.cql_type.is_reversed() {
                "desc"
            } else {
                "asc"
            },
        ));
    }
    let (statics, regulars): (
        &[sstable_reader::schema::Column],
        &[sstable_reader::schema::Column],
    ) = if s.compact_static {
        (&[], &s.statics)
    } else {
        (&s.statics, &s.regulars)
    };
    for c in statics.iter().filter(|c| c.included) {
        cols.push(col(&c.name, "static", -1, &c.cql_type, "none"));
    }
    for c in regulars
        .iter()
        .filter(|c| c.included && !matches!(c.cql_type, sstable_format::CqlType::Empty))
    {
        cols.push(col(&c.name, "regular", -1, &c.cql_type, "none"));
    }
    json!({"keyspace_name": s.keyspace, "table_name": s.table, "placeholder_keys": s.placeholder_keys, "columns": cols})
}

fn key_string(o: &Opened, key: &[u8]) -> String {
    match key_components(&o.schema, key) {
        Ok(comps) => comps
            .iter()
            .zip(&o.schema.partition_key)
            .map(|(b, c)| {
                get_string(&c.cql_type, b).unwrap_or_else(|_| sstable_format::value::hex(b))
            })
            .collect::<Vec<_>>()
            .join(":"),
        Err(_) => sstable_format::value::hex(key),
    }
}

fn ts_or_null(v: i64, none: i64) -> Json {
    if v == none {
        Json::Null
    } else {
        json!(v)
    }
}

/// Metadata of one sstable as JSON.
pub fn info_json(o: &Opened) -> Result<Json, AppError> {
    let sst = &o.sst;
    let st = sst.statistics.stats.clone().unwrap_or_default();
    let mut m = Map::new();
    m.insert("path".into(), json!(sst.data_path().display().to_string()));
    m.insert("keyspace".into(), json!(o.schema.keyspace));
    m.insert("table".into(), json!(o.schema.table));
    m.insert("version".into(), json!(sst.version().as_str()));
    m.insert("cassandra".into(), json!(sst.version().cassandra_release()));
    m.insert("format".into(), json!(sst.descriptor.format.to_string()));
    m.insert("generation".into(), json!(sst.descriptor.generation));
    m.insert("partitioner".into(), json!(sst.partitioner.class_name()));
    let comp = match &sst.compression {
        Some(c) => json!({
            "codec": c.compressor_class,
            "chunk_length": c.chunk_length,
            "options": c.options.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
            "uncompressed_length": c.data_length,
            "compressed_length": sst.data.len(),
            "ratio": c.ratio(sst.data.len()),
        }),
        None => json!({ "codec": "none", "uncompressed_length": sst.data.len() }),
    };
    m.insert("compression".into(), comp);
    m.insert(
        "estimated_partitions".into(),
        json!(st.estimated_partition_size.count()),
    );
    m.insert(
        "mean_partition_size".into(),
        json!(st.estimated_partition_size.mean()),
    );
    m.insert(
        "rows".into(),
        if st.total_rows < 0 {
            Json::Null
        } else {
            json!(st.total_rows)
        },
    );
    m.insert(
        "cells".into(),
        if st.total_columns_set < 0 {
            Json::Null
        } else {
            json!(st.total_columns_set)
        },
    );
    m.insert(
        "estimated_cells_per_partition_mean".into(),
        json!(st.estimated_cell_per_partition_count.mean()),
    );
    m.insert(
        "min_timestamp".into(),
        ts_or_null(st.min_timestamp, i64::MAX),
    );
    m.insert(
        "max_timestamp".into(),
        ts_or_null(st.max_timestamp, i64::MIN),
    );
    m.insert(
        "min_local_deletion_time".into(),
        ts_or_null(st.min_local_deletion_time, i64::MAX),
    );
    m.insert(
        "max_local_deletion_time".into(),
        ts_or_null(st.max_local_deletion_time, i64::MAX),
    );
    m.insert("min_ttl".into(), json!(st.min_ttl));
    m.insert("max_ttl".into(), json!(st.max_ttl));
    let gc_before = now_secs() - 864_000;
    let droppable: i64 = st
        .tombstone_histogram
        .iter()
        .filter(|(p, _)| *p <= gc_before)
        .map(|(_, n)| *n)
        .sum();
    m.insert("droppable_tombstones".into(), json!(droppable));
    m.insert(
        "estimated_tombstones".into(),
        json!(st.tombstone_histogram.iter().map(|(_, n)| *n).sum::<i64>()),
    );
    m.insert("sstable_level".into(), json!(st.sstable_level));
    m.insert("repaired_at".into(), json!(st.repaired_at));
    m.insert("is_transient".into(), json!(st.is_transient));
    if let Some(v) = &sst.statistics.validation {
        m.insert(
            "bloom_filter_fp_chance".into(),
            json!(v.bloom_filter_fp_chance),
        );
    }
    // First and last keys: from the stats (nc+), Summary, or Index.
    let keys = first_last_keys(o)?;
    if let Some((first, last)) = keys {
        for (label, k) in [("first_key", first), ("last_key", last)] {
            m.insert(
                label.into(),
                json!({ "key": key_string(o, &k), "hex": sstable_format::value::hex(&k), "token": sst.partitioner.token(&k).to_string() }),
            );
        }
    }
    let sizes: Map<String, Json> = sst
        .file_sizes()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    m.insert("files".into(), Json::Object(sizes));
    Ok(Json::Object(m))
}

/// First and last partition keys.
type KeyRange = Option<(Vec<u8>, Vec<u8>)>;

fn first_last_keys(o: &Opened) -> Result<KeyRange, AppError> {
    let sst = &o.sst;
    if let Some(st) = &sst.statistics.stats {
        if let (Some(f), Some(l)) = (&st.first_key, &st.last_key) {
            return Ok(Some((f.clone(), l.clone())));
        }
    }
    if let Some(s) = sst.summary() {
        let s = s?;
        return Ok(Some((s.first_key.to_vec(), s.last_key.to_vec())));
    }
    Ok(sst.first_last_index_keys()?)
}

fn write_info_text(v: &Json, out: &mut dyn Write) -> std::io::Result<()> {
    fn walk(prefix: &str, v: &Json, out: &mut dyn Write) -> std::io::Result<()> {
        match v {
            Json::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out)?;
                }
                Ok(())
            }
            Json::String(s) => writeln!(out, "{prefix:<36} {s}"),
            x => writeln!(out, "{prefix:<36} {x}"),
        }
    }
    walk("", v, out)?;
    writeln!(out)
}

/// `--token-range START:END` or `--shard I/N` (or the whole ring).
fn parse_range(
    token_range: Option<&str>,
    shard: Option<&str>,
    partitioner: sstable_format::Partitioner,
) -> Result<TokenRange, AppError> {
    Ok(match (token_range, shard) {
        (Some(r), _) => TokenRange::parse(r, partitioner).map_err(AppError::Usage)?,
        (None, Some(s)) => {
            let (i, n) = s
                .split_once('/')
                .ok_or_else(|| AppError::Usage(format!("--shard is I/N, got `{s}`")))?;
            let parse = |x: &str| {
                x.trim()
                    .parse::<u64>()
                    .map_err(|_| AppError::Usage(format!("--shard is I/N, got `{s}`")))
            };
            TokenRange::shard(parse(i)?, parse(n)?, partitioner).map_err(AppError::Usage)?
        }
        (None, None) => TokenRange::ALL,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TINY: Hold = Hold { most: 256 };

    /// What unit `u` writes: its number, `len(u)` times, in small writes.
    fn len(u: u64) -> usize {
        if u.is_multiple_of(7) {
            5_000 // a "wide partition": far over TINY.most
        } else {
            40 + (u as usize * 13) % 200
        }
    }

    /// Units of uneven size come out whole and in unit order, whatever the
    /// thread count; units far larger than the hold stream; and the bytes
    /// rendered but not yet written stay bounded by the threads and the
    /// hold, not by the units.
    #[test]
    fn in_parallel_writes_in_unit_order_and_bounds_what_it_holds() {
        let units: Vec<u64> = (0..300).collect();
        let expected: Vec<u8> = units
            .iter()
            .flat_map(|&u| std::iter::repeat_n((u % 251) as u8, len(u)))
            .collect();
        for threads in [1, 2, 3, 8] {
            let pool = BufPool::new(0);
            let held = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            let mut seen = Vec::new();
            let mut ends = Vec::new();
            in_parallel(
                &units,
                threads,
                &pool,
                TINY,
                |&u, out| {
                    let b = [(u % 251) as u8; 16];
                    let mut left = len(u);
                    while left > 0 {
                        let n = left.min(16);
                        let now = held.fetch_add(n, Ordering::SeqCst) + n;
                        most.fetch_max(now, Ordering::SeqCst);
                        out.write_all(&b[..n])?;
                        left -= n;
                    }
                    Ok(u)
                },
                |i, p| {
                    match p {
                        Piece::Bytes(b) => {
                            held.fetch_sub(b.len(), Ordering::SeqCst);
                            assert!(ends.len() == i, "bytes of unit {i} after {}", ends.len());
                            seen.extend_from_slice(&b);
                            pool.give(b);
                        }
                        Piece::End(u) => ends.push(u),
                    }
                    Ok(())
                },
            )
            .unwrap();
            assert!(seen == expected, "{threads} threads: output differs");
            assert_eq!(ends, units, "{threads} threads");
            // Units rendered or waiting: at most `threads + 1`, each under
            // the hold plus one write; and, of the unit being written, the
            // piece in the channel and the piece just taken from it.
            let bound = (threads + 3) * (TINY.most + 16);
            assert!(
                most.load(Ordering::SeqCst) <= bound,
                "{threads} threads held {} bytes (bound {bound}, output {})",
                most.load(Ordering::SeqCst),
                expected.len()
            );
        }
    }

    /// The first failing unit's error is returned, the units before it are
    /// written, none after it is, and the workers stop.
    #[test]
    fn in_parallel_returns_the_first_error_in_unit_order() {
        let units: Vec<u64> = (0..500).collect();
        for threads in [1, 2, 4] {
            let pool = BufPool::new(0);
            let rendered = AtomicUsize::new(0);
            let mut seen = Vec::new();
            let r = in_parallel(
                &units,
                threads,
                &pool,
                TINY,
                |&u, out| {
                    rendered.fetch_add(1, Ordering::SeqCst);
                    out.write_all(&[1; 300])?;
                    if u == 40 || u == 41 {
                        return Err(AppError::Usage(format!("unit {u}")));
                    }
                    Ok(u)
                },
                |_, p| {
                    if let Piece::End(u) = p {
                        seen.push(u);
                    }
                    Ok(())
                },
            );
            match r {
                Err(AppError::Usage(m)) => assert_eq!(m, "unit 40"),
                other => panic!("{threads} threads: {other:?}"),
            }
            assert_eq!(seen, (0..40).collect::<Vec<_>>());
            assert!(rendered.load(Ordering::SeqCst) <= 40 + threads + 1);
        }
        // An error from the writer stops the run too.
        let pool = BufPool::new(0);
        let mut n = 0;
        let r = in_parallel(
            &units,
            2,
            &pool,
            TINY,
            |&u, out| {
                out.write_all(&[2; 1000])?;
                Ok(u)
            },
            |_, _| {
                n += 1;
                if n == 10 {
                    return Err(AppError::Usage("full".into()));
                }
                Ok(())
            },
        );
        assert!(matches!(r, Err(AppError::Usage(m)) if m == "full"));
        assert_eq!(n, 10);
    }
}
