//! `CompressionInfo.db` and the chunk codecs of a compressed `Data.db`.
//!
//! ```text
//! CompressionInfo.db
//!   utf    compressor class name        (u16 length + UTF-8)
//!   i32    option count, then (utf key, utf value) pairs
//!   i32    chunk length (uncompressed bytes per chunk)
//!   i32    max compressed length         (na and later)
//!   i64    uncompressed data length
//!   i32    chunk count
//!   i64 *  chunk offsets in Data.db
//!
//! Data.db (compressed): per chunk, the compressed bytes then a big-endian
//! CRC32 of those bytes.
//! ```

use crate::cursor::Cursor;
use crate::error::{Component, Error, Result};
use crate::version::Version;

/// A compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    Lz4,
    Snappy,
    Deflate,
    Zstd,
    /// `NoopCompressor`: chunks stored raw (with CRCs).
    Noop,
}

impl Codec {
    pub fn from_class(name: &str) -> Option<Codec> {
        let simple = name.rsplit('.').next().unwrap_or(name);
        Some(match simple {
            "LZ4Compressor" => Codec::Lz4,
            "SnappyCompressor" => Codec::Snappy,
            "DeflateCompressor" => Codec::Deflate,
            "ZstdCompressor" => Codec::Zstd,
            "NoopCompressor" => Codec::Noop,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Lz4 => "LZ4Compressor",
            Codec::Snappy => "SnappyCompressor",
            Codec::Deflate => "DeflateCompressor",
            Codec::Zstd => "ZstdCompressor",
            Codec::Noop => "NoopCompressor",
        }
    }

    /// Decompress `input` into `out` (cleared first), expecting at most `max_len` bytes.
    pub fn decompress(
        self,
        input: &[u8],
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        out.clear();
        self.decompress_append(input, max_len, out)
    }

    /// Decompress `input`, appending at most `max_len` bytes to `out`.
    pub fn decompress_append(
        self,
        input: &[u8],
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        let start = out.len();
        match self {
            Codec::Lz4 => {
                // Cassandra prefixes the LZ4 block with the uncompressed length (little-endian).
                let (len, block) = match input {
                    [a, b, c, d, rest @ ..] => {
                        (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest)
                    }
                    _ => return Err("LZ4 chunk shorter than its 4-byte length header".into()),
                };
                if len > max_len {
                    return Err(format!(
                        "LZ4 chunk claims {len} bytes, more than the chunk length {max_len}"
                    ));
                }
                out.resize(start + len, 0);
                let n = lz4_flex::block::decompress_into(block, &mut out[start..])
                    .map_err(|e| e.to_string())?;
                if n != len {
                    return Err(format!(
                        "LZ4 chunk decompressed to {n} bytes, header said {len}"
                    ));
                }
                Ok(())
            }
            Codec::Snappy => {
                let len = snap::raw::decompress_len(input).map_err(|e| e.to_string())?;
                if len > max_len {
                    return Err(format!(
                        "Snappy chunk claims {len} bytes, more than the chunk length {max_len}"
                    ));
                }
                out.resize(start + len, 0);
                let n = snap::raw::Decoder::new()
                    .decompress(input, &mut out[start..])
                    .map_err(|e| e.to_string())?;
                out.truncate(start + n);
                Ok(())
            }
            Codec::Deflate => {
                use std::io::Read;
                let mut d = flate2::read::ZlibDecoder::new(input).take(max_len as u64 + 1);
                d.read_to_end(out).map_err(|e| e.to_string())?;
                if out.len() - start > max_len {
                    return Err(format!(
                        "Deflate chunk inflates past the chunk length {max_len}"
                    ));
                }
                Ok(())
            }
            Codec::Zstd => {
                use std::io::Read;
                let dec =
                    zstd::stream::read::Decoder::with_buffer(input).map_err(|e| e.to_string())?;
                let mut d = dec.take(max_len as u64 + 1);
                d.read_to_end(out).map_err(|e| e.to_string())?;
                if out.len() - start > max_len {
                    return Err(format!(
                        "Zstd chunk decompresses past the chunk length {max_len}"
                    ));
                }
                Ok(())
            }
            Codec::Noop => {
                if input.len() > max_len {
                    return Err("raw chunk longer than the chunk length".into());
                }
                out.extend_from_slice(input);
                Ok(())
            }
        }
    }
}

/// Parsed `CompressionInfo.db`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressionInfo {
    pub compressor_class: String,
    /// `None` when the class is not one we can decode.
    pub codec: Option<Codec>,
    pub options: Vec<(String, String)>,
    pub chunk_length: u32,
    /// Chunks whose stored length is at least this are stored uncompressed (na+).
    pub max_compressed_length: Option<u32>,
    pub data_length: u64,
    pub chunk_offsets: Vec<u64>,
    /// Algorithm of the per-chunk checksums (Adler-32 before 3.0).
    pub checksum: crate::checksum::ChecksumKind,
}

/// One chunk's location in the compressed Data.db.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub index: u64,
    /// Offset of the compressed bytes in Data.db.
    pub offset: u64,
    /// Length of the compressed bytes (without the 4-byte checksum).
    pub length: usize,
}

impl CompressionInfo {
    /// Parse the component. `version` decides whether `maxCompressedLength` is present.
    pub fn parse(buf: &[u8], version: Version) -> Result<CompressionInfo> {
        let mut c = Cursor::new(buf, Component::CompressionInfo);
        let compressor_class = c.utf("compressor class name")?;
        let nopts = c.count_i32(c.remaining() / 4, "option count")?;
        let mut options = Vec::with_capacity(nopts);
        for _ in 0..nopts {
            let k = c.utf("option name")?;
            let v = c.utf("option value")?;
            options.push((k, v));
        }
        let at = c.position();
        let chunk_length = c.i32("chunk length")?;
        if chunk_length <= 0 || (chunk_length as u32).count_ones() != 1 {
            return Err(c.invalid_at(
                at,
                format!("a positive power-of-two chunk length, found {chunk_length}"),
            ));
        }
        let max_compressed_length = if version.has_max_compressed_length() {
            let at = c.position();
            let m = c.i32("max compressed length")?;
            if m < 0 {
                return Err(c.invalid_at(
                    at,
                    format!("a non-negative max compressed length, found {m}"),
                ));
            }
            Some(m as u32)
        } else {
            None
        };
        let at = c.position();
        let data_length = c.i64("uncompressed data length")?;
        if data_length < 0 {
            return Err(c.invalid_at(
                at,
                format!("a non-negative data length, found {data_length}"),
            ));
        }
        let count = c.count_i32(c.remaining() / 8, "chunk count")?;
        let expected = (data_length as u64).div_ceil(chunk_length as u64);
        // Some 3.0 writers appended one empty trailing chunk; accept it.
        if count as u64 != expected && count as u64 != expected + 1 {
            return Err(c.invalid_at(
                at,
                format!("{expected} chunks for {data_length} bytes in chunks of {chunk_length}, found {count}"),
            ));
        }
        let mut chunk_offsets = Vec::with_capacity(count);
        let mut prev = 0u64;
        for i in 0..count {
            let at = c.position();
            let o = c.i64("chunk offset")?;
            if o < 0 || (i > 0 && (o as u64) < prev) {
                return Err(c.invalid_at(
                    at,
                    format!("increasing chunk offsets, chunk {i} at {o} after {prev}"),
                ));
            }
            prev = o as u64;
            chunk_offsets.push(o as u64);
        }
        Ok(CompressionInfo {
            codec: Codec::from_class(&compressor_class),
            compressor_class,
            options,
            chunk_length: chunk_length as u32,
            max_compressed_length,
            data_length: data_length as u64,
            chunk_offsets,
            checksum: crate::checksum::ChecksumKind::for_version(version),
        })
    }

    /// Where chunk `index` lies in a compressed Data.db of `file_len` bytes.
    pub fn chunk_span(&self, index: u64, file_len: u64) -> Result<ChunkSpan> {
        let i = index as usize;
        let offset = *self.chunk_offsets.get(i).ok_or_else(|| {
            Error::invalid(
                Component::CompressionInfo,
                0,
                format!("chunk {index} (only {} chunks)", self.chunk_offsets.len()),
            )
        })?;
        let end = self.chunk_offsets.get(i + 1).copied().unwrap_or(file_len);
        if end < offset + 4 || end > file_len {
            return Err(Error::Truncated {
                component: Component::Data,
                offset,
                needed: (offset + 4).saturating_sub(end.min(file_len)).max(1),
                what: "compressed chunk and its checksum",
            });
        }
        Ok(ChunkSpan {
            index,
            offset,
            length: (end - offset - 4) as usize,
        })
    }

    /// Uncompressed length of chunk `index`.
    pub fn chunk_uncompressed_len(&self, index: u64) -> usize {
        let start = index * self.chunk_length as u64;
        (self.data_length.saturating_sub(start)).min(self.chunk_length as u64) as usize
    }

    /// Verify and decompress one chunk from the whole compressed Data.db
    /// bytes into `out` (cleared first).
    pub fn read_chunk(
        &self,
        data: &[u8],
        index: u64,
        verify: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.clear();
        self.read_chunk_append(data, index, verify, out)
    }

    /// [`CompressionInfo::read_chunk`], appending the chunk's bytes to `out`.
    pub fn read_chunk_append(
        &self,
        data: &[u8],
        index: u64,
        verify: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start_len = out.len();
        let span = self.chunk_span(index, data.len() as u64)?;
        let start = span.offset as usize;
        let compressed = &data[start..start + span.length];
        let stored = &data[start + span.length..start + span.length + 4];
        if verify {
            let expected = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
            let actual = self.checksum.hash(compressed);
            if expected != actual {
                return Err(Error::ChecksumMismatch {
                    component: Component::Data,
                    chunk: index,
                    offset: span.offset,
                    expected,
                    actual,
                });
            }
        }
        let want = self.chunk_uncompressed_len(index);
        let stored_raw = match self.max_compressed_length {
            Some(m) => span.length >= m as usize,
            None => false,
        };
        if stored_raw {
            // Stored uncompressed (na+); a short final chunk is zero-padded.
            out.extend_from_slice(&compressed[..compressed.len().min(want)]);
            if out.len() - start_len != want {
                return Err(Error::Decompression {
                    component: Component::Data,
                    chunk: index,
                    offset: span.offset,
                    reason: format!(
                        "raw chunk has {} bytes, expected {want}",
                        out.len() - start_len
                    ),
                });
            }
            return Ok(());
        }
        let codec = {
            self.codec.ok_or_else(|| {
                Error::Unsupported(format!("compressor {}", self.compressor_class))
            })?
        };
        codec
            .decompress_append(compressed, self.chunk_length as usize, out)
            .map_err(|reason| Error::Decompression {
                component: Component::Data,
                chunk: index,
                offset: span.offset,
                reason,
            })?;
        if out.len() - start_len != want {
            return Err(Error::Decompression {
                component: Component::Data,
                chunk: index,
                offset: span.offset,
                reason: format!(
                    "chunk decompressed to {} bytes, expected {want}",
                    out.len() - start_len
                ),
            });
        }
        Ok(())
    }

    /// Compression ratio (compressed / uncompressed) for a Data.db of `file_len` bytes.
    pub fn ratio(&self, file_len: u64) -> f64 {
        if self.data_length == 0 {
            return 0.0;
        }
        file_len as f64 / self.data_length as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(codec: &str, chunk: i32, data_len: i64, offsets: &[i64], version: Version) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(codec.len() as u16).to_be_bytes());
        b.extend_from_slice(codec.as_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&chunk.to_be_bytes());
        if version.has_max_compressed_length() {
            b.extend_from_slice(&i32::MAX.to_be_bytes());
        }
        b.extend_from_slice(&data_len.to_be_bytes());
        b.extend_from_slice(&(offsets.len() as i32).to_be_bytes());
        for o in offsets {
            b.extend_from_slice(&o.to_be_bytes());
        }
        b
    }

    #[test]
    fn round_trip_lz4_chunk() {
        let payload = b"hello hello hello hello".to_vec();
        let mut chunk = (payload.len() as u32).to_le_bytes().to_vec();
        chunk.extend(lz4_flex::block::compress(&payload));
        let crc = crc32fast::hash(&chunk);
        let mut data = chunk.clone();
        data.extend_from_slice(&crc.to_be_bytes());
        let info = CompressionInfo::parse(
            &build(
                "org.apache.cassandra.io.compress.LZ4Compressor",
                65536,
                payload.len() as i64,
                &[0],
                Version::Nb,
            ),
            Version::Nb,
        )
        .unwrap();
        let mut out = Vec::new();
        info.read_chunk(&data, 0, true, &mut out).unwrap();
        assert_eq!(out, payload);
        // flip a bit: checksum error naming chunk 0
        data[5] ^= 1;
        match info.read_chunk(&data, 0, true, &mut out) {
            Err(Error::ChecksumMismatch { chunk: 0, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_counts() {
        let b = build("LZ4Compressor", 65536, 10, &[0, 5, 9], Version::Mc);
        assert!(CompressionInfo::parse(&b, Version::Mc).is_err());
        let b = build("LZ4Compressor", 1000, 10, &[0], Version::Mc);
        assert!(CompressionInfo::parse(&b, Version::Mc).is_err());
    }
}
