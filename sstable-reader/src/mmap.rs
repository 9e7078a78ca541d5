//! Memory-mapped component files. This module holds the crate's only `unsafe`.

use crate::error::{ReadError, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The granularity of [`MappedFile::release`]: a multiple of every page
/// size Linux uses (4, 16 and 64 KiB).
pub const RELEASE_ALIGN: usize = 64 << 10;

/// A read-only, memory-mapped file (empty files are not mapped), or bytes
/// already in memory.
#[derive(Debug, Clone)]
pub struct MappedFile {
    path: PathBuf,
    map: Option<Backing>,
}

#[derive(Debug, Clone)]
enum Backing {
    Map(Arc<Mmap>),
    Memory(Arc<[u8]>),
}

impl MappedFile {
    pub fn open(path: &Path) -> Result<MappedFile> {
        let io = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Ok(MappedFile {
                path: path.to_path_buf(),
                map: None,
            });
        }
        // SAFETY: the map is read-only and private to this process. Cassandra
        // never modifies a finished sstable component in place (components are
        // immutable once their TOC is written), so the bytes cannot change under
        // us unless another program truncates the file, which would make reads
        // fault (SIGBUS) rather than return wrong data. We document that the
        // reader must not be pointed at files being written.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map: Some(Backing::Map(Arc::new(map))),
        })
    }

    /// Bytes held in memory, labelled with `path` for errors.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> MappedFile {
        MappedFile {
            path: path.into(),
            map: Some(Backing::Memory(bytes.into())),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(Backing::Map(m)) => &m[..],
            Some(Backing::Memory(b)) => b,
            None => &[],
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// Drop this process's page mappings for the bytes in `[from, to)`,
    /// trimmed inward to [`RELEASE_ALIGN`] boundaries, once a sequential
    /// reader has copied them out. The file's pages stay in the page cache;
    /// a later read of the range maps them again. Releasing as the scan goes
    /// keeps the resident set small and spreads the page-table teardown
    /// over the scanning threads instead of one `munmap` at the end.
    pub fn release(&self, from: u64, to: u64) {
        #[cfg(target_os = "linux")]
        if let Some(Backing::Map(m)) = &self.map {
            let a = RELEASE_ALIGN as u64;
            let start = from.div_ceil(a) * a;
            let end = (to.min(m.len() as u64) / a) * a;
            if end > start {
                // SAFETY: the map is a read-only private mapping of a file
                // that is never written through it, so no page in it holds
                // anything but the file's bytes. MADV_DONTNEED only removes
                // the mappings; the next access faults the same bytes in
                // from the page cache, as after the kernel's own reclaim of
                // clean file pages. Callers release only bytes they have
                // finished reading.
                let _ = unsafe {
                    m.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start as usize,
                        (end - start) as usize,
                    )
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to);
    }

    /// Hint that the file will be read sequentially.
    pub fn advise_sequential(&self) {
        #[cfg(unix)]
        if let Some(Backing::Map(m)) = &self.map {
            let _ = m.advise(memmap2::Advice::Sequential);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Released bytes read back the same, and only mapped files release.
    #[test]
    fn released_bytes_read_back() {
        let bytes: Vec<u8> = (0..5 * RELEASE_ALIGN as u32 + 123)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let path =
            std::env::temp_dir().join(format!("sstable-reader-release-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let m = MappedFile::open(&path).unwrap();
        assert_eq!(m.bytes(), &bytes[..]);
        m.release(1, 4 * RELEASE_ALIGN as u64 + 7);
        m.release(0, u64::MAX);
        m.release(9, 3);
        assert_eq!(m.bytes(), &bytes[..]);
        std::fs::remove_file(&path).unwrap();
        let mem = MappedFile::from_bytes("mem", bytes.clone());
        mem.release(0, u64::MAX);
        assert_eq!(mem.bytes(), &bytes[..]);
    }
}
