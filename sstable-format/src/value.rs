//! Decoding CQL values from their serialized bytes, and printing them the
//! way Cassandra does: `SELECT JSON` ([`Value::write_json`]) and CQL
//! literals / `AbstractType.getString` ([`Value::write_cql`]).

use crate::cursor::Cursor;
use crate::error::{Component, Error, Result};
use crate::types::CqlType;
use std::fmt::Write;

/// A decoded value. Borrowed from the cell bytes where possible.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A zero-length value of a type for which that means "no value".
    Empty,
    Ascii(&'a str),
    Text(&'a str),
    Blob(&'a [u8]),
    Boolean(bool),
    BigInt(i64),
    Counter(i64),
    Int(i32),
    SmallInt(i16),
    TinyInt(i8),
    Float(f32),
    Double(f64),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    /// Days, with 2^31 as the epoch (as stored).
    Date(u32),
    /// Nanoseconds since midnight.
    Time(i64),
    Uuid([u8; 16]),
    TimeUuid([u8; 16]),
    Inet(&'a [u8]),
    /// Two's-complement big-endian integer.
    VarInt(&'a [u8]),
    Decimal {
        scale: i32,
        unscaled: &'a [u8],
    },
    Duration {
        months: i32,
        days: i32,
        nanos: i64,
    },
    List(Vec<Value<'a>>),
    Set(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
    Tuple(Vec<Option<Value<'a>>>),
    /// Field name and value (None = null).
    Udt(Vec<(&'a str, Option<Value<'a>>)>),
    Vector(Vec<Value<'a>>),
}

const MAX_DEPTH: usize = 64;

fn verr(what: &str, t: &CqlType, len: usize) -> Error {
    Error::invalid(
        Component::Value,
        0,
        format!("{what} for a {} value of {len} bytes", t.cql_name()),
    )
}

impl<'a> Value<'a> {
    /// Decode a value of type `t` (a "frozen" serialized value: for
    /// collections, the whole collection).
    pub fn decode(t: &'a CqlType, b: &'a [u8]) -> Result<Value<'a>> {
        decode(t, b, 0)
    }

    /// Write the value as `SELECT JSON` prints it.
    pub fn write_json(&self, out: &mut String) {
        write_json(self, out)
    }

    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    /// Write the value as Cassandra's `AbstractType.getString` / a CQL
    /// literal without quotes for strings (as sstabledump prints keys).
    pub fn write_cql(&self, out: &mut String) {
        write_string(self, out)
    }

    pub fn to_cql_string(&self) -> String {
        let mut s = String::new();
        self.write_cql(&mut s);
        s
    }
}

fn fixed<const N: usize>(t: &CqlType, b: &[u8]) -> Result<[u8; N]> {
    b.try_into()
        .map_err(|_| verr(&format!("exactly {N} bytes"), t, b.len()))
}

fn decode<'a>(t: &'a CqlType, b: &'a [u8], depth: usize) -> Result<Value<'a>> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            Component::Value,
            0,
            "a value nested less deeply",
        ));
    }
    use CqlType as T;
    let t0 = t.base();
    if b.is_empty()
        && !matches!(
            t0,
            T::Ascii | T::Text | T::Blob | T::Custom(_) | T::Empty | T::Composite(_)
        )
    {
        return Ok(Value::Empty);
    }
    Ok(match t0 {
        T::Ascii => {
            Value::Ascii(std::str::from_utf8(b).map_err(|_| verr("ASCII text", t, b.len()))?)
        }
        T::Text => Value::Text(std::str::from_utf8(b).map_err(|_| verr("UTF-8 text", t, b.len()))?),
        T::Blob | T::Custom(_) | T::Composite(_) => Value::Blob(b),
        T::Empty => Value::Empty,
        T::Boolean => Value::Boolean(fixed::<1>(t, b)?[0] != 0),
        T::BigInt => Value::BigInt(i64::from_be_bytes(fixed(t, b)?)),
        T::Counter => Value::Counter(i64::from_be_bytes(fixed(t, b)?)),
        T::Int => Value::Int(i32::from_be_bytes(fixed(t, b)?)),
        T::SmallInt => Value::SmallInt(i16::from_be_bytes(fixed(t, b)?)),
        T::TinyInt => Value::TinyInt(fixed::<1>(t, b)?[0] as i8),
        T::Float => Value::Float(f32::from_be_bytes(fixed(t, b)?)),
        T::Double => Value::Double(f64::from_be_bytes(fixed(t, b)?)),
        T::Timestamp => Value::Timestamp(i64::from_be_bytes(fixed(t, b)?)),
        T::Date => Value::Date(u32::from_be_bytes(fixed(t, b)?)),
        T::Time => Value::Time(i64::from_be_bytes(fixed(t, b)?)),
        T::Uuid => Value::Uuid(fixed(t, b)?),
        T::TimeUuid => Value::TimeUuid(fixed(t, b)?),
        T::Inet => {
            if b.len() != 4 && b.len() != 16 {
                return Err(verr("4 or 16 bytes", t, b.len()));
            }
            Value::Inet(b)
        }
        T::VarInt => Value::VarInt(b),
        T::Decimal => {
            if b.len() < 4 {
                return Err(verr("a 4-byte scale", t, b.len()));
            }
            Value::Decimal {
                scale: i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                unscaled: &b[4..],
            }
        }
        T::Duration => {
            let mut c = Cursor::new(b, Component::Value);
            let months = c.vint("duration months")?;
            let days = c.vint("duration days")?;
            let nanos = c.vint("duration nanoseconds")?;
            let months =
                i32::try_from(months).map_err(|_| verr("months within int range", t, b.len()))?;
            let days =
                i32::try_from(days).map_err(|_| verr("days within int range", t, b.len()))?;
            Value::Duration {
                months,
                days,
                nanos,
            }
        }
        T::List { elem, .. } | T::Set { elem, .. } => {
            let mut c = Cursor::new(b, Component::Value);
            let n = c.count_i32(b.len() / 4, "collection size")?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                match c.int_bytes("collection element")? {
                    Some(e) => v.push(decode(elem, e, depth + 1)?),
                    None => {
                        return Err(Error::invalid(
                            Component::Value,
                            c.position() as u64,
                            "a non-null collection element",
                        ))
                    }
                }
            }
            if matches!(t0, T::List { .. }) {
                Value::List(v)
            } else {
                Value::Set(v)
            }
        }
        T::Map { key, value, .. } => {
            let mut c = Cursor::new(b, Component::Value);
            let n = c.count_i32(b.len() / 8, "map size")?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let k = c
                    .int_bytes("map key")?
                    .ok_or_else(|| c.invalid("a non-null map key"))?;
                let val = c
                    .int_bytes("map value")?
                    .ok_or_else(|| c.invalid("a non-null map value"))?;
                v.push((decode(key, k, depth + 1)?, decode(value, val, depth + 1)?));
            }
            Value::Map(v)
        }
        T::Tuple(types) => {
            let mut c = Cursor::new(b, Component::Value);
            let mut v = Vec::with_capacity(types.len());
            for et in types {
                if c.is_empty() {
                    v.push(None);
                    continue;
                }
                v.push(match c.int_bytes("tuple field")? {
                    Some(e) => Some(decode(et, e, depth + 1)?),
                    None => None,
                });
            }
            Value::Tuple(v)
        }
        T::Udt(u) => {
            let mut c = Cursor::new(b, Component::Value);
            let mut v = Vec::with_capacity(u.fields.len());
            for (name, et) in &u.fields {
                if c.is_empty() {
                    v.push((name.as_str(), None));
                    continue;
                }
                v.push((
                    name.as_str(),
                    match c.int_bytes("UDT field")? {
                        Some(e) => Some(decode(et, e, depth + 1)?),
                        None => None,
                    },
                ));
            }
            Value::Udt(v)
        }
        T::Vector { elem, dimension } => {
            let mut c = Cursor::new(b, Component::Value);
            let n = *dimension as usize;
            if n > b.len().max(1) * 8 {
                return Err(verr(
                    "a vector dimension consistent with its size",
                    t,
                    b.len(),
                ));
            }
            let mut v = Vec::with_capacity(n);
            let fl = elem.fixed_length();
            for _ in 0..n {
                let e = match fl {
                    Some(l) => c.bytes(l, "vector element")?,
                    None => c.vint_bytes("vector element")?,
                };
                v.push(decode(elem, e, depth + 1)?);
            }
            Value::Vector(v)
        }
        // `base()` has stripped Reversed already.
        T::Reversed(_) => Value::Empty,
    })
}

/// JSON string escaping as Jackson's `JsonStringEncoder` does it.
pub fn json_escape_into(s: &str, out: &mut String) {
    // Copy runs of bytes that need no escape at once; every byte that does
    // is ASCII, so the cuts fall on character boundaries.
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them needs escaping.
        if let Some(w) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            if !needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        i += 1;
        if !escaped(b) {
            continue;
        }
        let i = i - 1;
        out.push_str(s.get(run..i).unwrap_or_default());
        run = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            c => {
                let _ = write!(out, "\\u{:04X}", c);
            }
        }
    }
    out.push_str(s.get(run..).unwrap_or_default());
}

/// Does JSON text escape this byte (< 0x20, `"` or `\`)?
fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Does `s` hold a byte that [`json_escape_into`] escapes?
#[inline]
pub fn json_needs_escape(s: &str) -> bool {
    s.bytes().any(escaped)
}

/// Does any byte of `x` need a JSON escape (< 0x20, `"` or `\`)? May say
/// yes wrongly (the byte loop then decides), never no wrongly.
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    (below_space | zero_byte(x ^ (ONES * b'"' as u64)) | zero_byte(x ^ (ONES * b'\\' as u64))) != 0
}

/// Append an integer in decimal.
pub fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

pub fn json_quote_into(s: &str, out: &mut String) {
    out.push('"');
    json_escape_into(s, out);
    out.push('"');
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        // A zero-length value of a non-string type: Cassandra prints `""`.
        Value::Empty => out.push_str("\"\""),
        Value::Ascii(s) | Value::Text(s) => json_quote_into(s, out),
        Value::Blob(b) => {
            out.push_str("\"0x");
            push_hex(b, out);
            out.push('"');
        }
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::BigInt(n) | Value::Counter(n) => push_int(out, *n),
        Value::Int(n) => push_int(out, *n),
        Value::SmallInt(n) => push_int(out, *n),
        Value::TinyInt(n) => push_int(out, *n),
        // Cassandra prints NaN and ±Infinity as JSON null.
        Value::Float(f) => {
            if f.is_finite() {
                out.push_str(&java_float(*f))
            } else {
                out.push_str("null")
            }
        }
        Value::Double(d) => {
            if d.is_finite() {
                out.push_str(&java_double(*d))
            } else {
                out.push_str("null")
            }
        }
        Value::VarInt(b) => out.push_str(&varint_string(b)),
        Value::Decimal { scale, unscaled } => out.push_str(&decimal_string(*scale, unscaled)),
        Value::Timestamp(_)
        | Value::Date(_)
        | Value::Time(_)
        | Value::Uuid(_)
        | Value::TimeUuid(_)
        | Value::Inet(_)
        | Value::Duration { .. } => {
            out.push('"');
            write_string(v, out);
            out.push('"');
        }
        Value::List(items) | Value::Set(items) | Value::Vector(items) => {
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Tuple(items) => {
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match e {
                    Some(e) => write_json(e, out),
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let mut ks = String::new();
                write_json(k, &mut ks);
                if ks.starts_with('"') {
                    out.push_str(&ks);
                } else {
                    json_quote_into(&ks, out);
                }
                out.push_str(": ");
                write_json(val, out);
            }
            out.push('}');
        }
        Value::Udt(fields) => {
            out.push('{');
            for (i, (name, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_quote_into(&json_column_name(name), out);
                out.push_str(": ");
                match val {
                    Some(val) => write_json(val, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

/// A column or field name as `SELECT JSON` prints it: wrapped in double
/// quotes only when it contains upper-case letters.
pub fn json_column_name(name: &str) -> String {
    if name.chars().any(|c| c.is_uppercase()) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

/// The two hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [H[i >> 4], H[i & 15]];
        i += 1;
    }
    t
};

fn push_hex(b: &[u8], out: &mut String) {
    out.reserve(b.len() * 2);
    let mut buf = [0u8; 128];
    for chunk in b.chunks(64) {
        for (pair, x) in buf.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[*x as usize]);
        }
        if let Ok(s) = std::str::from_utf8(&buf[..2 * chunk.len()]) {
            out.push_str(s);
        }
    }
}

fn write_string(v: &Value, out: &mut String) {
    match v {
        Value::Empty => {}
        Value::Ascii(s) | Value::Text(s) => out.push_str(s),
        Value::Blob(b) => push_hex(b, out),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::BigInt(n) | Value::Counter(n) => push_int(out, *n),
        Value::Int(n) => push_int(out, *n),
        Value::SmallInt(n) => push_int(out, *n),
        Value::TinyInt(n) => push_int(out, *n),
        Value::Float(f) => out.push_str(&java_float(*f)),
        Value::Double(d) => out.push_str(&java_double(*d)),
        Value::Timestamp(ms) => out.push_str(&format_timestamp(*ms)),
        Value::Date(d) => out.push_str(&format_date(*d)),
        Value::Time(n) => out.push_str(&format_time(*n)),
        Value::Uuid(u) | Value::TimeUuid(u) => out.push_str(&format_uuid(u)),
        Value::Inet(b) => out.push_str(&format_inet(b)),
        Value::VarInt(b) => out.push_str(&varint_string(b)),
        Value::Decimal { scale, unscaled } => out.push_str(&decimal_string(*scale, unscaled)),
        Value::Duration {
            months,
            days,
            nanos,
        } => out.push_str(&format_duration(*months, *days, *nanos)),
        Value::List(items) | Value::Set(items) | Value::Vector(items) => {
            let (open, close) = if matches!(v, Value::Set(_)) {
                ('{', '}')
            } else {
                ('[', ']')
            };
            out.push(open);
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(e, out);
            }
            out.push(close);
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(k, out);
                out.push_str(": ");
                write_literal(val, out);
            }
            out.push('}');
        }
        Value::Tuple(items) => {
            out.push('(');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match e {
                    Some(e) => write_literal(e, out),
                    None => out.push_str("null"),
                }
            }
            out.push(')');
        }
        Value::Udt(fields) => {
            out.push('{');
            for (i, (name, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&crate::cql::maybe_quote(name));
                out.push_str(": ");
                match val {
                    Some(val) => write_literal(val, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

/// A CQL literal (strings quoted, blobs 0x-prefixed), for use inside collections.
pub fn write_literal(v: &Value, out: &mut String) {
    match v {
        Value::Ascii(s) | Value::Text(s) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Value::Blob(b) => {
            out.push_str("0x");
            push_hex(b, out);
        }
        Value::Timestamp(_) | Value::Date(_) | Value::Time(_) | Value::Inet(_) => {
            out.push('\'');
            write_string(v, out);
            out.push('\'');
        }
        Value::Empty => out.push_str("null"),
        _ => write_string(v, out),
    }
}

/// Hex of bytes, lower case.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    push_hex(b, &mut s);
    s
}

pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    push_uuid(u, &mut s);
    s
}

/// Append a UUID's canonical text (`8-4-4-4-12` lowercase hex digits).
pub fn push_uuid(u: &[u8; 16], out: &mut String) {
    for (i, part) in [&u[0..4], &u[4..6], &u[6..8], &u[8..10], &u[10..16]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        push_hex(part, out);
    }
}

pub fn format_inet(b: &[u8]) -> String {
    // Java turns IPv4-mapped IPv6 addresses into plain IPv4.
    if b.len() == 16 && b[..10].iter().all(|x| *x == 0) && b[10] == 0xff && b[11] == 0xff {
        return format!("{}.{}.{}.{}", b[12], b[13], b[14], b[15]);
    }
    if b.len() == 4 {
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    } else {
        // Java's Inet6Address.getHostAddress: eight groups, no compression.
        let mut s = String::new();
        for (i, ch) in b.chunks(2).enumerate() {
            if i > 0 {
                s.push(':');
            }
            let g = u16::from_be_bytes([ch[0], *ch.get(1).unwrap_or(&0)]);
            let _ = write!(s, "{g:x}");
        }
        s
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn year_str(y: i64) -> String {
    if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y > 9999 {
        format!("+{y}")
    } else {
        format!("-{:04}", -y)
    }
}

/// `yyyy-MM-dd HH:mm:ss.SSSZ` in UTC, as Cassandra prints timestamps.
pub fn format_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let h = rem / 3_600_000;
    let mi = (rem / 60_000) % 60;
    let s = (rem / 1000) % 60;
    let milli = rem % 1000;
    format!(
        "{}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}Z",
        year_str(y)
    )
}

/// A timestamp as Cassandra 3.11's `TimestampSerializer.toString` prints
/// it (its `getString`, used for partition keys and collection keys):
/// `java.text.SimpleDateFormat("yyyy-MM-dd HH:mmX")` in UTC, so minutes
/// only, the Julian calendar before 1582-10-15, and the year of the era
/// (no sign, at least four digits).
pub fn format_timestamp_3_11(ms: i64) -> String {
    /// 1582-10-15T00:00Z, where `GregorianCalendar` switches calendars.
    const CUTOVER_MS: i64 = -12_219_292_800_000;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = if ms >= CUTOVER_MS {
        civil_from_days(days)
    } else {
        julian_from_days(days)
    };
    let year_of_era = if y > 0 { y } else { 1 - y };
    format!(
        "{year_of_era:04}-{m:02}-{d:02} {:02}:{:02}Z",
        rem / 3_600_000,
        (rem / 60_000) % 60
    )
}

/// (year, month, day) in the Julian calendar of a day counted from
/// 1970-01-01 (Gregorian); year 0 is 1 BC.
fn julian_from_days(days: i64) -> (i64, u32, u32) {
    // Days from 0000-03-01 (Julian), then 4-year cycles of 1461 days.
    let z = days + 719_470;
    let cycle = z.div_euclid(1461);
    let doc = z.rem_euclid(1461);
    let yoc = (doc - doc / 1460) / 365;
    let doy = doc - 365 * yoc;
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = cycle * 4 + yoc;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ISO-8601 `yyyy-MM-ddTHH:mm:ssZ` for seconds since the epoch (sstabledump's `expires_at`, `local_delete_time`).
pub fn format_seconds_iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        year_str(y),
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

pub fn format_date(stored: u32) -> String {
    let days = stored as i64 - (1i64 << 31);
    let (y, m, d) = civil_from_days(days);
    format!("{}-{m:02}-{d:02}", year_str(y))
}

pub fn format_time(nanos: i64) -> String {
    let n = nanos.rem_euclid(86_400_000_000_000);
    let h = n / 3_600_000_000_000;
    let m = (n / 60_000_000_000) % 60;
    let s = (n / 1_000_000_000) % 60;
    let f = n % 1_000_000_000;
    format!("{h:02}:{m:02}:{s:02}.{f:09}")
}

pub fn format_duration(months: i32, days: i32, nanos: i64) -> String {
    let mut b = String::new();
    if months < 0 || days < 0 || nanos < 0 {
        b.push('-');
    }
    fn app(b: &mut String, dividend: u64, divisor: u64, unit: &str) -> u64 {
        if dividend == 0 || dividend < divisor {
            return dividend;
        }
        let _ = write!(b, "{}{unit}", dividend / divisor);
        dividend % divisor
    }
    let rem = app(&mut b, months.unsigned_abs() as u64, 12, "y");
    app(&mut b, rem, 1, "mo");
    app(&mut b, days.unsigned_abs() as u64, 1, "d");
    if nanos != 0 {
        let mut r = app(&mut b, nanos.unsigned_abs(), 3_600_000_000_000, "h");
        r = app(&mut b, r, 60_000_000_000, "m");
        r = app(&mut b, r, 1_000_000_000, "s");
        r = app(&mut b, r, 1_000_000, "ms");
        r = app(&mut b, r, 1_000, "us");
        app(&mut b, r, 1, "ns");
    }
    b
}

pub fn varint_string(b: &[u8]) -> String {
    if b.is_empty() {
        return "0".into();
    }
    num_bigint::BigInt::from_signed_bytes_be(b).to_string()
}

/// `java.math.BigDecimal.toString()`.
pub fn decimal_string(scale: i32, unscaled: &[u8]) -> String {
    let n = num_bigint::BigInt::from_signed_bytes_be(unscaled);
    let s = n.to_string();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.as_str()),
    };
    let sign = if neg { "-" } else { "" };
    let len = digits.len() as i64;
    let adjusted = -(scale as i64) + (len - 1);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    if scale > 0 && adjusted >= -6 {
        let scale = scale as i64;
        if len > scale {
            let p = (len - scale) as usize;
            return format!("{sign}{}.{}", &digits[..p], &digits[p..]);
        }
        let zeros = "0".repeat((scale - len) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let mut out = String::from(sign);
    out.push_str(&digits[..1]);
    if len > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('E');
    if adjusted >= 0 {
        out.push('+');
    }
    let _ = write!(out, "{adjusted}");
    out
}

fn java_fp(sci: String, abs_lt_1e7_ge_1e3: bool) -> String {
    // `sci` is Rust's shortest `{:e}` form, e.g. "1.234e5" or "-5e-4".
    let (neg, body) = match sci.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, sci),
    };
    let (mant, exp) = body.split_once('e').unwrap_or((&body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if abs_lt_1e7_ge_1e3 {
        if exp >= 0 {
            let p = exp as usize + 1;
            if digits.len() > p {
                out.push_str(&digits[..p]);
                out.push('.');
                out.push_str(&digits[p..]);
            } else {
                out.push_str(&digits);
                out.push_str(&"0".repeat(p - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        let _ = write!(out, "E{exp}");
    }
    out
}

/// Java's `Double.toString`/`Float.toString` for a finite, non-zero value:
/// shortest digits, ties broken towards the even digit (`{:.N e}` rounds
/// the exact value half-to-even), subnormals with at least two digits.
fn java_finite<T>(x: T, subnormal: bool, plain: bool) -> String
where
    T: std::fmt::LowerExp + std::str::FromStr + PartialEq + Copy,
{
    let shortest = format!("{x:e}");
    let digits = shortest
        .split('e')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_digit())
        .count();
    let n = if subnormal { digits.max(2) } else { digits };
    let even = format!("{:.*e}", n.saturating_sub(1), x);
    let pick = if even.parse::<T>().ok() == Some(x) {
        even
    } else {
        shortest
    };
    java_fp(pick, plain)
}

fn java_special(nan: bool, inf: Option<bool>, zero: Option<bool>) -> Option<String> {
    if nan {
        return Some("NaN".into());
    }
    if let Some(pos) = inf {
        return Some(if pos { "Infinity" } else { "-Infinity" }.into());
    }
    zero.map(|neg| if neg { "-0.0" } else { "0.0" }.into())
}

/// `java.lang.Double.toString`.
pub fn java_double(d: f64) -> String {
    java_special(
        d.is_nan(),
        d.is_infinite().then_some(d > 0.0),
        (d == 0.0).then_some(d.is_sign_negative()),
    )
    .unwrap_or_else(|| java_finite(d, d.is_subnormal(), (1e-3..1e7).contains(&d.abs())))
}

/// `java.lang.Float.toString`.
pub fn java_float(f: f32) -> String {
    java_special(
        f.is_nan(),
        f.is_infinite().then_some(f > 0.0),
        (f == 0.0).then_some(f.is_sign_negative()),
    )
    .unwrap_or_else(|| java_finite(f, f.is_subnormal(), (1e-3..1e7).contains(&f.abs())))
}

/// `AbstractType.getString`: how Cassandra's tools print partition keys
/// and collection paths (hex for collections, `:`-joined tuples, ISO
/// timestamps with `T`).
pub fn get_string(t: &CqlType, b: &[u8]) -> Result<String> {
    get_string_as(t, b, false)
}

/// `AbstractType.getString` of Cassandra 3.11, whose timestamps print as
/// [`format_timestamp_3_11`] does.
pub fn get_string_3_11(t: &CqlType, b: &[u8]) -> Result<String> {
    get_string_as(t, b, true)
}

fn get_string_as(t: &CqlType, b: &[u8], v311: bool) -> Result<String> {
    use CqlType as T;
    let t0 = t.base();
    if b.is_empty() && !matches!(t0, T::Ascii | T::Text) {
        return Ok(String::new());
    }
    Ok(match t0 {
        T::Blob
        | T::Custom(_)
        | T::Composite(_)
        | T::Counter
        | T::List { .. }
        | T::Set { .. }
        | T::Map { .. }
        | T::Vector { .. } => hex(b),
        T::Timestamp if v311 => format_timestamp_3_11(i64::from_be_bytes(fixed(t, b)?)),
        T::Timestamp => {
            let ms = i64::from_be_bytes(fixed(t, b)?);
            let s = format_timestamp(ms);
            // `yyyy-MM-dd'T'HH:mm:ss.SSSX`
            s.replacen(' ', "T", 1)
        }
        T::Tuple(types) => tuple_string(types.iter().collect(), b, v311)?,
        T::Udt(u) => tuple_string(u.fields.iter().map(|f| &f.1).collect(), b, v311)?,
        _ => Value::decode(t, b)?.to_cql_string(),
    })
}

fn tuple_string(types: Vec<&CqlType>, b: &[u8], v311: bool) -> Result<String> {
    let mut c = Cursor::new(b, Component::Value);
    let mut out = String::new();
    for (i, t) in types.iter().enumerate() {
        if c.is_empty() {
            break;
        }
        if i > 0 {
            out.push(':');
        }
        match c.int_bytes("tuple component")? {
            None => out.push('@'),
            Some(v) => out.push_str(
                &get_string_as(t, v, v311)?
                    .replace(':', "\\:")
                    .replace('@', "\\@"),
            ),
        }
    }
    Ok(out)
}

/// `Instant.toString()` of a time in `unit_per_sec` units since the epoch
/// (1 for seconds, 1_000_000 for microseconds), with Cassandra's
/// truncate-then-floorMod quirk for negative values.
pub fn instant_string(time: i64, units_per_sec: i64) -> String {
    let mut s = String::with_capacity(30);
    write_instant(time, units_per_sec, &mut s);
    s
}

/// Append `n` (≥ 0) in decimal, zero-padded to `width` (≤ 9) digits.
fn push_padded(out: &mut String, n: i64, width: usize) {
    let width = width.min(9);
    let mut buf = [b'0'; 9];
    let mut v = n;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    if let Ok(s) = std::str::from_utf8(&buf[..width]) {
        out.push_str(s);
    }
}

/// [`instant_string`], appended to `out`.
pub fn write_instant(time: i64, units_per_sec: i64, out: &mut String) {
    let units_per_sec = units_per_sec.max(1);
    let secs = time / units_per_sec; // truncates toward zero, like TimeUnit.toSeconds
    let nanos_total = (time as i128) * (1_000_000_000 / units_per_sec as i128);
    let nanos_total = nanos_total.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let nanos = nanos_total.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_padded(out, y, 4);
    } else {
        out.push_str(&year_str(y));
    }
    out.push('-');
    push_padded(out, m as i64, 2);
    out.push('-');
    push_padded(out, d as i64, 2);
    out.push('T');
    push_padded(out, rem / 3600, 2);
    out.push(':');
    push_padded(out, (rem / 60) % 60, 2);
    out.push(':');
    push_padded(out, rem % 60, 2);
    if nanos != 0 {
        out.push('.');
        if nanos % 1_000_000 == 0 {
            push_padded(out, nanos / 1_000_000, 3);
        } else if nanos % 1000 == 0 {
            push_padded(out, nanos / 1000, 6);
        } else {
            push_padded(out, nanos, 9);
        }
    }
    out.push('Z');
}

#[cfg(test)]
mod string_tests {
    use super::*;

    /// The byte-run escaper equals escaping character by character.
    #[test]
    fn json_escaping() {
        fn by_char(s: &str) -> String {
            let mut o = String::new();
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    '\n' => o.push_str("\\n"),
                    '\r' => o.push_str("\\r"),
                    '\t' => o.push_str("\\t"),
                    '\u{08}' => o.push_str("\\b"),
                    '\u{0c}' => o.push_str("\\f"),
                    c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
                    c => o.push(c),
                }
            }
            o
        }
        for s in [
            "",
            "plain",
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}",
            "日本語 \"quoted\" ☃\u{0}",
            "\\",
            "trailing\n",
        ] {
            let mut o = String::new();
            json_escape_into(s, &mut o);
            assert_eq!(o, by_char(s), "{s:?}");
        }
        // Every special byte at every offset of longer strings (the
        // eight-byte fast path), among ASCII and multi-byte characters.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '日'] {
            for fill in ['a', '~', 'ü'] {
                for at in 0..24 {
                    let s: String = (0..24)
                        .map(|i| if i == at { special } else { fill })
                        .collect();
                    let mut o = String::new();
                    json_escape_into(&s, &mut o);
                    assert_eq!(o, by_char(&s), "{s:?}");
                }
            }
        }
        let mut o = String::new();
        push_hex(&(0..=255u8).collect::<Vec<_>>(), &mut o);
        let want: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
        assert_eq!(o, want);
    }
    #[test]
    fn instants() {
        assert_eq!(
            instant_string(1430472654234000, 1_000_000),
            "2015-05-01T09:30:54.234Z"
        );
        assert_eq!(
            instant_string(1430472654000000, 1_000_000),
            "2015-05-01T09:30:54Z"
        );
        assert_eq!(
            instant_string(1430472654234567, 1_000_000),
            "2015-05-01T09:30:54.234567Z"
        );
        assert_eq!(instant_string(-1, 1_000_000), "1970-01-01T00:00:00.999999Z");
        assert_eq!(
            instant_string(-1_500_000, 1_000_000),
            "1969-12-31T23:59:59.500Z"
        );
        assert_eq!(instant_string(4294967294, 1), "2106-02-07T06:28:14Z");
    }
    #[test]
    fn strings() {
        assert_eq!(
            get_string(&CqlType::Timestamp, &1430472654234i64.to_be_bytes()).unwrap(),
            "2015-05-01T09:30:54.234Z"
        );
        assert_eq!(get_string(&CqlType::Text, b"a:b").unwrap(), "a:b");
        let t = CqlType::Tuple(vec![CqlType::Int, CqlType::Text]);
        let mut b = Vec::new();
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(get_string(&t, &b).unwrap(), "7:@");
    }
    #[test]
    fn strings_of_cassandra_3_11() {
        let ts = |ms: i64| get_string_3_11(&CqlType::Timestamp, &ms.to_be_bytes()).unwrap();
        // What 3.11's sstabledump printed for partition keys of the random tables.
        assert_eq!(ts(1_064_510_007_972), "2003-09-25 17:13Z");
        assert_eq!(ts(2_556_147_059_302), "2051-01-01 00:50Z");
        assert_eq!(ts(-1), "1969-12-31 23:59Z");
        // SimpleDateFormat: the Julian calendar before 1582-10-15, the year
        // of the era, no sign past 9999.
        assert_eq!(ts(-12_219_292_800_000), "1582-10-15 00:00Z");
        assert_eq!(ts(-12_219_292_800_001), "1582-10-04 23:59Z");
        assert_eq!(ts(-62_135_596_800_000), "0001-01-03 00:00Z");
        assert_eq!(ts(-62_135_769_600_000), "0001-01-01 00:00Z");
        assert_eq!(ts(-62_135_769_600_001), "0001-12-31 23:59Z");
        assert_eq!(ts(253_402_300_800_000), "10000-01-01 00:00Z");
        let t = CqlType::Tuple(vec![CqlType::Timestamp, CqlType::Int]);
        let mut b = Vec::new();
        b.extend_from_slice(&8i32.to_be_bytes());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(get_string_3_11(&t, &b).unwrap(), "1970-01-01 00\\:00Z:@");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `json_needs_escape` says yes exactly when `json_escape_into` changes
    /// the text.
    #[test]
    fn needs_escape_agrees_with_escaping() {
        for c in (0u32..0x80)
            .chain([0xe9, 0x65e5])
            .filter_map(char::from_u32)
        {
            for s in [
                c.to_string(),
                format!("ab{c}cdefghijk"),
                format!("abcdefgh{c}"),
                format!("abcdefghijklmno{c}xyz"),
            ] {
                let mut out = String::new();
                json_escape_into(&s, &mut out);
                assert_eq!(json_needs_escape(&s), out != s, "{s:?}");
            }
        }
    }

    #[test]
    fn java_number_formats() {
        assert_eq!(java_double(0.11), "0.11");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(123456.789), "123456.789");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(-2.5e-10), "-2.5E-10");
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(3.4028235e38), "3.4028235E38");
        // Ties go to the even digit, as in Java.
        assert_eq!(java_float(216_050.62), "216050.62");
        assert_eq!(java_float(f32::from_bits(1)), "1.4E-45");
        assert_eq!(java_double(f64::from_bits(1)), "4.9E-324");
        assert_eq!(decimal_string(2, &[0x04, 0xd2]), "12.34");
        assert_eq!(decimal_string(0, &[0x7b]), "123");
        assert_eq!(decimal_string(-2, &[0x7b]), "1.23E+4");
        assert_eq!(decimal_string(10, &[0x7b]), "1.23E-8");
        assert_eq!(decimal_string(4, &[0x01]), "0.0001");
        assert_eq!(varint_string(&[0xff]), "-1");
        assert_eq!(varint_string(&[0x00, 0xff]), "255");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(format_timestamp(1430472654234), "2015-05-01 09:30:54.234Z");
        assert_eq!(format_timestamp(-1), "1969-12-31 23:59:59.999Z");
        assert_eq!(format_date(1u32 << 31), "1970-01-01");
        assert_eq!(format_time(3_723_000_000_004), "01:02:03.000000004");
        assert_eq!(format_duration(14, 3, 3_600_000_000_001), "1y2mo3d1h1ns");
        assert_eq!(format_duration(0, 0, -1_000), "-1us");
        assert_eq!(format_inet(&[127, 0, 0, 1]), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(format_inet(&v6), "0:0:0:0:0:0:0:1");
    }

    #[test]
    fn collections_json() {
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type)").unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&7i32.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(b"hi");
        let v = Value::decode(&t, &b).unwrap();
        assert_eq!(v.to_json(), "{\"7\": \"hi\"}");
        assert_eq!(v.to_cql_string(), "{7: 'hi'}");
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(b: Vec<u8>) {
            for s in ["org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type)",
                      "org.apache.cassandra.db.marshal.DurationType",
                      "org.apache.cassandra.db.marshal.DecimalType",
                      "org.apache.cassandra.db.marshal.TupleType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type)",
                      "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.UTF8Type,3)"] {
                let t = CqlType::parse_marshal(s).unwrap();
                if let Ok(v) = Value::decode(&t, &b) { let _ = v.to_json(); let _ = v.to_cql_string(); }
            }
        }
    }
}
