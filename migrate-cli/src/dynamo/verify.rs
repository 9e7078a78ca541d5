//! `verify-dynamodb`: scan the target in parallel segments, map the
//! source through the same mapping, and compare item by item (key, then a
//! hash of the canonical item).

use super::attr::{canonical_item, item_from_sdk, Attr, Item};
use super::mapping::Mapper;
use super::{produce_unit, Counters, Op, ProduceOptions, TableJob};
use crate::app::AppError;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::Client;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How many keys of each kind of difference to show.
const SHOW: usize = 5;

/// The comparison's result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub table: String,
    pub source_items: u64,
    pub target_items: u64,
    pub matching: u64,
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
    pub oversize_skipped: u64,
    pub first_missing: Vec<String>,
    pub first_extra: Vec<String>,
    /// Key and the attributes that differ (source vs target).
    pub first_different: Vec<String>,
}

impl VerifyReport {
    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.different
    }
}

fn hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn key_of(item: &[(String, Attr)], names: &[String]) -> Item {
    names
        .iter()
        .filter_map(|n| item.iter().find(|(k, _)| k == n).cloned())
        .collect()
}

/// Scan the whole target table: canonical key → hash of canonical item.
async fn scan_target(
    client: &Client,
    table: &str,
    segments: i32,
    key_names: &[String],
) -> Result<HashMap<String, (u64, Item)>, AppError> {
    let mut tasks = Vec::new();
    for seg in 0..segments {
        let client = client.clone();
        let table = table.to_string();
        let key_names = key_names.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(String, u64, Item)> = Vec::new();
            let mut start = None;
            let mut attempt = 0u32;
            loop {
                let r = client
                    .scan()
                    .table_name(&table)
                    .segment(seg)
                    .total_segments(segments)
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await;
                let page = match r {
                    Ok(p) => {
                        attempt = 0;
                        p
                    }
                    Err(e) => {
                        let code = e
                            .as_service_error()
                            .and_then(|s| s.code())
                            .unwrap_or("")
                            .to_string();
                        attempt += 1;
                        if attempt < 8
                            && (code.contains("Throttl")
                                || code.contains("ProvisionedThroughput")
                                || code.is_empty()
                                || code.contains("InternalServer"))
                        {
                            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                            continue;
                        }
                        return Err(AppError::Usage(format!(
                            "Scan of {table}: {}",
                            super::load::sdk_msg(&e)
                        )));
                    }
                };
                for it in page.items() {
                    let item = item_from_sdk(it).ok_or_else(|| {
                        AppError::Usage(format!("Scan of {table}: an attribute of an unknown type"))
                    })?;
                    let key = canonical_item(&key_of(&item, &key_names));
                    out.push((key, hash(&canonical_item(&item)), item));
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
            Ok::<_, AppError>(out)
        }));
    }
    let mut map = HashMap::new();
    for t in tasks {
        let part = t
            .await
            .map_err(|e| AppError::Usage(format!("scan task: {e}")))??;
        for (k, h, item) in part {
            // Keep the full item only while the table is small enough to
            // explain differences cheaply.
            let keep = if map.len() < 200_000 {
                item
            } else {
                Vec::new()
            };
            map.insert(k, (h, keep));
        }
    }
    Ok(map)
}

/// Attribute-level differences between a source and a target item.
fn explain(src: &Item, dst: &Item) -> String {
    let mut d = Vec::new();
    let canon = |a: &Attr| {
        let mut s = String::new();
        a.canonical(&mut s);
        if s.chars().count() > 120 {
            s = s.chars().take(117).collect::<String>() + "...";
        }
        s
    };
    for (n, a) in src {
        match dst.iter().find(|(k, _)| k == n) {
            None => d.push(format!("{n}: missing in target")),
            Some((_, b)) if canon(a) != canon(b) => {
                d.push(format!("{n}: source {} target {}", canon(a), canon(b)))
            }
            _ => {}
        }
    }
    for (n, _) in dst {
        if !src.iter().any(|(k, _)| k == n) {
            d.push(format!("{n}: only in target"));
        }
    }
    d.join("; ")
}

/// Compare the source table with the DynamoDB table.
pub fn verify_table(
    rt: &Runtime,
    client: &Client,
    table: &str,
    job: &TableJob,
    mapper: &Mapper,
    produce: &ProduceOptions,
    segments: i32,
) -> Result<VerifyReport, AppError> {
    let key_names: Vec<String> = std::iter::once(mapper.keys.partition.0.clone())
        .chain(mapper.keys.sort.as_ref().map(|s| s.0.clone()))
        .collect();
    let mut target = rt.block_on(scan_target(client, table, segments.max(1), &key_names))?;
    let mut r = VerifyReport {
        table: table.into(),
        target_items: target.len() as u64,
        ..VerifyReport::default()
    };
    let counters = Counters::default();
    let produce = ProduceOptions {
        delete_tombstoned: false,
        ..produce.clone()
    };
    for range in job.units(1) {
        produce_unit(job, mapper, &range, &produce, &counters, |op| {
            let Op::Put(item) = op else { return Ok(()) };
            r.source_items += 1;
            let key = canonical_item(&key_of(&item, &key_names));
            match target.remove(&key) {
                None => {
                    r.missing += 1;
                    if r.first_missing.len() < SHOW {
                        r.first_missing.push(super::key_text(&item, mapper));
                    }
                }
                Some((h, t)) => {
                    if h == hash(&canonical_item(&item)) {
                        r.matching += 1;
                    } else {
                        r.different += 1;
                        if r.first_different.len() < SHOW {
                            r.first_different.push(format!(
                                "{}: {}",
                                super::key_text(&item, mapper),
                                explain(&item, &t)
                            ));
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
    r.extra = target.len() as u64;
    r.oversize_skipped = counters.oversize.load(Ordering::Relaxed);
    for (_, (_, item)) in target.iter().take(SHOW) {
        r.first_extra.push(super::key_text(item, mapper));
    }
    Ok(r)
}
