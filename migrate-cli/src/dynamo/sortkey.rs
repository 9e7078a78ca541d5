//! An order-preserving string encoding of clustering values, so that
//! DynamoDB's sort-key order (UTF-8 bytes) equals Cassandra's clustering
//! order, ASC and DESC, for every type allowed in a clustering key.
//!
//! Every component encoding is *prefix-free* (no encoding is a proper prefix
//! of another of the same type), so components can simply be joined: the
//! first differing component decides, as in Cassandra. Components are
//! joined with `#` for readability only.
//!
//! | type | ASC encoding | example |
//! |---|---|---|
//! | text, ascii | bytes ≤ `%` escaped as `%` + (0x40+byte), then `$` | `abc$` |
//! | tinyint … bigint, counter | fixed width, zero-padded; negatives `-` + 9-complement of \|v\| | `0000000042`, `-9999999957` |
//! | varint | 4-digit digit count + digits; negatives `-` + complemented count and digits | `00023`… |
//! | decimal | `0` for zero; `1` + exponent + digits + `-`; negatives `-` + complements + `~` | |
//! | boolean | `0` / `1` | |
//! | timestamp | ISO-8601 UTC with millis (years 0000–9999); outside: `-`/`~` + 20 digits | `2024-05-01T12:00:00.000Z` |
//! | date | `YYYY-MM-DD` (years 0000–9999); outside: `-`/`~` + 10 digits | `2024-05-01` |
//! | time | `HH:MM:SS.nnnnnnnnn` | `13:45:00.000000000` |
//! | float, double | 8/16 hex digits of the order-preserving IEEE bits | |
//! | timeuuid | 15 hex digits of the timestamp + 16 hex of the sign-flipped clock/node | |
//! | uuid | version hex digit, then as timeuuid (v1) or the 32 hex digits | |
//! | blob, inet, others | lowercase hex + `-` | `cafe-` |
//! | frozen list/set/map | each element `*` + its encoding, then `(` | |
//! | tuple, UDT, vector | the components' encodings, null as `"` | |
//! | empty value | `$` | |
//! | null | `"` | |
//!
//! DESC (reversed) columns: decimal-digit encodings complement each digit
//! and swap `-`/`~`; hex encodings complement each hex digit and swap
//! `-`/`~`; text and composite encodings become the hex of their
//! complemented bytes. Null and empty become `~~` (they sort last in DESC).
//!
//! A partition's static item (with `static_columns = "item"`) has the sort
//! key `!static`, which sorts before every row.

use sstable_format::cursor::Cursor;
use sstable_format::value::{civil_from_days, decimal_string, varint_string};
use sstable_format::{Component, CqlType, Error as FmtError};
use std::fmt::Write as _;

/// How a component encoding is reversed for DESC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Decimal digits and `-`/`~` markers (other characters are constant
    /// per position).
    Decimal,
    /// Hex digits and `-`/`~` markers.
    Hex,
    /// Anything else: reversed as hex of complemented bytes.
    Other,
}

/// The sort key of a partition's static item.
pub const STATIC_SORT_KEY: &str = "!static";

type Result<T> = std::result::Result<T, FmtError>;

fn bad(what: &'static str) -> FmtError {
    FmtError::Invalid {
        component: Component::Value,
        offset: 0,
        expected: what.into(),
    }
}

/// Encode one clustering value (`None` = null) of type `t`.
pub fn encode_component(t: &CqlType, v: Option<&[u8]>, out: &mut String) -> Result<()> {
    let (inner, desc) = match t {
        CqlType::Reversed(i) => (&**i, true),
        t => (t, false),
    };
    let v = match v {
        None => {
            out.push_str(if desc { "~~" } else { "\"" });
            return Ok(());
        }
        Some(v) => v,
    };
    if v.is_empty() && !matches!(inner.base(), CqlType::Text | CqlType::Ascii) {
        out.push_str(if desc { "~~" } else { "$" });
        return Ok(());
    }
    if !desc {
        encode_asc(inner, v, out)?;
        return Ok(());
    }
    let mut s = String::new();
    let class = encode_asc(inner, v, &mut s)?;
    match class {
        Class::Decimal => out.extend(s.chars().map(|c| match c {
            '0'..='9' => (b'9' - (c as u8 - b'0')) as char,
            '-' => '~',
            '~' => '-',
            c => c,
        })),
        Class::Hex => out.extend(s.chars().map(|c| match c {
            '0'..='9' | 'a'..='f' => {
                let d = c.to_digit(16).unwrap_or(0);
                char::from_digit(15 - d, 16).unwrap_or('0')
            }
            '-' => '~',
            '~' => '-',
            c => c,
        })),
        Class::Other => {
            for b in s.bytes() {
                let _ = write!(out, "{:02x}", 255 - b);
            }
        }
    }
    Ok(())
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N]> {
    v.try_into().map_err(|_| bad("a fixed-length value"))
}

/// Fixed-width signed decimal: `width` digits (at most 19, an i64's),
/// zero-padded; a negative value as `-` and its digits' nines' complement.
fn signed(v: i64, width: usize, out: &mut String) {
    let width = width.min(ZEROS.len());
    let n = if v >= 0 {
        v.unsigned_abs()
    } else {
        out.push('-');
        // More negative sorts first. |v| <= 10^width - 1 for the widths
        // the callers give their types (3, 5, 10 and 19 digits).
        (10u64.pow(width as u32) - 1).saturating_sub(v.unsigned_abs())
    };
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    out.push_str(ZEROS.get(digits.len()..width).unwrap_or_default());
    out.push_str(digits);
}

/// Padding for [`signed`]: as many zeros as an i64 has digits.
const ZEROS: &str = "0000000000000000000";

fn complement_digits(d: &str) -> String {
    d.bytes().map(|c| (b'9' - (c - b'0')) as char).collect()
}

fn iso_timestamp(ms: i64, out: &mut String) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let off = ms as i128 - i64::MIN as i128;
        let _ = write!(out, "{}{off:020}", if y < 0 { '-' } else { '~' });
        return;
    }
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000
    );
}

fn timeuuid_hex(u: &[u8; 16], out: &mut String) {
    let hi = (u16::from_be_bytes([u[6], u[7]]) & 0x0fff) as u64;
    let mid = u16::from_be_bytes([u[4], u[5]]) as u64;
    let low = u32::from_be_bytes([u[0], u[1], u[2], u[3]]) as u64;
    let ts = (hi << 48) | (mid << 32) | low;
    let _ = write!(out, "{ts:015x}");
    for b in &u[8..] {
        let _ = write!(out, "{:02x}", b ^ 0x80);
    }
}

fn encode_asc(t: &CqlType, v: &[u8], out: &mut String) -> Result<Class> {
    use CqlType as T;
    Ok(match t.base() {
        T::Text | T::Ascii => {
            let text = std::str::from_utf8(v).map_err(|_| bad("valid UTF-8 text"))?;
            escape_text(text, out);
            out.push('$');
            Class::Other
        }
        T::Boolean => {
            out.push(if v.first().is_some_and(|b| *b != 0) {
                '1'
            } else {
                '0'
            });
            Class::Decimal
        }
        T::TinyInt => {
            signed(i8::from_be_bytes(fixed(v)?).into(), 3, out);
            Class::Decimal
        }
        T::SmallInt => {
            signed(i16::from_be_bytes(fixed(v)?).into(), 5, out);
            Class::Decimal
        }
        T::Int => {
            signed(i32::from_be_bytes(fixed(v)?).into(), 10, out);
            Class::Decimal
        }
        T::BigInt | T::Counter => {
            signed(i64::from_be_bytes(fixed(v)?), 19, out);
            Class::Decimal
        }
        T::VarInt => {
            let s = varint_string(v);
            let (neg, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d.to_string()),
                None => (false, s),
            };
            if digits.len() > 9999 {
                return Err(bad("a varint of at most 9999 digits"));
            }
            if neg {
                let _ = write!(
                    out,
                    "-{:04}{}",
                    9999 - digits.len(),
                    complement_digits(&digits)
                );
            } else {
                let _ = write!(out, "{:04}{digits}", digits.len());
            }
            Class::Decimal
        }
        T::Decimal => {
            if v.len() < 4 {
                return Err(bad("a decimal (scale and unscaled value)"));
            }
            let scale = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            let text = decimal_string(scale, &v[4..]);
            let (neg, digits, point) =
                super::attr::decompose_number(&text).ok_or_else(|| bad("a decimal"))?;
            if digits.is_empty() {
                out.push('0');
            } else {
                let exp = format!("{:016}", point as i128 + 1_000_000_000_000_000);
                if neg {
                    let _ = write!(
                        out,
                        "-{}{}~",
                        complement_digits(&exp),
                        complement_digits(&digits)
                    );
                } else {
                    let _ = write!(out, "1{exp}{digits}-");
                }
            }
            Class::Decimal
        }
        T::Timestamp => {
            iso_timestamp(i64::from_be_bytes(fixed(v)?), out);
            Class::Decimal
        }
        T::Date => {
            let stored = u32::from_be_bytes(fixed(v)?);
            let days = stored as i64 - (1i64 << 31);
            let (y, m, d) = civil_from_days(days);
            if (0..=9999).contains(&y) {
                let _ = write!(out, "{y:04}-{m:02}-{d:02}");
            } else {
                let _ = write!(out, "{}{stored:010}", if y < 0 { '-' } else { '~' });
            }
            Class::Decimal
        }
        T::Time => {
            let n = i64::from_be_bytes(fixed(v)?);
            if (0..86_400_000_000_000).contains(&n) {
                let _ = write!(
                    out,
                    "{:02}:{:02}:{:02}.{:09}",
                    n / 3_600_000_000_000,
                    (n / 60_000_000_000) % 60,
                    (n / 1_000_000_000) % 60,
                    n % 1_000_000_000
                );
            } else {
                let off = n as i128 - i64::MIN as i128;
                let _ = write!(out, "{}{off:020}", if n < 0 { '-' } else { '~' });
            }
            Class::Decimal
        }
        T::Float => {
            let bits = u32::from_be_bytes(fixed(v)?);
            let k = if bits & 0x8000_0000 != 0 {
                !bits
            } else {
                bits ^ 0x8000_0000
            };
            let _ = write!(out, "{k:08x}");
            Class::Hex
        }
        T::Double => {
            let bits = u64::from_be_bytes(fixed(v)?);
            let k = if bits & (1 << 63) != 0 {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            let _ = write!(out, "{k:016x}");
            Class::Hex
        }
        T::TimeUuid => {
            timeuuid_hex(&fixed(v)?, out);
            Class::Hex
        }
        T::Uuid => {
            let u: [u8; 16] = fixed(v)?;
            let version = u[6] >> 4;
            let _ = write!(out, "{version:x}");
            if version == 1 {
                timeuuid_hex(&u, out);
            } else {
                for b in u {
                    let _ = write!(out, "{b:02x}");
                }
            }
            Class::Hex
        }
        T::List { elem, .. } | T::Set { elem, .. } => {
            let mut c = Cursor::new(v, Component::Value);
            let n = c.i32("collection size")?;
            for _ in 0..n.max(0) {
                out.push('*');
                let e = c.int_bytes("collection element")?;
                encode_nested(elem, e, out)?;
            }
            out.push('(');
            Class::Other
        }
        T::Map { key, value, .. } => {
            let mut c = Cursor::new(v, Component::Value);
            let n = c.i32("map size")?;
            for _ in 0..n.max(0) {
                out.push('*');
                let k = c.int_bytes("map key")?;
                encode_nested(key, k, out)?;
                let e = c.int_bytes("map value")?;
                encode_nested(value, e, out)?;
            }
            out.push('(');
            Class::Other
        }
        T::Tuple(types) => {
            encode_fields(types.iter().collect(), v, out)?;
            Class::Other
        }
        T::Udt(u) => {
            encode_fields(u.fields.iter().map(|f| &f.1).collect(), v, out)?;
            Class::Other
        }
        T::Vector { elem, dimension } => {
            let mut c = Cursor::new(v, Component::Value);
            let fl = elem.fixed_length();
            for _ in 0..*dimension {
                let e = match fl {
                    Some(l) => c.bytes(l, "vector element")?,
                    None => c.vint_bytes("vector element")?,
                };
                encode_nested(elem, Some(e), out)?;
            }
            Class::Other
        }
        _ => {
            for b in v {
                let _ = write!(out, "{b:02x}");
            }
            out.push('-');
            Class::Hex
        }
    })
}

fn encode_nested(t: &CqlType, v: Option<&[u8]>, out: &mut String) -> Result<()> {
    encode_component(t, v, out)
}

fn encode_fields(types: Vec<&CqlType>, v: &[u8], out: &mut String) -> Result<()> {
    let mut c = Cursor::new(v, Component::Value);
    for t in types {
        if c.is_empty() {
            out.push('"');
            continue;
        }
        let e = c.int_bytes("tuple component")?;
        encode_nested(t, e, out)?;
    }
    Ok(())
}

/// Escape text: characters up to `%` become `%` + (0x40 + byte), so the
/// terminator `$` sorts below every character of the text.
fn escape_text(text: &str, out: &mut String) {
    for ch in text.chars() {
        if (ch as u32) <= b'%' as u32 {
            out.push('%');
            out.push((0x40 + ch as u8) as char);
        } else {
            out.push(ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::testgen::value_of;
    use proptest::prelude::*;
    use sstable_format::compare::compare_clustering;
    use std::cmp::Ordering;

    fn enc(types: &[CqlType], vals: &[Option<Vec<u8>>]) -> String {
        let mut s = String::new();
        for (i, (t, v)) in types.iter().zip(vals).enumerate() {
            if i > 0 {
                s.push('#');
            }
            encode_component(t, v.as_deref(), &mut s).unwrap();
        }
        s
    }

    fn types() -> Vec<CqlType> {
        use CqlType as T;
        vec![
            T::Int,
            T::BigInt,
            T::SmallInt,
            T::TinyInt,
            T::Timestamp,
            T::Date,
            T::Time,
            T::Double,
            T::Float,
            T::Text,
            T::Blob,
            T::VarInt,
            T::TimeUuid,
            T::Uuid,
            T::Boolean,
        ]
    }

    type Case = (Vec<CqlType>, Vec<Option<Vec<u8>>>, Vec<Option<Vec<u8>>>);

    fn pair() -> impl Strategy<Value = Case> {
        (
            0..types().len(),
            0..types().len(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(a, b, ra, rb)| {
                let ts = types();
                let wrap = |t: CqlType, r: bool| if r { CqlType::Reversed(Box::new(t)) } else { t };
                let (ta, tb) = (wrap(ts[a].clone(), ra), wrap(ts[b].clone(), rb));
                let va = value_of(&ta);
                let vb = value_of(&tb);
                (
                    Just(vec![ta, tb]),
                    (va.clone(), vb.clone()).prop_map(|(x, y)| vec![Some(x), Some(y)]),
                    (va.clone(), vb.clone(), any::<bool>())
                        .prop_map(|(x, y, _)| vec![Some(x), Some(y)]),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// DynamoDB's order of the encoded sort keys (bytes) is Cassandra's
        /// clustering order, for every clustering type, ASC and DESC.
        #[test]
        fn sort_key_order_is_clustering_order((types, a, b) in pair()) {
            let want = compare_clustering(&types, &a, &b);
            let (ea, eb) = (enc(&types, &a), enc(&types, &b));
            prop_assert_eq!(ea.as_bytes().cmp(eb.as_bytes()), want, "{} vs {}", ea, eb);
        }

        #[test]
        fn same_type_values_order((t, rev) in (0..15usize, any::<bool>()), seed in any::<u64>()) {
            let _ = seed;
            let base = types()[t].clone();
            let t = if rev { CqlType::Reversed(Box::new(base)) } else { base };
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let s = value_of(&t);
            for _ in 0..50 {
                let x = s.new_tree(&mut runner).unwrap().current();
                let y = s.new_tree(&mut runner).unwrap().current();
                let want = sstable_format::compare::compare_values(&t, &x, &y);
                let (ex, ey) = (enc(std::slice::from_ref(&t), &[Some(x.clone())]), enc(std::slice::from_ref(&t), &[Some(y.clone())]));
                prop_assert_eq!(ex.as_bytes().cmp(ey.as_bytes()), want, "{:?}: {} vs {}", t, ex, ey);
            }
        }
    }

    #[test]
    fn decimals_and_edges_in_order() {
        use num_bigint::BigInt;
        let dec = |unscaled: i64, scale: i32| {
            let mut v = scale.to_be_bytes().to_vec();
            v.extend(BigInt::from(unscaled).to_signed_bytes_be());
            v
        };
        // Ascending values.
        let vals = [
            dec(-1_000_000, 0),
            dec(-155, 2),
            dec(-15, 1),
            dec(-1, 3),
            dec(0, 0),
            dec(1, 3),
            dec(15, 1),
            dec(1550, 3),
            dec(155, 2),
            dec(2, 0),
            dec(1_000_000, 0),
        ];
        for t in [
            CqlType::Decimal,
            CqlType::Reversed(Box::new(CqlType::Decimal)),
        ] {
            let e: Vec<String> = vals
                .iter()
                .map(|v| enc(std::slice::from_ref(&t), &[Some(v.clone())]))
                .collect();
            for w in e.windows(2) {
                let o = w[0].cmp(&w[1]);
                if t.is_reversed() {
                    assert_ne!(o, Ordering::Less, "{} !> {}", w[0], w[1]);
                } else {
                    assert_ne!(o, Ordering::Greater, "{} !< {}", w[0], w[1]);
                }
            }
        }
        // 1.5 and 1.50 are equal numbers.
        assert_eq!(
            enc(&[CqlType::Decimal], &[Some(dec(15, 1))]),
            enc(&[CqlType::Decimal], &[Some(dec(150, 2))])
        );
        // Readable forms.
        let ts = 1_714_564_800_000i64.to_be_bytes().to_vec();
        assert_eq!(
            enc(&[CqlType::Timestamp], &[Some(ts)]),
            "2024-05-01T12:00:00.000Z"
        );
        assert_eq!(
            enc(&[CqlType::Int], &[Some(42i32.to_be_bytes().to_vec())]),
            "0000000042"
        );
        assert_eq!(enc(&[CqlType::Text], &[Some(b"a#b".to_vec())]), "a%cb$");
        assert_eq!(enc(&[CqlType::Text], &[Some(vec![])]), "$");
    }
}
