//! `Index.db` (big format, 3.0+): one entry per partition, with the
//! promoted row index (IndexInfo blocks) for large partitions.
//!
//! ```text
//! entry     := u16 key length, key, vint data position, vint promoted size, [promoted]
//! promoted  := vint header length, DeletionTime (partition), vint block count,
//!              IndexInfo * count, i32 * count (offsets of the IndexInfo entries)
//! IndexInfo := first clustering prefix, last clustering prefix, vint offset,
//!              signed vint (width - 65536), bool has open marker, [DeletionTime]
//! prefix    := u8 kind, (kind == CLUSTERING ? values : u16 size, values)
//! ```

use crate::cursor::Cursor;
use crate::data::{read_clustering_values, BoundKind, ClusteringValue, DeletionTime};
use crate::error::{Component, Result};
use crate::types::CqlType;
use crate::version::Version;

const C: Component = Component::Index;
const WIDTH_BASE: i64 = 64 * 1024;

/// A byte offset into Data.db (uncompressed stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataOffset(pub u64);

/// A byte offset into Index.db.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexOffset(pub u64);

/// A clustering prefix as stored in an IndexInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPrefix<'a> {
    pub kind: BoundKind,
    pub values: Vec<ClusteringValue<'a>>,
}

/// One block of the promoted row index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo<'a> {
    pub first: IndexPrefix<'a>,
    pub last: IndexPrefix<'a>,
    /// Offset of the block from the start of the partition in Data.db.
    pub offset: u64,
    pub width: u64,
    pub end_open_marker: Option<DeletionTime>,
}

/// The promoted index of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedIndex<'a> {
    pub header_length: u64,
    pub deletion: DeletionTime,
    pub blocks: Vec<IndexInfo<'a>>,
}

/// One Index.db entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry<'a> {
    pub offset: IndexOffset,
    pub key: &'a [u8],
    pub position: DataOffset,
    pub promoted: Option<PromotedIndex<'a>>,
}

fn prefix<'a>(c: &mut Cursor<'a>, types: &[CqlType]) -> Result<IndexPrefix<'a>> {
    let at = c.position();
    let k = c.u8("clustering prefix kind")?;
    let kind = BoundKind::from_ordinal(k)
        .ok_or_else(|| c.invalid_at(at, format!("a clustering kind, found {k}")))?;
    let values = if kind == BoundKind::Clustering {
        read_clustering_values(c, types)?
    } else {
        let n = c.u16("clustering prefix size")? as usize;
        if n > types.len() {
            return Err(c.invalid(format!(
                "at most {} clustering values, found {n}",
                types.len()
            )));
        }
        read_clustering_values(c, &types[..n])?
    };
    Ok(IndexPrefix { kind, values })
}

/// Iterates Index.db entries lazily; stops after the first error.
pub struct IndexEntries<'a, 't> {
    c: Cursor<'a>,
    version: Version,
    clustering_types: &'t [CqlType],
    failed: bool,
    skip_promoted: bool,
}

impl<'a, 't> IndexEntries<'a, 't> {
    pub fn new(buf: &'a [u8], version: Version, clustering_types: &'t [CqlType]) -> Self {
        IndexEntries {
            c: Cursor::new(buf, C),
            version,
            clustering_types,
            failed: false,
            skip_promoted: false,
        }
    }

    /// Step over the promoted indexes of 3.0+ entries without reading them
    /// (their `promoted` is then `None`): for walks that want only keys and
    /// positions, a wide partition's blocks are neither decoded nor
    /// collected.
    pub fn without_promoted(mut self) -> Self {
        self.skip_promoted = true;
        self
    }
    /// Start at a given Index.db offset (e.g. from Summary.db).
    pub fn starting_at(
        buf: &'a [u8],
        start: IndexOffset,
        version: Version,
        clustering_types: &'t [CqlType],
    ) -> Result<Self> {
        let mut s = Self::new(buf, version, clustering_types);
        s.c.set_position(usize::try_from(start.0).unwrap_or(usize::MAX))?;
        Ok(s)
    }

    /// 2.x entry: u16 key, i64 position, i32 promoted size, [DeletionTime,
    /// i32 count, count × (u16 first name, u16 last name, i64 offset, i64 width)].
    /// Legacy cell names are kept whole as the single value of the prefix.
    fn legacy_entry(&mut self) -> Result<IndexEntry<'a>> {
        let c = &mut self.c;
        let offset = IndexOffset(c.abs_position());
        let key = c.short_bytes("partition key")?;
        let at = c.position();
        let pos = c.i64("data position")?;
        if pos < 0 {
            return Err(c.invalid_at(at, format!("a non-negative data position, found {pos}")));
        }
        let position = DataOffset(pos as u64);
        let size = c.count_i32(c.remaining(), "promoted index size")?;
        let body_start = c.position();
        let body = c.bytes(size, "promoted index")?;
        if size == 0 || self.skip_promoted {
            return Ok(IndexEntry {
                offset,
                key,
                position,
                promoted: None,
            });
        }
        let mut p = Cursor::with_base(body, C, body_start as u64);
        let deletion = DeletionTime::read(&mut p, self.version)?;
        let n = p.count_i32(p.remaining() / 20, "index block count")?;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let first = IndexPrefix {
                kind: BoundKind::Clustering,
                values: vec![Some(p.short_bytes("first name")?)],
            };
            let last = IndexPrefix {
                kind: BoundKind::Clustering,
                values: vec![Some(p.short_bytes("last name")?)],
            };
            let at = p.position();
            let offset = p.i64("block offset")?;
            let width = p.i64("block width")?;
            if offset < 0 || width < 0 {
                return Err(p.invalid_at(at, "a non-negative block offset and width"));
            }
            blocks.push(IndexInfo {
                first,
                last,
                offset: offset as u64,
                width: width as u64,
                end_open_marker: None,
            });
        }
        Ok(IndexEntry {
            offset,
            key,
            position,
            promoted: Some(PromotedIndex {
                header_length: 0,
                deletion,
                blocks,
            }),
        })
    }

    fn entry(&mut self) -> Result<IndexEntry<'a>> {
        if self.version.is_legacy() {
            return self.legacy_entry();
        }
        let c = &mut self.c;
        let offset = IndexOffset(c.abs_position());
        let key = c.short_bytes("partition key")?;
        let position = DataOffset(c.uvint("data position")?);
        let size = c.uvint_len(c.remaining(), "promoted index size")?;
        let body_start = c.position();
        let body = c.bytes(size, "promoted index")?;
        if size == 0 || self.skip_promoted {
            return Ok(IndexEntry {
                offset,
                key,
                position,
                promoted: None,
            });
        }
        let mut p = Cursor::with_base(body, C, body_start as u64);
        let header_length = p.uvint("promoted header length")?;
        let deletion = DeletionTime::read(&mut p, self.version)?;
        let n = p.uvint_len(p.remaining() / 4, "index block count")?;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let first = prefix(&mut p, self.clustering_types)?;
            let last = prefix(&mut p, self.clustering_types)?;
            let offset = p.uvint("block offset")?;
            let width = p.vint("block width")?.wrapping_add(WIDTH_BASE);
            let end_open_marker = if p.bool("has open marker")? {
                Some(DeletionTime::read(&mut p, self.version)?)
            } else {
                None
            };
            blocks.push(IndexInfo {
                first,
                last,
                offset,
                width: width.max(0) as u64,
                end_open_marker,
            });
        }
        p.skip(n * 4, "index block offsets")?;
        if !p.is_empty() {
            return Err(p.invalid(format!(
                "the end of the promoted index ({} bytes left)",
                p.remaining()
            )));
        }
        Ok(IndexEntry {
            offset,
            key,
            position,
            promoted: Some(PromotedIndex {
                header_length,
                deletion,
                blocks,
            }),
        })
    }
}

impl<'a> Iterator for IndexEntries<'a, '_> {
    type Item = Result<IndexEntry<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.c.is_empty() {
            return None;
        }
        let r = self.entry();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}
