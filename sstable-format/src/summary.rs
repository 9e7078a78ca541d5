//! `Summary.db`: a sample of Index.db keys and their Index.db positions.
//!
//! ```text
//! i32 min index interval, i32 entry count, i64 entries size,
//! i32 sampling level, i32 size at full sampling,
//! i32 * count    offsets of the entries (native byte order, little-endian on x86),
//!                relative to the start of the offsets
//! entries        key bytes, i64 Index.db position (native order)
//! i32 + bytes    first key;  i32 + bytes last key
//! ```

use crate::cursor::Cursor;
use crate::error::{Component, Result};
use crate::index::IndexOffset;

const C: Component = Component::Summary;

/// Parsed Summary.db (entries borrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary<'a> {
    pub min_index_interval: i32,
    pub sampling_level: i32,
    pub size_at_full_sampling: i32,
    pub entries: Vec<(&'a [u8], IndexOffset)>,
    pub first_key: &'a [u8],
    pub last_key: &'a [u8],
}

impl<'a> Summary<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Summary<'a>> {
        let mut c = Cursor::new(buf, C);
        let min_index_interval = c.i32("min index interval")?;
        let count = c.count_i32(buf.len() / 4, "summary entry count")?;
        let at = c.position();
        let entries_len = c.i64("summary entries size")?;
        let sampling_level = c.i32("sampling level")?;
        let size_at_full_sampling = c.i32("size at full sampling")?;
        if entries_len < 0 || entries_len as u64 > buf.len() as u64 {
            return Err(c.invalid_at(
                at,
                format!("an entries size within the file, found {entries_len}"),
            ));
        }
        let region_start = c.position();
        let offsets_len = count * 4;
        let region_len = entries_len as usize;
        if region_len < offsets_len {
            return Err(c.invalid_at(
                at,
                format!("entries size of at least {offsets_len}, found {region_len}"),
            ));
        }
        let region = c.bytes(region_len, "summary entries")?;
        let mut offs = Vec::with_capacity(count);
        for i in 0..count {
            let b = &region[i * 4..i * 4 + 4];
            offs.push(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let start = offs[i];
            let end = offs.get(i + 1).copied().unwrap_or(region_len);
            if start < offsets_len || end > region_len || end < start + 8 {
                return Err(crate::error::Error::invalid(
                    C,
                    (region_start + i * 4) as u64,
                    format!("summary entry {i} within the entries region, found {start}..{end}"),
                ));
            }
            let e = &region[start..end];
            let (key, pos) = e.split_at(e.len() - 8);
            let mut p = [0u8; 8];
            p.copy_from_slice(pos);
            let pos = i64::from_le_bytes(p);
            entries.push((key, IndexOffset(pos.max(0) as u64)));
        }
        let first_key = c.int_bytes("first key")?.unwrap_or(&[]);
        let last_key = c.int_bytes("last key")?.unwrap_or(&[]);
        Ok(Summary {
            min_index_interval,
            sampling_level,
            size_at_full_sampling,
            entries,
            first_key,
            last_key,
        })
    }
}
