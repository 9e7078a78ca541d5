//! The DynamoDB commands: `export`, `to-dynamodb`, `verify-dynamodb`,
//! `import-table`.

use super::export::{export_table, Compression, ExportOptions, Out};
use super::load::{client, ensure_table, load_table, LoadOptions};
use super::mapping::{Mapper, MappingConfig};
use super::s3::{S3Location, S3};
use super::verify::verify_table;
use super::{Oversize, ProduceOptions, TableJob};
use crate::app::{group_tables, now_secs, AppError, Opened};
use clap::Args;
use sstable_reader::ScanOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Options shared by every DynamoDB command: how rows become items.
#[derive(Args, Debug, Clone)]
pub struct MappingArgs {
    /// Mapping file (TOML): key names and composition, renames, exclusions,
    /// type overrides, static columns, TTL and writetime attributes.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Put the row's expiry (epoch seconds) in this attribute (overrides the mapping file).
    #[arg(long, value_name = "NAME")]
    pub ttl_attribute: Option<String>,
    /// Put the row's newest write time (µs) in this attribute (overrides the mapping file).
    #[arg(long, value_name = "NAME")]
    pub writetime_attribute: Option<String>,
    /// Judge TTL expiry at this instant (seconds since the epoch); default now
    /// (a resumed run keeps the first run's instant).
    #[arg(long)]
    pub now: Option<i64>,
    /// Items over 400 KB or keys over DynamoDB's limits: skip them (reported) or fail.
    #[arg(long, value_enum, default_value_t = Oversize::Skip)]
    pub on_oversize: Oversize,
    /// Worker threads reading sstables (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl MappingArgs {
    pub fn config(&self) -> Result<MappingConfig, AppError> {
        let mut cfg = match &self.mapping {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?;
                MappingConfig::from_toml(&text)
                    .map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?
            }
            None => MappingConfig::default(),
        };
        if let Some(t) = &self.ttl_attribute {
            cfg.ttl_attribute = Some(t.clone());
        }
        if let Some(t) = &self.writetime_attribute {
            cfg.writetime_attribute = Some(t.clone());
        }
        Ok(cfg)
    }

    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1)
    }

    fn produce(&self, scan: ScanOptions, delete_tombstoned: bool) -> ProduceOptions {
        ProduceOptions {
            now: self.now.unwrap_or_else(now_secs),
            scan,
            delete_tombstoned,
            on_oversize: self.on_oversize,
            purge_before: None,
        }
    }
}

/// Where AWS is.
#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// Endpoint URL (e.g. a local DynamoDB or S3-compatible server).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: from the environment/profile, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::Usage(format!("tokio runtime: {e}")))
}

/// The tables of the opened sstables, as jobs.
pub(crate) fn jobs(opened: &[Opened]) -> Vec<TableJob<'_>> {
    group_tables(opened)
        .into_iter()
        .map(|g| {
            let mut schema = g[0].schema.clone();
            for o in &g[1..] {
                schema.merge_columns(&o.schema);
            }
            TableJob {
                ssts: g.iter().map(|o| &o.sst).collect(),
                schema,
            }
        })
        .collect()
}

fn mapper(job: &TableJob, cfg: &MappingConfig) -> Result<Mapper, AppError> {
    if job.schema.placeholder_keys {
        eprintln!(
            "warning: {}.{}: no schema names the key columns; attributes use placeholder names \
             (give --schema, or read the table from its data directory)",
            job.schema.keyspace, job.schema.table
        );
    }
    let m = Mapper::new(&job.schema, cfg.clone()).map_err(|e| {
        AppError::Usage(format!("{}.{}: {e}", job.schema.keyspace, job.schema.table))
    })?;
    for w in &m.warnings {
        eprintln!("warning: {}.{}: {w}", job.schema.keyspace, job.schema.table);
    }
    Ok(m)
}

fn write_summary(
    path: Option<&PathBuf>,
    v: &serde_json::Value,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    if let Some(p) = path {
        std::fs::write(p, text).map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

/// `export --format dynamodb-json`.
#[allow(clippy::too_many_arguments)]
pub fn export(
    opened: &[Opened],
    map: &MappingArgs,
    aws: &AwsArgs,
    scan: ScanOptions,
    out_arg: &str,
    compression: Compression,
    compression_level: Option<i32>,
    target_file_size: u64,
    summary: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let compression_level = compression.level(compression_level)?;
    let cfg = map.config()?;
    let base = Out::parse(out_arg)?;
    let rt;
    let s3 = match &base {
        Out::S3(_) => {
            rt = runtime()?;
            Some(S3::new(
                rt.handle().clone(),
                aws.endpoint_url.as_deref(),
                aws.region.as_deref(),
            ))
        }
        Out::Dir(_) => None,
    };
    let mut summaries = Vec::new();
    for job in jobs(opened) {
        let m = mapper(&job, &cfg)?;
        let dir = base.join(&format!("{}.{}", job.schema.keyspace, job.schema.table));
        let opts = ExportOptions {
            compression,
            compression_level,
            target_file_size,
            threads: map.threads(),
            produce: map.produce(scan, false),
            shuffle_window: 4096,
        };
        let s = export_table(&job, &m, &dir, &opts, s3.as_ref())?;
        summaries.push(serde_json::to_value(&s).map_err(std::io::Error::other)?);
    }
    write_summary(summary, &serde_json::Value::Array(summaries), out)
}

/// `to-dynamodb`.
#[allow(clippy::too_many_arguments)]
pub fn to_dynamodb(
    opened: &[Opened],
    map: &MappingArgs,
    aws: &AwsArgs,
    scan: ScanOptions,
    table: &str,
    create_table: bool,
    concurrency: usize,
    max_wcu: Option<f64>,
    conditional: bool,
    delete_tombstoned: bool,
    purge_before: Option<crate::app::PurgeBefore>,
    checkpoint: Option<String>,
    s3_endpoint: Option<&str>,
    max_attempts: u32,
    progress: bool,
    summary: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let mut cfg = map.config()?;
    if conditional && cfg.writetime_attribute.is_none() {
        cfg.writetime_attribute = Some("_writetime".into());
    }
    let jobs = jobs(opened);
    if jobs.len() != 1 {
        return Err(AppError::Usage(format!(
            "to-dynamodb loads one table at a time; the paths hold {} tables",
            jobs.len()
        )));
    }
    let job = &jobs[0];
    let m = mapper(job, &cfg)?;
    let rt = runtime()?;
    let c = client(&rt, aws.endpoint_url.as_deref(), aws.region.as_deref());
    rt.block_on(ensure_table(&c, table, &m.keys, create_table))?;
    let (checkpoint, remove) = match checkpoint {
        Some(c) => (Some(c), false),
        None => (
            Some(format!(".sstable-migrate-{table}.checkpoint.json")),
            true,
        ),
    };
    let checkpoint_s3 = checkpoint
        .as_deref()
        .filter(|c| c.starts_with("s3://"))
        .map(|_| S3::new(rt.handle().clone(), s3_endpoint, aws.region.as_deref()));
    let opts = LoadOptions {
        checkpoint_s3,
        table: table.into(),
        concurrency,
        threads: map.threads(),
        max_wcu,
        conditional,
        produce: ProduceOptions {
            purge_before,
            ..map.produce(scan, delete_tombstoned)
        },
        checkpoint,
        remove_checkpoint_when_done: remove,
        max_attempts,
        progress,
    };
    let s = load_table(&rt, c, job, &m, &opts)?;
    write_summary(
        summary,
        &serde_json::to_value(&s).map_err(std::io::Error::other)?,
        out,
    )
}

/// `verify-dynamodb`.
#[allow(clippy::too_many_arguments)]
pub fn verify_dynamodb(
    opened: &[Opened],
    map: &MappingArgs,
    aws: &AwsArgs,
    scan: ScanOptions,
    table: &str,
    segments: i32,
    conditional: bool,
    summary: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let mut cfg = map.config()?;
    if conditional && cfg.writetime_attribute.is_none() {
        cfg.writetime_attribute = Some("_writetime".into());
    }
    let jobs = jobs(opened);
    if jobs.len() != 1 {
        return Err(AppError::Usage(format!(
            "verify-dynamodb compares one table at a time; the paths hold {} tables",
            jobs.len()
        )));
    }
    let job = &jobs[0];
    let m = mapper(job, &cfg)?;
    let rt = runtime()?;
    let c = client(&rt, aws.endpoint_url.as_deref(), aws.region.as_deref());
    let r = verify_table(&rt, &c, table, job, &m, &map.produce(scan, false), segments)?;
    write_summary(
        summary,
        &serde_json::to_value(&r).map_err(std::io::Error::other)?,
        out,
    )?;
    if r.differences() > 0 {
        out.flush()?;
        return Err(AppError::Usage(format!(
            "{}: {} missing, {} extra, {} different item(s)",
            table, r.missing, r.extra, r.different
        )));
    }
    Ok(())
}

/// `import-table`: DynamoDB ImportTable from an export on S3.
pub fn import_table(
    aws: &AwsArgs,
    s3_endpoint: Option<&str>,
    from: &str,
    table: &str,
    wait: bool,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, InputCompressionType, InputFormat, KeySchemaElement,
        KeyType, S3BucketSource, ScalarAttributeType, TableCreationParameters,
    };
    let loc = S3Location::parse(from)?;
    let rt = runtime()?;
    let s3 = S3::new(
        rt.handle().clone(),
        s3_endpoint.or(aws.endpoint_url.as_deref()),
        aws.region.as_deref(),
    );
    let manifest_loc = loc.join("manifest.json");
    let manifest = s3.get_optional(&manifest_loc)?.ok_or_else(|| {
        AppError::Usage(format!(
            "{manifest_loc} not found: --from must name one table's export (…/<keyspace>.<table>)"
        ))
    })?;
    let m: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| AppError::Usage(format!("{manifest_loc}: {e}")))?;
    let st = |t: &str| match t {
        "N" => ScalarAttributeType::N,
        "B" => ScalarAttributeType::B,
        _ => ScalarAttributeType::S,
    };
    let mut params = TableCreationParameters::builder()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    let mut keys = vec![(m["partition_key"].clone(), KeyType::Hash)];
    if m["sort_key"].is_object() {
        keys.push((m["sort_key"].clone(), KeyType::Range));
    }
    let berr = |e: aws_sdk_dynamodb::error::BuildError| AppError::Usage(e.to_string());
    for (k, kt) in keys {
        let name = k["name"].as_str().unwrap_or("pk");
        params = params
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(st(k["type"].as_str().unwrap_or("S")))
                    .build()
                    .map_err(berr)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kt)
                    .build()
                    .map_err(berr)?,
            );
    }
    let compression = match m["compression"].as_str() {
        Some("GZIP") => InputCompressionType::Gzip,
        Some("ZSTD") => InputCompressionType::Zstd,
        _ => InputCompressionType::None,
    };
    let c = client(&rt, aws.endpoint_url.as_deref(), aws.region.as_deref());
    let prefix = if loc.key.is_empty() {
        "data/".to_string()
    } else {
        format!("{}/data/", loc.key)
    };
    let started = rt
        .block_on(
            c.import_table()
                .s3_bucket_source(
                    S3BucketSource::builder()
                        .s3_bucket(&loc.bucket)
                        .s3_key_prefix(&prefix)
                        .build()
                        .map_err(berr)?,
                )
                .input_format(InputFormat::DynamodbJson)
                .input_compression_type(compression)
                .table_creation_parameters(params.build().map_err(berr)?)
                .send(),
        )
        .map_err(|e| AppError::Usage(format!("ImportTable: {}", super::load::sdk_msg(&e))))?;
    let arn = started
        .import_table_description()
        .and_then(|d| d.import_arn())
        .unwrap_or_default()
        .to_string();
    let mut desc = started.import_table_description().cloned();
    if wait {
        for _ in 0..7200 {
            let status = desc
                .as_ref()
                .and_then(|d| d.import_status())
                .map(|s| s.as_str().to_string());
            if matches!(
                status.as_deref(),
                Some("COMPLETED" | "FAILED" | "CANCELLED")
            ) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            desc = rt
                .block_on(c.describe_import().import_arn(&arn).send())
                .map_err(|e| {
                    AppError::Usage(format!("DescribeImport: {}", super::load::sdk_msg(&e)))
                })?
                .import_table_description()
                .cloned();
        }
    }
    let d =
        desc.unwrap_or_else(|| aws_sdk_dynamodb::types::ImportTableDescription::builder().build());
    let status = d
        .import_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let report = serde_json::json!({
        "import_arn": arn,
        "table": table,
        "status": status,
        "expected_items": m["items"],
        "imported_items": d.imported_item_count(),
        "processed_items": d.processed_item_count(),
        "errors": d.error_count(),
        "failure": d.failure_message(),
    });
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?
    )?;
    if wait && status != "COMPLETED" {
        return Err(AppError::Usage(format!(
            "import into {table} ended {status}"
        )));
    }
    if wait && d.error_count() > 0 {
        return Err(AppError::Usage(format!(
            "import into {table}: {} item error(s)",
            d.error_count()
        )));
    }
    Ok(())
}
