//! The BTI (`da`) index files: tries in Partitions.db and Rows.db.
//!
//! ```text
//! trie node   u8 header (type << 4 | payload flags), then by type:
//!   0 PAYLOAD_ONLY          -
//!   1 SINGLE_NOPAYLOAD_4    trans; pointer = header & 0xF
//!   2 SINGLE_8              trans, u8 pointer
//!   3 SINGLE_NOPAYLOAD_12   lo, trans; pointer = (header & 0xF) << 8 | lo
//!   4 SINGLE_16             trans, u16 pointer
//!   5..9 SPARSE_8/12/16/24/40   n, trans[n], pointers[n]
//!   10..15 DENSE_12/16/24/32/40/64  start, len-1, pointers[len] (0 = no child)
//!   pointers are distances back from the node's own position; payload follows
//! Partitions.db  trie … root, u16 first key, u16 last key,
//!                i64 first-key position, i64 key count, i64 root position
//!   payload      [u8 hash] + sign-extended position: >= 0 Rows.db, < 0 Data.db at !pos
//! Rows.db entry  row-index trie …, u16 key, vint data position, signed vint root − here,
//!                vint block count, DeletionTime
//!   payload      sign-extended offset in the partition (flags & 7 bytes), [DeletionTime if flags & 8]
//! ```

use crate::cursor::Cursor;
use crate::data::DeletionTime;
use crate::error::{Component, Error, Result};
use crate::version::Version;

/// A decoded trie node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub pos: usize,
    /// Payload flags (0 = none).
    pub payload_flags: u8,
    pub payload_pos: usize,
    /// (transition byte, child position), ascending.
    pub children: Vec<(u8, usize)>,
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, x| (a << 8) | *x as u64)
}

/// Read the node at `pos` of `buf` (errors name `component`).
pub fn read_node(buf: &[u8], pos: usize, component: Component) -> Result<Node> {
    let err = |what: &str| Error::invalid(component, pos as u64, format!("a trie node ({what})"));
    let mut c = Cursor::with_base(buf, component, 0);
    c.set_position(pos)?;
    let h = c.u8("trie node header")?;
    let ty = h >> 4;
    let mut pf = h & 0x0f;
    let child = |delta: u64| -> Result<usize> {
        if delta == 0 || delta > pos as u64 {
            return Err(err("a child pointer inside the file"));
        }
        Ok(pos - delta as usize)
    };
    let mut children = Vec::new();
    match ty {
        0 => {}
        1 => {
            let t = c.u8("transition")?;
            children.push((t, child((h & 0xf) as u64)?));
            pf = 0;
        }
        2 => {
            let t = c.u8("transition")?;
            let d = c.u8("pointer")? as u64;
            children.push((t, child(d)?));
        }
        3 => {
            let lo = c.u8("pointer")? as u64;
            let t = c.u8("transition")?;
            children.push((t, child((((h & 0xf) as u64) << 8) | lo)?));
            pf = 0;
        }
        4 => {
            let t = c.u8("transition")?;
            let d = c.u16("pointer")? as u64;
            children.push((t, child(d)?));
        }
        5..=9 => {
            let n = c.u8("child count")? as usize;
            let trans = c.bytes(n, "transitions")?.to_vec();
            let width = [1usize, 0, 2, 3, 5][(ty - 5) as usize];
            if ty == 6 {
                let area = c.bytes((3 * n).div_ceil(2), "12-bit pointers")?;
                for (i, t) in trans.iter().enumerate() {
                    children.push((
                        *t,
                        child(read12(area, i).ok_or_else(|| err("12-bit pointer"))?)?,
                    ));
                }
            } else {
                for t in trans {
                    let d = be(c.bytes(width, "pointer")?);
                    children.push((t, child(d)?));
                }
            }
        }
        10..=15 => {
            let start = c.u8("first transition")? as usize;
            let len = c.u8("transition count")? as usize + 1;
            if start + len > 256 {
                return Err(err("transitions within one byte"));
            }
            if ty == 10 {
                let area = c.bytes((3 * len).div_ceil(2), "12-bit pointers")?;
                for i in 0..len {
                    let d = read12(area, i).ok_or_else(|| err("12-bit pointer"))?;
                    if d != 0 {
                        children.push(((start + i) as u8, child(d)?));
                    }
                }
            } else {
                let width = [2usize, 3, 4, 5, 8][(ty - 11) as usize];
                for i in 0..len {
                    let d = be(c.bytes(width, "pointer")?);
                    if d != 0 {
                        children.push(((start + i) as u8, child(d)?));
                    }
                }
            }
        }
        _ => return Err(err("a known node type")),
    }
    Ok(Node {
        pos,
        payload_flags: pf,
        payload_pos: c.position(),
        children,
    })
}

fn read12(area: &[u8], i: usize) -> Option<u64> {
    let o = (3 * i) / 2;
    let hi = *area.get(o)? as u64;
    let lo = *area.get(o + 1).unwrap_or(&0) as u64;
    let w = (hi << 8) | lo;
    Some(if i.is_multiple_of(2) {
        w >> 4
    } else {
        w & 0xfff
    })
}

/// Every payload-bearing node in path order (pre-order, ascending
/// transitions), with its path. Bounded by `limit` nodes.
pub fn payloads(
    buf: &[u8],
    root: usize,
    component: Component,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Node)>> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, Vec<u8>)> = vec![(root, Vec::new())];
    let mut visited = 0usize;
    while let Some((pos, path)) = stack.pop() {
        visited += 1;
        if visited > limit || path.len() > 65_536 {
            return Err(Error::invalid(
                component,
                pos as u64,
                "a trie of a size consistent with the file",
            ));
        }
        let n = read_node(buf, pos, component)?;
        for (t, p) in n.children.iter().rev() {
            let mut q = path.clone();
            q.push(*t);
            stack.push((*p, q));
        }
        if n.payload_flags != 0 {
            out.push((path, n));
        }
    }
    Ok(out)
}

/// Where a partition's data is, from its Partitions.db payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionPos {
    /// The partition has a row index at this Rows.db offset.
    Rows(u64),
    /// The partition's start in Data.db (no row index).
    Data(u64),
}

fn signed(b: &[u8]) -> i64 {
    let mut v: i64 = if b.first().is_some_and(|x| x & 0x80 != 0) {
        -1
    } else {
        0
    };
    for x in b {
        v = (v << 8) | *x as i64;
    }
    v
}

/// Decode a Partitions.db payload: (hash byte, position).
pub fn partition_payload(buf: &[u8], n: &Node) -> Result<(Option<u8>, PartitionPos)> {
    let mut c = Cursor::with_base(buf, Component::Index, 0);
    c.set_position(n.payload_pos)?;
    let (hash, size) = if n.payload_flags >= 8 {
        (Some(c.u8("key hash")?), (n.payload_flags - 7) as usize)
    } else {
        (None, n.payload_flags as usize)
    };
    let v = signed(c.bytes(size, "partition position")?);
    Ok((
        hash,
        if v >= 0 {
            PartitionPos::Rows(v as u64)
        } else {
            PartitionPos::Data(!v as u64)
        },
    ))
}

/// The Partitions.db footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIndex<'a> {
    pub root: usize,
    pub key_count: u64,
    pub first_key: &'a [u8],
    pub last_key: &'a [u8],
}

impl<'a> PartitionIndex<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<PartitionIndex<'a>> {
        let len = buf.len();
        if len < 24 {
            return Err(Error::Truncated {
                component: Component::Index,
                offset: 0,
                needed: (24 - len) as u64,
                what: "Partitions.db footer",
            });
        }
        let mut c = Cursor::new(buf, Component::Index);
        c.set_position(len - 24)?;
        let first_pos = c.i64("first key position")?;
        let key_count = c.i64("key count")?;
        let root = c.i64("root position")?;
        if first_pos < 0
            || first_pos as usize > len - 24
            || key_count < 0
            || root < 0
            || (key_count > 0 && root as usize >= first_pos as usize)
        {
            return Err(Error::invalid(
                Component::Index,
                (len - 24) as u64,
                "a Partitions.db footer with positions inside the file",
            ));
        }
        c.set_position(first_pos as usize)?;
        let first_key = c.short_bytes("first key")?;
        let last_key = c.short_bytes("last key")?;
        Ok(PartitionIndex {
            root: root as usize,
            key_count: key_count as u64,
            first_key,
            last_key,
        })
    }

    /// Every partition's position, in order.
    pub fn positions(&self, buf: &[u8]) -> Result<Vec<(Option<u8>, PartitionPos)>> {
        if self.key_count == 0 {
            return Ok(Vec::new());
        }
        let limit = (self.key_count as usize)
            .saturating_mul(4)
            .saturating_add(1024)
            .min(buf.len() + 1);
        payloads(buf, self.root, Component::Index, limit)?
            .iter()
            .map(|(_, n)| partition_payload(buf, n))
            .collect()
    }

    /// The candidate position of the partition whose byte-comparable key is
    /// `bc` (callers must check the key stored at the target).
    pub fn lookup(&self, buf: &[u8], bc: &[u8]) -> Result<Option<(Option<u8>, PartitionPos)>> {
        if self.key_count == 0 {
            return Ok(None);
        }
        let mut pos = self.root;
        for b in bc {
            let n = read_node(buf, pos, Component::Index)?;
            if n.children.is_empty() {
                return if n.payload_flags != 0 {
                    partition_payload(buf, &n).map(Some)
                } else {
                    Ok(None)
                };
            }
            match n.children.iter().find(|(t, _)| t == b) {
                Some((_, p)) => pos = *p,
                None => return Ok(None),
            }
        }
        let n = read_node(buf, pos, Component::Index)?;
        if n.payload_flags != 0 && n.children.is_empty() {
            partition_payload(buf, &n).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A Rows.db entry (the row index of one partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIndexEntry<'a> {
    pub key: &'a [u8],
    pub data_position: u64,
    pub root: usize,
    pub block_count: u64,
    pub deletion: DeletionTime,
}

impl<'a> RowIndexEntry<'a> {
    pub fn parse(buf: &'a [u8], pos: u64, version: Version) -> Result<RowIndexEntry<'a>> {
        let mut c = Cursor::new(buf, Component::Index);
        c.set_position(usize::try_from(pos).unwrap_or(usize::MAX))?;
        let key = c.short_bytes("partition key")?;
        let base = c.position();
        let data_position = c.uvint("data position")?;
        let at = c.position();
        let delta = c.vint("row index root")?;
        let root = (base as i64).checked_add(delta).unwrap_or(-1);
        if root < 0 || root as usize >= base {
            return Err(c.invalid_at(at, "a row-index root before the entry"));
        }
        let block_count = c.uvint("block count")?;
        let deletion = DeletionTime::read(&mut c, version)?;
        Ok(RowIndexEntry {
            key,
            data_position,
            root: root as usize,
            block_count,
            deletion,
        })
    }

    /// Offsets (relative to the partition start) of the index blocks, and
    /// the end-of-partition marker last.
    pub fn block_offsets(&self, buf: &[u8]) -> Result<Vec<(u64, Option<DeletionTime>)>> {
        let limit = (self.block_count as usize)
            .saturating_mul(8)
            .saturating_add(64)
            .min(buf.len() + 1);
        let mut out = Vec::new();
        for (_, n) in payloads(buf, self.root, Component::Index, limit)? {
            let mut c = Cursor::new(buf, Component::Index);
            c.set_position(n.payload_pos)?;
            let size = (n.payload_flags & 7) as usize;
            let off = signed(c.bytes(size, "block offset")?);
            let open = if n.payload_flags & 8 != 0 {
                Some(DeletionTime::read(&mut c, Version::Oa)?)
            } else {
                None
            };
            if off < 0 {
                return Err(Error::invalid(
                    Component::Index,
                    n.payload_pos as u64,
                    "a non-negative block offset",
                ));
            }
            out.push((off as u64, open));
        }
        Ok(out)
    }
}

/// Cassandra's byte-comparable escaping of a byte-ordered value.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut escaped = false;
    for b in bytes {
        if escaped {
            if *b == 0 {
                out.push(0xfe);
                continue;
            }
            out.push(0xff);
            escaped = false;
        }
        out.push(*b);
        if *b == 0 {
            escaped = true;
        }
    }
    out.push(if escaped { 0xfe } else { 0x00 });
}

/// The byte-comparable form of a decorated key, as Partitions.db paths use it.
pub fn decorated_key(token: &crate::partitioner::Token, key: &[u8]) -> Vec<u8> {
    use crate::partitioner::Token;
    let mut out = vec![0x40];
    match token {
        Token::Long(t) => out.extend_from_slice(&((*t as u64) ^ (1u64 << 63)).to_be_bytes()),
        Token::Bytes(b) => escape_into(b, &mut out),
        Token::Big(v) => {
            // IntegerType encoding of a non-negative BigInteger.
            let bytes = v.to_be_bytes();
            let mut i = 0;
            while i < bytes.len() - 1 && bytes[i] == 0 && bytes[i + 1] & 0x80 == 0 {
                i += 1;
            }
            let mag = &bytes[i..];
            if mag.len() >= 7 {
                out.push(0xff);
                out.push((mag.len() - 7) as u8);
                out.extend_from_slice(mag);
            } else {
                // Short values: signed variable-length integer.
                let v = be(mag) as i64;
                let u = v as u64;
                let bits = 64 - (u | 1).leading_zeros() as usize;
                let n = bits / 7 + 1;
                let x = u | (((0xff00u64 >> n) & 0xff) << (8 * (n - 1)));
                out.extend_from_slice(&x.to_be_bytes()[8 - n..]);
            }
        }
    }
    out.push(0x40);
    escape_into(key, &mut out);
    out.push(0x38);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partitioner::{Partitioner, Token};

    #[test]
    fn escaping() {
        let e = |b: &[u8]| {
            let mut v = Vec::new();
            escape_into(b, &mut v);
            v
        };
        assert_eq!(e(b"AB"), [0x41, 0x42, 0x00]);
        assert_eq!(e(b"A\0"), [0x41, 0x00, 0xfe]);
        assert_eq!(e(b"A\0\0B"), [0x41, 0x00, 0xfe, 0xff, 0x42, 0x00]);
        assert_eq!(e(b""), [0x00]);
    }

    #[test]
    fn decorated_key_vectors() {
        let k = 1i32.to_be_bytes();
        let t = Partitioner::Murmur3.token(&k);
        assert_eq!(t, Token::Long(-4069959284402364209));
        assert_eq!(
            decorated_key(&t, &k),
            [
                0x40, 0x47, 0x84, 0x99, 0x98, 0x2a, 0xe4, 0xe0, 0xcf, 0x40, 0x00, 0xfe, 0xfe, 0xff,
                0x01, 0x00, 0x38
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for b in [
            &[][..],
            &[0xff; 30][..],
            &[0x15, 0x00, 0x00][..],
            &[0xa0, 0x00, 0xff, 0x00][..],
        ] {
            let _ = read_node(b, b.len().saturating_sub(1), Component::Index);
            let _ = PartitionIndex::parse(b);
            let _ = payloads(b, b.len().saturating_sub(1), Component::Index, 100);
        }
    }
    /// A fuzzer-found input (a Rows.db root offset that overflowed).
    #[test]
    fn fuzz_regression_huge_root_offset() {
        let hex = [
            "1b4000310130010134000000050000000000ffff0c000000000000006e09111111111111111111110301100e11111111",
            "111111111111111111111111e636dd084d04d0002f2f2f2f2f2f2f2f2f2f2f2fffffffffffffffffffffffffffffffff",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7effffffffffffffffffff",
            "ffffffffffffffffffffff2f0100002f1111111111111111111151111111111111111111111111112900000011113011",
            "1111112e1111252525252525252525252525252525252525252525252525252525252525252525252525252525252525",
            "252525252525252525252525111191111111110301100e1111111136dd084d0400089f37d000",
        ]
        .concat();
        let b: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        let rest = &b[1..];
        let pos = (u16::from_le_bytes([rest[0], rest[1]]) as usize) % rest.len();
        if let Ok(e) = RowIndexEntry::parse(&rest[2..], pos as u64, Version::Da) {
            let _ = e.block_offsets(&rest[2..]);
        }
    }
}
