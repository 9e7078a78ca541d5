//! Proptest strategies for serialized Cassandra values, shared by the
//! mapping and sort-key tests.

use proptest::prelude::*;
use sstable_format::compare::compare_values;
use sstable_format::CqlType;
use std::cmp::Ordering;

/// A random serialized value of a type that may be a clustering column.
pub fn value_of(t: &CqlType) -> BoxedStrategy<Vec<u8>> {
    use CqlType as T;
    match t.base() {
        T::Int => any::<i32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        T::BigInt | T::Timestamp => prop_oneof![
            any::<i64>(),
            -62_167_219_200_000i64..253_402_300_799_999i64,
            -5i64..5
        ]
        .prop_map(|v| v.to_be_bytes().to_vec())
        .boxed(),
        T::SmallInt => any::<i16>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        T::TinyInt => any::<i8>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        T::Time => (0i64..86_400_000_000_000)
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        T::Date => prop_oneof![
            any::<u32>(),
            (1u32 << 31) - 800_000..(1u32 << 31) + 2_900_000
        ]
        .prop_map(|v| v.to_be_bytes().to_vec())
        .boxed(),
        T::Double => any::<f64>()
            .prop_filter("no NaN", |f| !f.is_nan())
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        T::Float => any::<f32>()
            .prop_filter("no NaN", |f| !f.is_nan())
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        T::Text => prop_oneof![".{0,6}", "[a-c#$%!\"]{0,4}", "\\PC{0,3}"]
            .prop_map(|s: String| s.into_bytes())
            .boxed(),
        T::Blob => {
            proptest::collection::vec(prop_oneof![Just(0u8), Just(255u8), any::<u8>()], 0..5)
                .boxed()
        }
        T::VarInt => proptest::collection::vec(any::<u8>(), 1..12)
            .prop_map(|mut v| {
                // Minimal two's complement, as Cassandra writes it.
                while v.len() > 1 && ((v[0] == 0 && v[1] < 0x80) || (v[0] == 0xff && v[1] >= 0x80))
                {
                    v.remove(0);
                }
                v
            })
            .boxed(),
        T::TimeUuid => proptest::array::uniform16(any::<u8>())
            .prop_map(|mut u| {
                u[6] = (u[6] & 0x0f) | 0x10;
                u.to_vec()
            })
            .boxed(),
        T::Uuid => (proptest::array::uniform16(any::<u8>()), 1u8..6)
            .prop_map(|(mut u, ver)| {
                u[6] = (u[6] & 0x0f) | (ver << 4);
                u.to_vec()
            })
            .boxed(),
        T::Boolean => any::<bool>().prop_map(|b| vec![b as u8]).boxed(),
        _ => Just(vec![]).boxed(),
    }
}

/// Any value of the simple type `t`, the edge cases included: NaN, the
/// infinities and both zeros of floats and doubles, decimals of any scale,
/// both inet lengths, ASCII for `ascii`; otherwise [`value_of`].
pub fn scalar_of(t: &CqlType) -> BoxedStrategy<Vec<u8>> {
    use CqlType as T;
    match t.base() {
        T::Double => prop_oneof![
            3 => value_of(t),
            1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 5e-324, 1e300])
                .prop_map(|f| f.to_be_bytes().to_vec()),
        ]
        .boxed(),
        T::Float => prop_oneof![
            3 => value_of(t),
            1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 1e-45])
                .prop_map(|f| f.to_be_bytes().to_vec()),
        ]
        .boxed(),
        T::Decimal => (any::<i32>(), value_of(&T::VarInt))
            .prop_map(|(scale, unscaled)| {
                let mut v = scale.to_be_bytes().to_vec();
                v.extend(unscaled);
                v
            })
            .boxed(),
        T::Inet => prop_oneof![
            proptest::collection::vec(any::<u8>(), 4),
            proptest::collection::vec(any::<u8>(), 16)
        ]
        .boxed(),
        T::Ascii => "[ -~]{0,6}".prop_map(String::into_bytes).boxed(),
        _ => value_of(t),
    }
}

/// The serialized elements of a collection: up to four values of `t`; when
/// `distinct` (set elements, map keys), distinct under Cassandra's
/// comparator and in its order.
pub fn elements_of(t: &CqlType, distinct: bool) -> BoxedStrategy<Vec<Vec<u8>>> {
    let t2 = t.clone();
    proptest::collection::vec(scalar_of(t), 0..5)
        .prop_map(move |mut v| {
            if distinct {
                v.sort_by(|a, b| compare_values(&t2, a, b));
                v.dedup_by(|a, b| compare_values(&t2, a, b) == Ordering::Equal);
            }
            v
        })
        .boxed()
}

/// A frozen collection's value: the count (of elements, or of a map's
/// entries), then each element's (each key's and value's) length and bytes.
pub fn frozen_collection(count: usize, elements: &[Vec<u8>]) -> Vec<u8> {
    let mut v = (count as i32).to_be_bytes().to_vec();
    for e in elements {
        v.extend_from_slice(&(e.len() as i32).to_be_bytes());
        v.extend_from_slice(e);
    }
    v
}
