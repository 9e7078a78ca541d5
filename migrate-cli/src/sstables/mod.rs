//! The Cassandra sstable target: big-format sstables (`nb` for 4.x, `oa`
//! for 5.0) that sstableloader or `nodetool import` accept, written from
//! any version we read.
//!
//! A table's sstables are merged with Cassandra's reconciliation rules (as a
//! compaction would), optionally purged of what can no longer matter, mapped
//! onto the target's columns, and streamed into sstables of a bounded size
//! under `OUT/<keyspace>/<table>/`. The output is built in a hidden sibling
//! folder and renamed into place when complete, so an interrupted run leaves
//! no half-written table behind and a re-run starts clean.

pub mod cli;
pub mod encode;
pub mod metadata;
pub mod writer;

use crate::dynamo::TableJob;
use encode::{column_layout, Layout};
use metadata::HeaderTypes;
use sstable_format::data::{DeletionTime, LivenessInfo};
use sstable_format::statistics::{EncodingStats, DELETION_TIME_EPOCH};
use sstable_format::{CqlType, Version};
use sstable_reader::merge::{
    supersedes, MergedUnfiltered, OwnedCell, OwnedColumn, OwnedMarker, OwnedRow,
};
use sstable_reader::range::TokenRange;
use sstable_reader::schema::Column;
use sstable_reader::table::merger_for_range;
use sstable_reader::{ReadError, ScanOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
pub use writer::{SstWriter, WriteError, WriterOptions, Written};

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TableWriteError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// How a table is written.
#[derive(Debug, Clone)]
pub struct TableWriteOptions {
    pub writer: WriterOptions,
    pub keyspace: String,
    pub table: String,
    /// Drop tombstones and expired cells older than `gc_grace` seconds.
    /// (Data shadowed by a deletion is always dropped, as every Cassandra
    /// writer does: readers take an sstable's data as not shadowed by its
    /// own tombstones.)
    pub purge: bool,
    pub now: i64,
    pub gc_grace: i64,
    /// Start a new sstable once Data.db (uncompressed) reaches this size.
    pub max_sstable_size: Option<u64>,
    pub range: TokenRange,
    pub scan: ScanOptions,
    /// Token-range units written in parallel (each its own sstables).
    pub units: u64,
}

/// What was written for one table.
#[derive(Debug, Clone, Default)]
pub struct TableWritten {
    pub dir: PathBuf,
    pub sstables: Vec<Written>,
    pub partitions: u64,
    pub rows: u64,
    pub markers: u64,
}

/// Where a source column goes in the output.
#[derive(Debug, Clone, Copy)]
enum Dest {
    Static(usize),
    Regular(usize),
    /// A compact table's value column of type `empty`: no column in the
    /// target; its cell only says the row exists.
    RowMarker,
    Skip,
}

/// The output table: header, layout and the mapping of source columns.
struct Plan {
    header: HeaderTypes,
    layout: Layout,
    statics: Vec<(Dest, Option<i64>)>,
    regulars: Vec<(Dest, Option<i64>)>,
    compact_static: bool,
    has_statics: bool,
    legacy_counter_shards: bool,
}

/// Does the type hold a vector (a 5.0 type)?
fn has_vector(t: &CqlType) -> bool {
    match t {
        CqlType::Vector { .. } => true,
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } | CqlType::Reversed(elem) => {
            has_vector(elem)
        }
        CqlType::Map { key, value, .. } => has_vector(key) || has_vector(value),
        CqlType::Tuple(ts) | CqlType::Composite(ts) => ts.iter().any(has_vector),
        CqlType::Udt(u) => u.fields.iter().any(|(_, t)| has_vector(t)),
        _ => false,
    }
}

/// Can the target format hold this table?
fn check_target(job: &TableJob, version: Version) -> Result<(), String> {
    if version >= Version::Oa {
        return Ok(());
    }
    let s = &job.schema;
    let all = s
        .partition_key
        .iter()
        .chain(&s.clustering)
        .chain(&s.statics)
        .chain(&s.regulars);
    for c in all.filter(|c| c.included) {
        if has_vector(&c.cql_type) {
            return Err(format!(
                "{}.{}: column `{}` is a vector, which needs Cassandra 5.0 (--version oa)",
                s.keyspace, s.table, c.name
            ));
        }
    }
    Ok(())
}

/// The type with its user types moved to keyspace `ks` (the target's).
fn in_keyspace(t: &CqlType, ks: &str) -> CqlType {
    let b = |t: &CqlType| Box::new(in_keyspace(t, ks));
    match t {
        CqlType::List { elem, frozen } => CqlType::List {
            elem: b(elem),
            frozen: *frozen,
        },
        CqlType::Set { elem, frozen } => CqlType::Set {
            elem: b(elem),
            frozen: *frozen,
        },
        CqlType::Map { key, value, frozen } => CqlType::Map {
            key: b(key),
            value: b(value),
            frozen: *frozen,
        },
        CqlType::Tuple(ts) => CqlType::Tuple(ts.iter().map(|t| in_keyspace(t, ks)).collect()),
        CqlType::Composite(ts) => {
            CqlType::Composite(ts.iter().map(|t| in_keyspace(t, ks)).collect())
        }
        CqlType::Reversed(t) => CqlType::Reversed(b(t)),
        CqlType::Vector { elem, dimension } => CqlType::Vector {
            elem: b(elem),
            dimension: *dimension,
        },
        CqlType::Udt(u) => {
            let mut u = (**u).clone();
            u.keyspace = ks.to_string();
            u.fields = u
                .fields
                .iter()
                .map(|(n, t)| (n.clone(), in_keyspace(t, ks)))
                .collect();
            CqlType::Udt(Box::new(u))
        }
        t => t.clone(),
    }
}

fn plan(job: &TableJob, version: Version, keyspace: &str) -> Plan {
    let s = &job.schema;
    let mut out_statics: Vec<&Column> = Vec::new();
    let mut out_regulars: Vec<&Column> = Vec::new();
    let mut statics = Vec::new();
    let mut regulars = Vec::new();
    let keep = |c: &Column| c.included && !matches!(c.cql_type, CqlType::Empty);
    for c in &s.statics {
        let d = if !keep(c) {
            Dest::Skip
        } else if s.compact_static {
            out_regulars.push(c);
            Dest::Regular(out_regulars.len() - 1)
        } else {
            out_statics.push(c);
            Dest::Static(out_statics.len() - 1)
        };
        statics.push((d, c.dropped_at));
    }
    for c in &s.regulars {
        let d = if s.compact_static {
            Dest::Skip
        } else if c.included && matches!(c.cql_type, CqlType::Empty) {
            Dest::RowMarker
        } else if !keep(c) {
            Dest::Skip
        } else {
            out_regulars.push(c);
            Dest::Regular(out_regulars.len() - 1)
        };
        regulars.push((d, c.dropped_at));
    }
    let key_types: Vec<CqlType> = s.partition_key.iter().map(|c| c.cql_type.clone()).collect();
    let key_type = if key_types.len() == 1 {
        in_keyspace(&key_types[0], keyspace).marshal_name()
    } else {
        in_keyspace(&CqlType::Composite(key_types), keyspace).marshal_name()
    };
    let clustering: Vec<CqlType> = s
        .visible_clustering()
        .iter()
        .map(|c| c.cql_type.clone())
        .collect();
    let header = HeaderTypes {
        key_type,
        clustering_types: clustering
            .iter()
            .map(|t| in_keyspace(t, keyspace).marshal_name())
            .collect(),
        statics: out_statics
            .iter()
            .map(|c| {
                let t = in_keyspace(&c.cql_type, keyspace);
                (c.name.as_bytes().to_vec(), t.marshal_name())
            })
            .collect(),
        regulars: out_regulars
            .iter()
            .map(|c| {
                let t = in_keyspace(&c.cql_type, keyspace);
                (c.name.as_bytes().to_vec(), t.marshal_name())
            })
            .collect(),
    };
    let layout = Layout {
        version,
        stats: encoding_stats(job),
        clustering_types: clustering,
        statics: out_statics
            .iter()
            .map(|c| column_layout(&c.cql_type))
            .collect(),
        regulars: out_regulars
            .iter()
            .map(|c| column_layout(&c.cql_type))
            .collect(),
    };
    Plan {
        header,
        layout,
        statics,
        regulars,
        compact_static: s.compact_static,
        has_statics: !out_statics.is_empty(),
        legacy_counter_shards: job.ssts.iter().any(|t| {
            t.statistics
                .stats
                .as_ref()
                .is_some_and(|st| st.has_legacy_counter_shards)
        }),
    }
}

/// Delta bases no value of the input goes below: the inputs' own minima
/// (every value written comes from an input). 2.x sstables record no
/// minimum deletion time or TTL, so 0 serves.
fn encoding_stats(job: &TableJob) -> EncodingStats {
    let mut ts = i64::MAX;
    let mut ldt = i64::MAX;
    let mut ttl = i32::MAX;
    for sst in &job.ssts {
        let st = sst.statistics.stats.as_ref();
        ts = ts.min(st.map_or(i64::MIN, |s| s.min_timestamp));
        if sst.version().stores_rows() {
            let h = sst.header.stats;
            ldt = ldt.min(h.min_local_deletion_time);
            ttl = ttl.min(h.min_ttl);
            if let Some(s) = st {
                ldt = ldt.min(s.min_local_deletion_time);
                ttl = ttl.min(s.min_ttl);
            }
        } else {
            ldt = 0;
            ttl = 0;
        }
    }
    if ts == i64::MAX {
        ts = sstable_format::statistics::TIMESTAMP_EPOCH;
    }
    if ldt == i64::MAX || ldt > u32::MAX as i64 {
        ldt = DELETION_TIME_EPOCH as i64;
    }
    EncodingStats {
        min_timestamp: ts,
        min_local_deletion_time: ldt.max(0),
        min_ttl: ttl.clamp(0, i32::MAX),
    }
}

fn newer(a: DeletionTime, b: DeletionTime) -> DeletionTime {
    if supersedes(b, a) {
        b
    } else {
        a
    }
}

/// Applies purging and the column mapping to merged rows.
struct Shaper<'p> {
    plan: &'p Plan,
    purge: bool,
    now: i64,
    gc_before: i64,
}

impl Shaper<'_> {
    fn purgeable(&self, ldt: i64) -> bool {
        self.purge && ldt < self.gc_before
    }

    /// The deletion as written: none if purgeable.
    fn kept(&self, d: DeletionTime) -> DeletionTime {
        if d.is_live() || self.purgeable(d.local_deletion_time) {
            DeletionTime::LIVE
        } else {
            d
        }
    }

    /// Keep this cell (not shadowed, not purgeable)? Shadowed data always
    /// goes: Cassandra's readers expect none in an sstable (a memtable flush
    /// or a compaction never writes any), so they would show it.
    fn keep_cell(&self, c: &OwnedCell, shadow: DeletionTime, dropped_at: Option<i64>) -> bool {
        if dropped_at.is_some_and(|d| c.timestamp <= d) {
            return false;
        }
        if shadow.deletes(c.timestamp) {
            return false;
        }
        let dead = c.is_tombstone || (c.is_expiring && self.now >= c.local_deletion_time);
        !(dead && self.purgeable(c.local_deletion_time))
    }

    /// Shape a merged row for the output; `None` if nothing of it remains.
    /// `shadow` is the deletion covering it (partition and range).
    fn row(&self, mut r: OwnedRow, shadow: DeletionTime) -> Option<OwnedRow> {
        let source_static = r.is_static;
        let map = if source_static {
            &self.plan.statics
        } else {
            &self.plan.regulars
        };
        if self.plan.compact_static {
            if !source_static {
                return None;
            }
            r.is_static = false;
            r.clustering = Vec::new();
        }
        let mut deletion = r.deletion;
        let mut row_shadow = shadow;
        if supersedes(deletion, shadow) {
            row_shadow = deletion;
            deletion = self.kept(deletion);
        } else {
            deletion = DeletionTime::LIVE;
        }
        let mut liveness = r.liveness;
        if let Some(ts) = liveness.timestamp {
            let expired = liveness.ttl != 0 && self.now >= liveness.local_expiration_time;
            if row_shadow.deletes(ts) || (expired && self.purgeable(liveness.local_expiration_time))
            {
                liveness = LivenessInfo::EMPTY;
            }
        }
        let mut columns = Vec::with_capacity(r.columns.len());
        for c in std::mem::take(&mut r.columns) {
            let Some(&(dest, dropped_at)) = map.get(c.column()) else {
                continue;
            };
            let idx = match dest {
                Dest::Static(i) | Dest::Regular(i) => i,
                Dest::RowMarker => {
                    // The row exists because of this cell: make that its liveness.
                    if let OwnedColumn::Simple { cell, .. } = &c {
                        if liveness.timestamp.is_none()
                            && !cell.is_tombstone
                            && self.keep_cell(cell, row_shadow, dropped_at)
                        {
                            liveness = LivenessInfo {
                                timestamp: Some(cell.timestamp),
                                ttl: if cell.is_expiring { cell.ttl } else { 0 },
                                local_expiration_time: if cell.is_expiring {
                                    cell.local_deletion_time
                                } else {
                                    sstable_format::data::NO_DELETION_TIME
                                },
                            };
                        }
                    }
                    continue;
                }
                Dest::Skip => continue,
            };
            match c {
                OwnedColumn::Simple { cell, .. } => {
                    if self.keep_cell(&cell, row_shadow, dropped_at) {
                        columns.push(OwnedColumn::Simple { column: idx, cell });
                    }
                }
                OwnedColumn::Complex {
                    deletion: cd,
                    cells,
                    ..
                } => {
                    let (cd, cell_shadow) = if supersedes(cd, row_shadow) {
                        (self.kept(cd), cd)
                    } else {
                        (DeletionTime::LIVE, row_shadow)
                    };
                    let cells: Vec<OwnedCell> = cells
                        .into_iter()
                        .filter(|x| self.keep_cell(x, cell_shadow, dropped_at))
                        .collect();
                    if !cells.is_empty() || !cd.is_live() {
                        columns.push(OwnedColumn::Complex {
                            column: idx,
                            deletion: cd,
                            cells,
                        });
                    }
                }
            }
        }
        columns.sort_by_key(|c| c.column());
        if liveness.timestamp.is_none() && deletion.is_live() && columns.is_empty() {
            return None;
        }
        Some(OwnedRow {
            is_static: r.is_static,
            clustering: r.clustering,
            liveness,
            deletion,
            columns,
        })
    }
}

/// A partition held in memory to be written in the target's token order.
struct Buffered {
    token: sstable_format::Token,
    key: Vec<u8>,
    deletion: DeletionTime,
    statics: Option<OwnedRow>,
    items: Vec<MergedUnfiltered>,
}

fn row_bytes(r: &OwnedRow) -> usize {
    let cell = |c: &OwnedCell| 48 + c.value.len() + c.path.as_ref().map_or(0, Vec::len);
    96 + r
        .clustering
        .iter()
        .map(|v| 24 + v.as_ref().map_or(0, Vec::len))
        .sum::<usize>()
        + r.columns
            .iter()
            .map(|c| match c {
                OwnedColumn::Simple { cell: c, .. } => cell(c),
                OwnedColumn::Complex { cells, .. } => 48 + cells.iter().map(cell).sum::<usize>(),
            })
            .sum::<usize>()
}

/// Where shaped partitions go: straight into sstables when the input is in
/// the target partitioner's token order, else through a sort buffer, each
/// buffer-full sorted by the target's tokens and written as sstables of its
/// own (overlapping sstables, which Cassandra reads merged).
struct Output<'a> {
    dir: &'a Path,
    opts: &'a TableWriteOptions,
    plan: &'a Plan,
    generations: &'a AtomicU64,
    expected_keys: u64,
    current: Option<SstWriter>,
    done: Vec<Written>,
    /// The target partitioner, when it is not the input's.
    repartition: Option<sstable_format::Partitioner>,
    buffer: Vec<Buffered>,
    buffered_bytes: usize,
}

/// Memory for re-partitioning (partitions held before a sorted run is written).
const SORT_BUFFER: usize = 256 << 20;

impl Output<'_> {
    fn start_partition(
        &mut self,
        key: &[u8],
        deletion: DeletionTime,
        statics: Option<OwnedRow>,
    ) -> Result<(), WriteError> {
        match self.repartition {
            None => self
                .writer()?
                .start_partition(key, deletion, statics.as_ref()),
            Some(p) => {
                self.buffered_bytes += 64 + key.len() + statics.as_ref().map_or(0, row_bytes);
                self.buffer.push(Buffered {
                    token: p.token(key),
                    key: key.to_vec(),
                    deletion,
                    statics,
                    items: Vec::new(),
                });
                Ok(())
            }
        }
    }

    fn item(&mut self, u: MergedUnfiltered) -> Result<(), WriteError> {
        if self.repartition.is_none() {
            return match &u {
                MergedUnfiltered::Row(r) => self.writer()?.row(r),
                MergedUnfiltered::Marker(m) => self.writer()?.marker(m),
            };
        }
        self.buffered_bytes += match &u {
            MergedUnfiltered::Row(r) => row_bytes(r),
            MergedUnfiltered::Marker(m) => {
                96 + m.clustering.iter().flatten().map(Vec::len).sum::<usize>()
            }
        };
        if let Some(b) = self.buffer.last_mut() {
            b.items.push(u);
        }
        Ok(())
    }

    fn end_partition(&mut self) -> Result<(), WriteError> {
        if self.repartition.is_none() {
            self.writer()?.end_partition()?;
            return self.partition_done();
        }
        if self.buffered_bytes >= SORT_BUFFER {
            self.flush_sorted()?;
        }
        Ok(())
    }

    /// Write the buffered partitions in token order, as sstables of their own.
    fn flush_sorted(&mut self) -> Result<(), WriteError> {
        let mut parts = std::mem::take(&mut self.buffer);
        self.buffered_bytes = 0;
        parts.sort_by(|a, b| a.token.cmp(&b.token).then_with(|| a.key.cmp(&b.key)));
        for b in parts {
            let w = self.writer()?;
            w.start_partition(&b.key, b.deletion, b.statics.as_ref())?;
            for u in &b.items {
                match u {
                    MergedUnfiltered::Row(r) => w.row(r)?,
                    MergedUnfiltered::Marker(m) => w.marker(m)?,
                }
            }
            w.end_partition()?;
            self.partition_done()?;
        }
        self.close()
    }

    fn writer(&mut self) -> Result<&mut SstWriter, WriteError> {
        if self.current.is_none() {
            let generation = self.generations.fetch_add(1, Ordering::SeqCst);
            self.current = Some(SstWriter::create(
                self.dir,
                generation,
                self.opts.writer.clone(),
                self.plan.layout.clone(),
                self.plan.header.clone(),
                self.expected_keys,
            )?);
            if let Some(w) = self.current.as_mut() {
                w.set_legacy_counter_shards(self.plan.legacy_counter_shards);
            }
        }
        Ok(self.current.as_mut().expect("just created"))
    }

    fn partition_done(&mut self) -> Result<(), WriteError> {
        let full = match (self.opts.max_sstable_size, &self.current) {
            (Some(max), Some(w)) => w.data_position() >= max,
            _ => false,
        };
        if full {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), WriteError> {
        if !self.buffer.is_empty() {
            return self.flush_sorted();
        }
        if let Some(w) = self.current.take() {
            self.done.push(w.finish(&self.plan.layout.stats)?);
        }
        Ok(())
    }
}

/// Write one token range of a table. Returns (partitions, rows, markers).
fn write_unit(
    job: &TableJob,
    plan: &Plan,
    range: &TokenRange,
    opts: &TableWriteOptions,
    out: &mut Output,
) -> Result<(u64, u64, u64), TableWriteError> {
    let Some(first) = job.ssts.first() else {
        return Ok((0, 0, 0));
    };
    let partitioner = first.partitioner;
    let mut m = merger_for_range(&job.ssts, &job.schema, range, opts.scan)?;
    m.set_now(opts.now);
    let shaper = Shaper {
        plan,
        purge: opts.purge,
        now: opts.now,
        gc_before: opts.now.saturating_sub(opts.gc_grace),
    };
    let (mut partitions, mut rows, mut markers) = (0u64, 0u64, 0u64);
    while let Some(p) = m.next_partition(partitioner)? {
        if !range.contains(&p.token) {
            if matches!(&range.end, Some(e) if p.token > *e) {
                break;
            }
            continue;
        }
        if p.key.len() > u16::MAX as usize {
            return Err(WriteError::Encode(encode::EncodeError(format!(
                "a partition key of {} bytes (at most 65535)",
                p.key.len()
            )))
            .into());
        }
        let pdel = p.deletion;
        let written_pdel = if opts.purge { shaper.kept(pdel) } else { pdel };
        let mut statics: Option<OwnedRow> = None;
        let mut started = false;
        let mut open_true = DeletionTime::LIVE;
        let mut open_written = DeletionTime::LIVE;
        let start = |out: &mut Output,
                     statics: &mut Option<OwnedRow>,
                     started: &mut bool|
         -> Result<(), WriteError> {
            if !*started {
                *started = true;
                out.start_partition(&p.key, written_pdel, statics.take())?;
            }
            Ok(())
        };
        while let Some(u) = m.next_unfiltered()? {
            match u {
                MergedUnfiltered::Marker(mk) => {
                    if plan.compact_static {
                        continue;
                    }
                    open_true = mk.open_deletion().unwrap_or(DeletionTime::LIVE);
                    let next = if opts.purge {
                        shaper.kept(open_true)
                    } else {
                        open_true
                    };
                    let emit = if opts.purge {
                        OwnedMarker::transition(mk.kind, &mk.clustering, open_written, next)
                    } else {
                        Some(mk)
                    };
                    open_written = next;
                    if let Some(mk) = emit {
                        start(out, &mut statics, &mut started)?;
                        out.item(MergedUnfiltered::Marker(mk))?;
                        markers += 1;
                    }
                }
                MergedUnfiltered::Row(r) => {
                    let is_static = r.is_static;
                    let shadow = if is_static {
                        pdel
                    } else {
                        newer(pdel, open_true)
                    };
                    let Some(r) = shaper.row(r, shadow) else {
                        continue;
                    };
                    if r.is_static {
                        if plan.has_statics {
                            statics = Some(r);
                        }
                        continue;
                    }
                    start(out, &mut statics, &mut started)?;
                    out.item(MergedUnfiltered::Row(r))?;
                    rows += 1;
                }
            }
        }
        if !started && (statics.is_some() || !written_pdel.is_live()) {
            start(out, &mut statics, &mut started)?;
        }
        if started {
            out.end_partition()?;
            partitions += 1;
        }
    }
    Ok((partitions, rows, markers))
}

/// An estimate of the partitions in the input (for bloom filter sizing).
fn estimated_keys(job: &TableJob) -> u64 {
    job.ssts
        .iter()
        .map(|s| {
            s.statistics
                .stats
                .as_ref()
                .map_or(0, |st| st.estimated_partition_size.count().max(0) as u64)
        })
        .sum::<u64>()
        .max(1)
}

/// Write a table's sstables into `root/<keyspace>/<table>/`, replacing what
/// a previous run left there.
pub fn write_table(
    job: &TableJob,
    root: &Path,
    opts: &TableWriteOptions,
) -> Result<TableWritten, TableWriteError> {
    check_target(job, opts.writer.version)
        .map_err(|m| TableWriteError::Write(WriteError::Encode(encode::EncodeError(m))))?;
    let final_dir = root.join(&opts.keyspace).join(&opts.table);
    let parent = root.join(&opts.keyspace);
    let tmp = parent.join(format!(".{}.partial", opts.table));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| {
            TableWriteError::Write(WriteError::Io {
                path: p.clone(),
                source,
            })
        }
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let plan = plan(job, opts.writer.version, &opts.keyspace);
    let generations = AtomicU64::new(1);
    let source = job.ssts.first().map(|s| s.partitioner);
    let target =
        sstable_format::Partitioner::from_class(&opts.writer.partitioner).map_err(|e| {
            TableWriteError::Write(WriteError::Encode(encode::EncodeError(e.to_string())))
        })?;
    let repartition = (source.is_some_and(|s| s != target)).then_some(target);
    let total = estimated_keys(job);
    let units = if opts.units > 1 && opts.range == TokenRange::ALL {
        job.units(opts.units)
    } else {
        vec![opts.range.clone()]
    };
    let per_sstable = |n_units: u64| -> u64 {
        let share = total.div_ceil(n_units.max(1));
        match opts.max_sstable_size {
            Some(max) => {
                let bytes = job.data_bytes().max(1);
                let est = (total as u128 * max as u128 / bytes as u128) as u64;
                share.min(est.saturating_mul(2).max(1024))
            }
            None => share,
        }
    };
    let expected = per_sstable(units.len() as u64);
    type UnitResult = Result<(Vec<Written>, u64, u64, u64), TableWriteError>;
    let results: Vec<UnitResult> = {
        use rayon::prelude::*;
        units
            .par_iter()
            .map(|range| {
                let mut out = Output {
                    dir: &tmp,
                    opts,
                    plan: &plan,
                    generations: &generations,
                    expected_keys: expected,
                    current: None,
                    done: Vec::new(),
                    repartition,
                    buffer: Vec::new(),
                    buffered_bytes: 0,
                };
                let (p, r, mk) = write_unit(job, &plan, range, opts, &mut out)?;
                out.close()?;
                Ok((out.done, p, r, mk))
            })
            .collect()
    };
    let mut written = TableWritten {
        dir: final_dir.clone(),
        ..Default::default()
    };
    for r in results {
        let (w, p, rows, mk) = r?;
        written.sstables.extend(w);
        written.partitions += p;
        written.rows += rows;
        written.markers += mk;
    }
    written
        .sstables
        .sort_by(|a, b| a.data.file_name().cmp(&b.data.file_name()));
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
    for s in &mut written.sstables {
        if let Some(name) = s.data.file_name() {
            s.data = final_dir.join(name);
        }
    }
    Ok(written)
}
