//! `CRC.db` (per-chunk CRC32 of an uncompressed Data.db) and `Digest.*`.
//!
//! ```text
//! CRC.db        i32 chunk size, then one big-endian CRC32 per chunk of Data.db
//! Digest.crc32  the decimal CRC32 of the whole Data.db file, as text
//! Digest.adler32 / Digest.sha1 (2.x): the same idea with other hashes
//! ```

use crate::cursor::Cursor;
use crate::error::{Component, Error, Result};
use crate::version::Version;

/// The checksum algorithm of chunk checksums and digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    Crc32,
    /// 2.x sstables (`ka`, `la`, `lb`).
    Adler32,
}

impl ChecksumKind {
    /// The algorithm chunk checksums use in `version`.
    pub fn for_version(version: Version) -> ChecksumKind {
        if version.uses_adler32() {
            ChecksumKind::Adler32
        } else {
            ChecksumKind::Crc32
        }
    }

    pub fn hash(self, bytes: &[u8]) -> u32 {
        match self {
            ChecksumKind::Crc32 => crc32fast::hash(bytes),
            ChecksumKind::Adler32 => adler::adler32_slice(bytes),
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            ChecksumKind::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            ChecksumKind::Adler32 => Hasher::Adler32(adler::Adler32::new()),
        }
    }
}

/// A streaming checksum.
#[derive(Clone)]
pub enum Hasher {
    Crc32(crc32fast::Hasher),
    Adler32(adler::Adler32),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(bytes),
            Hasher::Adler32(h) => h.write_slice(bytes),
        }
    }
    pub fn finalize(self) -> u32 {
        match self {
            Hasher::Crc32(h) => h.finalize(),
            Hasher::Adler32(h) => h.checksum(),
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hasher::Crc32(_) => "Hasher::Crc32",
            Hasher::Adler32(_) => "Hasher::Adler32",
        })
    }
}

/// Parsed `CRC.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrcFile {
    pub chunk_size: u32,
    pub checksums: Vec<u32>,
    pub kind: ChecksumKind,
}

impl CrcFile {
    pub fn parse(buf: &[u8]) -> Result<CrcFile> {
        Self::parse_with(buf, ChecksumKind::Crc32)
    }

    /// Parse a CRC.db whose checksums use `kind` (Adler-32 in 2.x).
    pub fn parse_with(buf: &[u8], kind: ChecksumKind) -> Result<CrcFile> {
        let mut c = Cursor::new(buf, Component::Crc);
        let at = c.position();
        let chunk_size = c.i32("chunk size")?;
        if chunk_size <= 0 {
            return Err(c.invalid_at(at, format!("a positive chunk size, found {chunk_size}")));
        }
        if !c.remaining().is_multiple_of(4) {
            return Err(c.invalid("a whole number of 4-byte checksums"));
        }
        let mut checksums = Vec::with_capacity(c.remaining() / 4);
        while !c.is_empty() {
            checksums.push(c.u32("chunk checksum")?);
        }
        Ok(CrcFile {
            chunk_size: chunk_size as u32,
            checksums,
            kind,
        })
    }

    /// Verify every chunk of an uncompressed Data.db.
    pub fn verify(&self, data: &[u8]) -> Result<()> {
        let size = self.chunk_size as usize;
        let chunks = data.len().div_ceil(size);
        if chunks != self.checksums.len() {
            return Err(Error::invalid(
                Component::Crc,
                4,
                format!(
                    "{chunks} checksums for {} bytes of Data.db, found {}",
                    data.len(),
                    self.checksums.len()
                ),
            ));
        }
        for (i, (chunk, expected)) in data.chunks(size).zip(&self.checksums).enumerate() {
            let actual = self.kind.hash(chunk);
            if actual != *expected {
                return Err(Error::ChecksumMismatch {
                    component: Component::Data,
                    chunk: i as u64,
                    offset: (i * size) as u64,
                    expected: *expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Verify one chunk (`index`) given its bytes.
    pub fn verify_chunk(&self, index: usize, bytes: &[u8]) -> Result<()> {
        let expected = *self.checksums.get(index).ok_or_else(|| {
            Error::invalid(
                Component::Crc,
                4 + 4 * index as u64,
                format!("a checksum for chunk {index}"),
            )
        })?;
        let actual = self.kind.hash(bytes);
        if actual != expected {
            return Err(Error::ChecksumMismatch {
                component: Component::Data,
                chunk: index as u64,
                offset: (index * self.chunk_size as usize) as u64,
                expected,
                actual,
            });
        }
        Ok(())
    }
}

/// Parse `Digest.crc32` (decimal text; Cassandra writes the unsigned value).
pub fn parse_digest_crc32(text: &[u8]) -> Result<u32> {
    let s = String::from_utf8_lossy(text);
    let t = s.trim();
    t.parse::<u64>()
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .or_else(|| t.parse::<i64>().ok().map(|v| v as u32))
        .ok_or_else(|| {
            Error::invalid(
                Component::Digest,
                0,
                format!("a decimal CRC32, found `{t}`"),
            )
        })
}

/// Verify the whole-file CRC32 digest of Data.db.
pub fn verify_digest_crc32(digest_text: &[u8], data: &[u8]) -> Result<()> {
    let expected = parse_digest_crc32(digest_text)?;
    let actual = crc32fast::hash(data);
    if expected != actual {
        return Err(Error::ChecksumMismatch {
            component: Component::Digest,
            chunk: 0,
            offset: 0,
            expected,
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_file() {
        let data = b"abcdefghij";
        let mut b = 4i32.to_be_bytes().to_vec();
        for c in data.chunks(4) {
            b.extend_from_slice(&crc32fast::hash(c).to_be_bytes());
        }
        let f = CrcFile::parse(&b).unwrap();
        f.verify(data).unwrap();
        assert!(matches!(
            f.verify(b"abcdefghiX"),
            Err(Error::ChecksumMismatch { chunk: 2, .. })
        ));
    }

    #[test]
    fn digest() {
        let d = crc32fast::hash(b"xyz").to_string();
        verify_digest_crc32(d.as_bytes(), b"xyz").unwrap();
        assert!(verify_digest_crc32(d.as_bytes(), b"xyZ").is_err());
        assert!(parse_digest_crc32(b"nope").is_err());
    }
}
