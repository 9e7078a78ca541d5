//! Whole 2.x sstables read as rows with a fixed schema: cells grouped into
//! rows, collection tombstones, and range tombstones swept into markers, then
//! merged with a second copy of themselves. Input: a version byte (even: ka,
//! odd: la), then an uncompressed Data.db.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_reader::ddl::parse_schema;
use sstable_reader::merge::Merger;
use sstable_reader::schema::TableSchema;
use sstable_reader::{SSTable, ScanOptions, Scanner};
use std::path::Path;

const DDL: &str = "CREATE TABLE ks.t (pk int, c1 text, c2 int, s int static, v set<text>, \
    w text, PRIMARY KEY (pk, c1, c2)) WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC);";
// Statistics.db of real 2.1 and 2.2 sstables (Data.db is the fuzzed part).
static KA_STATS: &[u8] = include_bytes!(
    "../../../shared/corpus/apache-cassandra/ka/legacy_tables/legacy_ka_clust/legacy_tables-legacy_ka_clust-ka-1-Statistics.db"
);
static LA_STATS: &[u8] =
    include_bytes!("../../../shared/corpus/apache-cassandra/la/legacy_tables/legacy_la_clust/la-1-big-Statistics.db");

fuzz_target!(|data: &[u8]| {
    let Some((v, data)) = data.split_first() else { return };
    let (prefix, stats) = if v & 1 == 0 { ("ks-t-ka-1-", KA_STATS) } else { ("la-1-big-", LA_STATS) };
    let schema_file = parse_schema(DDL).expect("the fixed DDL parses");
    let def = &schema_file.tables[0];
    let open = || {
        let parts = vec![("Data.db".to_string(), data.to_vec()), ("Statistics.db".to_string(), stats.to_vec())];
        SSTable::open_in_memory_with_schema(Path::new("fuzz"), prefix, parts, Some(def))
    };
    let (Ok(a), Ok(b)) = (open(), open()) else { return };
    let mut scan = Scanner::new(&a, ScanOptions { verify_checksums: false });
    'outer: for _ in 0..10_000 {
        match scan.next_partition() {
            Ok(Some(_)) => loop {
                match scan.next_unfiltered() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            },
            _ => break,
        }
    }
    let Ok(schema) = TableSchema::with_ddl("ks", "t", &a.header, def) else { return };
    let ctypes = schema.clustering.iter().map(|c| c.cql_type.clone()).collect();
    let mut m = Merger::new(&[&a, &b], ScanOptions { verify_checksums: false }, ctypes, schema.statics.clone(), schema.regulars.clone());
    for _ in 0..10_000 {
        match m.next_partition(a.partitioner) {
            Ok(Some(_)) => loop {
                match m.next_unfiltered() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            },
            _ => break,
        }
    }
});
