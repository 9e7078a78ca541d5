//! Property test of the sstable writer: random partitions (rows with
//! liveness, TTLs, expired liveness, row/complex/partition deletions,
//! tombstone and expiring cells, collections, statics, range-tombstone
//! bounds and boundaries, ASC and DESC clustering) are written as `nb` and
//! `oa` sstables, with small promoted-index blocks, then read back by our
//! reader: every partition, row, marker, cell and its metadata must come
//! back byte for byte, and Index/Summary/Filter/checksums must verify.
//!
//! Also: several such sstables of one table, merged by `scan_table`, must
//! give the live rows a direct model of Cassandra's rules gives.

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

/// What a partition was written as: key, deletion, static row, unfiltereds.
type Written = (Vec<u8>, DeletionTime, Option<OwnedRow>, Vec<Item>);

fn clustering_type(desc: bool) -> CqlType {
    if desc {
        CqlType::Reversed(Box::new(CqlType::Int))
    } else {
        CqlType::Int
    }
}

/// Write `parts` as sstable `generation` in `dir` (a table (pk int, ck int,
/// s int static, a int, b text, c set<int>)).
fn write_sstable(
    dir: &std::path::Path,
    generation: u64,
    parts: &BTreeMap<i32, GenPartition>,
    ck: &CqlType,
    version: Version,
    codec: Option<Codec>,
    index_block: u64,
) -> Result<Vec<Written>, TestCaseError> {
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
    let mut opts = WriterOptions::new(version, Partitioner::Murmur3.class_name());
    opts.codec = codec;
    opts.chunk_length = 1024;
    opts.column_index_size = index_block;
    let mut w = SstWriter::create(dir, generation, opts, layout, header, parts.len() as u64)
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
        let its = items(p, ck);
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
    Ok(expected)
}

fn write_and_read(
    parts: &BTreeMap<i32, GenPartition>,
    desc: bool,
    version: Version,
    codec: Option<Codec>,
    index_block: u64,
) -> Result<(), TestCaseError> {
    let ck = clustering_type(desc);
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected = write_sstable(dir.path(), 1, parts, &ck, version, codec, index_block)?;
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

// ---- The merged state of several sstables against a model -------------------

/// Give every timestamp (cells, liveness, deletions) a value of its own,
/// across all the sstables: reconciliation ties are the cell-level property
/// tests' business (sstable-reader's merge tests); here the model is "the
/// newest wins, deletions shadow what is not newer".
fn uniquify(tables: &mut [BTreeMap<i32, GenPartition>]) {
    let mut used = std::collections::HashSet::new();
    let mut u = |ts: &mut i64| {
        while !used.insert(*ts) {
            *ts += 1;
        }
    };
    let cell = |c: &mut GenCell, u: &mut dyn FnMut(&mut i64)| match c {
        GenCell::Live(ts, _) | GenCell::Expiring(ts, ..) | GenCell::Tombstone(ts, _) => u(ts),
    };
    for t in tables.iter_mut() {
        for p in t.values_mut() {
            if let Some(d) = &mut p.deletion {
                u(&mut d.marked_for_delete_at);
            }
            if let Some(c) = &mut p.statik {
                cell(c, &mut u);
            }
            for b in p.bounds.values_mut() {
                u(&mut b.1.marked_for_delete_at);
            }
            for r in p.rows.values_mut() {
                if let Some(ts) = &mut r.liveness.timestamp {
                    u(ts);
                }
                if let Some(d) = &mut r.deletion {
                    u(&mut d.marked_for_delete_at);
                }
                for c in [&mut r.a, &mut r.b].into_iter().flatten() {
                    cell(c, &mut u);
                }
                if let Some((d, cells)) = &mut r.c {
                    if let Some(d) = d {
                        u(&mut d.marked_for_delete_at);
                    }
                    for c in cells.values_mut() {
                        cell(c, &mut u);
                    }
                }
            }
        }
    }
}

fn gen_ts(c: &GenCell) -> i64 {
    match c {
        GenCell::Live(ts, _) | GenCell::Expiring(ts, ..) | GenCell::Tombstone(ts, _) => *ts,
    }
}

/// The value of the newest of `cells` if it is live at `now` and newer than
/// the deletion at `del`.
fn model_cell<'a>(cells: impl Iterator<Item = &'a GenCell>, del: i64, now: i64) -> Option<Vec<u8>> {
    let newest = cells.max_by_key(|c| gen_ts(c))?;
    if gen_ts(newest) <= del {
        return None;
    }
    match newest {
        GenCell::Live(_, v) => Some(v.clone()),
        GenCell::Expiring(_, _, ldt, v) if now < *ldt => Some(v.clone()),
        _ => None,
    }
}

/// The range deletion a partition's markers put over clustering `k`.
fn covering(markers: &[OwnedMarker], ck: &CqlType, k: i32) -> Option<DeletionTime> {
    let types = [ck.clone()];
    let kb = k.to_be_bytes();
    let mut open = None;
    for m in markers {
        let mb = m.clustering[0].as_deref().unwrap_or(&[]);
        let passed = match compare_clustering(&types, &[Some(mb)], &[Some(&kb[..])]) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => matches!(
                m.kind,
                BoundKind::InclStart | BoundKind::ExclEnd | BoundKind::ExclEndInclStartBoundary
            ),
        };
        if !passed {
            break;
        }
        open = m.open_deletion();
    }
    open
}

/// A live row: a, b, the live elements of c, and whether its marker lives.
type ModelRow = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Vec<u8>>, bool);

/// Cassandra's view of the merged tables: per partition key, the live static
/// value and the live rows by clustering.
type ModelTable = BTreeMap<i32, (Option<Vec<u8>>, BTreeMap<i32, ModelRow>)>;

fn model(tables: &[BTreeMap<i32, GenPartition>], ck: &CqlType, now: i64) -> ModelTable {
    let del_ts = |d: Option<DeletionTime>| d.map_or(i64::MIN, |d| d.marked_for_delete_at);
    let mut out = ModelTable::new();
    let keys: std::collections::BTreeSet<i32> =
        tables.iter().flat_map(|t| t.keys().copied()).collect();
    for pk in keys {
        let parts: Vec<&GenPartition> = tables.iter().filter_map(|t| t.get(&pk)).collect();
        let pd = parts
            .iter()
            .map(|p| del_ts(p.deletion))
            .max()
            .unwrap_or(i64::MIN);
        let statik = model_cell(parts.iter().filter_map(|p| p.statik.as_ref()), pd, now);
        let markers: Vec<Vec<OwnedMarker>> = parts
            .iter()
            .map(|p| {
                items(p, ck)
                    .into_iter()
                    .filter_map(|i| match i {
                        Item::Marker(m) => Some(m),
                        Item::Row(_) => None,
                    })
                    .collect()
            })
            .collect();
        let cks: std::collections::BTreeSet<i32> =
            parts.iter().flat_map(|p| p.rows.keys().copied()).collect();
        let mut rows = BTreeMap::new();
        for k in cks {
            let here: Vec<&GenRow> = parts.iter().filter_map(|p| p.rows.get(&k)).collect();
            let range = markers
                .iter()
                .map(|m| del_ts(covering(m, ck, k)))
                .max()
                .unwrap_or(i64::MIN);
            let row_del = here
                .iter()
                .map(|r| del_ts(r.deletion))
                .max()
                .unwrap_or(i64::MIN);
            let d = pd.max(range).max(row_del);
            let liveness = here
                .iter()
                .map(|r| r.liveness)
                .filter(|l| l.timestamp.is_some())
                .max_by_key(|l| l.timestamp);
            let marker =
                liveness.is_some_and(|l| l.is_live(now) && l.timestamp.is_some_and(|t| t > d));
            let a = model_cell(here.iter().filter_map(|r| r.a.as_ref()), d, now);
            let b = model_cell(here.iter().filter_map(|r| r.b.as_ref()), d, now);
            let dc = here
                .iter()
                .filter_map(|r| r.c.as_ref().map(|c| del_ts(c.0)))
                .max()
                .unwrap_or(i64::MIN)
                .max(d);
            let elems: std::collections::BTreeSet<i32> = here
                .iter()
                .filter_map(|r| r.c.as_ref())
                .flat_map(|c| c.1.keys().copied())
                .collect();
            let c: Vec<Vec<u8>> = elems
                .into_iter()
                .filter(|e| {
                    model_cell(here.iter().filter_map(|r| r.c.as_ref()?.1.get(e)), dc, now)
                        .is_some()
                })
                .map(|e| e.to_be_bytes().to_vec())
                .collect();
            if marker || a.is_some() || b.is_some() || !c.is_empty() {
                rows.insert(k, (a, b, c, marker));
            }
        }
        if statik.is_some() || !rows.is_empty() {
            out.insert(pk, (statik, rows));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Several sstables of one table, with overlapping partitions and rows,
    /// deletions of every level and expiring data, are merged by
    /// `scan_table`: its live rows, cells and statics must be what
    /// Cassandra's rules give, computed here directly from what was written.
    #[test]
    fn merged_scan_equals_a_model_of_cassandras_rules(
        mut tables in proptest::collection::vec(
            proptest::collection::btree_map(0i32..5, gen_partition(), 0..4), 2..5),
        desc in any::<bool>(),
        oa in any::<bool>(),
        block in prop_oneof![Just(64u64), Just(65536)],
    ) {
        use sstable_reader::table::{scan_table, TableEvent, TableScanOptions};
        uniquify(&mut tables);
        let ck = clustering_type(desc);
        let version = if oa { Version::Oa } else { Version::Nb };
        let now = BASE_LDT + 500;
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut ssts = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            write_sstable(dir.path(), i as u64 + 1, t, &ck, version, Some(Codec::Lz4), block)?;
            let data = dir.path().join(format!("{}-{}-big-Data.db", version.as_str(), i + 1));
            ssts.push(SSTable::open(&data).map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
        let refs: Vec<&SSTable> = ssts.iter().collect();
        let schema = sstable_reader::TableSchema::from_header("ks", "t", &ssts[0].header);
        let opts = TableScanOptions { now, ..TableScanOptions::default() };
        let mut got = ModelTable::new();
        let int_of = |b: &[u8]| i32::from_be_bytes(b.try_into().expect("4-byte int"));
        scan_table(&refs, &schema, &opts, |ev| {
            match ev {
                TableEvent::Statics(p, cols) => {
                    let v = cols.first().and_then(|c| c.cells.first()).map(|c| c.value.to_vec());
                    got.entry(int_of(&p.key)).or_default().0 = v;
                }
                TableEvent::Row(r) => {
                    let (Some(cl), pk) = (r.clustering, int_of(&r.partition.key)) else {
                        got.entry(int_of(&r.partition.key)).or_default();
                        return Ok(());
                    };
                    let k = int_of(cl[0].as_deref().unwrap_or(&[]));
                    let mut row: ModelRow = (None, None, Vec::new(), r.liveness.is_some());
                    for c in r.regulars {
                        match c.index {
                            0 => row.0 = c.cells.first().map(|x| x.value.to_vec()),
                            1 => row.1 = c.cells.first().map(|x| x.value.to_vec()),
                            _ => row.2 = c.cells.iter().filter_map(|x| x.path.map(<[u8]>::to_vec)).collect(),
                        }
                    }
                    got.entry(pk).or_default().1.insert(k, row);
                }
                _ => {}
            }
            Ok(())
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut want = model(&tables, &ck, now);
        // Set elements come in the set type's order: compare them as sets.
        for t in [&mut got, &mut want] {
            for (_, rows) in t.values_mut() {
                for r in rows.values_mut() {
                    r.2.sort();
                }
            }
        }
        prop_assert_eq!(got, want);
    }

    /// A scan cut into slices by `split_wide` (wide partitions at their
    /// promoted-index blocks) reads, slice after slice, exactly what one
    /// scan of the whole sstable reads.
    #[test]
    fn slices_at_index_blocks_read_what_one_scan_reads(
        table in proptest::collection::btree_map(0i32..6, gen_partition(), 1..5),
        desc in any::<bool>(),
        oa in any::<bool>(),
        target in prop_oneof![Just(1u64), Just(64), Just(300), Just(1 << 20)],
    ) {
        use sstable_reader::range::{split_wide, TokenRange};
        let mut tables = vec![table];
        uniquify(&mut tables);
        let ck = clustering_type(desc);
        let version = if oa { Version::Oa } else { Version::Nb };
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        write_sstable(dir.path(), 1, &tables[0], &ck, version, Some(Codec::Lz4), 64)?;
        let data = dir.path().join(format!("{}-1-big-Data.db", version.as_str()));
        let sst = SSTable::open(&data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let fail = |e: sstable_reader::ReadError| TestCaseError::fail(e.to_string());
        let opts = ScanOptions { verify_checksums: true };
        let read = |s: &mut Scanner, mid: bool, out: &mut Vec<String>| -> Result<(), TestCaseError> {
            if mid {
                while let Some(u) = s.next_unfiltered().map_err(fail)? {
                    out.push(format!("{u:?}"));
                }
            }
            while let Some(p) = s.next_partition().map_err(fail)? {
                out.push(format!("partition {:?} {:?}", p.key, p.deletion));
                while let Some(u) = s.next_unfiltered().map_err(fail)? {
                    out.push(format!("{u:?}"));
                }
            }
            Ok(())
        };
        let mut want = Vec::new();
        read(&mut Scanner::new(&sst, opts), false, &mut want)?;
        let slices = split_wide(&sst, &TokenRange::ALL, 0, sst.data_length(), target).map_err(fail)?;
        let mut got = Vec::new();
        let mut at = 0;
        for d in &slices {
            prop_assert_eq!(d.start, at, "slices are contiguous: {:?}", slices);
            at = d.end;
            let mut s = if d.mid_partition {
                Scanner::rows(&sst, opts, d.start, d.end)
            } else {
                Scanner::range(&sst, opts, d.start, d.end)
            };
            read(&mut s, d.mid_partition, &mut got)?;
        }
        prop_assert_eq!(at, sst.data_length());
        prop_assert_eq!(got, want);
        if target == 1 {
            // Every partition of several blocks is cut.
            let multi = sst
                .index_entries()
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
                .any(|e| e.promoted.is_some_and(|p| p.blocks.len() > 1));
            prop_assert_eq!(multi, slices.iter().any(|d| d.mid_partition));
        }
    }

    /// `purge_before` hides the tombstones older than it, and only them:
    /// the live rows are the same with any threshold (a purged deletion
    /// still shadows what it covers), no deletion older than the threshold
    /// is reported, a threshold before every deletion changes nothing, and
    /// one after every deletion leaves none.
    #[test]
    fn purging_hides_old_tombstones_and_never_changes_live_rows(
        mut tables in proptest::collection::vec(
            proptest::collection::btree_map(0i32..5, gen_partition(), 0..4), 2..4),
        desc in any::<bool>(),
        threshold in 0i64..1000,
    ) {
        use sstable_reader::table::{scan_table, TableEvent, TableScanOptions};
        uniquify(&mut tables);
        let ck = clustering_type(desc);
        let now = BASE_LDT + 500;
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut ssts = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            write_sstable(dir.path(), i as u64 + 1, t, &ck, Version::Oa, Some(Codec::Lz4), 64)?;
            let data = dir.path().join(format!("oa-{}-big-Data.db", i + 1));
            ssts.push(SSTable::open(&data).map_err(|e| TestCaseError::fail(e.to_string()))?);
        }
        let refs: Vec<&SSTable> = ssts.iter().collect();
        let schema = sstable_reader::TableSchema::from_header("ks", "t", &ssts[0].header);
        // (live events, deletion events, oldest reported deletion time)
        let run = |purge_before: Option<i64>| -> Result<(Vec<String>, Vec<String>, i64), TestCaseError> {
            let opts = TableScanOptions {
                now,
                cell_deletions: true,
                purge_before,
                ..TableScanOptions::default()
            };
            let (mut live, mut dead, mut oldest) = (Vec::new(), Vec::new(), i64::MAX);
            scan_table(&refs, &schema, &opts, |ev| {
                match &ev {
                    TableEvent::Partition(p) => {
                        live.push(format!("partition {:?}", p.key));
                        if !p.deletion.is_live() {
                            oldest = oldest.min(p.deletion.local_deletion_time);
                            dead.push(format!("{:?} {:?}", p.key, p.deletion));
                        }
                    }
                    TableEvent::Row(r) => {
                        live.push(format!(
                            "{:?} {:?} {:?} {:?} {:?}",
                            r.partition.key, r.clustering, r.statics, r.regulars, r.liveness
                        ));
                        if let Some(ts) = r.expired_liveness {
                            dead.push(format!("{:?} {:?} expired {ts}", r.partition.key, r.clustering));
                        }
                    }
                    TableEvent::Statics(p, cols) => live.push(format!("{:?} {cols:?}", p.key)),
                    TableEvent::RangeDeletion { deletion, .. } => {
                        oldest = oldest.min(deletion.local_deletion_time);
                        dead.push(format!("{ev:?}"));
                    }
                    TableEvent::DeadRow { .. } | TableEvent::CellDeletions { .. } => {
                        dead.push(format!("{ev:?}"))
                    }
                }
                Ok(())
            })
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok((live, dead, oldest))
        };
        let all = run(None)?;
        prop_assert_eq!(&run(Some(BASE_LDT - 1))?, &all);
        let none = run(Some(i64::MAX))?;
        prop_assert_eq!(&none.0, &all.0);
        prop_assert!(none.1.is_empty(), "{:?}", none.1);
        let some = run(Some(BASE_LDT + threshold))?;
        prop_assert_eq!(&some.0, &all.0);
        prop_assert!(some.2 >= BASE_LDT + threshold);
        prop_assert!(some.1.len() <= all.1.len());
    }
}
