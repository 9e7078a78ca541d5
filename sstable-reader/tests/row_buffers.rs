//! Decoding into recycled vectors (`RowBuffers`) must yield exactly what
//! fresh decoding yields, and reading rows lazily (`Scanner::next_view`)
//! the same rows and cells, on every 3.0+ sstable of the corpus.

mod common;

use sstable_format::data::{CellItem, ColumnData, Unfiltered, UnfilteredView};
use sstable_reader::{RowBuffers, SSTable, ScanOptions, Scanner};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Rows the shortcut measure took.
static QUICK: AtomicUsize = AtomicUsize::new(0);

/// Every unfiltered of the sstable, with its span, as text.
fn dump(sst: &SSTable, recycled: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut bufs = RowBuffers::default();
    let mut s = Scanner::new(sst, ScanOptions::default());
    while let Some(p) = s.next_partition().map_err(|e| e.to_string())? {
        out.push(format!("{p:?}"));
        loop {
            let u = if recycled {
                s.next_unfiltered_span_in(&mut bufs)
            } else {
                s.next_unfiltered_span()
            };
            match u.map_err(|e| e.to_string())? {
                Some((a, b, u)) => {
                    // The shortcut measure agrees with the full one.
                    let len = (b - a) as usize;
                    let bytes = unfiltered_bytes(sst, a, len);
                    let quick = sst.decoder.quick_measure(&bytes);
                    let full = sst.decoder.measure_unfiltered_fully(&bytes, a);
                    assert!(quick.is_none() || quick == full.as_ref().ok().copied());
                    if quick.is_some() {
                        QUICK.fetch_add(1, Ordering::Relaxed);
                    }
                    assert_eq!(full.ok(), Some(len));
                    out.push(format!("{a}..{b} {u:?}"));
                    if recycled {
                        bufs.recycle(u);
                    }
                }
                None => break,
            }
        }
    }
    Ok(out)
}

/// `len` bytes of the uncompressed stream at `at`.
fn unfiltered_bytes(sst: &SSTable, at: u64, len: usize) -> Vec<u8> {
    match &sst.compression {
        None => sst.data.bytes()[at as usize..at as usize + len].to_vec(),
        Some(ci) => {
            let chunk = ci.chunk_length as u64;
            let mut out = Vec::new();
            let mut i = at / chunk;
            while (out.len() as u64) < at + len as u64 - (at / chunk) * chunk {
                ci.read_chunk_append(sst.data.bytes(), i, false, &mut out)
                    .unwrap();
                i += 1;
            }
            let skip = (at - (at / chunk) * chunk) as usize;
            out[skip..skip + len].to_vec()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `next_unfiltered`: collected rows.
    Owned,
    /// `next_view` and `RowView::cells`.
    Views,
    /// `for_each_view` and `RowView::for_each_cell`.
    Callbacks,
}

/// The lines of one view (as `flat` writes them); its cells read both
/// ways, which must agree, and twice (the iterator starts again).
fn view_lines(u: UnfilteredView<'_>, out: &mut Vec<String>) -> Result<(), String> {
    match u {
        UnfilteredView::Marker(m) => {
            let cl: Vec<_> = m.clustering.iter().collect();
            assert_eq!(cl.len(), m.clustering.len());
            out.push(format!(
                "M {:?} {cl:?} {:?} {:?}",
                m.kind, m.deletion, m.start_deletion
            ));
        }
        UnfilteredView::Row(r) => {
            let cl: Vec<_> = r.clustering.iter().collect();
            out.push(format!(
                "R {} {cl:?} {:?} {:?} {}",
                r.is_static(),
                r.liveness(),
                r.deletion,
                r.shadowable_deletion()
            ));
            let cells: Vec<_> = r
                .cells()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let again: Vec<_> = r
                .cells()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            assert_eq!(cells, again);
            let mut each = Vec::new();
            r.for_each_cell(|c| -> Result<(), sstable_format::Error> {
                each.push(c);
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            assert_eq!(cells, each);
            out.extend(cells.iter().map(|c| format!("{c:?}")));
        }
    }
    Ok(())
}

/// Every partition and unfiltered of the sstable as text, read as `mode`
/// says; a row's cells flattened as `RowView::cells` yields them.
fn flat(sst: &SSTable, mode: Mode) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut s = Scanner::new(sst, ScanOptions::default());
    while let Some(p) = s.next_partition().map_err(|e| e.to_string())? {
        out.push(format!("{p:?}"));
        if mode == Mode::Views {
            while let Some(u) = s.next_view().map_err(|e| e.to_string())? {
                view_lines(u, &mut out)?;
            }
        } else if mode == Mode::Callbacks {
            s.for_each_view(|u| -> Result<(), Box<dyn std::error::Error>> {
                Ok(view_lines(u, &mut out)?)
            })
            .map_err(|e| e.to_string())?;
        } else {
            while let Some(u) = s.next_unfiltered().map_err(|e| e.to_string())? {
                match u {
                    Unfiltered::Marker(m) => out.push(format!(
                        "M {:?} {:?} {:?} {:?}",
                        m.kind, m.clustering, m.deletion, m.start_deletion
                    )),
                    Unfiltered::Row(r) => {
                        out.push(format!(
                            "R {} {:?} {:?} {:?} {}",
                            r.is_static,
                            r.clustering,
                            r.liveness,
                            r.deletion,
                            r.shadowable_deletion
                        ));
                        for cd in r.columns {
                            match cd {
                                ColumnData::Simple { column, cell } => {
                                    out.push(format!("{:?}", CellItem::Simple { column, cell }))
                                }
                                ColumnData::Complex {
                                    column,
                                    deletion,
                                    cells,
                                } => {
                                    let n = cells.len();
                                    out.push(format!(
                                        "{:?}",
                                        CellItem::Complex {
                                            column,
                                            deletion,
                                            cells: n
                                        }
                                    ));
                                    for cell in cells {
                                        out.push(format!(
                                            "{:?}",
                                            CellItem::ComplexCell { column, cell }
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

#[test]
fn row_views_read_the_same_rows_and_cells() {
    let (mut compared, mut lines, mut legacy) = (0, 0, 0);
    for f in &common::corpus_data_files() {
        let Ok(sst) = SSTable::open(f) else { continue };
        if sst.version().is_legacy() {
            // 2.x rows are assembled (or, without a schema, not even
            // that), not viewed: a clear error.
            let mut s = Scanner::new(&sst, ScanOptions::default());
            if let Ok(Some(_)) = s.next_partition() {
                let e = s
                    .next_view()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(
                    e.contains("next_unfiltered") || e.contains("--schema"),
                    "{}: {e}",
                    f.display()
                );
                legacy += 1;
            }
            continue;
        }
        if sst.is_raw_legacy() {
            continue;
        }
        let owned = flat(&sst, Mode::Owned);
        assert_eq!(owned, flat(&sst, Mode::Views), "{}", f.display());
        assert_eq!(owned, flat(&sst, Mode::Callbacks), "{}", f.display());
        if let Ok(l) = owned {
            lines += l.len();
        }
        compared += 1;
    }
    assert!(compared > 100, "only {compared} sstables compared");
    assert!(lines > 5000, "only {lines} rows and cells compared");
    assert!(legacy > 0, "no 2.x sstable tried");
}

#[test]
fn recycled_buffers_decode_the_same_rows() {
    let files = common::corpus_data_files();
    let mut compared = 0;
    let mut unfiltereds = 0;
    for f in &files {
        let Ok(sst) = SSTable::open(f) else { continue };
        if sst.version().is_legacy() || sst.is_raw_legacy() {
            continue;
        }
        let fresh = dump(&sst, false);
        let recycled = dump(&sst, true);
        assert_eq!(fresh, recycled, "{}", f.display());
        if let Ok(rows) = fresh {
            unfiltereds += rows.len();
        }
        compared += 1;
    }
    assert!(compared > 100, "only {compared} sstables compared");
    assert!(
        unfiltereds > 1000,
        "only {unfiltereds} unfiltereds compared"
    );
    let quick = QUICK.load(Ordering::Relaxed);
    assert!(quick > 500, "the shortcut measure took only {quick} rows");
}
