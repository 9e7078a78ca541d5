//! Parsing CQL literals given on the command line (partition keys).

use sstable_format::CqlType;

/// Serialize a CQL literal of type `t`.
pub fn parse_literal(t: &CqlType, s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let unq = |s: &str| -> String {
        if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
            s[1..s.len() - 1].replace("''", "'")
        } else {
            s.to_string()
        }
    };
    let bad = || format!("`{s}` is not a valid {} literal", t.cql_name());
    use CqlType as T;
    Ok(match t.base() {
        T::Text | T::Ascii => unq(s).into_bytes(),
        T::Int => s.parse::<i32>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::BigInt | T::Counter => s.parse::<i64>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::SmallInt => s.parse::<i16>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::TinyInt => s.parse::<i8>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::Boolean => vec![match s.to_ascii_lowercase().as_str() {
            "true" => 1,
            "false" => 0,
            _ => return Err(bad()),
        }],
        T::Float => s.parse::<f32>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::Double => s.parse::<f64>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::Timestamp => s.parse::<i64>().map_err(|_| bad())?.to_be_bytes().to_vec(),
        T::Uuid | T::TimeUuid => {
            let h: String = unq(s).chars().filter(|c| *c != '-').collect();
            if h.len() != 32 {
                return Err(bad());
            }
            (0..16)
                .map(|i| u8::from_str_radix(&h[i * 2..i * 2 + 2], 16).map_err(|_| bad()))
                .collect::<Result<_, _>>()?
        }
        T::Blob => {
            let h = s
                .strip_prefix("0x")
                .or_else(|| s.strip_prefix("0X"))
                .ok_or_else(bad)?;
            if h.len() % 2 != 0 {
                return Err(bad());
            }
            (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[i * 2..i * 2 + 2], 16).map_err(|_| bad()))
                .collect::<Result<_, _>>()?
        }
        T::Inet => match unq(s).parse::<std::net::IpAddr>().map_err(|_| bad())? {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        },
        T::VarInt => num_bigint::BigInt::parse_bytes(s.as_bytes(), 10)
            .ok_or_else(bad)?
            .to_signed_bytes_be(),
        T::Date => {
            let d = unq(s);
            let parts: Vec<&str> = d.split('-').collect();
            if parts.len() != 3 {
                return Err(bad());
            }
            let (y, m, dd) = (
                parts[0].parse::<i64>().map_err(|_| bad())?,
                parts[1].parse::<i64>().map_err(|_| bad())?,
                parts[2].parse::<i64>().map_err(|_| bad())?,
            );
            let days = days_from_civil(y, m, dd);
            ((days + (1i64 << 31)) as u32).to_be_bytes().to_vec()
        }
        _ => {
            return Err(format!(
                "keys of type {} cannot be given on the command line yet",
                t.cql_name()
            ))
        }
    })
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Split a comma-separated key, respecting single-quoted strings.
pub fn split_key(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// Serialize a partition key given as CQL literals.
pub fn serialize_key(types: &[CqlType], s: &str) -> Result<Vec<u8>, String> {
    let parts = if types.len() == 1 {
        vec![s.to_string()]
    } else {
        split_key(s)
    };
    if parts.len() != types.len() {
        return Err(format!(
            "the partition key has {} column(s); got {} value(s) in `{s}`",
            types.len(),
            parts.len()
        ));
    }
    if types.len() == 1 {
        return parse_literal(&types[0], &parts[0]);
    }
    let mut out = Vec::new();
    for (t, p) in types.iter().zip(&parts) {
        let b = parse_literal(t, p)?;
        if b.len() > u16::MAX as usize {
            return Err("key component too long".into());
        }
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(&b);
        out.push(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn literals() {
        assert_eq!(
            parse_literal(&CqlType::Int, "7").unwrap(),
            7i32.to_be_bytes()
        );
        assert_eq!(parse_literal(&CqlType::Text, "'it''s'").unwrap(), b"it's");
        assert_eq!(
            parse_literal(&CqlType::Date, "1970-01-02").unwrap(),
            ((1u32 << 31) + 1).to_be_bytes()
        );
        let k = serialize_key(&[CqlType::Int, CqlType::Text], "1,'a,b'").unwrap();
        assert_eq!(k, [0, 4, 0, 0, 0, 1, 0, 0, 3, b'a', b',', b'b', 0]);
        assert!(serialize_key(&[CqlType::Int], "x").is_err());
    }
}
