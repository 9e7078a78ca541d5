//! `to-dynamodb`: live loading with BatchWriteItem (or conditional
//! PutItem/DeleteItem for last-write-wins), retries with exponential
//! backoff and jitter, a write-capacity limit, progress, and checkpoints.
//!
//! Producers (one per `--threads`) walk units of the token ring and cut
//! their operations into batches; `--concurrency` writer tasks send them.
//! A unit's progress in the checkpoint is the number of its operations
//! acknowledged *in order*, so a resumed run re-sends at most the batches
//! that were in flight when the first run died.

use super::attr::{item_to_sdk, Attr, Item};
use super::checkpoint::Checkpoint;
use super::mapping::{KeySchema, KeyType, Mapper};
use super::{produce_unit, Counters, Op, ProduceOptions, Rng, TableJob};
use crate::app::AppError;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, DeleteRequest, KeySchemaElement, KeyType as DKeyType,
    PutRequest, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Options of a live load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub table: String,
    pub concurrency: usize,
    pub threads: usize,
    /// Write capacity units per second, at most.
    pub max_wcu: Option<f64>,
    /// Conditional puts on the writetime attribute (last write wins).
    pub conditional: bool,
    pub produce: ProduceOptions,
    pub checkpoint: Option<String>,
    /// The S3 client for an `s3://` checkpoint.
    pub checkpoint_s3: Option<super::s3::S3>,
    /// Remove the checkpoint once the load is complete (the default one).
    pub remove_checkpoint_when_done: bool,
    /// Attempts per batch before the run fails.
    pub max_attempts: u32,
    pub progress: bool,
}

/// What a load did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadSummary {
    pub table: String,
    pub source_table: String,
    pub rows: u64,
    /// Items acknowledged by DynamoDB in this run.
    pub items_written: u64,
    /// Items acknowledged in earlier runs of this checkpoint.
    pub items_written_before: u64,
    pub deletes: u64,
    pub conditional_skipped: u64,
    pub oversize_skipped: u64,
    pub oversize_keys: Vec<String>,
    pub numbers_as_strings: u64,
    pub batches: u64,
    pub retries: u64,
    pub throttled: u64,
    pub unprocessed_retried: u64,
    pub server_errors: u64,
    pub bytes: u64,
    pub units: u64,
    pub units_resumed: u64,
    pub seconds: f64,
    pub items_per_second: f64,
    pub checkpoint: Option<String>,
}

#[derive(Default)]
struct Stats {
    written: AtomicU64,
    deletes: AtomicU64,
    conditional_skipped: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    unprocessed: AtomicU64,
    server_errors: AtomicU64,
    bytes: AtomicU64,
}

/// A batch: consecutive operations of one unit.
struct Batch {
    unit: u64,
    seq: u64,
    ops: Vec<Op>,
}

/// Per-unit in-order acknowledgement.
#[derive(Default)]
pub(crate) struct Track {
    next: u64,
    acked: u64,
    pending: BTreeMap<u64, (u64, u64)>,
    batches: Option<u64>,
}

/// Which operations of which units the target acknowledged, in order;
/// it keeps the checkpoint.
pub(crate) struct Tracker {
    units: Mutex<HashMap<u64, Track>>,
    pub(crate) ck: Checkpoint,
}

impl Tracker {
    pub(crate) fn new(ck: Checkpoint) -> Tracker {
        Tracker {
            units: Mutex::new(HashMap::new()),
            ck,
        }
    }

    pub(crate) fn start(&self, unit: u64, skipped: u64) {
        if let Ok(mut g) = self.units.lock() {
            g.insert(
                unit,
                Track {
                    acked: skipped,
                    ..Track::default()
                },
            );
        }
    }

    /// Batch `seq` of `unit` (`ops` operations, `items` written) is done.
    pub(crate) fn complete(
        &self,
        unit: u64,
        seq: u64,
        ops: u64,
        items: u64,
    ) -> Result<(), AppError> {
        let (progress, done, new_items) = {
            let mut g = self
                .units
                .lock()
                .map_err(|_| AppError::Usage("tracker lock".into()))?;
            let t = g.entry(unit).or_default();
            t.pending.insert(seq, (ops, items));
            let mut new_items = 0;
            let mut moved = false;
            while let Some((o, i)) = t.pending.remove(&t.next) {
                t.acked += o;
                new_items += i;
                t.next += 1;
                moved = true;
            }
            let done = t.batches.is_some_and(|b| t.next >= b);
            (moved.then_some(t.acked), done, new_items)
        };
        if done {
            self.ck.set_done(unit, Vec::new(), new_items)
        } else if let Some(p) = progress {
            self.ck.set_progress(unit, p, new_items)
        } else {
            Ok(())
        }
    }

    /// Are the first `batches` batches of `unit` acknowledged?
    pub(crate) fn acked_all(&self, unit: u64, batches: u64) -> bool {
        self.units
            .lock()
            .map(|g| g.get(&unit).is_some_and(|t| t.next >= batches))
            .unwrap_or(false)
    }

    /// The producer of `unit` made `batches` batches in all.
    pub(crate) fn end(&self, unit: u64, batches: u64) -> Result<(), AppError> {
        let done = {
            let mut g = self
                .units
                .lock()
                .map_err(|_| AppError::Usage("tracker lock".into()))?;
            let t = g.entry(unit).or_default();
            t.batches = Some(batches);
            t.next >= batches
        };
        if done {
            self.ck.set_done(unit, Vec::new(), 0)?;
        }
        Ok(())
    }
}

/// A shared write-capacity limiter (token bucket).
struct Limiter {
    rate: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Limiter {
    async fn take(&self, units: f64) {
        loop {
            let wait = {
                let mut g = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(g.1).as_secs_f64() * self.rate;
                g.0 = (g.0 + refill).min(self.rate.max(units));
                g.1 = now;
                if g.0 >= units {
                    g.0 -= units;
                    return;
                }
                (units - g.0) / self.rate
            };
            tokio::time::sleep(Duration::from_secs_f64(wait.min(1.0))).await;
        }
    }
}

/// Write capacity an item consumes (1 WCU per started KB).
fn wcu(item: &Item) -> f64 {
    (super::attr::item_size(item) as f64 / 1024.0)
        .ceil()
        .max(1.0)
}

/// Build a DynamoDB client for `endpoint`/`region`, with the SDK's own
/// retries off (we retry, and count).
pub fn client(rt: &Runtime, endpoint: Option<&str>, region: Option<&str>) -> Client {
    let conf = rt.block_on(super::s3::sdk_config(endpoint, region));
    let dconf = aws_sdk_dynamodb::config::Builder::from(&conf)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    Client::from_conf(dconf)
}

fn scalar_type(t: KeyType) -> ScalarAttributeType {
    match t {
        KeyType::S => ScalarAttributeType::S,
        KeyType::N => ScalarAttributeType::N,
        KeyType::B => ScalarAttributeType::B,
    }
}

/// A short message for an SDK error: the service's code and message, or
/// the transport failure.
pub fn sdk_msg<E: std::error::Error + ProvideErrorMetadata + 'static>(
    e: &aws_sdk_dynamodb::error::SdkError<E>,
) -> String {
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("(no message)")
        ),
        None => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    }
}

/// Create the table (on demand) if it does not exist; check its key schema
/// if it does.
pub async fn ensure_table(
    client: &Client,
    name: &str,
    keys: &KeySchema,
    create: bool,
) -> Result<(), AppError> {
    let want: Vec<(String, &str, &str)> =
        std::iter::once((keys.partition.0.clone(), "HASH", keys.partition.1.as_str()))
            .chain(
                keys.sort
                    .iter()
                    .map(|(n, t)| (n.clone(), "RANGE", t.as_str())),
            )
            .collect();
    let mut attempt = 0u32;
    let described = loop {
        let r = client.describe_table().table_name(name).send().await;
        match &r {
            Err(e)
                if attempt < 12
                    && !e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception())
                    && retryable(e, &Stats::default()) =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50u64 << attempt.min(6))).await;
            }
            _ => break r,
        }
    };
    match described {
        Ok(d) => {
            let t = d.table();
            let have: Vec<(String, String, String)> = t
                .map(|t| {
                    t.key_schema()
                        .iter()
                        .map(|k| {
                            let ty = t
                                .attribute_definitions()
                                .iter()
                                .find(|a| a.attribute_name() == k.attribute_name())
                                .map(|a| a.attribute_type().as_str().to_string())
                                .unwrap_or_default();
                            (
                                k.attribute_name().to_string(),
                                k.key_type().as_str().to_string(),
                                ty,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let same = have.len() == want.len()
                && want
                    .iter()
                    .all(|(n, k, ty)| have.iter().any(|h| h.0 == *n && h.1 == *k && h.2 == *ty));
            if !same {
                return Err(AppError::Usage(format!(
                    "DynamoDB table {name} has the key schema {have:?}, but the mapping gives {want:?}"
                )));
            }
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            if !create {
                return Err(AppError::Usage(format!(
                    "DynamoDB table {name} does not exist (add --create-table to create it)"
                )));
            }
            let mut req = client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest);
            for (n, k, ty) in &want {
                let ty = match *ty {
                    "N" => KeyType::N,
                    "B" => KeyType::B,
                    _ => KeyType::S,
                };
                req = req
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(n)
                            .attribute_type(scalar_type(ty))
                            .build()
                            .map_err(|e| AppError::Usage(e.to_string()))?,
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(n)
                            .key_type(if *k == "HASH" {
                                DKeyType::Hash
                            } else {
                                DKeyType::Range
                            })
                            .build()
                            .map_err(|e| AppError::Usage(e.to_string()))?,
                    );
            }
            req.send().await.map_err(|e| {
                AppError::Usage(format!("creating DynamoDB table {name}: {}", sdk_msg(&e)))
            })?;
            for _ in 0..600 {
                let d = client.describe_table().table_name(name).send().await;
                if let Ok(d) = d {
                    if d.table().and_then(|t| t.table_status()).map(|s| s.as_str())
                        == Some("ACTIVE")
                    {
                        return Ok(());
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(AppError::Usage(format!(
                "DynamoDB table {name} did not become ACTIVE"
            )))
        }
        Err(e) => Err(AppError::Usage(format!(
            "describing DynamoDB table {name}: {}",
            sdk_msg(&e)
        ))),
    }
}

/// Is this error worth retrying? (throttling, capacity, 5xx, transport)
fn retryable<E: std::error::Error + ProvideErrorMetadata + 'static>(
    e: &aws_sdk_dynamodb::error::SdkError<E>,
    stats: &Stats,
) -> bool {
    use aws_sdk_dynamodb::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("");
            let status = s.raw().status().as_u16();
            if code.contains("ProvisionedThroughputExceeded")
                || code.contains("Throttling")
                || code.contains("RequestLimitExceeded")
            {
                stats.throttled.fetch_add(1, Ordering::Relaxed);
                true
            } else if status >= 500
                || code.contains("InternalServerError")
                || code.contains("ServiceUnavailable")
            {
                stats.server_errors.fetch_add(1, Ordering::Relaxed);
                true
            } else {
                false
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            stats.server_errors.fetch_add(1, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

struct Writer {
    client: Client,
    table: String,
    keys: KeySchema,
    writetime_attr: Option<String>,
    conditional: bool,
    max_attempts: u32,
    limiter: Option<Limiter>,
    stats: Stats,
}

impl Writer {
    async fn backoff(attempt: u32, rng: &Mutex<Rng>) {
        // Full jitter: uniform in [0, min(cap, base * 2^attempt)].
        let cap = 5_000u64;
        let exp = 25u64.saturating_mul(1 << attempt.min(16)).min(cap);
        let ms = rng
            .lock()
            .map(|mut r| r.next_u64() % (exp + 1))
            .unwrap_or(exp);
        tokio::time::sleep(Duration::from_millis(ms.max(5))).await;
    }

    /// Write one batch; returns the number of items written.
    async fn write(&self, ops: &[Op], rng: &Mutex<Rng>) -> Result<u64, AppError> {
        if let Some(l) = &self.limiter {
            let units: f64 = ops
                .iter()
                .map(|o| match o {
                    Op::Put(i) | Op::Delete(i, _) => wcu(i),
                    Op::DeletePartition(..) => 1.0,
                })
                .sum();
            l.take(units).await;
        }
        if self.conditional {
            return self.write_conditional(ops, rng).await;
        }
        let mut requests: Vec<WriteRequest> = Vec::with_capacity(ops.len());
        let mut items = 0u64;
        for op in ops {
            match op {
                Op::Put(item) => {
                    items += 1;
                    self.stats
                        .bytes
                        .fetch_add(super::attr::item_size(item) as u64, Ordering::Relaxed);
                    requests.push(
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item_to_sdk(item)))
                                    .build()
                                    .map_err(|e| AppError::Usage(e.to_string()))?,
                            )
                            .build(),
                    );
                }
                Op::Delete(key, _) => {
                    self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                    requests.push(
                        WriteRequest::builder()
                            .delete_request(
                                DeleteRequest::builder()
                                    .set_key(Some(item_to_sdk(key)))
                                    .build()
                                    .map_err(|e| AppError::Usage(e.to_string()))?,
                            )
                            .build(),
                    );
                }
                Op::DeletePartition(pk, ts) => {
                    self.delete_partition(pk, *ts, rng).await?;
                }
            }
        }
        let mut attempt = 0u32;
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(self.table.clone(), requests.clone())
                .send()
                .await;
            match out {
                Ok(o) => {
                    let left = o
                        .unprocessed_items()
                        .and_then(|m| m.get(&self.table))
                        .cloned()
                        .unwrap_or_default();
                    if left.is_empty() {
                        requests.clear();
                        break;
                    }
                    self.stats
                        .unprocessed
                        .fetch_add(left.len() as u64, Ordering::Relaxed);
                    requests = left;
                }
                Err(e) => {
                    if !retryable(&e, &self.stats) {
                        return Err(AppError::Usage(format!(
                            "BatchWriteItem on {}: {}",
                            self.table,
                            sdk_msg(&e)
                        )));
                    }
                }
            }
            attempt += 1;
            if attempt >= self.max_attempts {
                return Err(AppError::Usage(format!(
                    "BatchWriteItem on {}: still failing after {attempt} attempts (throttling or server errors)",
                    self.table
                )));
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            Self::backoff(attempt, rng).await;
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        Ok(items)
    }

    /// Retry a single-item call until it succeeds, fails for good, or its
    /// condition fails (`Ok(false)`).
    async fn retry<F, Fut, T, E>(
        &self,
        what: &str,
        rng: &Mutex<Rng>,
        mut f: F,
    ) -> Result<bool, AppError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, aws_sdk_dynamodb::error::SdkError<E>>>,
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(_) => return Ok(true),
                Err(e) => {
                    if e.as_service_error()
                        .and_then(|s| s.code())
                        .is_some_and(|c| c.contains("ConditionalCheckFailed"))
                    {
                        return Ok(false);
                    }
                    if !retryable(&e, &self.stats) {
                        return Err(AppError::Usage(format!(
                            "{what} on {}: {}",
                            self.table,
                            sdk_msg(&e)
                        )));
                    }
                }
            }
            attempt += 1;
            if attempt >= self.max_attempts {
                return Err(AppError::Usage(format!(
                    "{what} on {}: still failing after {attempt} attempts",
                    self.table
                )));
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            Self::backoff(attempt, rng).await;
        }
    }

    async fn write_conditional(&self, ops: &[Op], rng: &Mutex<Rng>) -> Result<u64, AppError> {
        let wt = self
            .writetime_attr
            .clone()
            .unwrap_or_else(|| "_writetime".into());
        let pk = self.keys.partition.0.clone();
        let mut items = 0;
        for op in ops {
            match op {
                Op::Put(item) => {
                    let ts = item.iter().find(|(n, _)| *n == wt).map(|(_, a)| a.clone());
                    let Some(Attr::N(ts)) = ts else {
                        return Err(AppError::Usage(format!(
                            "--conditional needs the writetime attribute {wt:?} on every item"
                        )));
                    };
                    let sdk = item_to_sdk(item);
                    self.stats
                        .bytes
                        .fetch_add(super::attr::item_size(item) as u64, Ordering::Relaxed);
                    let ok = self
                        .retry("PutItem", rng, || {
                            self.client
                                .put_item()
                                .table_name(&self.table)
                                .set_item(Some(sdk.clone()))
                                .condition_expression("attribute_not_exists(#pk) OR #wt < :wt")
                                .expression_attribute_names("#pk", &pk)
                                .expression_attribute_names("#wt", &wt)
                                .expression_attribute_values(":wt", Attr::N(ts.clone()).to_sdk())
                                .send()
                        })
                        .await?;
                    if ok {
                        items += 1;
                    } else {
                        self.stats
                            .conditional_skipped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Op::Delete(key, ts) => {
                    let key = item_to_sdk(key);
                    let ts = ts.unwrap_or(i64::MAX).to_string();
                    let ok = self
                        .retry("DeleteItem", rng, || {
                            self.client
                                .delete_item()
                                .table_name(&self.table)
                                .set_key(Some(key.clone()))
                                .condition_expression("attribute_not_exists(#wt) OR #wt <= :ts")
                                .expression_attribute_names("#wt", &wt)
                                .expression_attribute_values(":ts", Attr::N(ts.clone()).to_sdk())
                                .send()
                        })
                        .await?;
                    if ok {
                        self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats
                            .conditional_skipped
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Op::DeletePartition(pkv, ts) => self.delete_partition(pkv, *ts, rng).await?,
            }
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        Ok(items)
    }

    /// Delete the items of partition `pkv` written at or before `ts` (all
    /// of them when there is no writetime attribute).
    async fn delete_partition(
        &self,
        pkv: &Attr,
        ts: i64,
        rng: &Mutex<Rng>,
    ) -> Result<(), AppError> {
        let pk = &self.keys.partition.0;
        let mut start: Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> = None;
        loop {
            let mut page = None;
            let mut attempt = 0;
            while page.is_none() {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", pk)
                    .expression_attribute_values(":pk", pkv.to_sdk())
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await;
                match out {
                    Ok(o) => page = Some(o),
                    Err(e) => {
                        if !retryable(&e, &self.stats) || attempt + 1 >= self.max_attempts {
                            return Err(AppError::Usage(format!(
                                "Query on {}: {}",
                                self.table,
                                sdk_msg(&e)
                            )));
                        }
                        attempt += 1;
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        Self::backoff(attempt, rng).await;
                    }
                }
            }
            let Some(page) = page else { break };
            for item in page.items() {
                let older = match (
                    &self.writetime_attr,
                    item.get(self.writetime_attr.as_deref().unwrap_or("")),
                ) {
                    (Some(_), Some(aws_sdk_dynamodb::types::AttributeValue::N(n))) => {
                        n.parse::<i64>().map_or(true, |w| w <= ts)
                    }
                    _ => true,
                };
                if !older {
                    continue;
                }
                let mut key = HashMap::new();
                for name in std::iter::once(pk).chain(self.keys.sort.as_ref().map(|s| &s.0)) {
                    if let Some(v) = item.get(name) {
                        key.insert(name.clone(), v.clone());
                    }
                }
                self.retry("DeleteItem", rng, || {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(key.clone()))
                        .send()
                })
                .await?;
                self.stats.deletes.fetch_add(1, Ordering::Relaxed);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(())
    }
}

/// Load one table.
pub fn load_table(
    rt: &Runtime,
    client: Client,
    job: &TableJob,
    mapper: &Mapper,
    opts: &LoadOptions,
) -> Result<LoadSummary, AppError> {
    let started = Instant::now();
    let n = (job.data_bytes() / (32 << 20)).clamp(opts.threads as u64 * 4, 4096);
    let units = job.units(n);
    let mut fingerprint = job.fingerprint(&format!(
        "to-dynamodb|{}|{}|{:?}|{}|{}|{:?}",
        opts.table,
        units.len(),
        mapper.cfg,
        opts.conditional,
        opts.produce.delete_tombstoned,
        opts.produce.on_oversize
    ));
    if let Some(p) = opts.produce.purge_before {
        fingerprint.push_str(&format!("|purge-before={p:?}"));
    }
    let ck = Checkpoint::open(
        opts.checkpoint.as_deref(),
        &fingerprint,
        opts.produce.now,
        units.len() as u64,
        || {
            opts.checkpoint_s3
                .clone()
                .ok_or_else(|| AppError::Usage("no S3 client for the checkpoint".into()))
        },
    )?;
    let st = ck.state();
    let produce = ProduceOptions {
        now: st.now,
        ..opts.produce.clone()
    };
    let resumed = st.done.len() as u64;
    let written_before = st.written;
    let tracker = Arc::new(Tracker::new(ck));
    let writer = Arc::new(Writer {
        client,
        table: opts.table.clone(),
        keys: mapper.keys.clone(),
        writetime_attr: mapper.cfg.writetime_attribute.clone(),
        conditional: opts.conditional,
        max_attempts: opts.max_attempts.max(1),
        limiter: opts.max_wcu.map(|r| Limiter {
            rate: r.max(1.0),
            state: tokio::sync::Mutex::new((r.max(1.0), Instant::now())),
        }),
        stats: Stats::default(),
    });
    let failed = Arc::new(AtomicBool::new(false));
    let failure: Arc<Mutex<Option<AppError>>> = Arc::new(Mutex::new(None));
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {human_pos} items ({per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        Some(b)
    } else {
        None
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(opts.concurrency.max(1) * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut handles = Vec::new();
    for w in 0..opts.concurrency.max(1) {
        let rx = rx.clone();
        let writer = writer.clone();
        let tracker = tracker.clone();
        let failed = failed.clone();
        let failure = failure.clone();
        let bar = bar.clone();
        handles.push(rt.spawn(async move {
            let rng = Mutex::new(Rng::new(w as u64 + 7919));
            loop {
                let b = { rx.lock().await.recv().await };
                let Some(b) = b else { break };
                if failed.load(Ordering::Relaxed) {
                    continue;
                }
                let n_ops = b.ops.len() as u64;
                let res = match writer.write(&b.ops, &rng).await {
                    Ok(items) => {
                        writer.stats.written.fetch_add(items, Ordering::Relaxed);
                        if let Some(bar) = &bar {
                            bar.inc(items);
                            bar.set_message(format!(
                                "retries {} · {} MB",
                                writer.stats.retries.load(Ordering::Relaxed),
                                writer.stats.bytes.load(Ordering::Relaxed) >> 20
                            ));
                        }
                        tracker.complete(b.unit, b.seq, n_ops, items)
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = res {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let counters = Counters::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| AppError::Usage(format!("thread pool: {e}")))?;
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
                let mut batch: Vec<Op> = Vec::with_capacity(25);
                let send = |batch: Vec<Op>, seq: &mut u64| -> Result<(), AppError> {
                    if failed.load(Ordering::Relaxed) {
                        return Err(AppError::Usage("stopped".into()));
                    }
                    let b = Batch {
                        unit: u,
                        seq: *seq,
                        ops: batch,
                    };
                    *seq += 1;
                    tx.blocking_send(b)
                        .map_err(|_| AppError::Usage("writers stopped".into()))
                };
                produce_unit(job, mapper, range, &produce, &counters, |op| {
                    index += 1;
                    if index <= skip {
                        return Ok(());
                    }
                    if let Op::DeletePartition(pk, ts) = &op {
                        // A partition deletion must land before the puts that
                        // follow it (rows written after the deletion): send
                        // what is pending, wait for it, delete, go on.
                        if !batch.is_empty() {
                            send(std::mem::take(&mut batch), &mut seq)?;
                        }
                        while !tracker.acked_all(u, seq) {
                            if failed.load(Ordering::Relaxed) {
                                return Err(AppError::Usage("stopped".into()));
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        let rng = Mutex::new(Rng::new(index));
                        rt.block_on(writer.delete_partition(pk, *ts, &rng))?;
                        tracker.complete(u, seq, 1, 0)?;
                        seq += 1;
                        return Ok(());
                    }
                    batch.push(op);
                    if batch.len() >= 25 {
                        send(
                            std::mem::replace(&mut batch, Vec::with_capacity(25)),
                            &mut seq,
                        )?;
                    }
                    Ok(())
                })?;
                if !batch.is_empty() {
                    send(batch, &mut seq)?;
                }
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
            "{e}\nThe load stopped; what DynamoDB acknowledged is recorded in the checkpoint{}. \
             Run the same command again to resume.",
            opts.checkpoint
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
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
    let written = s.written.load(Ordering::Relaxed);
    Ok(LoadSummary {
        table: opts.table.clone(),
        source_table: format!("{}.{}", job.schema.keyspace, job.schema.table),
        rows: counters.rows.load(Ordering::Relaxed),
        items_written: written,
        items_written_before: written_before,
        deletes: s.deletes.load(Ordering::Relaxed),
        conditional_skipped: s.conditional_skipped.load(Ordering::Relaxed),
        oversize_skipped: counters.oversize.load(Ordering::Relaxed),
        oversize_keys: counters
            .oversize_keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default(),
        numbers_as_strings: mapper.stats.numbers_as_strings.load(Ordering::Relaxed),
        batches: s.batches.load(Ordering::Relaxed),
        retries: s.retries.load(Ordering::Relaxed),
        throttled: s.throttled.load(Ordering::Relaxed),
        unprocessed_retried: s.unprocessed.load(Ordering::Relaxed),
        server_errors: s.server_errors.load(Ordering::Relaxed),
        bytes: s.bytes.load(Ordering::Relaxed),
        units: units.len() as u64,
        units_resumed: resumed,
        seconds: secs,
        items_per_second: if secs > 0.0 {
            written as f64 / secs
        } else {
            0.0
        },
        checkpoint: opts.checkpoint.clone(),
    })
}
