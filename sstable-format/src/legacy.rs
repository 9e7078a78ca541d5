//! The 2.1/2.2 (`ka`, `la`, `lb`) cell-based Data.db layout ("atoms").
//!
//! ```text
//! partition   u16 key length, key, DeletionTime (i32 ldt, i64 mfda), atom*, u16 0 (end of row)
//! atom        u16 name length, name, u8 mask, body
//!   mask 0x10 range tombstone: u16 end length, end, DeletionTime
//!   mask 0x04 counter:         i64 timestamp of last delete, i64 timestamp, i32 length, context
//!   mask 0x02 expiring:        i32 ttl, i32 expiration, i64 timestamp, i32 length, value
//!   otherwise:                 i64 timestamp, i32 length, value
//!                              (0x01 deleted: the value is the i32 local deletion time;
//!                               0x08 counter update: the value is an i64 delta)
//! name (CQL3 tables)  CompositeType: [0xFFFF for statics] (u16 len, bytes, u8 end-of-component)*
//!                     = clustering values, column name ("" = row marker), [collection element]
//! name (COMPACT)      dense: the clustering value(s); static compact: the column name
//! ```

use crate::cursor::Cursor;
use crate::data::DeletionTime;
use crate::error::{Component, Result};
use crate::version::Version;

const C: Component = Component::Data;

pub const DELETION_MASK: u8 = 0x01;
pub const EXPIRATION_MASK: u8 = 0x02;
pub const COUNTER_MASK: u8 = 0x04;
pub const COUNTER_UPDATE_MASK: u8 = 0x08;
pub const RANGE_TOMBSTONE_MASK: u8 = 0x10;

/// A legacy cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyCell<'a> {
    pub name: &'a [u8],
    pub mask: u8,
    pub timestamp: i64,
    /// For deleted cells, empty (the deletion time is in `local_deletion_time`).
    pub value: &'a [u8],
    pub ttl: i32,
    /// Expiration time (expiring) or deletion time (deleted), seconds.
    pub local_deletion_time: Option<i64>,
}

impl LegacyCell<'_> {
    pub fn is_deleted(&self) -> bool {
        self.mask & DELETION_MASK != 0
    }
    pub fn is_expiring(&self) -> bool {
        self.mask & EXPIRATION_MASK != 0
    }
}

/// One atom of a legacy partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAtom<'a> {
    Cell(LegacyCell<'a>),
    RangeTombstone {
        start: &'a [u8],
        end: &'a [u8],
        deletion: DeletionTime,
    },
}

/// Decode the atom at the start of `buf`; `None` marks the end of the partition.
pub fn read_atom(
    buf: &[u8],
    base: u64,
    version: Version,
) -> Result<(Option<LegacyAtom<'_>>, usize)> {
    let mut c = Cursor::with_base(buf, C, base);
    let name = c.short_bytes("cell name")?;
    if name.is_empty() {
        return Ok((None, c.position()));
    }
    let at = c.position();
    let mask = c.u8("cell mask")?;
    if mask & !0x1f != 0 {
        return Err(c.invalid_at(at, format!("a cell mask within 0x1f, found {mask:#04x}")));
    }
    if mask & RANGE_TOMBSTONE_MASK != 0 {
        let end = c.short_bytes("range tombstone end")?;
        let deletion = DeletionTime::read(&mut c, version)?;
        return Ok((
            Some(LegacyAtom::RangeTombstone {
                start: name,
                end,
                deletion,
            }),
            c.position(),
        ));
    }
    let mut ttl = 0;
    let mut ldt = None;
    if mask & COUNTER_MASK != 0 {
        c.i64("timestamp of last delete")?;
    } else if mask & EXPIRATION_MASK != 0 {
        ttl = c.i32("ttl")?;
        ldt = Some(c.i32("expiration time")? as i64);
    }
    let timestamp = c.i64("timestamp")?;
    let vat = c.position();
    let value = c
        .int_bytes("cell value")?
        .ok_or_else(|| c.invalid_at(vat, "a non-negative value length"))?;
    let mut value = value;
    if mask & DELETION_MASK != 0 && mask & (COUNTER_MASK | EXPIRATION_MASK) == 0 {
        if value.len() != 4 {
            return Err(c.invalid_at(
                vat,
                format!(
                    "a 4-byte deletion time in a deleted cell, found {} bytes",
                    value.len()
                ),
            ));
        }
        ldt = Some(i32::from_be_bytes([value[0], value[1], value[2], value[3]]) as i64);
        value = &[];
    }
    Ok((
        Some(LegacyAtom::Cell(LegacyCell {
            name,
            mask,
            timestamp,
            value,
            ttl,
            local_deletion_time: ldt,
        })),
        c.position(),
    ))
}

/// Bytes used by the atom at the start of `buf` (for streaming readers).
pub fn measure_atom(buf: &[u8], base: u64, version: Version) -> Result<usize> {
    read_atom(buf, base, version).map(|(_, n)| n)
}

/// A decoded CompositeType name: optional static marker, then components
/// with their end-of-component bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite<'a> {
    pub is_static: bool,
    pub components: Vec<&'a [u8]>,
    /// End-of-component byte of the last component (as a signed value).
    pub last_eoc: i8,
}

/// Split a CompositeType value, checking its framing.
pub fn parse_composite(b: &[u8]) -> Result<Composite<'_>> {
    let mut c = Cursor::new(b, Component::Value);
    let mut is_static = false;
    if b.len() >= 2 && b[0] == 0xff && b[1] == 0xff {
        is_static = true;
        c.skip(2, "static marker")?;
    }
    let mut components = Vec::new();
    let mut last_eoc = 0i8;
    while !c.is_empty() {
        components.push(c.short_bytes("composite component")?);
        last_eoc = c.u8("end-of-component byte")? as i8;
        if components.len() > 4096 {
            return Err(c.invalid("at most 4096 composite components"));
        }
    }
    Ok(Composite {
        is_static,
        components,
        last_eoc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms() {
        let mut b = Vec::new();
        b.extend_from_slice(&[0, 3]);
        b.extend_from_slice(b"val");
        b.push(0);
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        b.push(b'x');
        b.extend_from_slice(&[0, 0]);
        let (a, n) = read_atom(&b, 0, Version::Ka).unwrap();
        match a {
            Some(LegacyAtom::Cell(c)) => {
                assert_eq!(c.name, b"val");
                assert_eq!(c.timestamp, 7);
                assert_eq!(c.value, b"x");
            }
            _ => panic!(),
        }
        let (a, _) = read_atom(&b[n..], n as u64, Version::Ka).unwrap();
        assert!(a.is_none());
        assert!(read_atom(&b[..5], 0, Version::Ka).is_err());
    }

    #[test]
    fn composites() {
        let c = parse_composite(&[0xff, 0xff, 0, 0, 0, 0, 1, b'a', 0]).unwrap();
        assert!(c.is_static);
        assert_eq!(c.components, vec![&b""[..], &b"a"[..]]);
        assert!(parse_composite(&[0, 5, 1]).is_err());
    }
}
