//! Property test of the sstable writer: random partitions (rows with
//! liveness, TTLs, expired liveness, row/complex/partition deletions,
//! tombstone and expiring cells, collections, statics, range-tombstone
//! bounds and boundaries, ASC and DESC clustering) are written as `nb` and
//! `oa` sstables, with small promoted-index blocks, then read back by our
//! reader: every partition, row, marker, cell and its metadata must come
//! back byte for byte, and Index/Summary/Filter/checksums must verify.

use migrate_cli::sstables::encode::{column_layout, Layout};
use migrate_cli::sstables::metadata::HeaderTypes;
use migrate_cli::sstables::{SstWriter, WriterOptions};
use proptest::prelude::*;
use sstable_format::compare::compare_clustering;
use sstable_format::compression::Codec;
use sstable_format::data::{
    BoundKind, DeletionTime, LivenessInfo, Unfiltered, EXPIRED_LIVENESS_TTL, NO_DELETION_TIME,
};
use sstable_format::statistics::EncodingStats;
use sstable_format::{CqlType, Partitioner, Version};
use sstable_reader::merge::{OwnedCell, OwnedColumn, OwnedMarker, OwnedRow};
use sstable_reader::{SSTable, ScanOptions, Scanner};
use std::cmp::Ordering;
use std::collections::BTreeMap;

const BASE_TS: i64 = 1_700_000_000_000_000;
const BASE_LDT: i64 = 1_700_000_000;

#[derive(Debug, Clone)]
enum GenCell {
    Live(i64, Vec<u8>),
    Expiring(i64, i32, i64, Vec<u8>),
    Tombstone(i64, i64),
}

fn gen_cell(value: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = GenCell> {
    (0i64..4, 0u8..3, 1i32..100_000, 0i64..1000, value).prop_map(|(ts, k, ttl, ldt, v)| {
        let ts = BASE_TS + ts;
        match k {
            0 => GenCell::Live(ts, v),
            1 => GenCell::Expiring(ts, ttl, BASE_LDT + ldt, v),
            _ => GenCell::Tombstone(ts, BASE_LDT + ldt),
        }
    })
}

fn owned(c: &GenCell, path: Option<Vec<u8>>) -> OwnedCell {
    match c {
        GenCell::Live(ts, v) => OwnedCell {
            timestamp: *ts,
            ttl: 0,
            local_deletion_time: NO_DELETION_TIME,
            is_tombstone: false,
            is_expiring: false,
            path,
            value: v.clone(),
        },
        GenCell::Expiring(ts, ttl, ldt, v) => OwnedCell {
            timestamp: *ts,
            ttl: *ttl,
            local_deletion_time: *ldt,
            is_tombstone: false,
            is_expiring: true,
            path,
            value: v.clone(),
        },
        GenCell::Tombstone(ts, ldt) => OwnedCell {
            timestamp: *ts,
            ttl: 0,
            local_deletion_time: *ldt,
            is_tombstone: true,
            is_expiring: false,
            path,
            value: Vec::new(),
        },
    }
}

fn deletion() -> impl Strategy<Value = DeletionTime> {
    (0i64..1000, 0i64..1000).prop_map(|(ts, ldt)| DeletionTime {
        marked_for_delete_at: BASE_TS - 500 + ts,
        local_deletion_time: BASE_LDT + ldt,
    })
}

fn liveness() -> impl Strategy<Value = LivenessInfo> {
    (0u8..4, 0i64..4, 1i32..100_000, 0i64..1000).prop_map(|(k, ts, ttl, ldt)| match k {
        0 => LivenessInfo::EMPTY,
        1 => LivenessInfo {
            timestamp: Some(BASE_TS + ts),
            ttl: 0,
            local_expiration_time: NO_DELETION_TIME,
        },
        2 => LivenessInfo {
            timestamp: Some(BASE_TS + ts),
            ttl,
            local_expiration_time: BASE_LDT + ldt,
        },
        _ => LivenessInfo {
            timestamp: Some(BASE_TS + ts),
            ttl: EXPIRED_LIVENESS_TTL,
            local_expiration_time: BASE_LDT + ldt,
        },
    })
}

#[derive(Debug, Clone)]
struct GenRow {
    liveness: LivenessInfo,
    deletion: Option<DeletionTime>,
    a: Option<GenCell>,
    b: Option<GenCell>,
    c: Option<(Option<DeletionTime>, BTreeMap<i32, GenCell>)>,
}

fn gen_row() -> impl Strategy<Value = GenRow> {
    (
        liveness(),
        proptest::option::of(deletion()),
        proptest::option::of(gen_cell(
            any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()),
        )),
        proptest::option::of(gen_cell(proptest::collection::vec(any::<u8>(), 0..40))),
        proptest::option::of((
            proptest::option::of(deletion()),
            proptest::collection::btree_map(any::<i32>(), gen_cell(Just(Vec::new())), 0..4),
        )),
    )
        .prop_map(|(liveness, deletion, a, b, c)| GenRow {
            liveness,
            deletion,
            a,
            b,
            c,
        })
}

#[derive(Debug, Clone)]
struct GenPartition {
    deletion: Option<DeletionTime>,
    statik: Option<GenCell>,
    rows: BTreeMap<i32, GenRow>,
    /// Odd clustering values where range-tombstone markers go, with a
    /// choice of kind and a distinct deletion each.
    bounds: BTreeMap<i32, (u8, DeletionTime)>,
}

fn gen_partition() -> impl Strategy<Value = GenPartition> {
    (
        proptest::option::of(deletion()),
        proptest::option::of(gen_cell(
            any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()),
        )),
        proptest::collection::btree_map(-50i32..50, gen_row(), 0..12),
        proptest::collection::btree_map(-50i32..50, (0u8..4, deletion()), 0..6),
    )
        .prop_map(|(deletion, statik, rows, bounds)| GenPartition {
            deletion,
            statik,
            rows: rows.into_iter().map(|(k, r)| (k * 2, r)).collect(),
            bounds: bounds.into_iter().map(|(k, b)| (k * 2 + 1, b)).collect(),
        })
}

fn row_of(r: &GenRow, clustering: Vec<Option<Vec<u8>>>, is_static: bool) -> Option<OwnedRow> {
    let mut columns = Vec::new();
    if let Some(a) = &r.a {
        columns.push(OwnedColumn::Simple {
            column: 0,
            cell: owned(a, None),
        });
    }
    if let Some(b) = &r.b {
        columns.push(OwnedColumn::Simple {
            column: 1,
            cell: owned(b, None),
        });
    }
    if let Some((d, cells)) = &r.c {
        let d = d.unwrap_or(DeletionTime::LIVE);
        if !cells.is_empty() || !d.is_live() {
            columns.push(OwnedColumn::Complex {
                column: 2,
                deletion: d,
                cells: cells
                    .iter()
                    .map(|(k, c)| owned(c, Some(k.to_be_bytes().to_vec())))
                    .collect(),
            });
        }
    }
    let deletion = r.deletion.unwrap_or(DeletionTime::LIVE);
    if columns.is_empty() && r.liveness.timestamp.is_none() && deletion.is_live() {
        return None;
    }
    Some(OwnedRow {
        is_static,
        clustering,
        liveness: r.liveness,
        deletion,
        columns,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Row(OwnedRow),
    Marker(OwnedMarker),
}

/// The unfiltered stream of a partition, in clustering order of `ck`.
fn items(p: &GenPartition, ck: &CqlType) -> Vec<Item> {
    type Point<'a> = (i32, Option<&'a GenRow>, Option<(u8, DeletionTime)>);
    let mut points: Vec<Point> = p
        .rows
        .iter()
        .map(|(k, r)| (*k, Some(r), None))
        .chain(p.bounds.iter().map(|(k, b)| (*k, None, Some(*b))))
        .collect();
    let types = [ck.clone()];
    points.sort_by(|x, y| {
        let a = x.0.to_be_bytes();
        let b = y.0.to_be_bytes();
        compare_clustering(&types, &[Some(&a[..])], &[Some(&b[..])])
    });
    let mut out = Vec::new();
    let mut open: Option<DeletionTime> = None;
    let n_bounds = points.iter().filter(|p| p.2.is_some()).count();
    let mut seen = 0;
    for (k, row, bound) in points {
        let clustering = vec![Some(k.to_be_bytes().to_vec())];
        if let Some(r) = row {
            if let Some(r) = row_of(r, clustering, false) {
                out.push(Item::Row(r));
            }
            continue;
        }
        let (choice, d) = bound.expect("a bound");
        seen += 1;
        let last = seen == n_bounds;
        let m = match open {
            None if last => continue,
            None => {
                open = Some(d);
                OwnedMarker {
                    kind: if choice % 2 == 0 {
                        BoundKind::InclStart
                    } else {
                        BoundKind::ExclStart
                    },
                    clustering,
                    deletion: d,
                    start_deletion: None,
                }
            }
            Some(o) if last || choice < 2 || o == d => {
                open = None;
                OwnedMarker {
                    kind: if choice % 2 == 0 {
                        BoundKind::InclEnd
                    } else {
                        BoundKind::ExclEnd
                    },
                    clustering,
                    deletion: o,
                    start_deletion: None,
                }
            }
            Some(o) => {
                open = Some(d);
                OwnedMarker {
                    kind: if choice == 2 {
                        BoundKind::ExclEndInclStartBoundary
                    } else {
                        BoundKind::InclEndExclStartBoundary
                    },
                    clustering,
                    deletion: o,
                    start_deletion: Some(d),
                }
            }
        };
        out.push(Item::Marker(m));
    }
    out
}

fn write_and_read(
    parts: &BTreeMap<i32, GenPartition>,
    desc: bool,
    version: Version,
    codec: Option<Codec>,
    index_block: u64,
) -> Result<(), TestCaseError> {
    let ck = if desc {
        CqlType::Reversed(Box::new(CqlType::Int))
    } else {
        CqlType::Int
    };
    let set = CqlType::Set {
        elem: Box::new(CqlType::Int),
        frozen: false,
    };
    let header = HeaderTypes {
        key_type: CqlType::Int.marshal_name(),
        clustering_types: vec![ck.marshal_name()],
        statics: vec![(b"s".to_vec(), CqlType::Int.marshal_name())],
        regulars: vec![
            (b"a".to_vec(), CqlType::Int.marshal_name()),
            (b"b".to_vec(), CqlType::Text.marshal_name()),
            (b"c".to_vec(), set.marshal_name()),
        ],
    };
    let stats = EncodingStats {
        min_timestamp: BASE_TS - 500,
        min_local_deletion_time: BASE_LDT,
        min_ttl: 0,
    };
    let layout = Layout {
        version,
        stats,
        clustering_types: vec![ck.clone()],
        statics: vec![column_layout(&CqlType::Int)],
        regulars: vec![
            column_layout(&CqlType::Int),
            column_layout(&CqlType::Text),
            column_layout(&set),
        ],
    };
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut opts = WriterOptions::new(version, Partitioner::Murmur3.class_name());
    opts.codec = codec;
    opts.chunk_length = 1024;
    opts.column_index_size = index_block;
    let mut w = SstWriter::create(dir.path(), 1, opts, layout, header, parts.len() as u64)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Partitions in token order.
    let mut keyed: Vec<(Vec<u8>, &GenPartition)> = parts
        .iter()
        .map(|(k, p)| (k.to_be_bytes().to_vec(), p))
        .collect();
    keyed.sort_by(|a, b| {
        let p = Partitioner::Murmur3;
        p.token(&a.0).cmp(&p.token(&b.0)).then(a.0.cmp(&b.0))
    });
    let mut expected = Vec::new();
    for (key, p) in &keyed {
        let statik = p.statik.as_ref().map(|c| OwnedRow {
            is_static: true,
            clustering: Vec::new(),
            liveness: LivenessInfo::EMPTY,
            deletion: DeletionTime::LIVE,
            columns: vec![OwnedColumn::Simple {
                column: 0,
                cell: owned(c, None),
            }],
        });
        let deletion = p.deletion.unwrap_or(DeletionTime::LIVE);
        let its = items(p, &ck);
        w.start_partition(key, deletion, statik.as_ref())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for it in &its {
            match it {
                Item::Row(r) => w.row(r),
                Item::Marker(m) => w.marker(m),
            }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        w.end_partition()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Without static data the partition still has a static row: empty.
        let statik = statik.or(Some(OwnedRow {
            is_static: true,
            clustering: Vec::new(),
            liveness: LivenessInfo::EMPTY,
            deletion: DeletionTime::LIVE,
            columns: Vec::new(),
        }));
        expected.push((key.clone(), deletion, statik, its));
    }
    w.finish(&stats)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;

    let data = dir
        .path()
        .join(format!("{}-1-big-Data.db", version.as_str()));
    let sst = SSTable::open(&data).map_err(|e| TestCaseError::fail(e.to_string()))?;
    sstable_reader::verify::verify(&sst).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut scan = Scanner::new(
        &sst,
        ScanOptions {
            verify_checksums: true,
        },
    );
    for (key, deletion, statik, its) in &expected {
        let p = scan
            .next_partition()
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .ok_or_else(|| TestCaseError::fail("missing partition"))?;
        prop_assert_eq!(&p.key, key);
        prop_assert_eq!(p.deletion, *deletion);
        let mut want: Vec<Item> = statik.iter().cloned().map(Item::Row).collect();
        want.extend(its.iter().cloned());
        for w in &want {
            let got = scan
                .next_unfiltered()
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .ok_or_else(|| TestCaseError::fail("missing unfiltered"))?;
            match (w, &got) {
                (Item::Row(r), Unfiltered::Row(g)) => prop_assert_eq!(&r.as_row(), g),
                (Item::Marker(m), Unfiltered::Marker(g)) => prop_assert_eq!(&m.as_marker(), g),
                _ => prop_assert!(false, "expected {:?}, read {:?}", w, got),
            }
        }
        let end = scan
            .next_unfiltered()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(end.is_none(), "more unfiltereds than written");
    }
    prop_assert!(scan
        .next_partition()
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .is_none());
    Ok(())
}

fn codec() -> impl Strategy<Value = Option<Codec>> {
    prop_oneof![
        Just(Some(Codec::Lz4)),
        Just(Some(Codec::Snappy)),
        Just(Some(Codec::Deflate)),
        Just(Some(Codec::Zstd)),
        Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn written_sstables_read_back_exactly(
        parts in proptest::collection::btree_map(any::<i32>(), gen_partition(), 1..12),
        desc in any::<bool>(),
        oa in any::<bool>(),
        codec in codec(),
        block in prop_oneof![Just(64u64), Just(300), Just(65536)],
    ) {
        let version = if oa { Version::Oa } else { Version::Nb };
        write_and_read(&parts, desc, version, codec, block)?;
    }
}

#[test]
fn ordering_helper_matches_desc() {
    let t = [CqlType::Reversed(Box::new(CqlType::Int))];
    let a = 1i32.to_be_bytes();
    let b = 2i32.to_be_bytes();
    assert_eq!(
        compare_clustering(&t, &[Some(&a[..])], &[Some(&b[..])]),
        Ordering::Greater
    );
}
