//! The reader engine through the CLI: shards, token ranges, point lookups
//! and merging, on the Cassandra-written sample and corpus.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn sample(t: &str) -> String {
    fixtures()
        .join("sample/sample_ks")
        .join(t)
        .to_string_lossy()
        .into_owned()
}

fn schema() -> String {
    fixtures()
        .join("sample/schema.cql")
        .to_string_lossy()
        .into_owned()
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn shards_cover_every_partition_exactly_once() {
    for t in ["scalars", "collections", "events"] {
        let all: BTreeSet<String> = run_cli(&["dump", &sample(t), "--now", "1700000000"])
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        for n in [1, 2, 7, 64] {
            let mut seen = Vec::new();
            for i in 0..n {
                let shard = format!("{i}/{n}");
                let out = run_cli(&["dump", &sample(t), "--shard", &shard, "--now", "1700000000"])
                    .unwrap();
                seen.extend(out.lines().map(str::to_string));
            }
            let set: BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(seen.len(), set.len(), "{t}: a row in two shards of {n}");
            assert_eq!(set, all, "{t}: shards of {n} do not cover the table");
        }
    }
    let e = run_cli(&["dump", &sample("scalars"), "--shard", "3/3"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("I/N"), "{e}");
}

#[test]
fn token_ranges_split_the_table() {
    let all = run_cli(&["dump", &sample("scalars")])
        .unwrap()
        .lines()
        .count();
    let lo = run_cli(&["dump", &sample("scalars"), "--token-range", ":0"])
        .unwrap()
        .lines()
        .count();
    let hi = run_cli(&["dump", &sample("scalars"), "--token-range", "0:"])
        .unwrap()
        .lines()
        .count();
    assert_eq!(lo + hi, all);
    assert!(lo > 0 && hi > 0);
}

#[test]
fn get_equals_a_filtered_scan_for_every_key() {
    let rows = lines(
        &run_cli(&[
            "dump",
            &sample("scalars"),
            "--schema",
            &schema(),
            "--now",
            "1700000000",
        ])
        .unwrap(),
    );
    assert_eq!(rows.len(), 109);
    for r in &rows {
        let id = r["id"].to_string();
        let got = lines(
            &run_cli(&[
                "get",
                &sample("scalars"),
                "--schema",
                &schema(),
                "--key",
                &id,
                "--now",
                "1700000000",
            ])
            .unwrap(),
        );
        assert_eq!(got, vec![r.clone()], "id {id}");
    }
    // A key that is not there.
    assert_eq!(
        run_cli(&["get", &sample("scalars"), "--key", "123456789"]).unwrap(),
        ""
    );
    // Composite keys and a clustering slice.
    let all = lines(
        &run_cli(&[
            "dump",
            &sample("collections"),
            "--schema",
            &schema(),
            "--now",
            "1700000000",
        ])
        .unwrap(),
    );
    let want: Vec<&Value> = all
        .iter()
        .filter(|r| {
            r["pk"] == "part-8"
                && r["bucket"] == 1
                && r["ck"].as_i64().is_some_and(|c| (0..=5).contains(&c))
        })
        .collect();
    let got = lines(
        &run_cli(&[
            "get",
            &sample("collections"),
            "--schema",
            &schema(),
            "--key",
            "'part-8',1",
            "--from",
            "0",
            "--to",
            "5",
            "--now",
            "1700000000",
        ])
        .unwrap(),
    );
    assert_eq!(got.iter().collect::<Vec<_>>(), want);
}

#[test]
fn get_on_corpus_tables_of_every_version() {
    for v in ["ma", "mc", "me", "na", "nb", "oa", "da"] {
        let p = corpus().join(format!(
            "apache-cassandra/{v}/legacy_tables/legacy_{v}_clust"
        ));
        let p = p.to_string_lossy();
        let all = lines(&run_cli(&["dump", &p]).unwrap());
        for k in ["0", "3", "4"] {
            let got = lines(&run_cli(&["get", &p, "--key", k]).unwrap());
            let want: Vec<Value> = all
                .iter()
                .filter(|r| r["partitionkey"] == k)
                .cloned()
                .collect();
            assert_eq!(got.len(), 50, "{v} {k}");
            assert_eq!(got, want, "{v} {k}");
        }
    }
}

#[test]
fn parallel_dump_equals_the_sequential_one_in_token_order() {
    // Tiny units force many token slices, each dumped by its own worker.
    for (t, format) in ["scalars", "collections", "events"]
        .into_iter()
        .flat_map(|t| [(t, "rows"), (t, "sstabledump")])
    {
        for extra in [
            &[][..],
            &["--token-range", "-3000000000000000000:4000000000000000000"][..],
            &["--token-range", "5:6"][..],
        ] {
            let base = [
                "dump",
                &sample(t),
                "--schema",
                &schema(),
                "--now",
                "1700000000",
                "--format",
                format,
            ];
            let mut seq: Vec<&str> = base.to_vec();
            seq.extend_from_slice(&["--threads", "1"]);
            seq.extend_from_slice(extra);
            let mut par: Vec<&str> = base.to_vec();
            par.extend_from_slice(&["--threads", "2", "--unit-size", "64"]);
            par.extend_from_slice(extra);
            let a = run_cli(&seq).unwrap();
            let b = run_cli(&par).unwrap();
            assert!(!a.is_empty() || format == "rows", "{t} {format}");
            assert_eq!(a, b, "{t} {format} {extra:?}");
        }
    }
}

#[test]
fn parallel_sstabledump_cuts_wide_partitions_at_index_blocks() {
    // The sample rewritten with 64-byte promoted-index blocks: its
    // partitions span many blocks, and tiny units cut them at those blocks.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_string_lossy().into_owned();
    for t in ["scalars", "collections", "events"] {
        run_cli(&[
            "to-sstables",
            &sample(t),
            "--schema",
            &schema(),
            "--out",
            &root,
            "--version",
            "oa",
            "--column-index-size",
            "64",
            "--purge",
            "false",
            "--quiet",
        ])
        .unwrap();
    }
    let mut multi_block = 0;
    let mut files = 0;
    for t in ["scalars", "collections", "events"] {
        let d = dir.path().join("sample_ks").join(t);
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if !p.to_string_lossy().ends_with("-Data.db") {
                continue;
            }
            files += 1;
            let sst = sstable_reader::SSTable::open(&p).unwrap();
            multi_block += sst
                .index_entries()
                .into_iter()
                .flatten()
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.promoted.as_ref().is_some_and(|p| p.blocks.len() > 1))
                })
                .count();
            let f = p.to_string_lossy().into_owned();
            let base = ["dump", &f, "--format", "sstabledump", "--now", "1700000000"];
            let seq = run_cli(&[&base[..], &["--threads", "1"]].concat()).unwrap();
            for unit in ["64", "700", "5000"] {
                let par = run_cli(&[&base[..], &["--threads", "2", "--unit-size", unit]].concat())
                    .unwrap();
                assert_eq!(seq, par, "{f} --unit-size {unit}");
            }
        }
    }
    assert_eq!(files, 3);
    assert!(multi_block > 0, "no partition of several blocks to cut");
}

/// The item lines of one table's export, decompressed, in file order.
fn export_lines(dir: &std::path::Path) -> Vec<String> {
    let data = dir.join("sample_ks.events/data");
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let raw = std::fs::read(&f).unwrap();
        let name = f.to_string_lossy().into_owned();
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut s)
                .unwrap();
            s
        } else if name.ends_with(".zst") {
            let text = zstd::decode_all(&raw[..]).unwrap();
            // And by a decoder written apart from libzstd.
            let mut again = Vec::new();
            let mut d = ruzstd::decoding::StreamingDecoder::new(&raw[..]).unwrap();
            std::io::Read::read_to_end(&mut d, &mut again).unwrap();
            assert!(again == text, "{name}: ruzstd decodes other bytes");
            String::from_utf8(text).unwrap()
        } else {
            String::from_utf8(raw).unwrap()
        };
        out.extend(text.lines().map(str::to_string));
    }
    out
}

#[test]
fn compression_levels_change_only_the_compression() {
    let root = tempfile::tempdir().unwrap();
    let sample_path = sample("events");
    let schema_path = schema();
    let export = |name: &str, extra: &[&str]| {
        let out = root.path().join(name);
        let mut args = vec![
            "export",
            &sample_path,
            "--schema",
            &schema_path,
            "--now",
            "1700000000",
            "--out",
        ];
        let out_s = out.to_string_lossy().into_owned();
        args.push(&out_s);
        args.extend_from_slice(extra);
        run_cli(&args).map(|_| export_lines(&out))
    };
    let plain = export("plain", &["--compression", "none"]).unwrap();
    assert!(plain.len() > 10);
    for (name, args) in [
        ("zstd-default", &["--compression", "zstd"][..]),
        (
            "zstd-fastest",
            &["--compression", "zstd", "--compression-level", "-7"],
        ),
        (
            "zstd-19",
            &["--compression", "zstd", "--compression-level", "19"],
        ),
        ("gzip-default", &["--compression", "gzip"]),
        (
            "gzip-1",
            &["--compression", "gzip", "--compression-level", "1"],
        ),
        (
            "gzip-9",
            &["--compression", "gzip", "--compression-level", "9"],
        ),
    ] {
        assert_eq!(export(name, args).unwrap(), plain, "{name}");
    }
    for (args, says) in [
        (
            &["--compression", "gzip", "--compression-level", "10"][..],
            "0 to 9",
        ),
        (
            &["--compression", "zstd", "--compression-level", "23"],
            "-7 to 22",
        ),
        (
            &["--compression", "none", "--compression-level", "1"],
            "gzip or zstd",
        ),
    ] {
        let e = export("bad", args).unwrap_err().to_string();
        assert!(e.contains(says), "{args:?}: {e}");
    }
}
