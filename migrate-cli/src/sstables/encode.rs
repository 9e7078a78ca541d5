//! Serializing the big format's Data.db content (3.0+ row storage): the
//! mirror image of `sstable_format::data`'s decoder, written as Cassandra's
//! `UnfilteredSerializer`, `Cell.Serializer` and `SerializationHeader` write it.
//!
//! Timestamps, local deletion times and TTLs are deltas against the
//! sstable's [`EncodingStats`]; their unsigned vints carry 32-bit deltas
//! sign-extended, as Java's `writeUnsignedVInt32` does.

use sstable_format::data::{BoundKind, ColumnLayout, DeletionTime, LivenessInfo, NO_DELETION_TIME};
use sstable_format::statistics::EncodingStats;
use sstable_format::{CqlType, Version};
use sstable_reader::merge::{OwnedCell, OwnedColumn, OwnedMarker, OwnedRow};

/// Something the target format cannot represent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);

pub type Result<T> = std::result::Result<T, EncodeError>;

/// Bytes of Cassandra's unsigned vint for `v`.
#[inline]
pub fn uvint_size(v: u64) -> usize {
    let magnitude = (v | 1).leading_zeros() as usize;
    (639 - magnitude * 9) >> 6
}

/// Cassandra's unsigned vint: the count of extra bytes in the leading one
/// bits of the first byte, then the value big-endian.
#[inline]
pub fn put_uvint(out: &mut Vec<u8>, v: u64) {
    let size = uvint_size(v);
    if size == 1 {
        out.push(v as u8);
        return;
    }
    if size == 9 {
        out.push(0xff);
        out.extend_from_slice(&v.to_be_bytes());
        return;
    }
    let start = out.len();
    out.extend_from_slice(&v.to_be_bytes()[8 - size..]);
    out[start] |= !(0xffu8 >> (size - 1));
}

/// Signed vint (zig-zag).
#[inline]
pub fn put_vint(out: &mut Vec<u8>, v: i64) {
    put_uvint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// `writeUnsignedVInt32`: an i32 sign-extended to 64 bits.
#[inline]
pub fn put_uvint32(out: &mut Vec<u8>, v: i32) {
    put_uvint(out, v as i64 as u64);
}

/// Bytes with a vint length.
pub fn put_vint_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Bytes with a u16 length.
pub fn put_short_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    let n = u16::try_from(b.len()).map_err(|_| {
        EncodeError(format!(
            "a partition key or clustering value of {} bytes (at most 65535)",
            b.len()
        ))
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// A value of a type: raw when the type has a fixed length, else vint-length-prefixed.
fn put_value(out: &mut Vec<u8>, fixed: Option<usize>, v: &[u8]) -> Result<()> {
    match fixed {
        Some(n) if v.len() == n => out.extend_from_slice(v),
        Some(n) => {
            return Err(EncodeError(format!(
                "a value of {n} bytes for a fixed-length type, found {} bytes",
                v.len()
            )))
        }
        None => put_vint_bytes(out, v),
    }
    Ok(())
}

use sstable_format::data::{
    CELL_HAS_EMPTY_VALUE, CELL_IS_DELETED, CELL_IS_EXPIRING, CELL_USE_ROW_TIMESTAMP,
    CELL_USE_ROW_TTL, END_OF_PARTITION, EXTENSION_FLAG, HAS_ALL_COLUMNS, HAS_COMPLEX_DELETION,
    HAS_DELETION, HAS_TIMESTAMP, HAS_TTL, IS_MARKER, IS_STATIC,
};

/// The end-of-partition byte.
pub const END_OF_PARTITION_BYTE: u8 = END_OF_PARTITION;

/// How rows of one output sstable are laid out.
#[derive(Debug, Clone)]
pub struct Layout {
    pub version: Version,
    pub stats: EncodingStats,
    pub clustering_types: Vec<CqlType>,
    pub statics: Vec<ColumnLayout>,
    pub regulars: Vec<ColumnLayout>,
}

/// Cassandra's column layout for a type (cell values use the column's type).
pub fn column_layout(t: &CqlType) -> ColumnLayout {
    ColumnLayout {
        complex: t.is_multi_cell(),
        value_fixed_len: t.fixed_length(),
    }
}

impl Layout {
    /// A local deletion time as the target version's Java code holds it:
    /// 4.x ints (none = `Integer.MAX_VALUE`, capped below it), 5.0 longs.
    fn ldt_long(&self, ldt: i64) -> i64 {
        if self.version.has_uint_deletion_time() {
            ldt
        } else if ldt == NO_DELETION_TIME {
            i32::MAX as i64
        } else {
            ldt.min(i32::MAX as i64 - 1)
        }
    }

    #[inline]
    fn put_ts(&self, out: &mut Vec<u8>, ts: i64) {
        put_uvint(out, ts.wrapping_sub(self.stats.min_timestamp) as u64);
    }

    #[inline]
    fn put_ldt(&self, out: &mut Vec<u8>, ldt: i64) -> Result<()> {
        let d = self
            .ldt_long(ldt)
            .wrapping_sub(self.stats.min_local_deletion_time);
        if ldt != NO_DELETION_TIME && i32::try_from(d).is_err() {
            return Err(EncodeError(format!(
                "a local deletion time {ldt} too far from the sstable's minimum {}",
                self.stats.min_local_deletion_time
            )));
        }
        put_uvint32(out, d as i32);
        Ok(())
    }

    #[inline]
    fn put_ttl(&self, out: &mut Vec<u8>, ttl: i32) {
        put_uvint32(out, ttl.wrapping_sub(self.stats.min_ttl));
    }

    fn put_delta_deletion(&self, out: &mut Vec<u8>, d: DeletionTime) -> Result<()> {
        self.put_ts(out, d.marked_for_delete_at);
        self.put_ldt(out, d.local_deletion_time)
    }

    /// The fixed form of a deletion (partition headers, Index.db).
    pub fn put_deletion(&self, out: &mut Vec<u8>, d: DeletionTime) -> Result<()> {
        put_deletion(out, self.version, d)
    }

    /// Clustering values without their count ("values without size").
    pub fn put_clustering(&self, out: &mut Vec<u8>, values: &[Option<Vec<u8>>]) -> Result<()> {
        if values.len() > self.clustering_types.len() {
            return Err(EncodeError(format!(
                "{} clustering values for {} clustering columns",
                values.len(),
                self.clustering_types.len()
            )));
        }
        for (block, chunk) in values.chunks(32).enumerate() {
            let mut header = 0u64;
            for (i, v) in chunk.iter().enumerate() {
                match v {
                    None => header |= 1 << (i * 2 + 1),
                    Some(b) if b.is_empty() => header |= 1 << (i * 2),
                    Some(_) => {}
                }
            }
            put_uvint(out, header);
            for (i, v) in chunk.iter().enumerate() {
                if let Some(b) = v {
                    if !b.is_empty() {
                        let t = &self.clustering_types[block * 32 + i];
                        put_value(out, t.fixed_length(), b)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A clustering prefix as Index.db's IndexInfo stores it: kind, then for
    /// a bound its size.
    pub fn put_prefix(
        &self,
        out: &mut Vec<u8>,
        kind: BoundKind,
        values: &[Option<Vec<u8>>],
    ) -> Result<()> {
        out.push(kind as u8);
        if kind != BoundKind::Clustering {
            out.extend_from_slice(&(values.len() as u16).to_be_bytes());
        }
        self.put_clustering(out, values)
    }

    /// Serialize a row. `prev_size` is the distance back to the previous
    /// unfiltered's start (0 for the static row). `scratch` is reused.
    pub fn put_row(
        &self,
        out: &mut Vec<u8>,
        row: &OwnedRow,
        prev_size: u64,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let cols = if row.is_static {
            &self.statics
        } else {
            &self.regulars
        };
        let liveness = row.liveness;
        let has_ts = liveness.timestamp.is_some();
        // ExpiredLivenessInfo is "expiring" too.
        let has_ttl = has_ts && liveness.ttl != 0;
        let mut flags = 0u8;
        if has_ts {
            flags |= HAS_TIMESTAMP;
        }
        if has_ttl {
            flags |= HAS_TTL;
        }
        if !row.deletion.is_live() {
            flags |= HAS_DELETION;
        }
        let complex_deletion = row
            .columns
            .iter()
            .any(|c| matches!(c, OwnedColumn::Complex { deletion, .. } if !deletion.is_live()));
        if complex_deletion {
            flags |= HAS_COMPLEX_DELETION;
        }
        if row.columns.len() == cols.len() {
            flags |= HAS_ALL_COLUMNS;
        }
        if row.is_static {
            flags |= EXTENSION_FLAG;
        }
        out.push(flags);
        if row.is_static {
            out.push(IS_STATIC);
        } else {
            self.put_clustering(out, &row.clustering)?;
        }
        let body = scratch;
        body.clear();
        put_uvint(body, prev_size);
        if let Some(ts) = liveness.timestamp {
            self.put_ts(body, ts);
            if has_ttl {
                self.put_ttl(body, liveness.ttl);
                self.put_ldt(body, liveness.local_expiration_time)?;
            }
        }
        if !row.deletion.is_live() {
            self.put_delta_deletion(body, row.deletion)?;
        }
        if row.columns.len() != cols.len() {
            put_subset(body, row.columns.iter().map(|c| c.column()), cols.len())?;
        }
        for c in &row.columns {
            let layout = cols.get(c.column()).ok_or_else(|| {
                EncodeError(format!("column index {} outside the header", c.column()))
            })?;
            match c {
                OwnedColumn::Simple { cell, .. } => {
                    self.put_cell(body, cell, &liveness, layout, false)?
                }
                OwnedColumn::Complex {
                    deletion, cells, ..
                } => {
                    if complex_deletion {
                        self.put_delta_deletion(body, *deletion)?;
                    }
                    put_uvint(body, cells.len() as u64);
                    for cell in cells {
                        self.put_cell(body, cell, &liveness, layout, true)?;
                    }
                }
            }
        }
        put_uvint(out, body.len() as u64);
        out.extend_from_slice(body);
        Ok(())
    }

    fn put_cell(
        &self,
        out: &mut Vec<u8>,
        cell: &OwnedCell,
        row: &LivenessInfo,
        layout: &ColumnLayout,
        complex: bool,
    ) -> Result<()> {
        let has_value = !cell.value.is_empty();
        let expiring = cell.is_expiring && !cell.is_tombstone;
        let use_row_ts = row.timestamp == Some(cell.timestamp);
        let row_expiring = row.timestamp.is_some() && row.ttl != 0;
        let use_row_ttl = expiring
            && row_expiring
            && cell.ttl == row.ttl
            && cell.local_deletion_time == row.local_expiration_time;
        let mut flags = 0u8;
        if cell.is_tombstone {
            flags |= CELL_IS_DELETED;
        }
        if expiring {
            flags |= CELL_IS_EXPIRING;
        }
        if !has_value {
            flags |= CELL_HAS_EMPTY_VALUE;
        }
        if use_row_ts {
            flags |= CELL_USE_ROW_TIMESTAMP;
        }
        if use_row_ttl {
            flags |= CELL_USE_ROW_TTL;
        }
        out.push(flags);
        if !use_row_ts {
            self.put_ts(out, cell.timestamp);
        }
        if (cell.is_tombstone || expiring) && !use_row_ttl {
            self.put_ldt(out, cell.local_deletion_time)?;
        }
        if expiring && !use_row_ttl {
            self.put_ttl(out, cell.ttl);
        }
        if complex {
            put_vint_bytes(out, cell.path.as_deref().unwrap_or(&[]));
        }
        if has_value {
            put_value(out, layout.value_fixed_len, &cell.value)?;
        }
        Ok(())
    }

    /// Serialize a range-tombstone marker.
    pub fn put_marker(&self, out: &mut Vec<u8>, m: &OwnedMarker, prev_size: u64) -> Result<()> {
        out.push(IS_MARKER);
        out.push(m.kind as u8);
        out.extend_from_slice(&(m.clustering.len() as u16).to_be_bytes());
        self.put_clustering(out, &m.clustering)?;
        let mut body = Vec::with_capacity(24);
        put_uvint(&mut body, prev_size);
        self.put_delta_deletion(&mut body, m.deletion)?;
        if m.kind.is_boundary() {
            let start = m.start_deletion.ok_or_else(|| {
                EncodeError("a boundary marker without the deletion it opens".into())
            })?;
            self.put_delta_deletion(&mut body, start)?;
        }
        put_uvint(out, body.len() as u64);
        out.extend_from_slice(&body);
        Ok(())
    }
}

/// `DeletionTime.serializer`: 4.x `i32 ldt, i64 mfda`; 5.0 one byte 0x80
/// for "live", else `i64 mfda, u32 ldt`.
pub fn put_deletion(out: &mut Vec<u8>, version: Version, d: DeletionTime) -> Result<()> {
    if version.has_uint_deletion_time() {
        if d.is_live() {
            out.push(0x80);
            return Ok(());
        }
        if d.marked_for_delete_at < 0 {
            return Err(EncodeError(format!(
                "a deletion with a negative timestamp ({}), which 5.0's format cannot hold",
                d.marked_for_delete_at
            )));
        }
        out.extend_from_slice(&d.marked_for_delete_at.to_be_bytes());
        let ldt = if d.local_deletion_time == NO_DELETION_TIME {
            u32::MAX
        } else {
            u32::try_from(d.local_deletion_time).unwrap_or(u32::MAX - 1)
        };
        out.extend_from_slice(&ldt.to_be_bytes());
    } else {
        let ldt = if d.local_deletion_time == NO_DELETION_TIME {
            i32::MAX
        } else {
            d.local_deletion_time
                .clamp(i32::MIN as i64, i32::MAX as i64 - 1) as i32
        };
        out.extend_from_slice(&ldt.to_be_bytes());
        out.extend_from_slice(&d.marked_for_delete_at.to_be_bytes());
    }
    Ok(())
}

/// `Columns.serializer.serializeSubset`: which of `superset` columns are present.
fn put_subset(
    out: &mut Vec<u8>,
    present: impl Iterator<Item = usize> + Clone,
    superset: usize,
) -> Result<()> {
    let count = present.clone().count();
    if count == superset {
        put_uvint(out, 0);
    } else if superset < 64 {
        let mut missing = if superset == 0 {
            0
        } else {
            u64::MAX >> (64 - superset)
        };
        for i in present {
            missing &= !(1u64 << i);
        }
        put_uvint(out, missing);
    } else {
        put_uvint32(out, (superset - count) as i32);
        let set: std::collections::BTreeSet<usize> = present.collect();
        if count < superset / 2 {
            for i in &set {
                put_uvint(out, *i as u64);
            }
        } else {
            for i in (0..superset).filter(|i| !set.contains(i)) {
                put_uvint(out, i as u64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sstable_format::cursor::Cursor;
    use sstable_format::Component;

    #[test]
    fn vints_round_trip_through_the_decoder() {
        let vals = [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            (1 << 21) - 1,
            1 << 21,
            1 << 35,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
            -5i64 as u64,
        ];
        let mut buf = Vec::new();
        for v in vals {
            put_uvint(&mut buf, v);
        }
        for v in [-1i64, 0, 1, i64::MIN, i64::MAX, -65536] {
            put_vint(&mut buf, v);
        }
        let mut c = Cursor::new(&buf, Component::Data);
        for v in vals {
            assert_eq!(c.uvint("v").unwrap(), v);
        }
        for v in [-1i64, 0, 1, i64::MIN, i64::MAX, -65536] {
            assert_eq!(c.vint("v").unwrap(), v);
        }
        assert!(c.is_empty());
    }
}
