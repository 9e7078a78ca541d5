//! Golden tests for the 2.1/2.2 (`ka`, `la`) sstables of ../shared/corpus,
//! asserting the MANIFEST facts.

mod common;
use common::*;
use serde_json::{json, Value};

fn ka(t: &str) -> std::path::PathBuf {
    corpus().join(format!("apache-cassandra/ka/legacy_tables/{t}"))
}

fn legacy_rows(p: &std::path::Path) -> Vec<Value> {
    rows(p, Some("legacy_ka.cql"))
}

#[test]
fn legacy_tables_of_ka_and_la() {
    let long = "0123456789".repeat(10).repeat(12);
    for v in ["ka", "la"] {
        let t =
            |k: &str| corpus().join(format!("apache-cassandra/{v}/legacy_tables/legacy_{v}_{k}"));
        for k in ["simple", "simple_compact"] {
            let r = legacy_rows(&t(k));
            assert_eq!(r.len(), 5, "{v} {k}");
            assert!(
                r.iter()
                    .all(|r| r["val"] == json!("foo bar baz") && r.as_object().unwrap().len() == 2),
                "{v} {k}"
            );
        }
        for (k, n) in [
            ("simple_counter", 5),
            ("simple_counter_compact", 5),
            ("clust_counter", 250),
            ("clust_counter_compact", 250),
        ] {
            let r = legacy_rows(&t(k));
            assert_eq!(r.len(), n, "{v} {k}");
            assert!(r.iter().all(|r| r["val"] == json!(1)), "{v} {k}");
        }
        for k in ["clust", "clust_compact"] {
            let r = legacy_rows(&t(k));
            assert_eq!(r.len(), 250, "{v} {k}");
            for row in &r {
                let ck = row["ck"].as_str().unwrap();
                assert!(
                    ck.ends_with(&long) && (ck.len() == 1201 || ck.len() == 1202),
                    "{v} {k}"
                );
                assert_eq!(row["val"].as_str().unwrap().len(), 128);
            }
        }
    }
}

#[test]
fn indexed_partitions_with_and_without_statics() {
    for t in ["legacy_ka_indexed", "legacy_ka_indexed_static"] {
        let r = legacy_rows(&ka(t));
        assert_eq!(r.len(), 5000, "{t}");
        assert!(r.iter().all(|row| row["p"] == json!(1)));
        let cs: Vec<i64> = r.iter().map(|row| row["c"].as_i64().unwrap()).collect();
        assert!(cs.windows(2).all(|w| w[0] < w[1]), "{t}: clustering order");
    }
}

#[test]
fn desc_clustering_with_statics_14873() {
    let r = legacy_rows(&ka("legacy_ka_14873"));
    let cc: Vec<i64> = r.iter().map(|row| row["cc"].as_i64().unwrap()).collect();
    assert_eq!(cc, [5, 4, 3, 2, 1]);
    for row in &r {
        assert_eq!(row["pkc"], json!(0));
        assert_eq!(row["sc"], json!(0));
        let d = row["cc"].as_i64().unwrap().to_string();
        assert_eq!(row["rc"], json!(d.repeat(256)));
    }
}

#[test]
fn collection_tombstone_14912_and_one_row_15081() {
    let r = legacy_rows(&ka("legacy_ka_14912"));
    assert_eq!(
        r,
        vec![
            json!({"k": 0, "v1": null, "v2": "abc"}),
            json!({"k": 1, "v1": ["abc"], "v2": "abc"})
        ]
    );
    let out = run_cli(&[
        "dump",
        "--with-meta",
        ka("legacy_ka_14912").to_str().unwrap(),
        "--schema",
        fixtures().join("schemas/legacy_ka.cql").to_str().unwrap(),
    ])
    .unwrap();
    assert!(out.contains("1543244999672280"), "{out}");
    let r = legacy_rows(&ka("legacy_ka_15081"));
    assert_eq!(r, vec![json!({"id": 1, "payload": "hello world"})]);
}

#[test]
fn range_tombstones_multi_block_and_repeated() {
    // Rows covered by the tombstones (c1 = 2 deleted at 200, rewritten at 300;
    // (2, 1..5) deleted at 250 in the compacted file) are decided by timestamp.
    let keys = |t: &str| -> Vec<(i64, i64)> {
        legacy_rows(&ka(t))
            .iter()
            .map(|r| (r["c1"].as_i64().unwrap(), r["c2"].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(
        keys("legacy_ka_flushed_multi_block_rt"),
        [(0, 0), (1, 1), (2, 0), (2, 1), (2, 2), (3, 0)]
    );
    assert_eq!(
        keys("legacy_ka_compacted_multi_block_rt"),
        [(0, 0), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3), (3, 0)]
    );
    let r = legacy_rows(&ka("legacy_ka_repeated_rt"));
    let k: Vec<(i64, i64, i64)> = r
        .iter()
        .map(|r| {
            (
                r["k1"].as_i64().unwrap(),
                r["c1"].as_i64().unwrap(),
                r["c2"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(k, [(1, 1, 1), (1, 1, 2), (1, 1, 3)]);
}

#[test]
fn dense_compact_tables_with_bytes_and_int() {
    let r = legacy_rows(&ka("legacy_ka_cql_created_dense_table_with_bytes"));
    assert_eq!(
        r,
        vec![json!({"pk": "key11", "ck": "key1", "v": "0x6279746520737472696e67"})]
    );
    let r = legacy_rows(&ka("legacy_ka_cql_created_dense_table_with_int"));
    assert_eq!(
        r,
        vec![json!({"pk": "key11", "ck": "key1", "v": 0x00aabbcc})]
    );
}

#[test]
fn foo_atable_rows_and_sstable2json_timestamps() {
    // From ka/foo/foo.cql.txt: the sstable2json dump of the ka file.
    let want = [
        (5, 1428529571195019i64),
        (10, 1428529588242944),
        (1, 1428529563371015),
        (8, 1428529582362836),
        (2, 1428529565275080),
        (4, 1428529569331171),
        (7, 1428529575898967),
        (6, 1428529573027018),
        (9, 1428529585667042),
        (3, 1428529567379095),
    ];
    let ddl = fixtures().join("schemas/legacy_ka.cql");
    for v in ["ka", "la"] {
        let p = corpus().join(format!("apache-cassandra/{v}/foo/atable"));
        let out = run_cli(&[
            "dump",
            "--with-meta",
            p.to_str().unwrap(),
            "--schema",
            ddl.to_str().unwrap(),
        ])
        .unwrap();
        let r: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(r.len(), 10);
        for (row, (k, ts)) in r.iter().zip(want) {
            assert_eq!(row["pk"], json!(k), "{v}");
            assert_eq!(row["val"], json!(k), "{v}");
            if v == "ka" {
                assert_eq!(row["_writetime"]["val"], json!(ts));
            }
        }
    }
}

#[test]
fn scylla_la_collections_keys_and_compact_tables() {
    let s = |t: &str| corpus().join(format!("scylladb/la/ks/{t}"));
    let r = rows(&s("list_pk"), Some("scylla_la.cql"));
    assert!(
        r.contains(&json!({"ss": ["0x31", "0x32", "0x33"], "ns": "3"})),
        "{r:?}"
    );
    let r = rows(&s("map_pk"), Some("scylla_la.cql"));
    assert!(
        r.contains(&json!({"ss": {"0x31": "0x31"}, "ns": "1"})),
        "{r:?}"
    );
    let r = rows(&s("compact_dense"), Some("scylla_la.cql"));
    assert_eq!(
        r,
        vec![
            json!({"ks": "0x66697273745f726f77", "cl1": "0x636c31", "cl2": "0x636c32", "cl3": "0x636c33"})
        ]
    );
    let r = rows(&s("compact_sparse"), Some("scylla_la.cql"));
    assert_eq!(r.len(), 2);
    assert!(
        r.contains(&json!({"ks": "0x66697273745f726f77", "cl1": "0x636c31", "cl2": "0x636c32"}))
    );
}

#[test]
fn raw_mode_without_schema() {
    // set: 3 cells and a collection tombstone over `favorites`.
    let p = corpus().join("scylladb/la/ks/set");
    // Without any schema, `dump` falls back to raw cells (with a warning on
    // stderr); `--format atoms` asks for them outright.
    let fallback = run_cli(&["dump", p.to_str().unwrap()]).unwrap();
    let out = run_cli(&["dump", "--format", "atoms", p.to_str().unwrap()]).unwrap();
    assert_eq!(fallback, out);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l.get("name").is_some()).count(), 3);
    let rt: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l.get("range_tombstone"))
        .collect();
    assert_eq!(rt.len(), 1);
    // The row marker is written at 1428855312063525 and, as Cassandra does for
    // a collection overwrite, the tombstone one microsecond earlier.
    assert!(out.contains("\"timestamp\": 1428855312063525"));
    assert_eq!(rt[0]["marked_deleted"], json!(1428855312063524i64));
    // Its local deletion time is the same instant in seconds. (MANIFEST.md
    // quotes 1297062948 from Scylla's test, which reads another field.)
    assert_eq!(rt[0]["local_delete_time"], json!(1428855312));
    // ttl: a row marker and a cell with ttl 3600 expiring at 1430154618.
    let out = run_cli(&[
        "dump",
        "--format",
        "atoms",
        corpus().join("scylladb/la/ks/ttl").to_str().unwrap(),
    ])
    .unwrap();
    assert!(
        out.contains("\"ttl\": 3600") && out.contains("\"local_delete_time\": 1430154618"),
        "{out}"
    );
    // deleted_cell: deletion time 1430200516 at 1430200516937621.
    let out = run_cli(&[
        "dump",
        "--format",
        "atoms",
        corpus()
            .join("scylladb/la/ks/deleted_cell")
            .to_str()
            .unwrap(),
    ])
    .unwrap();
    assert!(
        out.contains("\"timestamp\": 1430200516937621")
            && out.contains("\"local_delete_time\": 1430200516"),
        "{out}"
    );
}

#[test]
fn every_legacy_sstable_verifies_without_schema() {
    for d in [
        "apache-cassandra/ka",
        "apache-cassandra/la",
        "scylladb/la",
        "scylladb/ka",
    ] {
        let out = run_cli(&["verify", corpus().join(d).to_str().unwrap()])
            .unwrap_or_else(|e| panic!("{d}: {e}"));
        assert!(out.lines().all(|l| l.starts_with("OK")), "{out}");
    }
}

#[test]
fn illegal_cell_names_never_panic() {
    for t in [
        "legacy_ka_with_illegal_cell_names",
        "legacy_ka_with_illegal_cell_names_2",
        "legacy_ka_with_illegal_cell_names_indexed",
    ] {
        let p = ka(t);
        let _ = run_cli(&[
            "dump",
            p.to_str().unwrap(),
            "--schema",
            fixtures().join("schemas/legacy_ka.cql").to_str().unwrap(),
        ]);
        run_cli(&["dump", "--format", "atoms", p.to_str().unwrap()]).unwrap();
    }
}

#[test]
fn schema_of_a_2x_table_is_the_ddl_given() {
    let p = ka("legacy_ka_14873");
    let s = run_cli(&[
        "schema",
        p.to_str().unwrap(),
        "--schema",
        fixtures().join("schemas/legacy_ka.cql").to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(
        s,
        "CREATE TABLE legacy_tables.legacy_ka_14873 (\n    pkc int,\n    cc int,\n    sc int static,\n    rc text,\n    PRIMARY KEY (pkc, cc)\n) WITH CLUSTERING ORDER BY (cc DESC);\n"
    );
}
