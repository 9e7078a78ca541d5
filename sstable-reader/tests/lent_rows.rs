//! A table scan lends the rows of partitions that one sstable alone holds
//! (`Merger::lend_next`) and copies and merges the others. Both paths must
//! report the same events: every 3.0+ sstable of the corpus is scanned
//! alone (lent rows) and as two identical replicas (every partition
//! merged, each cell reconciled with its twin), which must agree event for
//! event, with and without cell deletions and purging.
//!
//! What this cannot show: a lent row under an older range tombstone of its
//! own sstable. Cassandra writes none (flushes and compactions drop
//! shadowed data), so the corpus has none; both kinds of row go through the
//! same code once their columns are mapped (`RowWalk::row`).

mod common;

use sstable_reader::table::{scan_table, TableScanOptions};
use sstable_reader::{SSTable, TableSchema};

fn events(ssts: &[&SSTable], schema: &TableSchema, opts: &TableScanOptions) -> Vec<String> {
    let mut out = Vec::new();
    let r = scan_table(ssts, schema, opts, |ev| {
        out.push(format!("{ev:?}"));
        Ok(())
    });
    // The error names the file: the same file either way.
    out.push(format!("{r:?}"));
    out
}

#[test]
fn lent_rows_report_what_merged_rows_report() {
    let files = common::corpus_data_files();
    let (mut tables, mut rows) = (0, 0);
    for f in &files {
        let Ok(sst) = SSTable::open(f) else { continue };
        if sst.legacy.is_some() {
            continue;
        }
        let schema = TableSchema::from_header("ks", "t", &sst.header);
        // Two counter shards with equal clocks merge into one context
        // written afresh, so replicas of counters are not byte-identical.
        let counters = schema
            .regulars
            .iter()
            .chain(&schema.statics)
            .any(|c| c.cql_type.is_counter());
        if counters {
            continue;
        }
        for (cell_deletions, purge_before, now) in [
            (true, None, 1_765_000_000),
            (true, Some(1_900_000_000), 1_800_000_000),
            (false, None, 1_800_000_000),
        ] {
            let opts = TableScanOptions {
                now,
                cell_deletions,
                purge_before,
                ..Default::default()
            };
            let lent = events(&[&sst], &schema, &opts);
            let merged = events(&[&sst, &sst], &schema, &opts);
            assert_eq!(lent, merged, "{}", f.display());
            rows += lent.len();
        }
        tables += 1;
    }
    assert!(tables > 100, "only {tables} sstables read");
    assert!(rows > 10_000, "only {rows} events");
}
