//! Decoding into recycled vectors (`RowBuffers`) must yield exactly what
//! fresh decoding yields, on every 3.0+ sstable of the corpus.

use sstable_reader::{RowBuffers, SSTable, ScanOptions, Scanner};
use std::path::{Path, PathBuf};

fn data_files(p: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(p) else { return };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            data_files(&e, out);
        } else if e.to_string_lossy().ends_with("-Data.db") {
            out.push(e);
        }
    }
}

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

#[test]
fn recycled_buffers_decode_the_same_rows() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        corpus.join("MANIFEST.md").exists(),
        "the shared corpus is missing"
    );
    let mut files = Vec::new();
    data_files(&corpus, &mut files);
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
}
