//! `Filter.db`: the partition-key bloom filter.
//!
//! ```text
//! i32 hash count, i32 word count (64-bit words), bitset bytes
//! ```
//! Before `na` each word is a big-endian long; from `na` the bytes are raw.
//! Bit `i` is bit `i % 8` of byte `i / 8` of the in-memory bitset.

use crate::cursor::Cursor;
use crate::error::{Component, Result};
use crate::partitioner::murmur3_x64_128;
use crate::version::Version;

const C: Component = Component::Filter;

/// A parsed bloom filter, borrowing its bits.
#[derive(Debug, Clone)]
pub struct BloomFilter<'a> {
    pub hash_count: u32,
    bits: &'a [u8],
    old_format: bool,
    /// Pre-3.0 hash order (the two murmur halves swapped).
    pub old_hash_order: bool,
}

impl<'a> BloomFilter<'a> {
    pub fn parse(buf: &'a [u8], version: Version) -> Result<BloomFilter<'a>> {
        let mut f = Self::parse_with_format(buf, !version.has_new_bloom_filter_format())?;
        f.old_hash_order = version.has_old_bf_hash_order();
        Ok(f)
    }

    /// Parse with an explicit serialization (`old_format`: big-endian words, before `na`).
    pub fn parse_with_format(buf: &'a [u8], old_format: bool) -> Result<BloomFilter<'a>> {
        let mut c = Cursor::new(buf, C);
        let at = c.position();
        let hash_count = c.i32("hash count")?;
        if !(0..=1024).contains(&hash_count) {
            return Err(c.invalid_at(at, format!("a hash count in 0..=1024, found {hash_count}")));
        }
        let words = c.count_i32(c.remaining() / 8, "bitset word count")?;
        let bits = c.bytes(words * 8, "bitset")?;
        Ok(BloomFilter {
            hash_count: hash_count as u32,
            bits,
            old_format,
            old_hash_order: false,
        })
    }

    pub fn bit_count(&self) -> u64 {
        self.bits.len() as u64 * 8
    }

    fn get(&self, index: u64) -> bool {
        let byte = (index >> 3) as usize;
        let byte = if self.old_format {
            (byte & !7) | (7 - (byte & 7))
        } else {
            byte
        };
        self.bits
            .get(byte)
            .is_some_and(|b| b & (1 << (index & 7)) != 0)
    }

    /// May the filter contain `key`? (false = definitely absent)
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let max = self.bit_count() as i64;
        if max == 0 {
            return true;
        }
        let h = murmur3_x64_128(key, 0);
        let (mut base, inc) = if self.old_hash_order {
            (h[0], h[1])
        } else {
            (h[1], h[0])
        };
        for _ in 0..self.hash_count {
            let idx = (base % max).unsigned_abs();
            if !self.get(idx) {
                return false;
            }
            base = base.wrapping_add(inc);
        }
        true
    }
}
