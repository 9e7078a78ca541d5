//! DynamoDB attribute values: our own model, its DynamoDB JSON text (the
//! format of ImportTable and of the low-level API), its size by DynamoDB's
//! rules, a canonical form for comparison, and conversion to and from the
//! SDK's `AttributeValue`.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use sstable_format::value::json_quote_into;
use std::collections::HashMap;

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    S(String),
    /// A number, as DynamoDB's decimal text.
    N(String),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<Attr>),
    /// Map entries in order (names unique).
    M(Vec<(String, Attr)>),
    SS(Vec<String>),
    NS(Vec<String>),
    BS(Vec<Vec<u8>>),
}

/// An item: attribute names and values, in order (names unique).
pub type Item = Vec<(String, Attr)>;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Attr {
    /// Append the DynamoDB JSON of this value (`{"S":"..."}` etc.).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Attr::S(s) => write_s_json(s, out),
            Attr::N(n) => {
                out.push_str("{\"N\":\"");
                out.push_str(n);
                out.push_str("\"}");
            }
            Attr::B(b) => {
                out.push_str("{\"B\":\"");
                base64_simd::STANDARD.encode_append(b, out);
                out.push_str("\"}");
            }
            Attr::Bool(b) => out.push_str(if *b {
                "{\"BOOL\":true}"
            } else {
                "{\"BOOL\":false}"
            }),
            Attr::Null => out.push_str("{\"NULL\":true}"),
            Attr::L(v) => {
                out.push_str("{\"L\":[");
                for (i, a) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    a.write_json(out);
                }
                out.push_str("]}");
            }
            Attr::M(m) => {
                out.push_str("{\"M\":");
                write_map_json(m, out);
                out.push('}');
            }
            Attr::SS(v) => {
                out.push_str("{\"SS\":[");
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_quote_into(s, out);
                }
                out.push_str("]}");
            }
            Attr::NS(v) => {
                out.push_str("{\"NS\":[");
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(s);
                    out.push('"');
                }
                out.push_str("]}");
            }
            Attr::BS(v) => {
                out.push_str("{\"BS\":[");
                for (i, b) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    base64_simd::STANDARD.encode_append(b, out);
                    out.push('"');
                }
                out.push_str("]}");
            }
        }
    }

    /// Size in bytes by DynamoDB's item-size rules.
    pub fn size(&self) -> usize {
        match self {
            Attr::S(s) => s.len(),
            Attr::N(n) => number_size(n),
            Attr::B(b) => b.len(),
            Attr::Bool(_) | Attr::Null => 1,
            Attr::L(v) => 3 + v.iter().map(|a| a.size() + 1).sum::<usize>(),
            Attr::M(m) => 3 + m.iter().map(|(k, a)| k.len() + a.size() + 1).sum::<usize>(),
            Attr::SS(v) => v.iter().map(String::len).sum(),
            Attr::NS(v) => v.iter().map(|n| number_size(n)).sum(),
            Attr::BS(v) => v.iter().map(Vec::len).sum(),
        }
    }

    /// Convert to the SDK's value.
    pub fn to_sdk(&self) -> AttributeValue {
        match self {
            Attr::S(s) => AttributeValue::S(s.clone()),
            Attr::N(n) => AttributeValue::N(n.clone()),
            Attr::B(b) => AttributeValue::B(Blob::new(b.clone())),
            Attr::Bool(b) => AttributeValue::Bool(*b),
            Attr::Null => AttributeValue::Null(true),
            Attr::L(v) => AttributeValue::L(v.iter().map(Attr::to_sdk).collect()),
            Attr::M(m) => {
                AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), v.to_sdk())).collect())
            }
            Attr::SS(v) => AttributeValue::Ss(v.clone()),
            Attr::NS(v) => AttributeValue::Ns(v.clone()),
            Attr::BS(v) => AttributeValue::Bs(v.iter().map(|b| Blob::new(b.clone())).collect()),
        }
    }

    /// Convert from the SDK's value (`None` for kinds we never write).
    pub fn from_sdk(v: &AttributeValue) -> Option<Attr> {
        Some(match v {
            AttributeValue::S(s) => Attr::S(s.clone()),
            AttributeValue::N(n) => Attr::N(n.clone()),
            AttributeValue::B(b) => Attr::B(b.as_ref().to_vec()),
            AttributeValue::Bool(b) => Attr::Bool(*b),
            AttributeValue::Null(_) => Attr::Null,
            AttributeValue::L(v) => Attr::L(v.iter().map(Attr::from_sdk).collect::<Option<_>>()?),
            AttributeValue::M(m) => Attr::M(
                m.iter()
                    .map(|(k, v)| Some((k.clone(), Attr::from_sdk(v)?)))
                    .collect::<Option<_>>()?,
            ),
            AttributeValue::Ss(v) => Attr::SS(v.clone()),
            AttributeValue::Ns(v) => Attr::NS(v.clone()),
            AttributeValue::Bs(v) => Attr::BS(v.iter().map(|b| b.as_ref().to_vec()).collect()),
            _ => return None,
        })
    }

    /// Parse DynamoDB JSON (`{"S":"x"}`).
    pub fn from_json(v: &serde_json::Value) -> Option<Attr> {
        let o = v.as_object()?;
        let (k, v) = o.iter().next()?;
        let strs = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let bin = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
        Some(match k.as_str() {
            "S" => Attr::S(v.as_str()?.to_string()),
            "N" => Attr::N(v.as_str()?.to_string()),
            "B" => Attr::B(bin(v.as_str()?)?),
            "BOOL" => Attr::Bool(v.as_bool()?),
            "NULL" => Attr::Null,
            "L" => Attr::L(
                v.as_array()?
                    .iter()
                    .map(Attr::from_json)
                    .collect::<Option<_>>()?,
            ),
            "M" => Attr::M(item_from_json(v)?),
            "SS" => Attr::SS(strs(v)?),
            "NS" => Attr::NS(strs(v)?),
            "BS" => Attr::BS(strs(v)?.iter().map(|s| bin(s)).collect::<Option<_>>()?),
            _ => return None,
        })
    }

    /// A canonical text of the value: numbers normalised, sets and maps
    /// sorted. Equal canonical texts mean DynamoDB holds the same value.
    pub fn canonical(&self, out: &mut String) {
        match self {
            Attr::N(n) => {
                out.push_str("N:");
                out.push_str(&normalize_number(n).unwrap_or_else(|| n.clone()));
            }
            Attr::NS(v) => {
                let mut v: Vec<String> = v
                    .iter()
                    .map(|n| normalize_number(n).unwrap_or_else(|| n.clone()))
                    .collect();
                v.sort();
                out.push_str("NS:");
                out.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
            Attr::SS(v) => {
                let mut v = v.clone();
                v.sort();
                out.push_str("SS:");
                out.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
            Attr::BS(v) => {
                let mut v: Vec<String> = v.iter().map(|b| b64(b)).collect();
                v.sort();
                out.push_str("BS:");
                out.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
            Attr::L(v) => {
                out.push_str("L[");
                for a in v {
                    a.canonical(out);
                    out.push(',');
                }
                out.push(']');
            }
            Attr::M(m) => {
                out.push_str("M{");
                canonical_map(m, out);
                out.push('}');
            }
            a => a.write_json(out),
        }
    }
}

fn canonical_map(m: &[(String, Attr)], out: &mut String) {
    let mut entries: Vec<&(String, Attr)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in entries {
        json_quote_into(k, out);
        out.push(':');
        v.canonical(out);
        out.push(',');
    }
}

/// Canonical text of a whole item.
pub fn canonical_item(item: &[(String, Attr)]) -> String {
    let mut s = String::new();
    canonical_map(item, &mut s);
    s
}

/// A string attribute's DynamoDB JSON: `{"S":"..."}`.
pub fn write_s_json(s: &str, out: &mut String) {
    out.push_str("{\"S\":");
    json_quote_into(s, out);
    out.push('}');
}

/// Write an item's map as DynamoDB JSON (`{"a":{"S":"x"},...}`).
pub fn write_map_json(m: &[(String, Attr)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_quote_into(k, out);
        out.push(':');
        v.write_json(out);
    }
    out.push('}');
}

/// Parse a DynamoDB JSON map.
pub fn item_from_json(v: &serde_json::Value) -> Option<Item> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), Attr::from_json(v)?)))
        .collect()
}

/// An item as the SDK's map.
pub fn item_to_sdk(item: &[(String, Attr)]) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), v.to_sdk())).collect()
}

/// An item from the SDK's map.
pub fn item_from_sdk(m: &HashMap<String, AttributeValue>) -> Option<Item> {
    m.iter()
        .map(|(k, v)| Some((k.clone(), Attr::from_sdk(v)?)))
        .collect()
}

/// Item size by DynamoDB's rules: names plus values.
pub fn item_size(item: &[(String, Attr)]) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// DynamoDB's size of a number: about one byte per two significant
/// digits, plus one.
pub fn number_size(n: &str) -> usize {
    let mant = n.as_bytes().split(|b| matches!(b, b'e' | b'E')).next();
    // Significant digits: from the first non-zero digit to the last.
    let (mut first, mut last, mut count) = (None, 0usize, 0usize);
    for &b in mant.unwrap_or(&[]) {
        if b.is_ascii_digit() {
            if b != b'0' {
                first.get_or_insert(count);
                last = count + 1;
            }
            count += 1;
        }
    }
    let sig = first.map_or(0, |f| last - f).max(1);
    sig.div_ceil(2) + 1
}

/// [`number_size`] of an integer's decimal digits (an optional `-`, then
/// no leading zero), which need no scan: the significant digits run from
/// the first to the last non-zero one.
pub fn int_size(digits: &str) -> usize {
    let d = digits.as_bytes();
    let d = d.strip_prefix(b"-").unwrap_or(d);
    let zeros = d.iter().rev().take_while(|&&b| b == b'0').count();
    (d.len() - zeros).max(1).div_ceil(2) + 1
}

/// Decompose a decimal number text into (negative, significant digits,
/// exponent) with value = 0.DIGITS × 10^exponent; `None` if not a number.
/// Zero gives empty digits.
pub fn decompose_number(n: &str) -> Option<(bool, String, i64)> {
    let s = n.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = (int.len() as i64 - lead as i64).saturating_add(exp);
    Some((neg, digits, point))
}

/// The canonical text of a number (as DynamoDB returns it: no exponent
/// for moderate magnitudes, no trailing zeros).
pub fn normalize_number(n: &str) -> Option<String> {
    let (neg, digits, point) = decompose_number(n)?;
    if digits.is_empty() {
        return Some("0".into());
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let len = digits.len() as i64;
    if point <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-point) as usize));
        s.push_str(&digits);
    } else if point >= len {
        s.push_str(&digits);
        s.push_str(&"0".repeat((point - len) as usize));
    } else {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    }
    Some(s)
}

/// Can DynamoDB store this number (38 significant digits, magnitude
/// between 1E-130 and 9.99…E+125)?
pub fn number_fits(n: &str) -> bool {
    match decompose_number(n) {
        None => false,
        Some((_, d, _)) if d.is_empty() => true,
        Some((_, d, point)) => d.len() <= 38 && (-129..=126).contains(&point),
    }
}

/// A number in the text DynamoDB accepts: plain for moderate exponents.
pub fn dynamo_number(n: &str) -> Option<String> {
    let (neg, digits, point) = decompose_number(n)?;
    if !digits.is_empty() && (digits.len() as i64).saturating_add(point.saturating_abs()) > 60 {
        // Keep an exponent rather than writing dozens of zeros.
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('E');
        s.push_str(&point.saturating_sub(1).to_string());
        return Some(s);
    }
    normalize_number(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(normalize_number("1.50").as_deref(), Some("1.5"));
        assert_eq!(normalize_number("-0012.0100").as_deref(), Some("-12.01"));
        assert_eq!(normalize_number("1.5E+3").as_deref(), Some("1500"));
        assert_eq!(normalize_number("1e-3").as_deref(), Some("0.001"));
        assert_eq!(normalize_number("0.000").as_deref(), Some("0"));
        assert_eq!(normalize_number("-0").as_deref(), Some("0"));
        assert_eq!(normalize_number("abc"), None);
        assert_eq!(normalize_number("."), None);
        assert!(number_fits("12345678901234567890123456789012345678"));
        assert!(!number_fits("123456789012345678901234567890123456789"));
        assert!(!number_fits("1E126"));
        assert!(number_fits("9.99E125"));
        assert!(!number_fits("1E-131"));
        assert_eq!(dynamo_number("1E100").as_deref(), Some("1E100"));
        assert_eq!(dynamo_number("1.25E-100").as_deref(), Some("1.25E-100"));
        assert_eq!(dynamo_number("1.5E10").as_deref(), Some("15000000000"));
    }

    #[test]
    fn json_round_trip() {
        let item: Item = vec![
            ("pk".into(), Attr::S("a\"b".into())),
            ("n".into(), Attr::N("1.5".into())),
            ("b".into(), Attr::B(vec![0, 1, 255])),
            ("l".into(), Attr::L(vec![Attr::Bool(true), Attr::Null])),
            (
                "m".into(),
                Attr::M(vec![("x".into(), Attr::SS(vec!["p".into(), "q".into()]))]),
            ),
            ("ns".into(), Attr::NS(vec!["1".into(), "2".into()])),
            ("bs".into(), Attr::BS(vec![vec![1], vec![2]])),
        ];
        let mut s = String::new();
        write_map_json(&item, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(item_from_json(&v).unwrap(), item);
        let sdk = item_to_sdk(&item);
        let back = item_from_sdk(&sdk).unwrap();
        assert_eq!(canonical_item(&back), canonical_item(&item));
    }

    #[test]
    fn sizes() {
        assert_eq!(Attr::S("abc".into()).size(), 3);
        assert_eq!(Attr::N("12345".into()).size(), 4);
        assert_eq!(item_size(&[("ab".into(), Attr::Bool(true))]), 3);
        // Significant digits only, exponent ignored: (digits + 1) / 2 + 1.
        for (n, size) in [
            ("0", 2),
            ("-0.00100", 2),
            ("1.5E+10", 2),
            ("100200", 3),
            ("-9223372036854775808", 11),
            ("0.000000000000000000000000000000000000001", 2),
        ] {
            assert_eq!(number_size(n), size, "{n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn int_size_is_number_size(n: i64, zeros in 0u32..19) {
            let n = n / 10i64.pow(zeros) * 10i64.pow(zeros);
            let digits = n.to_string();
            proptest::prop_assert_eq!(int_size(&digits), number_size(&digits));
        }
    }
}
