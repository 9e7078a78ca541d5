//! `to-cql`: load a table into Cassandra over the native protocol, keeping
//! every cell's write time and TTL, and sending deletions with their
//! original timestamps.
//!
//! - A row's own liveness → `INSERT (key columns) USING TIMESTAMP ? AND TTL ?`.
//! - Cells, grouped by (timestamp, TTL) → `UPDATE … USING TIMESTAMP ? AND TTL ?
//!   SET …`: simple columns `c = ?`, sets and maps `c = c + ?` (the group's
//!   elements), non-frozen UDT fields `c.f = ?`. TTLs are the remaining
//!   ones (expiry time − now), so cells expire when they would have.
//! - Lists → `UPDATE … SET l = l + ?` statements of their own, guarded: only
//!   the elements the target's list lacks are appended ([`ListGuard`]).
//! - Partition and row deletions → `DELETE … USING TIMESTAMP ?`.
//! - Counters → `UPDATE … SET c = c + ?` (no timestamp), guarded: the target's
//!   value is read first and the difference to the source's added
//!   ([`CounterGuard`]), unless `counters_add` asks to add the source's values
//!   as they are (not idempotent; the checkpoint keeps a resumed run from
//!   applying them twice, except the statements in flight when a run died).
//!
//! Statements of one partition go together in unlogged batches (at most 16);
//! prepared statements make routing token-aware. Values are bound as the
//! serialized bytes the sstables hold (the native protocol's encoding).

use super::session::ConnArgs;
use crate::app::AppError;
use crate::dynamo::checkpoint::Checkpoint;
use crate::dynamo::load::Tracker;
use crate::dynamo::{Rng, TableJob};
use rayon::prelude::*;
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::frame::response::result::ColumnType;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use sstable_format::cql::maybe_quote as q;
use sstable_format::cursor::Cursor;
use sstable_format::data::counter_value;
use sstable_format::Component;
use sstable_format::CqlType;
use sstable_reader::schema::Column;
use sstable_reader::table::{
    scan_table, DeadCell, LiveColumnData, PartitionInfo, RangeBound, TableEvent, TableScanOptions,
};
use sstable_reader::{ReadError, ScanOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// A value bound as raw serialized bytes (`None` = null).
#[derive(Debug, Clone)]
pub struct Raw(pub Option<Vec<u8>>);

impl SerializeValue for Raw {
    fn serialize<'b>(
        &self,
        _typ: &ColumnType,
        w: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match &self.0 {
            None => Ok(w.set_null()),
            Some(b) => w.set_value(b).map_err(SerializationError::new),
        }
    }
}

/// One statement to run.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub cql: String,
    pub values: Vec<Raw>,
    pub counter: bool,
    /// For a list append or a counter update: what makes it idempotent.
    pub guard: Option<Box<Guard>>,
}

/// A read of the target that makes a statement idempotent.
#[derive(Debug, Clone)]
pub enum Guard {
    List(ListGuard),
    Counter(CounterGuard),
}

/// A counter update (`c = c + ?`) is not idempotent. Before it runs, the
/// target's counter is read, and the statement adds the difference between
/// the source's value and it (none: the statement is not sent), so the
/// counter ends equal to the source's however often the load runs.
#[derive(Debug, Clone)]
pub struct CounterGuard {
    /// `SELECT c FROM t WHERE <row> LIMIT 1`.
    pub select: String,
    /// The row's key values, bound to the SELECT.
    pub key: Vec<Raw>,
    /// The source's value.
    pub total: i64,
    /// Which of the statement's values is the increment.
    pub slot: usize,
}

/// A list append (`l = l + ?`) is not idempotent: Cassandra gives each
/// appended element a new timeuuid position, so running it again (a retry
/// after a timeout, a resumed or repeated load) would add the elements a
/// second time. Before it runs, the target's list is read and only the
/// elements it lacks are appended.
///
/// An element counts as present when the target holds one with the same
/// value and, where the target can say (`writetime()` of a non-frozen
/// collection, Cassandra 5.0+), the same write time. Elements of the same
/// column appended earlier in the row (`before`) claim their matches first.
#[derive(Debug, Clone)]
pub struct ListGuard {
    /// `SELECT l, writetime(l) FROM t WHERE <row> LIMIT 1`.
    pub select_writetime: String,
    /// `SELECT l FROM t WHERE <row> LIMIT 1`, for targets without element
    /// write times.
    pub select: String,
    /// The row's key values, bound to the SELECT.
    pub key: Vec<Raw>,
    /// The elements (serialized values) this statement appends, in order.
    pub elements: Vec<Vec<u8>>,
    /// The append's write time.
    pub timestamp: i64,
    /// Elements of the same column appended before this one in the row,
    /// with their write times.
    pub before: Vec<(Vec<u8>, i64)>,
    /// Which of the statement's values is the appended list.
    pub slot: usize,
}

impl ListGuard {
    /// The elements to append, given the target's list (`present`, with
    /// each element's write time when the target gives them).
    pub fn missing(&self, present: &[(Vec<u8>, Option<i64>)]) -> Vec<Vec<u8>> {
        let same_time = |t: Option<i64>, ts: i64| t.is_none_or(|t| t == ts);
        let mut count: HashMap<&[u8], usize> = HashMap::new();
        for (v, t) in present {
            if same_time(*t, self.timestamp) {
                *count.entry(v.as_slice()).or_default() += 1;
            }
        }
        let with_times = present.iter().any(|(_, t)| t.is_some());
        for (v, ts) in &self.before {
            if !with_times || *ts == self.timestamp {
                if let Some(n) = count.get_mut(v.as_slice()).filter(|n| **n > 0) {
                    *n -= 1;
                }
            }
        }
        self.elements
            .iter()
            .filter(|v| match count.get_mut(v.as_slice()).filter(|n| **n > 0) {
                Some(n) => {
                    *n -= 1;
                    false
                }
                None => true,
            })
            .cloned()
            .collect()
    }
}

/// SET clauses and their values by (timestamp, TTL).
type SetGroups = BTreeMap<(i64, i32), Vec<(String, Raw)>>;

/// One list column's elements of one (timestamp, TTL).
struct ListAppend {
    column: String,
    timestamp: i64,
    ttl: i32,
    elements: Vec<Vec<u8>>,
    before: Vec<(Vec<u8>, i64)>,
}

/// Turns table events into statements for a target table.
pub struct Planner {
    pub target: String,
    pub schema: sstable_reader::TableSchema,
    pub now: i64,
    pub counters: bool,
    /// Counters are added as they are (no [`CounterGuard`]).
    pub counters_add: bool,
    pub send_deletes: bool,
}

fn i64b(v: i64) -> Raw {
    Raw(Some(v.to_be_bytes().to_vec()))
}

fn i32b(v: i32) -> Raw {
    Raw(Some(v.to_be_bytes().to_vec()))
}

/// The native-protocol collection value (int32 count, then int32-length
/// prefixed elements).
fn collection(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    let n = parts.len() as i32;
    v.extend_from_slice(&n.to_be_bytes());
    for p in parts {
        v.extend_from_slice(&(p.len() as i32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

impl Planner {
    fn remaining_ttl(&self, expires_at: Option<i64>) -> i32 {
        match expires_at {
            Some(e) => (e - self.now).clamp(1, i32::MAX as i64) as i32,
            None => 0,
        }
    }

    /// WHERE text and values for a partition (and row).
    fn key_where(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
    ) -> Option<(String, Vec<Raw>)> {
        let mut conds = Vec::new();
        let mut vals = Vec::new();
        for (c, v) in self.schema.partition_key.iter().zip(&p.key_parts) {
            conds.push(format!("{} = ?", q(&c.name)));
            vals.push(Raw(Some(v.clone())));
        }
        if let Some(cl) = clustering {
            for (c, v) in self.schema.visible_clustering().iter().zip(cl) {
                conds.push(format!("{} = ?", q(&c.name)));
                vals.push(Raw(Some(v.clone()?)));
            }
        }
        Some((conds.join(" AND "), vals))
    }

    /// The statement deleting one cell, collection element, UDT field or
    /// whole collection at its timestamp (`None` for list elements, whose
    /// timeuuid positions CQL cannot name).
    fn cell_deletion(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
        d: &DeadCell,
    ) -> Option<Stmt> {
        let cols = if d.is_static {
            &self.schema.statics
        } else {
            &self.schema.regulars
        };
        let col = cols.get(d.index)?;
        let (wh, wv) = self.key_where(p, clustering)?;
        let name = q(&col.name);
        let mut values = vec![i64b(d.timestamp)];
        let cql = match (&d.path, d.whole) {
            (None, _) | (_, true) => {
                format!(
                    "DELETE {name} FROM {} USING TIMESTAMP ? WHERE {wh}",
                    self.target
                )
            }
            (Some(path), false) => match &col.cql_type {
                CqlType::Map { .. } => {
                    // m[?] comes before USING TIMESTAMP ? in the statement.
                    values.insert(0, Raw(Some(path.clone())));
                    format!(
                        "DELETE {name}[?] FROM {} USING TIMESTAMP ? WHERE {wh}",
                        self.target
                    )
                }
                CqlType::Set { .. } => {
                    values = vec![i64b(d.timestamp), Raw(Some(collection(&[path])))];
                    format!(
                        "UPDATE {} USING TIMESTAMP ? SET {name} = {name} - ? WHERE {wh}",
                        self.target
                    )
                }
                CqlType::Udt(u) => {
                    let i = u16::from_be_bytes(path.as_slice().try_into().ok()?) as usize;
                    let (field, _) = u.fields.get(i)?;
                    format!(
                        "DELETE {name}.{} FROM {} USING TIMESTAMP ? WHERE {wh}",
                        q(field),
                        self.target
                    )
                }
                _ => return None,
            },
        };
        values.extend(wv);
        Some(Stmt {
            cql,
            values,
            counter: false,
            guard: None,
        })
    }

    /// WHERE text and values for a range of clustering prefixes of a
    /// partition: `(c1, …, ck) >= (?, …)` and `(c1, …, cj) < (?, …)` style
    /// multi-column slices. Clustering order is the values' natural order
    /// for ASC columns and its reverse for DESC ones: a bound over DESC
    /// columns only swaps its operator; one mixing both orders, a null
    /// clustering value, or a range open at both ends gives `None`.
    fn range_where(
        &self,
        p: &PartitionInfo,
        start: &RangeBound,
        end: &RangeBound,
    ) -> Option<(String, Vec<Raw>)> {
        let (mut wh, mut vals) = self.key_where(p, None)?;
        let cols = self.schema.visible_clustering();
        if start.prefix.is_empty() && end.prefix.is_empty() {
            return None;
        }
        for (b, is_start) in [(start, true), (end, false)] {
            if b.prefix.is_empty() {
                continue;
            }
            let used = cols.get(..b.prefix.len())?;
            let desc = used.iter().filter(|c| c.cql_type.is_reversed()).count();
            if desc != 0 && desc != used.len() {
                return None;
            }
            // In natural value order, a start bound is a lower bound unless DESC.
            let lower = is_start != (desc != 0);
            let op = match (lower, b.inclusive) {
                (true, true) => ">=",
                (true, false) => ">",
                (false, true) => "<=",
                (false, false) => "<",
            };
            let names: Vec<String> = used.iter().map(|c| q(&c.name)).collect();
            wh.push_str(&format!(
                " AND ({}) {op} ({})",
                names.join(", "),
                vec!["?"; names.len()].join(", ")
            ));
            for v in b.prefix {
                vals.push(Raw(Some(v.clone()?)));
            }
        }
        Some((wh, vals))
    }

    /// SET clauses for cells of columns `cols` (the data's `index` points
    /// into it): returns (timestamp, ttl) → [(clause, value)], and the list
    /// appends, which run as statements of their own (see [`ListGuard`]).
    fn set_groups(&self, cols: &[Column], data: &[LiveColumnData]) -> (SetGroups, Vec<ListAppend>) {
        let mut groups = SetGroups::new();
        let mut lists = Vec::new();
        for d in data {
            let Some(col) = cols.get(d.index) else {
                continue;
            };
            let name = q(&col.name);
            if !d.complex {
                let Some(c) = d.cells.first() else { continue };
                groups
                    .entry((c.timestamp, self.remaining_ttl(c.expires_at)))
                    .or_default()
                    .push((format!("{name} = ?"), Raw(Some(c.value.to_vec()))));
                continue;
            }
            // Elements grouped by their own (timestamp, TTL).
            let mut list_before: Vec<(Vec<u8>, i64)> = Vec::new();
            let mut by: BTreeMap<(i64, i32), Vec<&sstable_reader::table::LiveCell>> =
                BTreeMap::new();
            for c in &d.cells {
                by.entry((c.timestamp, self.remaining_ttl(c.expires_at)))
                    .or_default()
                    .push(c);
            }
            for (k, cells) in by {
                match col.cql_type.base() {
                    CqlType::Set { .. } => {
                        let parts: Vec<&[u8]> =
                            cells.iter().map(|c| c.path.unwrap_or(&[])).collect();
                        groups.entry(k).or_default().push((
                            format!("{name} = {name} + ?"),
                            Raw(Some(collection(&parts))),
                        ));
                    }
                    CqlType::List { .. } => {
                        let elements: Vec<Vec<u8>> =
                            cells.iter().map(|c| c.value.to_vec()).collect();
                        let before = list_before.clone();
                        list_before.extend(elements.iter().map(|e| (e.clone(), k.0)));
                        lists.push(ListAppend {
                            column: name.clone(),
                            timestamp: k.0,
                            ttl: k.1,
                            elements,
                            before,
                        });
                    }
                    CqlType::Map { .. } => {
                        let mut parts: Vec<&[u8]> = Vec::new();
                        for c in &cells {
                            parts.push(c.path.unwrap_or(&[]));
                            parts.push(c.value);
                        }
                        let mut v = collection(&parts);
                        // A map's count is of entries, not of keys and values.
                        let n = (cells.len() as i32).to_be_bytes();
                        v[..4].copy_from_slice(&n);
                        groups
                            .entry(k)
                            .or_default()
                            .push((format!("{name} = {name} + ?"), Raw(Some(v))));
                    }
                    CqlType::Udt(u) => {
                        for c in cells {
                            let idx = match c.path {
                                Some([a, b]) => u16::from_be_bytes([*a, *b]) as usize,
                                _ => continue,
                            };
                            if let Some((fname, _)) = u.fields.get(idx) {
                                groups.entry(k).or_default().push((
                                    format!("{name}.{} = ?", q(fname)),
                                    Raw(Some(c.value.to_vec())),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        (groups, lists)
    }

    fn updates(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
        cols: &[Column],
        data: &[LiveColumnData],
        out: &mut Vec<Stmt>,
    ) {
        let Some((wh, wv)) = self.key_where(p, clustering) else {
            return;
        };
        if self.counters {
            for d in data {
                let (Some(col), Some(c)) = (cols.get(d.index), d.cells.first()) else {
                    continue;
                };
                let Ok(n) = counter_value(c.value) else {
                    continue;
                };
                let name = q(&col.name);
                let mut values = vec![i64b(n)];
                values.extend(wv.iter().cloned());
                // LIMIT 1: a static column's partition may hold many rows.
                let guard = (!self.counters_add).then(|| {
                    Box::new(Guard::Counter(CounterGuard {
                        select: format!("SELECT {name} FROM {} WHERE {wh} LIMIT 1", self.target),
                        key: wv.clone(),
                        total: n,
                        slot: 0,
                    }))
                });
                out.push(Stmt {
                    cql: format!("UPDATE {} SET {name} = {name} + ? WHERE {wh}", self.target),
                    values,
                    counter: true,
                    guard,
                });
            }
            return;
        }
        let (groups, lists) = self.set_groups(cols, data);
        for ((ts, ttl), sets) in groups {
            let mut values = vec![i64b(ts), i32b(ttl)];
            let clauses: Vec<String> = sets.iter().map(|(c, _)| c.clone()).collect();
            values.extend(sets.into_iter().map(|(_, v)| v));
            values.extend(wv.iter().cloned());
            out.push(Stmt {
                cql: format!(
                    "UPDATE {} USING TIMESTAMP ? AND TTL ? SET {} WHERE {wh}",
                    self.target,
                    clauses.join(", ")
                ),
                values,
                counter: false,
                guard: None,
            });
        }
        for l in lists {
            let parts: Vec<&[u8]> = l.elements.iter().map(Vec::as_slice).collect();
            let mut values = vec![
                i64b(l.timestamp),
                i32b(l.ttl),
                Raw(Some(collection(&parts))),
            ];
            values.extend(wv.iter().cloned());
            let name = &l.column;
            out.push(Stmt {
                cql: format!(
                    "UPDATE {} USING TIMESTAMP ? AND TTL ? SET {name} = {name} + ? WHERE {wh}",
                    self.target
                ),
                values,
                counter: false,
                guard: Some(Box::new(Guard::List(ListGuard {
                    // LIMIT 1: a static column's partition may hold many rows.
                    select_writetime: format!(
                        "SELECT {name}, writetime({name}) FROM {} WHERE {wh} LIMIT 1",
                        self.target
                    ),
                    select: format!("SELECT {name} FROM {} WHERE {wh} LIMIT 1", self.target),
                    key: wv.clone(),
                    elements: l.elements,
                    timestamp: l.timestamp,
                    before: l.before,
                    slot: 2,
                }))),
            });
        }
    }

    /// The statements for one event.
    pub fn plan(&self, ev: &TableEvent, out: &mut Vec<Stmt>) {
        match ev {
            TableEvent::Partition(p) => {
                if self.send_deletes && !p.deletion.is_live() && !self.counters {
                    if let Some((wh, wv)) = self.key_where(p, None) {
                        let mut values = vec![i64b(p.deletion.marked_for_delete_at)];
                        values.extend(wv);
                        out.push(Stmt {
                            cql: format!(
                                "DELETE FROM {} USING TIMESTAMP ? WHERE {wh}",
                                self.target
                            ),
                            values,
                            counter: false,
                            guard: None,
                        });
                    }
                }
            }
            TableEvent::Statics(p, statics) => {
                self.updates(p, None, &self.schema.statics, statics, out);
            }
            TableEvent::Row(r) => {
                match r.clustering {
                    None if self.schema.compact_static => {
                        // A compact table's columns live in its static row.
                        self.updates(r.partition, None, &self.schema.statics, r.statics, out);
                        return;
                    }
                    None => return, // statics only: sent with the Statics event
                    Some(_) => {}
                }
                // The row marker; an expired one (the row lives through its
                // cells) is sent with a 1 s TTL so that it supersedes an older
                // marker the target may hold, as on the source.
                let marker = match (r.liveness, r.expired_liveness) {
                    (Some((ts, exp)), _) => Some((ts, self.remaining_ttl(exp))),
                    (None, Some(ts)) if self.send_deletes => Some((ts, 1)),
                    _ => None,
                };
                if let (Some((ts, ttl)), false) = (marker, self.counters) {
                    let mut cols: Vec<String> = self
                        .schema
                        .partition_key
                        .iter()
                        .map(|c| q(&c.name))
                        .collect();
                    cols.extend(self.schema.visible_clustering().iter().map(|c| q(&c.name)));
                    if let Some((_, wv)) = self.key_where(r.partition, r.clustering) {
                        let mut values = wv;
                        values.push(i64b(ts));
                        values.push(i32b(ttl));
                        out.push(Stmt {
                            cql: format!(
                                "INSERT INTO {} ({}) VALUES ({}) USING TIMESTAMP ? AND TTL ?",
                                self.target,
                                cols.join(", "),
                                vec!["?"; cols.len()].join(", ")
                            ),
                            values,
                            counter: false,
                            guard: None,
                        });
                    }
                }
                self.updates(
                    r.partition,
                    r.clustering,
                    &self.schema.regulars,
                    r.regulars,
                    out,
                );
            }
            TableEvent::CellDeletions {
                partition,
                clustering,
                cells,
            } => {
                if !self.send_deletes || self.counters {
                    return;
                }
                for d in cells.iter() {
                    if let Some(st) = self.cell_deletion(partition, *clustering, d) {
                        out.push(st);
                    }
                }
            }
            TableEvent::RangeDeletion {
                partition,
                start,
                end,
                deletion,
            } => {
                if !self.send_deletes || self.counters || deletion.is_live() {
                    return;
                }
                if let Some((wh, wv)) = self.range_where(partition, start, end) {
                    let mut values = vec![i64b(deletion.marked_for_delete_at)];
                    values.extend(wv);
                    out.push(Stmt {
                        cql: format!("DELETE FROM {} USING TIMESTAMP ? WHERE {wh}", self.target),
                        values,
                        counter: false,
                        guard: None,
                    });
                }
            }
            TableEvent::DeadRow {
                partition,
                clustering,
                deleted_at,
            } => {
                if let (true, Some(ts), false) = (self.send_deletes, deleted_at, self.counters) {
                    if let Some((wh, wv)) = self.key_where(partition, Some(clustering)) {
                        let mut values = vec![i64b(*ts)];
                        values.extend(wv);
                        out.push(Stmt {
                            cql: format!(
                                "DELETE FROM {} USING TIMESTAMP ? WHERE {wh}",
                                self.target
                            ),
                            values,
                            counter: false,
                            guard: None,
                        });
                    }
                }
            }
        }
    }
}

/// Options of a CQL load.
#[derive(Debug, Clone)]
pub struct CqlLoadOptions {
    pub target_keyspace: Option<String>,
    pub target_table: Option<String>,
    pub concurrency: usize,
    pub threads: usize,
    /// Statements per second, at most.
    pub max_rate: Option<f64>,
    pub now: i64,
    pub scan: ScanOptions,
    pub checkpoint: Option<String>,
    pub remove_checkpoint_when_done: bool,
    pub max_attempts: u32,
    /// Purge tombstones older than this (not sent).
    pub purge_before: Option<crate::app::PurgeBefore>,
    /// Add the source's counter values to the target's instead of making
    /// them equal (see [`CounterGuard`]).
    pub counters_add: bool,
    pub progress: bool,
}

/// What a CQL load did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CqlLoadSummary {
    pub source_table: String,
    pub target_table: String,
    pub rows: u64,
    pub statements: u64,
    pub statements_before: u64,
    pub batches: u64,
    pub retries: u64,
    pub timeouts: u64,
    pub overloaded: u64,
    /// List appends not sent because the target already held their elements.
    pub list_appends_skipped: u64,
    /// Counter updates not sent because the target's value already equalled
    /// the source's.
    pub counters_already_equal: u64,
    pub units: u64,
    pub units_resumed: u64,
    pub seconds: f64,
    pub statements_per_second: f64,
    pub checkpoint: Option<String>,
}

#[derive(Default)]
struct Stats {
    statements: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    timeouts: AtomicU64,
    overloaded: AtomicU64,
    list_skipped: AtomicU64,
    counters_equal: AtomicU64,
}

/// Worth retrying? (`Some(true)` for timeouts: a counter may have been applied.)
fn retry_kind(e: &ExecutionError, stats: &Stats) -> Option<bool> {
    let attempt = |a: &RequestAttemptError| -> Option<bool> {
        match a {
            RequestAttemptError::DbError(db, _) => match db {
                DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. } => {
                    stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    Some(true)
                }
                DbError::Overloaded
                | DbError::RateLimitReached { .. }
                | DbError::Unavailable { .. }
                | DbError::IsBootstrapping => {
                    stats.overloaded.fetch_add(1, Ordering::Relaxed);
                    Some(false)
                }
                DbError::ServerError | DbError::TruncateError => Some(true),
                _ => None,
            },
            RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => Some(true),
            _ => None,
        }
    };
    match e {
        ExecutionError::RequestTimeout(_) => {
            stats.timeouts.fetch_add(1, Ordering::Relaxed);
            Some(true)
        }
        ExecutionError::LastAttemptError(a) => attempt(a),
        ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan => Some(false),
        _ => None,
    }
}

struct Writer {
    session: Session,
    prepared: tokio::sync::Mutex<HashMap<String, PreparedStatement>>,
    max_attempts: u32,
    stats: Stats,
    rate: Option<Mutex<(f64, Instant, f64)>>,
    /// Whether the target gives write times of collection elements:
    /// unknown (0), yes (1), no (2).
    element_writetime: std::sync::atomic::AtomicU8,
}

/// A column read as its serialized bytes (`None` = null).
struct RawColumn(Option<Vec<u8>>);

impl<'frame, 'metadata> scylla::deserialize::value::DeserializeValue<'frame, 'metadata>
    for RawColumn
{
    fn type_check(_typ: &ColumnType) -> Result<(), scylla::deserialize::TypeCheckError> {
        Ok(())
    }

    fn deserialize(
        _typ: &'metadata ColumnType<'metadata>,
        v: Option<scylla::deserialize::FrameSlice<'frame>>,
    ) -> Result<Self, scylla::deserialize::DeserializationError> {
        Ok(RawColumn(v.map(|v| v.as_slice().to_vec())))
    }
}

/// The elements of a serialized list (int32 count, then int32-length
/// prefixed elements), read with the format crate's cursor; `None` when
/// malformed (a list element is never null).
fn collection_elements(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut c = Cursor::new(b, Component::Value);
    let n = c.count_i32(b.len() / 4, "list size").ok()?;
    (0..n)
        .map(|_| {
            c.int_bytes("list element")
                .ok()
                .flatten()
                .map(<[u8]>::to_vec)
        })
        .collect()
}

impl Writer {
    async fn prepare(&self, cql: &str) -> Result<PreparedStatement, AppError> {
        if let Some(p) = self.prepared.lock().await.get(cql) {
            return Ok(p.clone());
        }
        let p = self
            .session
            .prepare(cql)
            .await
            .map_err(|e| AppError::Usage(format!("preparing `{cql}`: {e}")))?;
        self.prepared
            .lock()
            .await
            .insert(cql.to_string(), p.clone());
        Ok(p)
    }

    async fn throttle(&self, n: f64) {
        let Some(r) = &self.rate else { return };
        let wait = {
            let Ok(mut g) = r.lock() else { return };
            let (tokens, last, rate) = &mut *g;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * *rate).min(rate.max(n));
            *last = now;
            *tokens -= n;
            if *tokens < 0.0 {
                -*tokens / *rate
            } else {
                0.0
            }
        };
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// The first row of a guard's SELECT (`None`: no row), its columns read
    /// as serialized bytes.
    async fn first_row<R>(
        &self,
        cql: &str,
        key: &[Raw],
    ) -> Result<Result<Option<R>, ExecutionError>, AppError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let p = self.prepare(cql).await?;
        let r = match self.session.execute_unpaged(&p, key).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let bad = |e: &dyn std::fmt::Display| AppError::Usage(format!("{cql}: {e}"));
        let rows = r.into_rows_result().map_err(|e| bad(&e))?;
        let mut it = rows.rows::<R>().map_err(|e| bad(&e))?;
        Ok(Ok(it.next().transpose().map_err(|e| bad(&e))?))
    }

    /// The target's list for a guarded append: each element with its write
    /// time when the target gives them.
    async fn read_list(
        &self,
        g: &ListGuard,
    ) -> Result<Result<Vec<(Vec<u8>, Option<i64>)>, ExecutionError>, AppError> {
        let with_times = match self.element_writetime.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => match self.session.prepare(g.select_writetime.as_str()).await {
                Ok(p) => {
                    self.prepared
                        .lock()
                        .await
                        .insert(g.select_writetime.clone(), p);
                    self.element_writetime.store(1, Ordering::Relaxed);
                    true
                }
                // An invalid request: the target has no write times of
                // collection elements (before Cassandra 5.0).
                Err(scylla::errors::PrepareError::AllAttemptsFailed {
                    first_attempt: RequestAttemptError::DbError(DbError::Invalid, _),
                }) => {
                    self.element_writetime.store(2, Ordering::Relaxed);
                    false
                }
                Err(e) => {
                    return Err(AppError::Usage(format!(
                        "preparing `{}`: {e}",
                        g.select_writetime
                    )))
                }
            },
        };
        let cql = if with_times {
            &g.select_writetime
        } else {
            &g.select
        };
        let first = if with_times {
            match self
                .first_row::<(RawColumn, RawColumn)>(cql, &g.key)
                .await?
            {
                Ok(r) => r.map(|(l, t)| (l, Some(t))),
                Err(e) => return Ok(Err(e)),
            }
        } else {
            match self.first_row::<(RawColumn,)>(cql, &g.key).await? {
                Ok(r) => r.map(|(l,)| (l, None)),
                Err(e) => return Ok(Err(e)),
            }
        };
        let bad = |e: &dyn std::fmt::Display| AppError::Usage(format!("{cql}: {e}"));
        let mut out = Vec::new();
        if let Some((list, times)) = first {
            let values = match list.0 {
                Some(b) => collection_elements(&b).ok_or_else(|| bad(&"a malformed list"))?,
                None => Vec::new(),
            };
            let times: Vec<i64> = match times.and_then(|t| t.0) {
                Some(b) => collection_elements(&b)
                    .ok_or_else(|| bad(&"malformed write times"))?
                    .iter()
                    .map(|t| <[u8; 8]>::try_from(t.as_slice()).map(i64::from_be_bytes))
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad(&"a write time that is not 8 bytes"))?,
                None => Vec::new(),
            };
            if with_times && times.len() != values.len() {
                return Err(bad(&"write times do not match the list's elements"));
            }
            for (i, v) in values.into_iter().enumerate() {
                out.push((v, times.get(i).copied()));
            }
        }
        Ok(Ok(out))
    }

    /// The target's counter for a guarded update (`None` when absent).
    async fn read_counter(
        &self,
        g: &CounterGuard,
    ) -> Result<Result<Option<i64>, ExecutionError>, AppError> {
        let row = match self.first_row::<(RawColumn,)>(&g.select, &g.key).await? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        match row {
            None | Some((RawColumn(None),)) => Ok(Ok(None)),
            Some((RawColumn(Some(b)),)) => match <[u8; 8]>::try_from(b.as_slice()) {
                Ok(b) => Ok(Ok(Some(i64::from_be_bytes(b)))),
                Err(_) => Err(AppError::Usage(format!(
                    "{}: a counter that is not 8 bytes",
                    g.select
                ))),
            },
        }
    }

    /// The statements as they should run now: guarded list appends keep only
    /// the elements the target lacks (and go when it lacks none).
    async fn resolve_guards(
        &self,
        stmts: &[Stmt],
    ) -> Result<Result<Vec<Stmt>, ExecutionError>, AppError> {
        // The reads run at once; then each statement is settled in order.
        enum Read {
            None,
            List(Vec<(Vec<u8>, Option<i64>)>),
            Counter(Option<i64>),
        }
        let reads = futures::future::join_all(stmts.iter().map(|s| async move {
            let r: Result<Result<Read, ExecutionError>, AppError> = Ok(match s.guard.as_deref() {
                None => Ok(Read::None),
                Some(Guard::List(g)) => self.read_list(g).await?.map(Read::List),
                Some(Guard::Counter(g)) => self.read_counter(g).await?.map(Read::Counter),
            });
            r
        }))
        .await;
        let mut out = Vec::with_capacity(stmts.len());
        for (s, read) in stmts.iter().zip(reads) {
            let read: Result<Read, ExecutionError> = read?;
            let read = match read {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            match (s.guard.as_deref(), read) {
                (Some(Guard::List(g)), Read::List(present)) => {
                    let missing = g.missing(&present);
                    if missing.is_empty() {
                        self.stats.list_skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let mut s = s.clone();
                    let parts: Vec<&[u8]> = missing.iter().map(Vec::as_slice).collect();
                    if let Some(v) = s.values.get_mut(g.slot) {
                        *v = Raw(Some(collection(&parts)));
                    }
                    out.push(s);
                }
                (Some(Guard::Counter(g)), Read::Counter(current)) => {
                    // A source counter of 0 is still sent (+0) when the
                    // target has none: the cell must exist.
                    let delta = g.total.wrapping_sub(current.unwrap_or(0));
                    if delta == 0 && current.is_some() {
                        self.stats.counters_equal.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let mut s = s.clone();
                    if let Some(v) = s.values.get_mut(g.slot) {
                        *v = i64b(delta);
                    }
                    out.push(s);
                }
                _ => out.push(s.clone()),
            }
        }
        Ok(Ok(out))
    }

    /// Run statements of one partition (a batch when several).
    async fn run(&self, all: &[Stmt], rng: &Mutex<Rng>) -> Result<(), AppError> {
        self.throttle(all.len() as f64).await;
        let guarded = all.iter().any(|s| s.guard.is_some());
        let counter = all.iter().any(|s| s.counter);
        let mut attempt = 0u32;
        loop {
            // Guards are read again at each attempt: a failed attempt may
            // have been applied.
            let resolved = match guarded {
                true => Some(self.resolve_guards(all).await?),
                false => None,
            };
            let stmts = match &resolved {
                None => all,
                Some(Ok(s)) => s.as_slice(),
                Some(Err(_)) => &[],
            };
            let mut prepared = Vec::with_capacity(stmts.len());
            for s in stmts {
                prepared.push(self.prepare(&s.cql).await?);
            }
            let r = if let Some(Err(e)) = &resolved {
                Err(e.clone())
            } else if stmts.is_empty() {
                Ok(())
            } else if stmts.len() == 1 {
                self.session
                    .execute_unpaged(&prepared[0], &stmts[0].values)
                    .await
                    .map(|_| ())
            } else {
                let mut b = Batch::new(if counter {
                    BatchType::Counter
                } else {
                    BatchType::Unlogged
                });
                for p in &prepared {
                    b.append_statement(p.clone());
                }
                let values: Vec<&Vec<Raw>> = stmts.iter().map(|s| &s.values).collect();
                self.session.batch(&b, &values).await.map(|_| ())
            };
            match r {
                Ok(()) => {
                    self.stats
                        .statements
                        .fetch_add(stmts.len() as u64, Ordering::Relaxed);
                    if !stmts.is_empty() {
                        self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Err(e) => {
                    let kind = retry_kind(&e, &self.stats);
                    let may_have_applied = kind == Some(true);
                    if kind.is_none() || (counter && may_have_applied) {
                        return Err(AppError::Usage(format!(
                            "{}{}: {e}",
                            all.first().map_or("", |s| s.cql.as_str()),
                            if counter && may_have_applied {
                                " (a counter update timed out: it may or may not have been applied, so it is not retried; \
                                 with --counters set, the default, a re-run makes each counter equal to the source's)"
                            } else {
                                ""
                            }
                        )));
                    }
                    attempt += 1;
                    if attempt >= self.max_attempts {
                        return Err(AppError::Usage(format!(
                            "{}: still failing after {attempt} attempts: {e}",
                            all.first().map_or("", |s| s.cql.as_str())
                        )));
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let cap = 10_000u64;
                    let exp = 50u64.saturating_mul(1 << attempt.min(12)).min(cap);
                    let ms = rng
                        .lock()
                        .map(|mut r| r.next_u64() % (exp + 1))
                        .unwrap_or(exp);
                    tokio::time::sleep(Duration::from_millis(ms.max(10))).await;
                }
            }
        }
    }
}

struct Msg {
    unit: u64,
    seq: u64,
    stmts: Vec<Stmt>,
}

/// Load one table over CQL.
pub fn load_table(
    rt: &Runtime,
    conn: &ConnArgs,
    job: &TableJob,
    opts: &CqlLoadOptions,
) -> Result<CqlLoadSummary, AppError> {
    let started = Instant::now();
    let session = rt.block_on(conn.connect())?;
    let ks = opts
        .target_keyspace
        .clone()
        .unwrap_or(job.schema.keyspace.clone());
    let table = opts
        .target_table
        .clone()
        .unwrap_or(job.schema.table.clone());
    let target = format!("{}.{}", q(&ks), q(&table));
    let counters = job
        .schema
        .regulars
        .iter()
        .chain(&job.schema.statics)
        .any(|c| c.cql_type.is_counter());
    let n = (job.data_bytes() / (32 << 20)).clamp(opts.threads as u64 * 4, 4096);
    let units = job.units(n);
    let mut fingerprint = job.fingerprint(&format!("to-cql|{target}|{}", units.len()));
    if let Some(p) = opts.purge_before {
        fingerprint.push_str(&format!("|purge-before={p:?}"));
    }
    let ck = Checkpoint::open(
        opts.checkpoint.as_deref(),
        &fingerprint,
        opts.now,
        units.len() as u64,
        || {
            Err(AppError::Usage(
                "to-cql keeps its checkpoint in a file".into(),
            ))
        },
    )?;
    let st = ck.state();
    let planner = Planner {
        target: target.clone(),
        schema: job.schema.clone(),
        now: st.now,
        counters,
        counters_add: opts.counters_add,
        send_deletes: true,
    };
    // Resolved against the checkpoint's "now", so a resumed load purges the same.
    let purge_before = opts.purge_before.map(|p| p.gc_before(&job.schema, st.now));
    let resumed = st.done.len() as u64;
    let before = st.written;
    let tracker = Arc::new(Tracker::new(ck));
    let writer = Arc::new(Writer {
        session,
        prepared: tokio::sync::Mutex::new(HashMap::new()),
        max_attempts: opts.max_attempts.max(1),
        stats: Stats::default(),
        rate: opts
            .max_rate
            .map(|r| Mutex::new((r.max(1.0), Instant::now(), r.max(1.0)))),
        element_writetime: Default::default(),
    });
    let failed = Arc::new(AtomicBool::new(false));
    let failure: Arc<Mutex<Option<AppError>>> = Arc::new(Mutex::new(None));
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {human_pos} statements ({per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(opts.concurrency.max(1) * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut handles = Vec::new();
    for w in 0..opts.concurrency.max(1) {
        let (rx, writer, tracker, failed, failure, bar) = (
            rx.clone(),
            writer.clone(),
            tracker.clone(),
            failed.clone(),
            failure.clone(),
            bar.clone(),
        );
        handles.push(rt.spawn(async move {
            let rng = Mutex::new(Rng::new(w as u64 + 31));
            loop {
                let m = { rx.lock().await.recv().await };
                let Some(m) = m else { break };
                if failed.load(Ordering::Relaxed) {
                    continue;
                }
                let n = m.stmts.len() as u64;
                let r = match writer.run(&m.stmts, &rng).await {
                    Ok(()) => {
                        if let Some(b) = &bar {
                            b.inc(n);
                            b.set_message(format!(
                                "retries {}",
                                writer.stats.retries.load(Ordering::Relaxed)
                            ));
                        }
                        tracker.complete(m.unit, m.seq, n, n)
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let rows = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| AppError::Usage(format!("thread pool: {e}")))?;
    let path = job
        .ssts
        .first()
        .map(|s| s.data_path().to_path_buf())
        .unwrap_or_default();
    let results: Vec<Result<(), AppError>> = pool.install(|| {
        units
            .par_iter()
            .enumerate()
            .map(|(u, range)| {
                let u = u as u64;
                if tracker.ck.is_done(u) || failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let skip = tracker.ck.progress(u);
                tracker.start(u, skip);
                let mut index = 0u64;
                let mut seq = 0u64;
                let mut pending: Vec<Stmt> = Vec::new();
                let mut stmts = Vec::new();
                let mut send_err: Option<AppError> = None;
                let sopts = TableScanOptions {
                    range: range.clone(),
                    now: planner.now,
                    scan: opts.scan,
                    cell_deletions: planner.send_deletes && !planner.counters,
                    purge_before,
                };
                let flush = |pending: &mut Vec<Stmt>, seq: &mut u64| -> Result<(), AppError> {
                    if pending.is_empty() {
                        return Ok(());
                    }
                    if failed.load(Ordering::Relaxed) {
                        return Err(AppError::Usage("stopped".into()));
                    }
                    let m = Msg {
                        unit: u,
                        seq: *seq,
                        stmts: std::mem::take(pending),
                    };
                    *seq += 1;
                    tx.blocking_send(m)
                        .map_err(|_| AppError::Usage("writers stopped".into()))
                };
                let r = scan_table(&job.ssts, &job.schema, &sopts, |ev| {
                    if let TableEvent::Partition(_) = ev {
                        // Batches never span partitions.
                        if let Err(e) = flush(&mut pending, &mut seq) {
                            send_err = Some(e);
                            return Err(ReadError::other(&path, "stopped"));
                        }
                    }
                    if let TableEvent::Row(_) = ev {
                        rows.fetch_add(1, Ordering::Relaxed);
                    }
                    stmts.clear();
                    planner.plan(&ev, &mut stmts);
                    for s in stmts.drain(..) {
                        index += 1;
                        if index <= skip {
                            continue;
                        }
                        // Counter and regular statements never share a batch.
                        if pending.len() >= 16
                            || pending.first().is_some_and(|p| p.counter != s.counter)
                        {
                            if let Err(e) = flush(&mut pending, &mut seq) {
                                send_err = Some(e);
                                return Err(ReadError::other(&path, "stopped"));
                            }
                        }
                        pending.push(s);
                    }
                    Ok(())
                });
                if let Some(e) = send_err {
                    return Err(e);
                }
                r?;
                flush(&mut pending, &mut seq)?;
                tracker.end(u, seq)
            })
            .collect()
    });
    drop(tx);
    for h in handles {
        let _ = rt.block_on(h);
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(AppError::Usage(format!(
            "{e}\nThe load stopped; what the cluster acknowledged is recorded in the checkpoint{}. \
             Run the same command again to resume.",
            opts.checkpoint.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
        )));
    }
    for r in results {
        r?;
    }
    tracker.ck.save_now()?;
    if opts.remove_checkpoint_when_done {
        if let Some(c) = &opts.checkpoint {
            let _ = std::fs::remove_file(c);
        }
    }
    let s = &writer.stats;
    let secs = started.elapsed().as_secs_f64();
    let n = s.statements.load(Ordering::Relaxed);
    Ok(CqlLoadSummary {
        source_table: format!("{}.{}", job.schema.keyspace, job.schema.table),
        target_table: format!("{ks}.{table}"),
        rows: rows.load(Ordering::Relaxed),
        statements: n,
        statements_before: before,
        batches: s.batches.load(Ordering::Relaxed),
        retries: s.retries.load(Ordering::Relaxed),
        timeouts: s.timeouts.load(Ordering::Relaxed),
        overloaded: s.overloaded.load(Ordering::Relaxed),
        list_appends_skipped: s.list_skipped.load(Ordering::Relaxed),
        counters_already_equal: s.counters_equal.load(Ordering::Relaxed),
        units: units.len() as u64,
        units_resumed: resumed,
        seconds: secs,
        statements_per_second: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        checkpoint: opts.checkpoint.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(elements: &[&[u8]], timestamp: i64, before: &[(&[u8], i64)]) -> ListGuard {
        ListGuard {
            select_writetime: String::new(),
            select: String::new(),
            key: Vec::new(),
            elements: elements.iter().map(|e| e.to_vec()).collect(),
            timestamp,
            before: before.iter().map(|(e, t)| (e.to_vec(), *t)).collect(),
            slot: 2,
        }
    }

    fn present(items: &[(&[u8], Option<i64>)]) -> Vec<(Vec<u8>, Option<i64>)> {
        items.iter().map(|(v, t)| (v.to_vec(), *t)).collect()
    }

    #[test]
    fn list_guard_appends_only_what_the_target_lacks() {
        let g = guard(&[b"a", b"b", b"a"], 10, &[]);
        // An empty target: everything.
        assert_eq!(
            g.missing(&[]),
            vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        // Already applied (write times given): nothing.
        let all = present(&[(b"a", Some(10)), (b"b", Some(10)), (b"a", Some(10))]);
        assert!(g.missing(&all).is_empty());
        // One `a` of ours there: the other is still missing.
        let one = present(&[(b"a", Some(10)), (b"b", Some(10))]);
        assert_eq!(g.missing(&one), vec![b"a".to_vec()]);
        // Equal values of another write time are other elements.
        let older = present(&[(b"a", Some(9)), (b"b", Some(11)), (b"a", Some(9))]);
        assert_eq!(g.missing(&older), g.elements);
        // Without write times, values decide.
        let plain = present(&[(b"a", None), (b"b", None)]);
        assert_eq!(g.missing(&plain), vec![b"a".to_vec()]);
    }

    #[test]
    fn list_guard_lets_earlier_appends_of_the_row_claim_their_matches() {
        // The row appends [x] at 5, then [x] at 7.
        let second = guard(&[b"x"], 7, &[(b"x", 5)]);
        // Write times given: the element at 5 is not ours.
        assert!(second
            .missing(&present(&[(b"x", Some(5)), (b"x", Some(7))]))
            .is_empty());
        assert_eq!(
            second.missing(&present(&[(b"x", Some(5))])),
            vec![b"x".to_vec()]
        );
        // Values only: one x in the target belongs to the first append.
        assert_eq!(
            second.missing(&present(&[(b"x", None)])),
            vec![b"x".to_vec()]
        );
        assert!(second
            .missing(&present(&[(b"x", None), (b"x", None)]))
            .is_empty());
        // Same write time, other TTL: both appends are at 7.
        let third = guard(&[b"y"], 7, &[(b"y", 7)]);
        assert_eq!(
            third.missing(&present(&[(b"y", Some(7))])),
            vec![b"y".to_vec()]
        );
    }

    #[test]
    fn collection_elements_read_and_reject() {
        let v = collection(&[b"ab", b"", b"c"]);
        assert_eq!(
            collection_elements(&v),
            Some(vec![b"ab".to_vec(), Vec::new(), b"c".to_vec()])
        );
        // Truncated or lying lengths are refused, never panics.
        for cut in 0..v.len() {
            assert_eq!(collection_elements(&v[..cut]), None, "cut at {cut}");
        }
        let mut lie = v.clone();
        lie[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(collection_elements(&lie), None);
        let mut huge = 1_000_000_000i32.to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert_eq!(collection_elements(&huge), None);
    }
}
