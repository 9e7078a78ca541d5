//! Golden tests over the real Cassandra-written corpus in ../shared/corpus,
//! asserting the rows and values MANIFEST.md states.

mod common;
use common::*;
use serde_json::{json, Value};

const MODERN: &[&str] = &["ma", "mb", "mc", "md", "me", "na", "nb", "nc", "oa", "da"];
const WITH_COMPACT: &[&str] = &["ma", "mb", "mc", "md", "me", "na"];

fn long_string() -> String {
    "0123456789".repeat(10).repeat(12)
}

fn legacy(v: &str, t: &str) -> std::path::PathBuf {
    corpus().join(format!("apache-cassandra/{v}/legacy_tables/legacy_{v}_{t}"))
}

#[test]
fn legacy_simple_tables_every_version() {
    for v in MODERN {
        let mut kinds = vec!["simple"];
        if WITH_COMPACT.contains(v) {
            kinds.push("simple_compact");
        }
        for k in kinds {
            let rows = rows(&legacy(v, k), Some("legacy_tables.cql"));
            assert_eq!(rows.len(), 5, "{v} {k}");
            let mut pks: Vec<String> = rows
                .iter()
                .map(|r| r["pk"].as_str().unwrap().to_string())
                .collect();
            pks.sort();
            assert_eq!(pks, ["0", "1", "2", "3", "4"], "{v} {k}");
            for r in &rows {
                assert_eq!(r["val"], json!("foo bar baz"), "{v} {k}");
                assert_eq!(r.as_object().unwrap().len(), 2, "{v} {k}: {r}");
            }
        }
    }
}

#[test]
fn legacy_counter_tables_every_version() {
    for v in MODERN {
        let mut kinds = vec![("simple_counter", 5), ("clust_counter", 250)];
        if WITH_COMPACT.contains(v) {
            kinds.push(("simple_counter_compact", 5));
            kinds.push(("clust_counter_compact", 250));
        }
        for (k, n) in kinds {
            let rows = rows(&legacy(v, k), Some("legacy_tables.cql"));
            assert_eq!(rows.len(), n, "{v} {k}");
            for r in &rows {
                assert_eq!(r["val"], json!(1), "{v} {k}: {r}");
            }
        }
    }
}

#[test]
fn legacy_clustering_tables_every_version() {
    let long = long_string();
    for v in MODERN {
        let mut kinds = vec!["clust"];
        if WITH_COMPACT.contains(v) {
            kinds.push("clust_compact");
        }
        for k in kinds {
            let rows = rows(&legacy(v, k), Some("legacy_tables.cql"));
            assert_eq!(rows.len(), 250, "{v} {k}");
            let mut per_pk = std::collections::BTreeMap::<String, Vec<String>>::new();
            for r in &rows {
                let ck = r["ck"].as_str().unwrap();
                assert!(
                    ck.len() == 1201 || ck.len() == 1202,
                    "{v} {k}: clustering of {} chars",
                    ck.len()
                );
                assert_eq!(r["val"].as_str().unwrap().len(), 128, "{v} {k}");
                per_pk
                    .entry(r["pk"].as_str().unwrap().into())
                    .or_default()
                    .push(ck.to_string());
            }
            assert_eq!(per_pk.len(), 5);
            for cks in per_pk.values() {
                let mut want: Vec<String> = (0..50).map(|i| format!("{i}{long}")).collect();
                want.sort();
                // Rows come out in clustering (UTF-8 byte) order.
                assert_eq!(cks, &want, "{v} {k}");
            }
        }
    }
}

fn all_types_row(pk: i64) -> Value {
    let d = ["0.11", "0.22", "0.33", "0.44", "0.55"][pk as usize - 1];
    let f = ["0.1", "0.2", "0.3", "0.4", "0.5"][pk as usize - 1];
    json!({
        "pk": pk,
        "bool_val": pk % 2 == 1,
        "double_val": d.parse::<f64>().unwrap(),
        "float_val": f.parse::<f64>().unwrap(),
        "int_val": pk,
        "long_val": pk * 11,
        "timestamp_val": format!("2015-05-0{pk} {:02}:30:54.234Z", 8 + pk),
        "timeuuid_val": "50554d6e-29bb-11e5-b345-feff819cdc9f",
        "uuid_val": "01234567-0123-0123-0123-0123456789ab",
        "text_val": format!("variable length text {pk}"),
    })
}

#[test]
fn five_compressions_give_identical_all_type_rows() {
    let mut outputs = Vec::new();
    for c in ["uncompressed", "lz4", "snappy", "deflate", "zstd"] {
        let dir = corpus().join(format!(
            "scylladb/mc/test_ks/{c}__partition_key_with_values_of_different_types"
        ));
        let mut rows = rows(&dir, Some("scylla_test_ks.cql"));
        rows.sort_by_key(|r| r["pk"].as_i64());
        assert_eq!(rows.len(), 5, "{c}");
        for r in &rows {
            let pk = r["pk"].as_i64().unwrap();
            assert_eq!(r, &all_types_row(pk), "{c}");
        }
        outputs.push(rows);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}

fn mc(t: &str) -> std::path::PathBuf {
    corpus().join(format!("scylladb/mc/test_ks/{t}"))
}

#[test]
fn statics_collections_counters() {
    let mut r = rows(&mc("uncompressed__static_row"), Some("scylla_test_ks.cql"));
    r.sort_by_key(|r| r["pk"].as_i64());
    for (i, row) in r.iter().enumerate() {
        let i = i as i64 + 1;
        assert_eq!(
            row,
            &json!({"pk": i, "ck": 10 + i, "s": 100 + i, "val": 1000 + i})
        );
    }
    let mut r = rows(
        &mc("uncompressed__compound_static_row"),
        Some("scylla_test_ks.cql"),
    );
    r.sort_by_key(|r| r["pk"].as_i64());
    assert_eq!(
        r[0],
        json!({"pk": 1, "ck": 11, "s_int": 101, "s_text": "Text for 1", "s_inet": "10.0.0.1", "val": 1001})
    );
    let mut r = rows(&mc("uncompressed__collections"), Some("scylla_test_ks.cql"));
    r.sort_by_key(|r| r["pk"].as_i64());
    assert_eq!(r.len(), 5);
    for (i, row) in r.iter().enumerate() {
        let b = 3 * i as i64 + 1;
        assert_eq!(row["set_val"], json!([b, b + 1, b + 2]));
        assert_eq!(
            row["list_val"],
            json!([
                format!("Text {b}"),
                format!("Text {}", b + 1),
                format!("Text {}", b + 2)
            ])
        );
        let mut m = serde_json::Map::new();
        for k in b..b + 3 {
            m.insert(k.to_string(), json!(format!("Text {k}")));
        }
        assert_eq!(row["map_val"], Value::Object(m));
    }
    let mut r = rows(&mc("uncompressed__counters"), Some("scylla_test_ks.cql"));
    r.sort_by_key(|r| r["pk"].as_i64());
    assert_eq!(
        r,
        vec![
            json!({"pk": 1, "val": 3}),
            json!({"pk": 2, "val": 2}),
            json!({"pk": 3, "val": 6})
        ]
    );
}

#[test]
fn deleted_cells_and_range_tombstones() {
    let r = rows(
        &mc("uncompressed__deleted_cells"),
        Some("scylla_test_ks.cql"),
    );
    let vals: Vec<Value> = r.iter().map(|r| r["val"].clone()).collect();
    assert_eq!(
        vals,
        [
            json!(1001),
            Value::Null,
            json!(1003),
            Value::Null,
            json!(1005)
        ]
    );
    let r = rows(
        &mc("uncompressed__range_tombstones_simple"),
        Some("scylla_test_ks.cql"),
    );
    let cks: Vec<i64> = r.iter().map(|r| r["ck"].as_i64().unwrap()).collect();
    assert_eq!(cks, [101, 105, 106, 107, 108]);
    let r = rows(
        &mc("uncompressed__range_tombstones_partial"),
        Some("scylla_test_ks.cql"),
    );
    assert_eq!(r, vec![json!({"pk": 1, "ck1": 2, "ck2": 13})]);
    let r = rows(
        &corpus().join("apache-cassandra/mc/legacy_tables/legacy_mc_inaccurate_min_max"),
        None,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["v"], json!(4));
}

#[test]
fn subsets_of_columns_small_and_large() {
    let mut r = rows(
        &mc("uncompressed__subset_of_columns"),
        Some("scylla_test_ks.cql"),
    );
    r.sort_by_key(|r| r["pk"].as_i64());
    assert_eq!(
        r[3],
        json!({"pk": 4, "bool_val": false, "double_val": null, "float_val": null, "int_val": null, "long_val": null,
        "timestamp_val": null, "timeuuid_val": null, "uuid_val": null, "text_val": "variable length text 4"})
    );
    assert_eq!(
        r[4]["uuid_val"],
        json!("01234567-0123-0123-0123-0123456789ab")
    );
    assert_eq!(r[4]["bool_val"], Value::Null);
    let mut r = rows(&mc("uncompressed__large_subset_of_columns_sparse"), None);
    r.sort_by_key(|r| r["partitionkey"].as_i64());
    assert_eq!(r[1]["val2"], json!(22));
    assert_eq!(r[1]["val60"], json!(222222));
    assert_eq!(r[1]["val3"], Value::Null);
    assert_eq!(r[2]["val32"], json!(33));
    assert_eq!(r[2]["val33"], json!(333));
    for i in 1..=31 {
        assert_eq!(r[3][format!("val{i}")], json!(i), "pk 4 val{i}");
    }
    for i in 34..=64 {
        assert_eq!(r[4][format!("val{i}")], json!(i - 33), "pk 5 val{i}");
    }
    let mut r = rows(&mc("uncompressed__large_subset_of_columns_dense"), None);
    r.sort_by_key(|r| r["partitionkey"].as_i64());
    assert_eq!(r[0]["val29"], Value::Null);
    assert_eq!(r[0]["val64"], json!(64));
    assert_eq!(r[1]["val1"], Value::Null);
    assert_eq!(r[2]["val64"], Value::Null);
    assert_eq!(r[2]["val63"], json!(63));
}

#[test]
fn zstd_multiple_chunks_and_compound_keys() {
    let r = rows(&mc("zstd__multiple_chunks"), Some("scylla_test_ks.cql"));
    assert_eq!(r.len(), 2000);
    for (i, row) in r.iter().enumerate() {
        assert_eq!(row, &json!({"val1": 0, "val2": i as i64 + 1}));
    }
    let mut r = rows(&mc("uncompressed__compound_ck"), Some("scylla_test_ks.cql"));
    r.sort_by_key(|r| r["pk"].as_i64());
    assert_eq!(
        r[0],
        json!({"pk": 1, "ck_int": 101, "ck_text": "This is a string for 1", "ck_uuid": "f7fdcbd2-4544-482c-85fd-d9572adc3cd6", "ck_inet": "10.0.0.1", "val": 1001})
    );
}

#[test]
fn negative_local_expiration_tables() {
    let dir = |n| {
        corpus().join(format!(
            "apache-cassandra/mc/cql_test_keyspace/negative_local_expiration_table{n}"
        ))
    };
    let r = rows(&dir(1), Some("cql_test_keyspace.cql"));
    assert_eq!(
        r,
        vec![
            json!({"k": 1, "a": 1, "b": 1}),
            json!({"k": 2, "a": 2, "b": null})
        ]
    );
    let r = rows(&dir(2), Some("cql_test_keyspace.cql"));
    assert_eq!(
        r,
        vec![
            json!({"k": 1, "a": 1, "b": 1}),
            json!({"k": 2, "a": 2, "b": null})
        ]
    );
    let r = rows(&dir(3), Some("cql_test_keyspace.cql"));
    assert_eq!(
        r,
        vec![
            json!({"k": 1, "a": 1, "b": ["v11", "v12", "v13", "v14"]}),
            json!({"k": 2, "a": 2, "b": ["v21", "v22", "v23", "v24"]})
        ]
    );
    let r = rows(&dir(4), Some("cql_test_keyspace.cql"));
    assert_eq!(
        r,
        vec![
            json!({"k": 1, "a": 1, "b": ["v11", "v12", "v13", "v14"]}),
            json!({"k": 2, "a": 2, "b": ["v21", "v22", "v23", "v24"]})
        ]
    );
}

#[test]
fn negative_ldt_deletions_are_read() {
    // The wide variant: partition 22 holds rows whose range tombstone is older.
    let r = rows(
        &corpus().join("apache-cassandra/nb/cql_test_keyspace/invalid_range_tombstone_reader"),
        Some("cql_test_keyspace.cql"),
    );
    assert!(!r.is_empty() && r.iter().all(|row| row["id"] == json!(22)));
    for (v, t) in [
        ("nb", "invalid_range_tombstone_compaction"),
        ("nc", "invalid_tombstones"),
        ("nc", "invalid_partition_deletion"),
    ] {
        let r = rows(
            &corpus().join(format!("apache-cassandra/{v}/cql_test_keyspace/{t}")),
            Some("cql_test_keyspace.cql"),
        );
        assert!(
            r.contains(&json!({"id": 0, "id2": 0, "b": "0"})),
            "{t}: {r:?}"
        );
        assert!(
            r.contains(&json!({"id": 1, "id2": 1, "b": "1"})),
            "{t}: {r:?}"
        );
    }
}

#[test]
fn duplicate_row_sstable_reads_without_crash() {
    let r = rows(
        &corpus().join("apache-cassandra/mb/Keyspace1/cf_with_duplicates_3_0"),
        None,
    );
    assert!(!r.is_empty());
    assert!(r
        .iter()
        .all(|row| row["partitionkey"] == json!(1) && row["clustering"] == json!(2)));
}

#[test]
fn corrupted_checksums_fail_naming_the_chunk() {
    let base = corpus().join("scylladb/me/test_ks");
    for (dir, want) in [
        (
            "lz4__integrity_check/invalid_checksums",
            "checksum mismatch in chunk",
        ),
        (
            "uncompressed__integrity_check/invalid_checksums",
            "checksum mismatch in chunk",
        ),
        ("lz4__integrity_check/invalid_digest", "Digest"),
        ("uncompressed__integrity_check/invalid_digest", "Digest"),
    ] {
        let p = base.join(dir);
        let e = run_cli(&["dump", p.to_str().unwrap()])
            .expect_err(dir)
            .to_string();
        assert!(e.contains(want), "{dir}: {e}");
        assert!(e.contains("Data.db") || e.contains("Digest"), "{dir}: {e}");
        // With verification off, corrupted bytes may still fail to decode,
        // but never with a checksum error (and never a panic).
        if let Err(e) = run_cli(&["dump", "--no-verify", p.to_str().unwrap()]) {
            assert!(!e.to_string().contains("checksum mismatch"), "{dir}: {e}");
        }
    }
}

#[test]
fn unsupported_versions_are_clear_errors() {
    let p = corpus().join("apache-cassandra/jb/legacy_tables/legacy_jb_simple");
    let e = run_cli(&["dump", p.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported sstable version `jb`"), "{e}");
}

#[test]
fn every_modern_sstable_dumps_in_both_formats() {
    let mut n = 0;
    for e in walk(&corpus()) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(d) = sstable_format::Descriptor::parse_file_name(&name) else {
            continue;
        };
        if d.component != "Data.db"
            || d.version.check_supported().is_err()
            || d.version.is_legacy()
            || e.to_string_lossy().contains("integrity_check")
        {
            continue;
        }
        let p = e.to_string_lossy().into_owned();
        run_cli(&["dump", &p]).unwrap_or_else(|err| panic!("{p}: {err}"));
        let doc = run_cli(&["dump", "--format", "sstabledump", &p])
            .unwrap_or_else(|err| panic!("{p}: {err}"));
        let v: Value =
            serde_json::from_str(&doc).unwrap_or_else(|err| panic!("{p}: invalid JSON: {err}"));
        assert!(v.is_array());
        run_cli(&["info", "--json", &p]).unwrap_or_else(|err| panic!("{p}: {err}"));
        run_cli(&["schema", &p]).unwrap_or_else(|err| panic!("{p}: {err}"));
        n += 1;
    }
    assert!(n >= 100, "only {n} sstables found");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Tokens computed from keys agree with what Index.db, Summary.db and
/// Filter.db imply: partitions in token order, index keys and positions equal
/// to Data.db's, summary samples pointing at their index entries, and the
/// bloom filter containing every key (Murmur3, Random and ByteOrdered).
#[test]
fn verify_passes_on_every_modern_sstable() {
    let mut n = 0;
    for e in walk(&corpus()) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(d) = sstable_format::Descriptor::parse_file_name(&name) else {
            continue;
        };
        if d.component != "Data.db"
            || d.version.check_supported().is_err()
            || d.version.is_legacy()
            || e.to_string_lossy().contains("integrity_check")
        {
            continue;
        }
        let sst = sstable_reader::SSTable::open(&e).unwrap();
        let r = sstable_reader::verify::verify(&sst)
            .unwrap_or_else(|err| panic!("{}: {err}", e.display()));
        if sst.index.is_some() {
            assert_eq!(r.index_entries, r.partitions, "{}", e.display());
        }
        n += 1;
    }
    assert!(n >= 100);
}

#[test]
fn murmur3_tokens_match_cassandra() {
    use sstable_format::{Partitioner, Token};
    // SELECT token(pk) for int keys 1..5 on Murmur3Partitioner.
    let want = [
        (1i32, -4069959284402364209i64),
        (2, -3248873570005575792),
        (3, 9010454139840013625),
        (4, -2729420104000364805),
        (5, -7509452495886106294),
    ];
    for (k, t) in want {
        assert_eq!(Partitioner::Murmur3.token(&k.to_be_bytes()), Token::Long(t));
    }
    // The all-types table is stored in exactly that token order.
    let r = rows(
        &mc("uncompressed__partition_key_with_values_of_different_types"),
        Some("scylla_test_ks.cql"),
    );
    let pks: Vec<i64> = r.iter().map(|r| r["pk"].as_i64().unwrap()).collect();
    assert_eq!(pks, [5, 1, 2, 4, 3]);
}

#[test]
fn schema_names_keys_from_ddl_and_rejects_contradictions() {
    let p = legacy("oa", "clust");
    let s = run_cli(&[
        "schema",
        p.to_str().unwrap(),
        "--schema",
        fixtures()
            .join("schemas/legacy_tables.cql")
            .to_str()
            .unwrap(),
    ])
    .unwrap();
    assert!(
        s.contains("CREATE TABLE legacy_tables.legacy_oa_clust ("),
        "{s}"
    );
    assert!(s.contains("PRIMARY KEY (pk, ck)"), "{s}");
    assert!(!s.contains("placeholder"), "{s}");
    let s = run_cli(&["schema", p.to_str().unwrap()]).unwrap();
    assert!(s.contains("placeholders"), "{s}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cql");
    std::fs::write(&bad, "CREATE TABLE legacy_tables.legacy_oa_clust (pk int, ck text, val text, PRIMARY KEY (pk, ck));").unwrap();
    let e = run_cli(&[
        "dump",
        p.to_str().unwrap(),
        "--schema",
        bad.to_str().unwrap(),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`pk`") && e.contains("int") && e.contains("text"),
        "{e}"
    );
}

#[test]
fn key_lookup_and_meta() {
    let p = mc("uncompressed__static_row");
    let out = run_cli(&[
        "dump",
        p.to_str().unwrap(),
        "--key",
        "3",
        "--with-meta",
        "--schema",
        fixtures()
            .join("schemas/scylla_test_ks.cql")
            .to_str()
            .unwrap(),
    ])
    .unwrap();
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["pk"], json!(3));
    assert!(rows[0]["_writetime"]["val"].as_i64().unwrap() > 1_400_000_000_000_000);
    assert_eq!(rows[0]["_ttl"]["val"], Value::Null);
}

#[test]
fn bti_da_tables_equal_the_oa_ones() {
    for t in ["simple", "simple_counter", "clust", "clust_counter"] {
        let key = |r: &Value| {
            format!(
                "{}|{}",
                r["pk"],
                r.get("ck").map(|c| c.to_string()).unwrap_or_default()
            )
        };
        let mut da: Vec<String> = rows(&legacy("da", t), Some("legacy_tables.cql"))
            .iter()
            .map(key)
            .collect();
        let mut oa: Vec<String> = rows(&legacy("oa", t), Some("legacy_tables.cql"))
            .iter()
            .map(key)
            .collect();
        da.sort();
        oa.sort();
        assert_eq!(da, oa, "{t}");
    }
    let p = legacy("da", "clust");
    let out = run_cli(&["verify", p.to_str().unwrap()]).unwrap();
    assert!(out.starts_with("OK"), "{out}");
}
