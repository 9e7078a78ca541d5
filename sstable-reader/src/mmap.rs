//! Memory-mapped component files. This module holds the crate's only `unsafe`.

use crate::error::{ReadError, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// Hint that the file will be read sequentially.
    pub fn advise_sequential(&self) {
        #[cfg(unix)]
        if let Some(Backing::Map(m)) = &self.map {
            let _ = m.advise(memmap2::Advice::Sequential);
        }
    }
}
