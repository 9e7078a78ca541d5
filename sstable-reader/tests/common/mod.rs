//! What the integration tests share: the corpus and its sstables.
// Each test file uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shared corpus (`../shared/corpus` beside the repository).
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        p.join("MANIFEST.md").exists(),
        "the shared corpus is missing at {}",
        p.display()
    );
    p
}

/// Every `-Data.db` of the corpus, in path order.
pub fn corpus_data_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    data_files(&corpus(), &mut files);
    files
}

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
