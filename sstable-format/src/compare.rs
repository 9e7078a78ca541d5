//! Ordering of serialized values as Cassandra's comparators order them,
//! for clustering values, legacy cell names and range-tombstone bounds.

use crate::types::CqlType;
use std::cmp::Ordering;

fn signed_be(a: &[u8], b: &[u8]) -> Ordering {
    // Same length two's-complement big-endian integers; varints of any length.
    let neg = |x: &[u8]| x.first().is_some_and(|f| f & 0x80 != 0);
    match (neg(a), neg(b)) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let negative = neg(a);
    // Strip sign-extension bytes so lengths compare magnitudes.
    let strip = |x: &[u8]| {
        let pad = if negative { 0xff } else { 0x00 };
        let mut i = 0;
        while i + 1 < x.len() && x[i] == pad && (x[i + 1] & 0x80 != 0) == negative {
            i += 1;
        }
        x[i..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    match a.len().cmp(&b.len()) {
        Ordering::Equal => a.cmp(&b),
        o if negative => o.reverse(),
        o => o,
    }
}

fn timeuuid_ts(u: &[u8]) -> u64 {
    // 60-bit timestamp: time_hi (low 12 bits of bytes 6-7), time_mid (4-5), time_low (0-3).
    let hi = (u16::from_be_bytes([u[6], u[7]]) & 0x0fff) as u64;
    let mid = u16::from_be_bytes([u[4], u[5]]) as u64;
    let low = u32::from_be_bytes([u[0], u[1], u[2], u[3]]) as u64;
    (hi << 48) | (mid << 32) | low
}

fn signed_bytes_cmp(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = (*x as i8).cmp(&(*y as i8));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Compare two serialized values of type `t` (empty values sort first).
pub fn compare_values(t: &CqlType, a: &[u8], b: &[u8]) -> Ordering {
    use CqlType as T;
    if a.is_empty() || b.is_empty() {
        let o = a.len().min(1).cmp(&b.len().min(1));
        return if t.is_reversed() { o.reverse() } else { o };
    }
    match t {
        T::Reversed(inner) => compare_values(inner, b, a),
        T::Int
        | T::BigInt
        | T::SmallInt
        | T::TinyInt
        | T::Timestamp
        | T::Time
        | T::VarInt
        | T::Counter => signed_be(a, b),
        T::Float if a.len() == 4 && b.len() == 4 => {
            let x = f32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            let y = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            x.total_cmp(&y)
        }
        T::Double if a.len() == 8 && b.len() == 8 => {
            let x = f64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
            let y = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            x.total_cmp(&y)
        }
        T::Decimal if a.len() >= 4 && b.len() >= 4 => {
            let v = |x: &[u8]| {
                crate::value::decimal_string(i32::from_be_bytes([x[0], x[1], x[2], x[3]]), &x[4..])
            };
            v(a).parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&v(b).parse::<f64>().unwrap_or(0.0))
        }
        T::TimeUuid if a.len() == 16 && b.len() == 16 => timeuuid_ts(a)
            .cmp(&timeuuid_ts(b))
            .then_with(|| signed_bytes_cmp(&a[8..], &b[8..])),
        T::Uuid if a.len() == 16 && b.len() == 16 => {
            let va = a[6] >> 4;
            let vb = b[6] >> 4;
            va.cmp(&vb).then_with(|| {
                if va == 1 {
                    timeuuid_ts(a)
                        .cmp(&timeuuid_ts(b))
                        .then_with(|| signed_bytes_cmp(&a[8..], &b[8..]))
                } else {
                    a.cmp(b)
                }
            })
        }
        T::Composite(ts) => compare_composite(ts, a, b),
        _ => a.cmp(b),
    }
}

/// Compare clustering prefixes value by value (`None` = null sorts first).
pub fn compare_clustering<X: AsRef<[u8]>, Y: AsRef<[u8]>>(
    types: &[CqlType],
    a: &[Option<X>],
    b: &[Option<Y>],
) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let t = types.get(i).unwrap_or(&CqlType::Blob);
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => compare_values(t, x.as_ref(), y.as_ref()),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_composite(ts: &[CqlType], a: &[u8], b: &[u8]) -> Ordering {
    let ca = split_composite(a);
    let cb = split_composite(b);
    for (i, ((va, ea), (vb, eb))) in ca.iter().zip(cb.iter()).enumerate() {
        let t = ts.get(i).unwrap_or(&CqlType::Blob);
        let o = compare_values(t, va, vb).then_with(|| (*ea as i8).cmp(&(*eb as i8)));
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

/// Split a CompositeType value into (component, end-of-component byte) pairs.
/// Stops silently at malformed input (callers validate separately).
pub fn split_composite(mut b: &[u8]) -> Vec<(&[u8], u8)> {
    let mut v = Vec::new();
    if b.len() >= 2 && b[0] == 0xff && b[1] == 0xff {
        b = &b[2..];
    }
    while b.len() >= 2 {
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        if b.len() < 2 + n + 1 {
            break;
        }
        v.push((&b[2..2 + n], b[2 + n]));
        b = &b[3 + n..];
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_orders() {
        let i = |x: i32| x.to_be_bytes().to_vec();
        assert_eq!(compare_values(&CqlType::Int, &i(-5), &i(3)), Ordering::Less);
        assert_eq!(
            compare_values(&CqlType::Int, &i(7), &i(3)),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&CqlType::Reversed(Box::new(CqlType::Int)), &i(7), &i(3)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&CqlType::VarInt, &[0x00, 0xff], &[0x7f]),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&CqlType::VarInt, &[0xff, 0x00], &[0x80]),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&CqlType::VarInt, &[0xfe], &[0xff]),
            Ordering::Less
        );
        assert_eq!(compare_values(&CqlType::Text, b"a", b"b"), Ordering::Less);
    }
}
