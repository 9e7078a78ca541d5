//! The fuzz targets' bodies, one function per target.
//!
//! Each `fuzz_targets/NAME.rs` only hands its input to `NAME` here. The
//! workspace test `sstable-reader/tests/fuzz_bodies.rs` includes this file
//! as a module, so `cargo clippy --all-targets` checks these bodies and
//! `cargo test` runs them over the seeds `fuzz/seed.py` makes, with no
//! nightly toolchain. Every function must return on any input: a panic is a
//! crash.

use sstable_format::cursor::Cursor;
use sstable_format::data::{ColumnData, RowBuffers, RowDecoder, Unfiltered, UnfilteredView};
use sstable_format::statistics::SerializationHeader;
use sstable_format::value::Value;
use sstable_format::{Component, CqlType, Version};
use sstable_reader::{ReadError, SSTable, ScanOptions, Scanner};
use std::path::Path;

/// A target's body: it must return on any input.
pub type Body = fn(&[u8]);

/// Every target, by name, as `fuzz/run.sh` and the seed directories name it.
pub const TARGETS: [(&str, Body); 10] = [
    ("statistics", statistics),
    ("compression_info", compression_info),
    ("index", index),
    ("summary", summary),
    ("rows", rows),
    ("sstable", sstable),
    ("legacy_atoms", legacy_atoms),
    ("legacy_rows", legacy_rows),
    ("bti", bti),
    ("ddl", ddl),
];

const STATISTICS_VERSIONS: [Version; 9] = [
    Version::Ma,
    Version::Mb,
    Version::Mc,
    Version::Md,
    Version::Me,
    Version::Na,
    Version::Nb,
    Version::Nc,
    Version::Oa,
];

/// Statistics.db for every version (the first byte picks the version).
pub fn statistics(data: &[u8]) {
    let Some((v, rest)) = data.split_first() else {
        return;
    };
    let _ = sstable_format::statistics::Statistics::parse(
        rest,
        STATISTICS_VERSIONS[*v as usize % STATISTICS_VERSIONS.len()],
    );
}

/// An input made of a flags byte, a length as u16 LE, and two parts: the
/// first that long (or all there is), the second the rest.
fn split_input(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let len = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let (a, b) = rest[2..].split_at(len.min(rest.len() - 2));
    Some((flags, a, b))
}

/// CompressionInfo.db, then every chunk of a Data.db made of the rest.
pub fn compression_info(data: &[u8]) {
    let Some((flags, info, chunks)) = split_input(data) else {
        return;
    };
    let version = if flags & 1 == 0 {
        Version::Mc
    } else {
        Version::Nb
    };
    if let Ok(ci) = sstable_format::compression::CompressionInfo::parse(info, version) {
        let mut out = Vec::new();
        for i in 0..ci.chunk_offsets.len().min(64) {
            let _ = ci.read_chunk(chunks, i as u64, flags & 2 == 0, &mut out);
        }
    }
}

/// Index.db entries with promoted indexes, for a table with (int, text)
/// clustering.
pub fn index(data: &[u8]) {
    let Some((v, rest)) = data.split_first() else {
        return;
    };
    let version = if v & 1 == 0 { Version::Nb } else { Version::Oa };
    let types = [CqlType::Int, CqlType::Text];
    for e in sstable_format::index::IndexEntries::new(rest, version, &types).take(10_000) {
        if e.is_err() {
            break;
        }
    }
}

/// Summary.db.
pub fn summary(data: &[u8]) {
    let _ = sstable_format::summary::Summary::parse(data);
}

/// The 3.0+ row decoder: a serialization header (from the input) and the
/// partitions that follow it. Input: a version byte (even: nb, odd: oa), the
/// header's length as u16 LE, the header, then an uncompressed Data.db.
pub fn rows(data: &[u8]) {
    let Some((flags, h, body)) = split_input(data) else {
        return;
    };
    let version = if flags & 1 == 0 {
        Version::Nb
    } else {
        Version::Oa
    };
    let Ok(header) =
        SerializationHeader::parse(&mut Cursor::new(h, Component::Statistics), version)
    else {
        return;
    };
    let dec = RowDecoder::new(version, &header);
    let mut pos = 0usize;
    let mut bufs = RowBuffers::default();
    for _ in 0..1000 {
        let Some(rest) = body.get(pos..) else { return };
        let Ok((_, n)) = dec.partition_header(rest, pos as u64) else {
            return;
        };
        pos += n;
        loop {
            let Some(rest) = body.get(pos..) else { return };
            let full = dec.measure_unfiltered_fully(rest, pos as u64);
            if let Some(n) = dec.quick_measure(rest) {
                // The shortcut only answers for rows whole in the buffer.
                assert_eq!(full.as_ref().ok(), Some(&n));
            }
            // Decoding into recycled vectors gives what fresh decoding gives.
            let recycled = dec.unfiltered_in(rest, pos as u64, &mut bufs);
            let fresh = dec.unfiltered(rest, pos as u64);
            assert_eq!(format!("{recycled:?}"), format!("{fresh:?}"));
            if let Ok((Some(u), _)) = recycled {
                bufs.recycle(u);
            }
            // Reading lazily never panics and sees the same end, values and cells.
            let viewed = dec.view(rest, pos as u64);
            if let Some((fast, n)) = dec.view_fast(rest, pos as u64) {
                fast_row_agrees(&fast, n, &viewed);
            }
            if let Ok((Some(UnfilteredView::Row(r)), n)) = &viewed {
                let _ = r.clustering.iter().count();
                let cells: Result<Vec<_>, _> = r.cells().collect();
                if let Ok((Some(Unfiltered::Row(f)), m)) = &fresh {
                    assert_eq!(n, m);
                    assert_eq!(r.clustering.iter().collect::<Vec<_>>(), f.clustering);
                    let want: usize = f
                        .columns
                        .iter()
                        .map(|cd| match cd {
                            ColumnData::Simple { .. } => 1,
                            ColumnData::Complex { cells, .. } => 1 + cells.len(),
                        })
                        .sum();
                    assert_eq!(cells.map(|c| c.len()).ok(), Some(want));
                }
            }
            match fresh {
                Ok((None, n)) => {
                    pos += n;
                    break;
                }
                Ok((Some(u), n)) => {
                    if let Unfiltered::Row(r) = &u {
                        values_to_json(&header, r);
                    }
                    pos += n;
                }
                Err(_) => return,
            }
        }
    }
}

/// The Result-free head reader answers as the checked one does, and the
/// fast cell loop yields what the cell iterator yields.
fn fast_row_agrees(
    fast: &sstable_format::data::RowView<'_>,
    n: usize,
    viewed: &sstable_format::Result<(Option<UnfilteredView<'_>>, usize)>,
) {
    let Ok((Some(UnfilteredView::Row(r)), m)) = viewed else {
        panic!("view_fast answered a row where view gave {viewed:?}");
    };
    assert_eq!(n, *m);
    assert_eq!(
        fast.clustering.iter().collect::<Vec<_>>(),
        r.clustering.iter().collect::<Vec<_>>()
    );
    let mut looped = Vec::new();
    let res = fast.for_each_cell(|c| {
        looped.push(format!("{c:?}"));
        Ok::<(), sstable_format::Error>(())
    });
    let mut want = Vec::new();
    let mut want_err = None;
    for c in r.cells() {
        match c {
            Ok(c) => want.push(format!("{c:?}")),
            Err(e) => {
                want_err = Some(e.to_string());
                break;
            }
        }
    }
    assert_eq!(looped, want);
    assert_eq!(res.err().map(|e| e.to_string()), want_err);
}

/// Decodes every simple cell of the row with its column's type and writes
/// it as JSON.
fn values_to_json(header: &SerializationHeader, r: &sstable_format::data::Row<'_>) {
    let cols = if r.is_static {
        &header.static_columns
    } else {
        &header.regular_columns
    };
    for cd in &r.columns {
        if let ColumnData::Simple { column, cell } = cd {
            if let Some(c) = cols.get(*column) {
                if let Ok(v) = Value::decode(&c.cql_type, cell.value) {
                    let _ = v.to_json();
                }
            }
        }
    }
}

const SSTABLE_COMPONENTS: [&str; 8] = [
    "Data.db",
    "Statistics.db",
    "CompressionInfo.db",
    "Index.db",
    "Summary.db",
    "Filter.db",
    "CRC.db",
    "Digest.crc32",
];
const SSTABLE_PREFIXES: [&str; 6] = [
    "mc-1-big-",
    "na-1-big-",
    "nb-1-big-",
    "oa-1-big-",
    "la-1-big-",
    "da-1-bti-",
];

/// Stops a callback-driven scan after `budget` calls.
fn spend(budget: &mut u32) -> Result<(), ReadError> {
    *budget = budget.saturating_sub(1);
    if *budget == 0 {
        return Err(ReadError::Schema("enough".into()));
    }
    Ok(())
}

/// Reads every partition and unfiltered through the scanner's checked path.
fn scan_all(sst: &SSTable, verify_checksums: bool) {
    let mut scan = Scanner::new(sst, ScanOptions { verify_checksums });
    for _ in 0..10_000 {
        match scan.next_partition() {
            Ok(Some(_)) => loop {
                match scan.next_unfiltered() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return,
                }
            },
            _ => return,
        }
    }
}

/// Whole-sstable open, full scan and verification, from in-memory
/// components. Input: a version byte (its top bit off: checksums verified),
/// then (u8 component id, u32 LE length, bytes) records.
pub fn sstable(data: &[u8]) {
    let Some((v, mut rest)) = data.split_first() else {
        return;
    };
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    while rest.len() >= 5 {
        let id = rest[0] as usize % SSTABLE_COMPONENTS.len();
        let len =
            (u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize).min(rest.len() - 5);
        let bytes = rest[5..5 + len].to_vec();
        rest = &rest[5 + len..];
        if !parts.iter().any(|p| p.0 == SSTABLE_COMPONENTS[id]) {
            parts.push((SSTABLE_COMPONENTS[id].to_string(), bytes));
        }
    }
    let prefix = SSTABLE_PREFIXES[*v as usize % SSTABLE_PREFIXES.len()];
    let Ok(sst) = SSTable::open_in_memory(Path::new("fuzz"), prefix, parts) else {
        return;
    };
    let verify_checksums = v & 0x80 == 0;
    scan_all(&sst, verify_checksums);
    // The scan's fast path (row heads and cells read without Results).
    let mut scan = Scanner::new(&sst, ScanOptions { verify_checksums });
    let mut budget = 100_000u32;
    let _ = scan.for_each_view(|u| {
        spend(&mut budget)?;
        if let UnfilteredView::Row(r) = u {
            if let Err(e) = r.for_each_cell(|_| Ok::<(), sstable_format::Error>(())) {
                return Err(ReadError::Schema(e.to_string()));
            }
        }
        Ok(())
    });
    // The merged table path (owned rows, their buffers reused, live
    // columns), with the schema the header gives.
    let schema = sstable_reader::TableSchema::from_header("ks", "t", &sst.header);
    let mut budget = 100_000u32;
    let _ = sstable_reader::table::scan_table(&[&sst], &schema, &Default::default(), |_| {
        spend(&mut budget)
    });
    let _ = sstable_reader::verify::verify(&sst);
}

/// The 2.x atom decoder and composite cell names (`legacy_rows` assembles
/// whole legacy sstables into rows). Input: a version byte (even: ka, odd:
/// la), then atoms.
pub fn legacy_atoms(data: &[u8]) {
    use sstable_format::legacy::{parse_composite, read_atom, LegacyAtom};
    let version = if data.first().is_some_and(|b| b & 1 == 0) {
        Version::Ka
    } else {
        Version::La
    };
    let mut pos = 1usize.min(data.len());
    for _ in 0..10_000 {
        let Some(rest) = data.get(pos..) else { return };
        match read_atom(rest, pos as u64, version) {
            Ok((None, n)) | Ok((Some(_), n)) if n == 0 => return,
            Ok((Some(LegacyAtom::Cell(c)), n)) => {
                let _ = parse_composite(c.name);
                pos += n;
            }
            Ok((Some(LegacyAtom::RangeTombstone { start, end, .. }), n)) => {
                let _ = parse_composite(start);
                let _ = parse_composite(end);
                pos += n;
            }
            Ok((None, n)) => pos += n,
            Err(_) => return,
        }
    }
}

const LEGACY_DDL: &str = "CREATE TABLE ks.t (pk int, c1 text, c2 int, s int static, v set<text>, \
    w text, PRIMARY KEY (pk, c1, c2)) WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC);";
/// Statistics.db of a real 2.1 and a real 2.2 sstable (Data.db is the fuzzed
/// part), read once from ../shared/corpus at run time, so that the workspace
/// builds without the corpus.
fn legacy_stats() -> &'static (Vec<u8>, Vec<u8>) {
    static STATS: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    STATS.get_or_init(|| {
        let corpus =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/apache-cassandra");
        let read = |p: &str| {
            let path = corpus.join(p);
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("the legacy_rows target needs {}: {e}", path.display()))
        };
        (
            read(
                "ka/legacy_tables/legacy_ka_clust/legacy_tables-legacy_ka_clust-ka-1-Statistics.db",
            ),
            read("la/legacy_tables/legacy_la_clust/la-1-big-Statistics.db"),
        )
    })
}

/// Whole 2.x sstables read as rows with a fixed schema: cells grouped into
/// rows, collection tombstones, and range tombstones swept into markers,
/// then merged with a second copy of themselves. Input: a version byte
/// (even: ka, odd: la), then an uncompressed Data.db.
pub fn legacy_rows(data: &[u8]) {
    use sstable_reader::merge::Merger;
    use sstable_reader::schema::TableSchema;
    let Some((v, data)) = data.split_first() else {
        return;
    };
    let (ka, la) = legacy_stats();
    let (prefix, stats) = if v & 1 == 0 {
        ("ks-t-ka-1-", ka)
    } else {
        ("la-1-big-", la)
    };
    let schema_file = sstable_reader::ddl::parse_schema(LEGACY_DDL).expect("the fixed DDL parses");
    let def = &schema_file.tables[0];
    let open = || {
        let parts = vec![
            ("Data.db".to_string(), data.to_vec()),
            ("Statistics.db".to_string(), stats.to_vec()),
        ];
        SSTable::open_in_memory_with_schema(Path::new("fuzz"), prefix, parts, Some(def))
    };
    let (Ok(a), Ok(b)) = (open(), open()) else {
        return;
    };
    scan_all(&a, false);
    let Ok(schema) = TableSchema::with_ddl("ks", "t", &a.header, def) else {
        return;
    };
    let ctypes = schema
        .clustering
        .iter()
        .map(|c| c.cql_type.clone())
        .collect();
    let mut m = Merger::new(
        &[&a, &b],
        ScanOptions {
            verify_checksums: false,
        },
        ctypes,
        schema.statics.clone(),
        schema.regulars.clone(),
    );
    for _ in 0..10_000 {
        match m.next_partition(a.partitioner) {
            Ok(Some(_)) => while let Ok(Some(_)) = m.next_unfiltered() {},
            _ => break,
        }
    }
}

/// The BTI trie walker: Partitions.db footers, tries, payloads and lookups
/// (selector byte even), and Rows.db entries with their block tries
/// (selector odd, then the entry's offset as u16 LE).
pub fn bti(data: &[u8]) {
    use sstable_format::bti::{PartitionIndex, PartitionPos, RowIndexEntry};
    let Some((sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        if let Ok(pi) = PartitionIndex::parse(rest) {
            if let Ok(ps) = pi.positions(rest) {
                for (_, p) in ps.iter().take(1000) {
                    if let PartitionPos::Rows(r) = p {
                        if let Ok(e) = RowIndexEntry::parse(rest, *r, Version::Da) {
                            let _ = e.block_offsets(rest);
                        }
                    }
                }
            }
            let _ = pi.lookup(rest, &rest[..rest.len().min(16)]);
        }
    } else if rest.len() >= 2 {
        let pos = (u16::from_le_bytes([rest[0], rest[1]]) as usize) % rest.len().max(1);
        if let Ok(e) = RowIndexEntry::parse(&rest[2..], pos as u64, Version::Da) {
            let _ = e.block_offsets(&rest[2..]);
        }
    }
}

/// CQL DDL: `--schema` files and the `schema.cql` of snapshots.
pub fn ddl(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sstable_reader::ddl::parse_schema(text);
    }
}
