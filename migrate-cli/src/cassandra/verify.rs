//! `verify-cql`: compare the source rows with the target's `SELECT JSON`,
//! and each simple column's `writetime()` and `ttl()`, for every row or a
//! sampled share of them.

use super::session::ConnArgs;
use crate::app::AppError;
use crate::render::{DumpCompat, DumpOptions, RowsWriter};
use futures::TryStreamExt;
use serde_json::{Map, Value as Json};
use sstable_format::cql::maybe_quote as q;
use sstable_format::value::json_column_name;
use sstable_reader::range::TokenRange;
use sstable_reader::{SSTable, ScanOptions, TableSchema};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use tokio::runtime::Runtime;

/// The comparison's result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CqlVerifyReport {
    pub table: String,
    pub sampled_percent: f64,
    pub source_rows: u64,
    pub target_rows: u64,
    pub matching: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    pub writetime_different: u64,
    pub ttl_different: u64,
    pub first_differences: Vec<String>,
}

impl CqlVerifyReport {
    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.different + self.writetime_different + self.ttl_different
    }
}

/// Options of a verification.
#[derive(Debug, Clone)]
pub struct CqlVerifyOptions {
    pub target_keyspace: Option<String>,
    pub target_table: Option<String>,
    pub now: i64,
    pub scan: ScanOptions,
    pub sample_percent: f64,
    /// Seconds a TTL may differ by (the load judged remaining TTLs at its
    /// own instant).
    pub ttl_tolerance: i64,
}

fn sampled(key: &str, pct: f64) -> bool {
    if pct >= 100.0 {
        return true;
    }
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    ((h.finish() % 10_000) as f64) < pct * 100.0
}

fn push_diff(r: &mut CqlVerifyReport, s: String) {
    if r.first_differences.len() < 10 {
        r.first_differences.push(s);
    }
}

/// Compare one table.
pub fn verify_table(
    rt: &Runtime,
    conn: &ConnArgs,
    ssts: &[&SSTable],
    schema: &TableSchema,
    opts: &CqlVerifyOptions,
) -> Result<CqlVerifyReport, AppError> {
    let ks = opts
        .target_keyspace
        .clone()
        .unwrap_or(schema.keyspace.clone());
    let table = opts.target_table.clone().unwrap_or(schema.table.clone());
    let target = format!("{}.{}", q(&ks), q(&table));
    let key_names: Vec<String> = schema
        .partition_key
        .iter()
        .chain(schema.visible_clustering())
        .map(|c| json_column_name(&c.name))
        .collect();
    let key_of = |m: &Map<String, Json>| -> String {
        let v: Vec<&Json> = key_names
            .iter()
            .map(|k| m.get(k).unwrap_or(&Json::Null))
            .collect();
        serde_json::to_string(&v).unwrap_or_default()
    };
    // The source: merged rows as SELECT JSON prints them, with meta.
    let mut buf = Vec::new();
    let dopts = DumpOptions {
        key: None,
        with_meta: true,
        now: opts.now,
        scan: opts.scan,
        sstabledump_compat: DumpCompat::V50,
        range: TokenRange::ALL,
        slice: (None, None),
    };
    if let Some(first) = ssts.first() {
        RowsWriter::new(first, schema, &dopts, &mut buf).dump_merged(ssts)?;
    }
    let mut source: HashMap<String, Map<String, Json>> = HashMap::new();
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let m: Map<String, Json> = serde_json::from_slice(line).map_err(std::io::Error::other)?;
        let k = key_of(&m);
        if sampled(&k, opts.sample_percent) {
            source.insert(k, m);
        }
    }
    // Simple, non-counter, non-key columns get writetime() and ttl().
    let timed: Vec<String> = schema
        .statics
        .iter()
        .chain(&schema.regulars)
        .filter(|c| c.included && !c.cql_type.is_counter() && !c.cql_type.is_multi_cell())
        .filter(|c| !matches!(c.cql_type, sstable_format::CqlType::Empty))
        .map(|c| c.name.clone())
        .collect();
    let key_cols: Vec<String> = schema
        .partition_key
        .iter()
        .chain(schema.visible_clustering())
        .map(|c| q(&c.name))
        .collect();
    let session = rt.block_on(conn.connect())?;
    let fetch = |cql: String| -> Result<Vec<Map<String, Json>>, AppError> {
        rt.block_on(async {
            let mut out = Vec::new();
            let mut st = scylla::statement::Statement::new(cql.clone());
            st.set_page_size(1000);
            let pager = session
                .query_iter(st, ())
                .await
                .map_err(|e| AppError::Usage(format!("{cql}: {e}")))?;
            let mut rows = pager
                .rows_stream::<(String,)>()
                .map_err(|e| AppError::Usage(format!("{cql}: {e}")))?;
            while let Some((json,)) = rows
                .try_next()
                .await
                .map_err(|e| AppError::Usage(format!("{cql}: {e}")))?
            {
                out.push(serde_json::from_str(&json).map_err(std::io::Error::other)?);
            }
            Ok(out)
        })
    };
    let rows = fetch(format!("SELECT JSON * FROM {target}"))?;
    let mut meta: HashMap<String, Map<String, Json>> = HashMap::new();
    if !timed.is_empty() {
        let mut sel = key_cols.clone();
        for (i, c) in timed.iter().enumerate() {
            sel.push(format!("writetime({}) AS wt_{i}", q(c)));
            sel.push(format!("ttl({}) AS ttl_{i}", q(c)));
        }
        for m in fetch(format!("SELECT JSON {} FROM {target}", sel.join(", ")))? {
            meta.insert(key_of(&m), m);
        }
    }
    let mut r = CqlVerifyReport {
        table: format!("{ks}.{table}"),
        sampled_percent: opts.sample_percent,
        source_rows: source.len() as u64,
        ..CqlVerifyReport::default()
    };
    for m in rows {
        let k = key_of(&m);
        if !sampled(&k, opts.sample_percent) {
            continue;
        }
        r.target_rows += 1;
        let Some(mut s) = source.remove(&k) else {
            r.extra += 1;
            push_diff(&mut r, format!("extra row {k}"));
            continue;
        };
        let wt = s.remove("_writetime").unwrap_or(Json::Null);
        let ttl = s.remove("_ttl").unwrap_or(Json::Null);
        s.remove("_token");
        if s != m {
            r.different += 1;
            let cols: Vec<String> = s
                .iter()
                .filter(|(c, v)| m.get(*c) != Some(v))
                .map(|(c, v)| format!("{c}: source {v} target {}", m.get(c).unwrap_or(&Json::Null)))
                .collect();
            push_diff(&mut r, format!("row {k}: {}", cols.join("; ")));
            continue;
        }
        let tm = meta.get(&k);
        let mut wt_bad = Vec::new();
        let mut ttl_bad = Vec::new();
        for (i, c) in timed.iter().enumerate() {
            let name = json_column_name(c);
            let sw = wt.get(&name).cloned().unwrap_or(Json::Null);
            let tw = tm
                .and_then(|t| t.get(&format!("wt_{i}")))
                .cloned()
                .unwrap_or(Json::Null);
            if sw != tw {
                wt_bad.push(format!("{c}: source {sw} target {tw}"));
            }
            let st = ttl.get(&name).and_then(Json::as_i64);
            let tt = tm
                .and_then(|t| t.get(&format!("ttl_{i}")))
                .and_then(Json::as_i64);
            let ok = match (st, tt) {
                (None, None) => true,
                (Some(a), Some(b)) => (a - b).abs() <= opts.ttl_tolerance,
                _ => false,
            };
            if !ok {
                ttl_bad.push(format!("{c}: source {st:?} target {tt:?}"));
            }
        }
        if !wt_bad.is_empty() {
            r.writetime_different += 1;
            push_diff(&mut r, format!("row {k}: writetime {}", wt_bad.join("; ")));
        } else if !ttl_bad.is_empty() {
            r.ttl_different += 1;
            push_diff(&mut r, format!("row {k}: ttl {}", ttl_bad.join("; ")));
        } else {
            r.matching += 1;
        }
    }
    r.missing = source.len() as u64;
    let firsts: Vec<String> = source
        .keys()
        .take(5)
        .map(|k| format!("missing row {k}"))
        .collect();
    for f in firsts {
        push_diff(&mut r, f);
    }
    Ok(r)
}
