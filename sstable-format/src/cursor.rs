//! A bounds-checked big-endian cursor over borrowed bytes.
//!
//! Every read returns `Result`; lengths read from the bytes are checked
//! against what remains before anything is sliced or allocated.

use crate::error::{Component, Error, Result};

/// Reads big-endian integers, Cassandra vints and length-prefixed byte
/// strings from a borrowed slice. `base` is added to positions in errors.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    component: Component,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], component: Component) -> Self {
        Cursor {
            buf,
            pos: 0,
            base: 0,
            component,
        }
    }

    /// A cursor whose error offsets are shifted by `base`.
    pub fn with_base(buf: &'a [u8], component: Component, base: u64) -> Self {
        Cursor {
            buf,
            pos: 0,
            base,
            component,
        }
    }

    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Absolute position (base + position).
    #[inline]
    pub fn abs_position(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn component(&self) -> Component {
        self.component
    }

    /// All the bytes, from the start (see [`Cursor::position`]).
    #[inline]
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Move to `pos`, a position a caller has read up to in [`Cursor::buf`]
    /// (clamped to the end).
    #[inline]
    pub fn advance_to(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    #[inline]
    pub fn set_position(&mut self, pos: usize) -> Result<()> {
        if pos > self.buf.len() {
            return Err(self.truncated(pos - self.buf.len(), "seek"));
        }
        self.pos = pos;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    pub fn truncated(&self, needed: usize, what: &'static str) -> Error {
        Error::Truncated {
            component: self.component,
            offset: self.abs_position(),
            needed: needed as u64,
            what,
        }
    }

    #[cold]
    pub fn invalid(&self, expected: impl Into<String>) -> Error {
        Error::invalid(self.component, self.abs_position(), expected)
    }

    #[cold]
    pub fn invalid_at(&self, pos: usize, expected: impl Into<String>) -> Error {
        Error::invalid(self.component, self.base + pos as u64, expected)
    }

    #[inline(always)]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|r| r.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.truncated(n - self.remaining(), what)),
        }
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.bytes(n, what).map(|_| ())
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline(always)]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => Err(self.truncated(1, what)),
        }
    }

    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        Ok(self.u8(what)? != 0)
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn i16(&mut self, what: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// A non-negative `int` count, bounded by `max`.
    pub fn count_i32(&mut self, max: usize, what: &'static str) -> Result<usize> {
        let at = self.pos;
        let n = self.i32(what)?;
        if n < 0 || n as usize > max {
            return Err(self.invalid_at(at, format!("{what}: a count in 0..={max}, found {n}")));
        }
        Ok(n as usize)
    }

    /// Cassandra's unsigned variable-length integer (VIntCoding).
    #[inline(always)]
    pub fn uvint(&mut self, what: &'static str) -> Result<u64> {
        match read_uvint(self.buf, &mut self.pos) {
            Some(v) => Ok(v),
            None => self.uvint_near_end(what),
        }
    }

    /// [`Cursor::uvint`] where [`read_uvint`] found too few bytes: the
    /// error, with how many bytes were missing.
    #[cold]
    #[inline(never)]
    fn uvint_near_end(&mut self, what: &'static str) -> Result<u64> {
        let first = self.u8(what)?;
        let extra = first.leading_ones() as usize;
        Err(self.truncated(extra.saturating_sub(self.remaining()), what))
    }

    /// Zig-zag signed vint.
    pub fn vint(&mut self, what: &'static str) -> Result<i64> {
        let n = self.uvint(what)?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    /// An unsigned vint that must fit a `usize` no larger than `max`.
    pub fn uvint_len(&mut self, max: usize, what: &'static str) -> Result<usize> {
        let at = self.pos;
        let n = self.uvint(what)?;
        if n > max as u64 {
            return Err(
                self.invalid_at(at, format!("{what}: a length of at most {max}, found {n}"))
            );
        }
        Ok(n as usize)
    }

    /// `u16` length followed by that many bytes.
    pub fn short_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.u16(what)? as usize;
        self.bytes(n, what)
    }

    /// `int` length followed by that many bytes (negative = null).
    pub fn int_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>> {
        let at = self.pos;
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(None);
        }
        if n as usize > self.remaining() {
            let _ = at;
            return Err(self.truncated(n as usize - self.remaining(), what));
        }
        self.bytes(n as usize, what).map(Some)
    }

    /// Unsigned-vint length followed by that many bytes.
    #[inline]
    pub fn vint_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        match read_vint_bytes(self.buf, &mut self.pos) {
            Some(s) => Ok(s),
            None => self.vint_bytes_error(what),
        }
    }

    /// [`Cursor::vint_bytes`] where [`read_vint_bytes`] failed: the error.
    #[cold]
    #[inline(never)]
    fn vint_bytes_error(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.uvint(what)?;
        let rem = self.remaining() as u64;
        Err(self.truncated(n.saturating_sub(rem).min(usize::MAX as u64) as usize, what))
    }

    /// Java `writeUTF`: u16 length and (modified) UTF-8.
    pub fn utf(&mut self, what: &'static str) -> Result<String> {
        let at = self.pos;
        let b = self.short_bytes(what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| self.invalid_at(at, format!("{what}: UTF-8 text")))
    }
}

/// Cassandra's unsigned vint at `buf[*pos..]`, `*pos` moved past it; `None`
/// (`*pos` unchanged) if the bytes end first. The `Result`-free core of
/// [`Cursor::uvint`], for decoders' hot paths.
#[inline(always)]
pub fn read_uvint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let p = *pos;
    let first = *buf.get(p)?;
    if first & 0x80 == 0 {
        *pos = p + 1;
        return Some(first as u64);
    }
    // The first byte's leading ones count the bytes that follow.
    let extra = first.leading_ones() as usize;
    if let Some(w) = buf.get(p + 1..p + 9) {
        // One load of the 8 bytes after the first.
        let mut rest = [0u8; 8];
        rest.copy_from_slice(w);
        let tail = u64::from_be_bytes(rest) >> (64 - 8 * extra);
        let head = (first as u64 & (0xff >> extra)).wrapping_shl(8 * extra as u32);
        *pos = p + 1 + extra;
        return Some(head | tail);
    }
    // Within 9 bytes of the end: byte by byte.
    let rest = buf.get(p + 1..p + 1 + extra)?;
    let mut v = if extra >= 8 {
        0
    } else {
        (first & (0xff >> extra)) as u64
    };
    for b in rest {
        v = (v << 8) | *b as u64;
    }
    *pos = p + 1 + extra;
    Some(v)
}

/// An unsigned-vint length and that many bytes at `buf[*pos..]`, `*pos`
/// moved past them; `None` (`*pos` unchanged) if the bytes end first. The
/// `Result`-free core of [`Cursor::vint_bytes`].
#[inline(always)]
pub fn read_vint_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let mut p = *pos;
    let n = usize::try_from(read_uvint(buf, &mut p)?).ok()?;
    let v = buf.get(p..p.checked_add(n)?)?;
    *pos = p + n;
    Some(v)
}

/// Encode an unsigned vint (for tests and writers).
pub fn encode_uvint(v: u64, out: &mut Vec<u8>) {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    // number of extra bytes: ceil((bits - 7) / 7) bounded to 8
    let extra = if bits <= 7 {
        0
    } else {
        ((bits - 1) / 7).min(8)
    };
    if extra == 0 {
        out.push(v as u8);
        return;
    }
    if extra == 8 {
        out.push(0xff);
        out.extend_from_slice(&v.to_be_bytes());
        return;
    }
    let first_mask = !(0xffu8 >> extra);
    let bytes = v.to_be_bytes();
    let start = 8 - extra;
    out.push(first_mask | bytes[start - 1]);
    out.extend_from_slice(&bytes[start..]);
}

/// Encode a zig-zag signed vint.
pub fn encode_vint(v: i64, out: &mut Vec<u8>) {
    encode_uvint(((v << 1) ^ (v >> 63)) as u64, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn uvint_round_trip(v: u64) {
            let mut b = Vec::new();
            encode_uvint(v, &mut b);
            let mut c = Cursor::new(&b, Component::Data);
            prop_assert_eq!(c.uvint("v").unwrap(), v);
            prop_assert!(c.is_empty());
        }
        #[test]
        fn uvint_sequences_round_trip(vs in proptest::collection::vec(
            prop_oneof![any::<u64>(), 0u64..300, (0u32..64).prop_map(|s| 1u64 << s)],
            1..40,
        ), pad in 0usize..10) {
            // Values followed by others (and padding) take the one-load path;
            // the last ones the byte-by-byte path.
            let mut b = Vec::new();
            for &v in &vs {
                encode_uvint(v, &mut b);
            }
            let len = b.len();
            b.resize(len + pad, 0xff);
            let mut c = Cursor::new(&b, Component::Data);
            for &v in &vs {
                prop_assert_eq!(c.uvint("v").unwrap(), v);
            }
            prop_assert_eq!(c.position(), len);
        }
        #[test]
        fn vint_round_trip(v: i64) {
            let mut b = Vec::new();
            encode_vint(v, &mut b);
            let mut c = Cursor::new(&b, Component::Data);
            prop_assert_eq!(c.vint("v").unwrap(), v);
        }
        #[test]
        fn never_panics(b: Vec<u8>) {
            let mut c = Cursor::new(&b, Component::Data);
            let _ = c.uvint("a");
            let _ = c.vint_bytes("b");
            let _ = c.short_bytes("c");
            let _ = c.int_bytes("d");
        }
    }

    #[test]
    fn known_encodings() {
        let mut b = Vec::new();
        encode_uvint(0x7f, &mut b);
        assert_eq!(b, [0x7f]);
        b.clear();
        encode_uvint(0x80, &mut b);
        assert_eq!(b, [0x80, 0x80]);
        b.clear();
        encode_uvint(0x3fff, &mut b);
        assert_eq!(b, [0xbf, 0xff]);
        b.clear();
        encode_uvint(0x4000, &mut b);
        assert_eq!(b, [0xc0, 0x40, 0x00]);
    }
}
