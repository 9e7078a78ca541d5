//! Cassandra → DynamoDB: item mapping, DynamoDB-JSON exports for
//! ImportTable, live loading with BatchWriteItem, checkpoints and
//! verification.
//!
//! Every job splits a table's token ring into *units* (token ranges). A
//! unit's items come out of the merged, reconciled table in a
//! deterministic order, so a checkpoint only needs to record, per unit,
//! whether it is done (exports) or how many of its operations are
//! acknowledged (live loads).

pub mod attr;
pub mod checkpoint;
pub mod cli;
pub mod export;
pub mod load;
pub mod mapping;
pub mod s3;
pub mod sortkey;
#[cfg(test)]
mod testgen;
pub mod verify;
mod zstd_json;

use crate::app::AppError;
use attr::Item;
use mapping::{MapError, Mapper, StaticMode};
use sstable_reader::range::TokenRange;
use sstable_reader::table::{scan_table, TableEvent, TableScanOptions};
use sstable_reader::{ReadError, SSTable, ScanOptions, TableSchema};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One table: its sstables and the union of their schemas.
pub struct TableJob<'a> {
    pub ssts: Vec<&'a SSTable>,
    pub schema: TableSchema,
}

impl TableJob<'_> {
    /// Uncompressed bytes of Data.db over all sstables.
    pub fn data_bytes(&self) -> u64 {
        self.ssts.iter().map(|s| s.data_length()).sum()
    }

    /// Split the ring into `n` units (one unit if the partitioner has no
    /// even split).
    pub fn units(&self, n: u64) -> Vec<TokenRange> {
        let Some(first) = self.ssts.first() else {
            return vec![TokenRange::ALL];
        };
        let p = first.partitioner;
        let n = n.max(1);
        match (0..n)
            .map(|i| TokenRange::shard(i, n, p))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(v) => v,
            Err(_) => vec![TokenRange::ALL],
        }
    }

    /// A stable description of the input, for checkpoints: the sstables'
    /// paths and sizes.
    pub fn fingerprint(&self, extra: &str) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let mut files: Vec<String> = self
            .ssts
            .iter()
            .map(|s| {
                let p = s.data_path();
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                format!(
                    "{}.{}/{}:{}",
                    self.schema.keyspace,
                    self.schema.table,
                    name,
                    s.data_length()
                )
            })
            .collect();
        files.sort();
        for f in files {
            h.update(f.as_bytes());
            h.update(b"\n");
        }
        h.update(extra.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a unit produces, in order.
#[derive(Debug, Clone)]
pub enum Op {
    /// Write this item.
    Put(Item),
    /// Delete the item with this key (its newest source state is a
    /// deletion at the given time, µs).
    Delete(Item, Option<i64>),
    /// Delete every item of this partition-key value written before this
    /// time (µs): a partition deletion.
    DeletePartition(attr::Attr, i64),
}

/// Options for producing items.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub now: i64,
    pub scan: ScanOptions,
    pub delete_tombstoned: bool,
    pub on_oversize: Oversize,
    /// Purge tombstones older than this (no deletes sent for them).
    pub purge_before: Option<crate::app::PurgeBefore>,
}

/// What to do with items beyond DynamoDB's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Oversize {
    /// Report the key and skip the item.
    Skip,
    /// Fail the run.
    Fail,
}

/// Counters shared by a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub rows: AtomicU64,
    pub items: AtomicU64,
    pub deletes: AtomicU64,
    pub oversize: AtomicU64,
    pub bytes: AtomicU64,
    /// Keys of the first skipped items.
    pub oversize_keys: Mutex<Vec<String>>,
}

impl Counters {
    pub fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Produce the operations of one unit, in order, calling `sink` for each.
pub fn produce_unit(
    job: &TableJob,
    mapper: &Mapper,
    range: &TokenRange,
    opts: &ProduceOptions,
    counters: &Counters,
    mut sink: impl FnMut(Op) -> Result<(), AppError>,
) -> Result<(), AppError> {
    produce(job, mapper, range, opts, counters, None, |e, _| match e {
        Emit::Op(op) => sink(op),
        Emit::Json => Ok(()),
    })
}

/// What `produce_unit_json` hands on.
pub enum Emit {
    Op(Op),
    /// The DynamoDB JSON map of a live row's item (what `Op::Put` of the
    /// item would carry, as `attr::write_map_json` writes it) has been
    /// appended to the line buffer.
    Json,
}

/// As `produce_unit`, with live rows' items as DynamoDB JSON text written
/// straight from the rows (no `Item` built), for exports: each is appended
/// to `buf` (after what the caller left there), then `sink` gets
/// [`Emit::Json`] and the buffer, to keep or clear as it likes; other
/// operations come with the buffer too. Items beyond DynamoDB's limits are
/// handled as `produce_unit` handles them.
pub fn produce_unit_json(
    job: &TableJob,
    mapper: &Mapper,
    range: &TokenRange,
    opts: &ProduceOptions,
    counters: &Counters,
    buf: &mut String,
    sink: impl FnMut(Emit, &mut String) -> Result<(), AppError>,
) -> Result<(), AppError> {
    produce(job, mapper, range, opts, counters, Some(buf), sink)
}

fn produce(
    job: &TableJob,
    mapper: &Mapper,
    range: &TokenRange,
    opts: &ProduceOptions,
    counters: &Counters,
    json_buf: Option<&mut String>,
    mut sink: impl FnMut(Emit, &mut String) -> Result<(), AppError>,
) -> Result<(), AppError> {
    // Rows' JSON is written when there is a buffer to write it to.
    let mut unused = String::new();
    let json = json_buf.is_some();
    let buf = json_buf.unwrap_or(&mut unused);
    let sopts = TableScanOptions {
        range: range.clone(),
        now: opts.now,
        scan: opts.scan,
        cell_deletions: false,
        purge_before: opts
            .purge_before
            .map(|p| p.gc_before(&job.schema, opts.now)),
    };
    let path = job
        .ssts
        .first()
        .map(|s| s.data_path().to_path_buf())
        .unwrap_or_default();
    let map_err = |e: MapError| ReadError::other(&path, e.to_string());
    let mut sink_err: Option<AppError> = None;
    let mut emit = |e: Emit,
                    buf: &mut String,
                    sink_err: &mut Option<AppError>|
     -> sstable_reader::Result<()> {
        if let Err(e) = sink(e, buf) {
            *sink_err = Some(e);
            return Err(ReadError::Schema("stopped".into()));
        }
        Ok(())
    };
    let check =
        |item: Item, sink_err: &mut Option<AppError>| -> sstable_reader::Result<Option<Item>> {
            match mapper.check_limits(&item) {
                Ok(()) => Ok(Some(item)),
                Err(why) => {
                    let key = key_text(&item, mapper);
                    if opts.on_oversize == Oversize::Fail {
                        *sink_err = Some(AppError::Usage(format!(
                            "{key}: {why} (--on-oversize fail)"
                        )));
                        return Err(ReadError::Schema("stopped".into()));
                    }
                    counters.add(&counters.oversize, 1);
                    if let Ok(mut k) = counters.oversize_keys.lock() {
                        if k.len() < 20 {
                            k.push(format!("{key}: {why}"));
                        }
                    }
                    Ok(None)
                }
            }
        };
    let r = scan_table(&job.ssts, &job.schema, &sopts, |ev| {
        match ev {
            TableEvent::Partition(p) => {
                if opts.delete_tombstoned && !p.deletion.is_live() {
                    let pk = mapper.partition_attr(p).map_err(map_err)?;
                    emit(
                        Emit::Op(Op::DeletePartition(pk, p.deletion.marked_for_delete_at)),
                        buf,
                        &mut sink_err,
                    )?;
                }
            }
            TableEvent::Statics(p, statics) => {
                if mapper.cfg.static_columns == StaticMode::Item {
                    let item = mapper.static_item(p, statics).map_err(map_err)?;
                    if let Some(item) = check(item, &mut sink_err)? {
                        emit(Emit::Op(Op::Put(item)), buf, &mut sink_err)?;
                    }
                }
            }
            TableEvent::Row(r) => {
                counters.add(&counters.rows, 1);
                if r.clustering.is_none()
                    && mapper.cfg.static_columns == StaticMode::Item
                    && mapper.keys.sort.is_some()
                {
                    // Already written as the static item.
                    return Ok(());
                }
                if json && mapper.write_row_json(&r, buf).map_err(map_err)? {
                    return emit(Emit::Json, buf, &mut sink_err);
                }
                let item = mapper.row_item(&r).map_err(map_err)?;
                if let Some(item) = check(item, &mut sink_err)? {
                    emit(Emit::Op(Op::Put(item)), buf, &mut sink_err)?;
                }
            }
            TableEvent::DeadRow {
                partition,
                clustering,
                deleted_at,
            } => {
                if opts.delete_tombstoned {
                    let c = if mapper.keys.sort.is_some() {
                        Some(clustering)
                    } else {
                        None
                    };
                    let key = mapper.key(partition, c).map_err(map_err)?;
                    emit(Emit::Op(Op::Delete(key, deleted_at)), buf, &mut sink_err)?;
                }
            }
            // Rows the source still holds inside a range deletion come as
            // DeadRow; items of rows the source no longer holds are not known.
            TableEvent::RangeDeletion { .. } | TableEvent::CellDeletions { .. } => {}
        }
        Ok(())
    });
    if let Some(e) = sink_err {
        return Err(e);
    }
    r?;
    Ok(())
}

/// Human-readable key of an item (for reports).
pub fn key_text(item: &Item, mapper: &Mapper) -> String {
    let mut parts = Vec::new();
    for (name, a) in item {
        if *name == mapper.keys.partition.0
            || mapper.keys.sort.as_ref().is_some_and(|s| s.0 == *name)
        {
            let mut s = String::new();
            a.write_json(&mut s);
            parts.push(format!("{name}={s}"));
        }
    }
    parts.join(" ")
}

/// A small deterministic PRNG (xorshift64*), for shuffling.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::open_all;
    use crate::dynamo::cli::jobs;
    use mapping::{MappingConfig, TimestampFormat, TypeOverride};
    use std::path::{Path, PathBuf};

    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with("-Data.db") {
                out.push(p);
            }
        }
    }

    /// The items' DynamoDB JSON, by `produce_unit` (items built, then
    /// written) and by `produce_unit_json` (written straight from rows);
    /// or the error both give.
    type Texts = Result<Vec<String>, String>;
    fn both_ways(job: &TableJob, mapper: &Mapper) -> (Texts, Texts) {
        let opts = ProduceOptions {
            now: 1_700_000_000,
            scan: ScanOptions::default(),
            delete_tombstoned: true,
            on_oversize: Oversize::Skip,
            purge_before: None,
        };
        let counters = Counters::default();
        let mut built = Vec::new();
        let built = produce_unit(job, mapper, &TokenRange::ALL, &opts, &counters, |op| {
            if let Op::Put(item) = op {
                let mut s = String::new();
                attr::write_map_json(&item, &mut s);
                built.push(s);
            }
            Ok(())
        })
        .map(|()| built)
        .map_err(|e| e.to_string());
        let mut direct = Vec::new();
        let mut buf = String::new();
        let direct = produce_unit_json(
            job,
            mapper,
            &TokenRange::ALL,
            &opts,
            &counters,
            &mut buf,
            |e, buf| {
                match e {
                    Emit::Json => direct.push(std::mem::take(buf)),
                    Emit::Op(Op::Put(item)) => {
                        let mut s = String::new();
                        attr::write_map_json(&item, &mut s);
                        direct.push(s);
                    }
                    Emit::Op(_) => {}
                }
                Ok(())
            },
        )
        .map(|()| direct)
        .map_err(|e| e.to_string());
        (built, direct)
    }

    /// Exports write items straight from rows as JSON: on every table of
    /// the corpus (every version and type, legacy ones with their DDL),
    /// under mappings that take each path (native keys, statics as items,
    /// TTL and writetime attributes, epoch timestamps, overrides,
    /// exclusions), the text equals the built items' JSON.
    #[test]
    fn items_written_straight_as_json_equal_the_built_items() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut data = Vec::new();
        walk(&root.join("../../shared/corpus"), &mut data);
        walk(&root.join("../fixtures"), &mut data);
        data.sort();
        let ddls: Vec<_> = std::fs::read_dir(root.join("../fixtures/schemas"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                sstable_reader::ddl::parse_schema(&text).ok()
            })
            .collect();
        let (mut tables, mut items, mut failed) = (0, 0, 0);
        for p in data {
            if p.to_string_lossy().contains("integrity_check") {
                continue;
            }
            let path = [p.clone()];
            // Legacy tables read only with their DDL.
            let readable = |opened: &Vec<crate::app::Opened>| {
                jobs(opened).iter().all(|job| {
                    Mapper::new(&job.schema, MappingConfig::default())
                        .is_ok_and(|m| both_ways(job, &m).0.is_ok())
                })
            };
            let Some(opened) = std::iter::once(None)
                .chain(ddls.iter().map(Some))
                .filter_map(|ddl| open_all(&path, ddl).ok())
                .find(readable)
            else {
                eprintln!("unreadable: {}", p.display());
                continue;
            };
            for job in jobs(&opened) {
                let s = &job.schema;
                let regulars: Vec<String> = s.regulars.iter().map(|c| c.name.clone()).collect();
                let mut configs = vec![MappingConfig::default()];
                configs.push(MappingConfig {
                    native_keys: true,
                    static_columns: StaticMode::Item,
                    ttl_attribute: Some("expires".into()),
                    writetime_attribute: Some("written".into()),
                    timestamp_format: TimestampFormat::EpochMillis,
                    ..MappingConfig::default()
                });
                if let Some((first, rest)) = regulars.split_first() {
                    configs.push(MappingConfig {
                        exclude: vec![first.clone()],
                        types: rest.iter().map(|c| (c.clone(), TypeOverride::S)).collect(),
                        ..MappingConfig::default()
                    });
                }
                for cfg in configs {
                    // Columns named like the key attributes are renamed;
                    // a mapping the table cannot take is not a case here.
                    let Ok(mapper) = Mapper::new(s, cfg) else {
                        continue;
                    };
                    let (built, direct) = both_ways(&job, &mapper);
                    assert_eq!(built, direct, "{} under {:?}", p.display(), mapper.cfg);
                    match built {
                        Ok(b) => items += b.len(),
                        Err(_) => failed += 1,
                    }
                }
                tables += 1;
            }
        }
        eprintln!("{tables} tables, {items} items, {failed} mappings that fail both ways");
        assert!(tables >= 150, "only {tables} tables");
        assert!(failed * 10 < tables, "{failed} of {tables} tables fail");
        assert!(items >= 1000, "only {items} items");
    }
}
