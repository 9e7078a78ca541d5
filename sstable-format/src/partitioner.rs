//! Partitioners: the token of a partition key.

use crate::error::{Error, Result};
use std::fmt;

/// A partitioner named in Statistics.db.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Partitioner {
    Murmur3,
    Random,
    ByteOrdered,
    OrderPreserving,
    Local,
}

impl Partitioner {
    pub fn from_class(name: &str) -> Result<Partitioner> {
        let simple = name.rsplit('.').next().unwrap_or(name);
        Ok(match simple {
            "Murmur3Partitioner" => Partitioner::Murmur3,
            "RandomPartitioner" => Partitioner::Random,
            "ByteOrderedPartitioner" => Partitioner::ByteOrdered,
            "OrderPreservingPartitioner" => Partitioner::OrderPreserving,
            s if s.starts_with("LocalPartitioner") => Partitioner::Local,
            _ => return Err(Error::Unsupported(format!("partitioner {name}"))),
        })
    }

    pub fn class_name(self) -> &'static str {
        match self {
            Partitioner::Murmur3 => "org.apache.cassandra.dht.Murmur3Partitioner",
            Partitioner::Random => "org.apache.cassandra.dht.RandomPartitioner",
            Partitioner::ByteOrdered => "org.apache.cassandra.dht.ByteOrderedPartitioner",
            Partitioner::OrderPreserving => "org.apache.cassandra.dht.OrderPreservingPartitioner",
            Partitioner::Local => "org.apache.cassandra.dht.LocalPartitioner",
        }
    }

    /// The token of a serialized partition key.
    pub fn token(self, key: &[u8]) -> Token {
        match self {
            Partitioner::Murmur3 => {
                let h = murmur3_x64_128(key, 0)[0];
                Token::Long(if h == i64::MIN { i64::MAX } else { h })
            }
            Partitioner::Random => Token::Big(md5_token(key)),
            Partitioner::ByteOrdered | Partitioner::OrderPreserving | Partitioner::Local => {
                Token::Bytes(key.to_vec())
            }
        }
    }
}

/// A token. Tokens of one partitioner compare in ring order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Token {
    Long(i64),
    /// RandomPartitioner: 0..2^127, as an unsigned 128-bit integer.
    Big(u128),
    Bytes(Vec<u8>),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Long(v) => write!(f, "{v}"),
            Token::Big(v) => write!(f, "{v}"),
            Token::Bytes(b) => f.write_str(&crate::value::hex(b)),
        }
    }
}

fn md5_token(key: &[u8]) -> u128 {
    use md5::{Digest, Md5};
    let d = Md5::digest(key);
    let mut a = [0u8; 16];
    a.copy_from_slice(&d);
    // new BigInteger(bytes).abs(): two's complement, then absolute value.
    let v = i128::from_be_bytes(a);
    v.unsigned_abs()
}

#[inline]
fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    k
}

/// Cassandra's MurmurHash3 x64/128 — including its quirk of sign-extending
/// the tail bytes — returning the two 64-bit halves as Java longs.
pub fn murmur3_x64_128(key: &[u8], seed: u64) -> [i64; 2] {
    const C1: u64 = 0x87c37b91114253d5;
    const C2: u64 = 0x4cf5ad432745937f;
    let len = key.len();
    let nblocks = len / 16;
    let mut h1 = seed;
    let mut h2 = seed;
    for i in 0..nblocks {
        let b = &key[i * 16..i * 16 + 16];
        let mut k1 = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let mut k2 = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dce729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x38495ab5);
    }
    let tail = &key[nblocks * 16..];
    let mut k1: u64 = 0;
    let mut k2: u64 = 0;
    // Sign-extended bytes, as Java's `(long) key.get(i)` does.
    let sx = |i: usize| tail[i] as i8 as i64 as u64;
    let rem = len & 15;
    if rem >= 9 {
        for i in (8..rem).rev() {
            k2 ^= sx(i) << ((i - 8) * 8);
        }
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    if rem >= 1 {
        for i in (0..rem.min(8)).rev() {
            k1 ^= sx(i) << (i * 8);
        }
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    h1 ^= len as u64;
    h2 ^= len as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    [h1 as i64, h2 as i64]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_tokens() {
        // Values checked against Cassandra's `SELECT token(k)` for int keys.
        let t = Partitioner::Murmur3.token(&1i32.to_be_bytes());
        assert_eq!(t, Token::Long(-4069959284402364209));
        let t = Partitioner::Murmur3.token(&2i32.to_be_bytes());
        assert_eq!(t, Token::Long(-3248873570005575792));
    }
}
