//! The baseline of the live-load benchmark (`benches/dynamo.sh`): a bare
//! AWS SDK BatchWriteItem loop, 25 items per call, N calls in flight,
//! UnprocessedItems re-sent, over items already in DynamoDB JSON (an
//! uncompressed export file). No reading of sstables, no mapping.
//!
//!   cargo run --release -p migrate-cli --example ddb_bare_load -- FILE.json TABLE ENDPOINT CONCURRENCY

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use migrate_cli::dynamo::attr::{item_from_json, item_to_sdk};
use std::sync::Arc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, table, endpoint, conc] = &args[..] else {
        eprintln!("usage: ddb_bare_load FILE.json TABLE ENDPOINT CONCURRENCY");
        std::process::exit(2);
    };
    let conc: usize = conc.parse().expect("concurrency");
    let text = std::fs::read_to_string(file).expect("read items");
    let mut batches: Vec<Vec<WriteRequest>> = Vec::new();
    let mut cur = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let item = item_from_json(&v["Item"]).expect("item");
        cur.push(
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item_to_sdk(&item)))
                        .build()
                        .expect("put"),
                )
                .build(),
        );
        if cur.len() == 25 {
            batches.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    let conf = migrate_cli::dynamo::s3::sdk_config(Some(endpoint), None).await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let items: usize = batches.iter().map(Vec::len).sum();
    let queue = Arc::new(tokio::sync::Mutex::new(batches));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let queue = queue.clone();
        let client = client.clone();
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(mut reqs) = queue.lock().await.pop() else {
                    break;
                };
                while !reqs.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(&table, reqs.clone())
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    reqs = out
                        .unprocessed_items()
                        .and_then(|m| m.get(&table))
                        .cloned()
                        .unwrap_or_default();
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"items\": {items}, \"seconds\": {secs:.3}, \"items_per_second\": {:.0}}}",
        items as f64 / secs
    );
}
