//! The CQL type system, parsed from Cassandra's marshal class names
//! (`org.apache.cassandra.db.marshal.MapType(...)`) or from CQL syntax.

use crate::error::{Error, Result};
use std::fmt;

/// A CQL type. Collections and UDTs carry `frozen`; a non-frozen one is
/// stored as a complex (multi-cell) column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CqlType {
    Ascii,
    BigInt,
    Blob,
    Boolean,
    Counter,
    Date,
    Decimal,
    Double,
    Duration,
    Float,
    Inet,
    Int,
    SmallInt,
    Text,
    Time,
    Timestamp,
    TimeUuid,
    TinyInt,
    Uuid,
    VarInt,
    /// `EmptyType`: values are always empty (compact storage internals).
    Empty,
    List {
        elem: Box<CqlType>,
        frozen: bool,
    },
    Set {
        elem: Box<CqlType>,
        frozen: bool,
    },
    Map {
        key: Box<CqlType>,
        value: Box<CqlType>,
        frozen: bool,
    },
    Tuple(Vec<CqlType>),
    Udt(Box<UdtDef>),
    Vector {
        elem: Box<CqlType>,
        dimension: u32,
    },
    /// A clustering column in DESC order.
    Reversed(Box<CqlType>),
    /// `CompositeType(...)` (multi-column partition keys, legacy comparators).
    Composite(Vec<CqlType>),
    /// A marshal class we do not interpret (values shown as blobs).
    Custom(String),
}

/// A user-defined type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdtDef {
    pub keyspace: String,
    pub name: String,
    pub fields: Vec<(String, CqlType)>,
    pub frozen: bool,
}

const MARSHAL: &str = "org.apache.cassandra.db.marshal.";

impl CqlType {
    /// Parse a marshal type string as stored in the serialization header.
    pub fn parse_marshal(s: &str) -> Result<CqlType> {
        let mut p = MarshalParser {
            s: s.as_bytes(),
            pos: 0,
            src: s,
        };
        let t = p.parse_type(0)?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(p.err("end of type"));
        }
        Ok(t)
    }

    /// Whether the fixed-width encoding is used for the value in cells and clusterings.
    pub fn fixed_length(&self) -> Option<usize> {
        // `AbstractType.valueLengthIfFixed`: date, time, smallint and tinyint
        // are variable-length on disk even though their values have one size.
        match self {
            CqlType::Boolean => Some(1),
            CqlType::Int | CqlType::Float => Some(4),
            CqlType::BigInt | CqlType::Double | CqlType::Timestamp => Some(8),
            CqlType::Uuid | CqlType::TimeUuid => Some(16),
            CqlType::Empty => Some(0),
            CqlType::Reversed(t) => t.fixed_length(),
            CqlType::Vector { elem, dimension } => elem
                .fixed_length()
                .and_then(|l| l.checked_mul(*dimension as usize)),
            _ => None,
        }
    }

    /// A non-frozen collection or UDT: stored as one cell per element.
    pub fn is_multi_cell(&self) -> bool {
        match self {
            CqlType::List { frozen, .. }
            | CqlType::Set { frozen, .. }
            | CqlType::Map { frozen, .. } => !frozen,
            CqlType::Udt(u) => !u.frozen,
            _ => false,
        }
    }

    pub fn is_counter(&self) -> bool {
        matches!(self, CqlType::Counter)
    }

    /// Strip `Reversed`.
    pub fn base(&self) -> &CqlType {
        match self {
            CqlType::Reversed(t) => t.base(),
            t => t,
        }
    }

    pub fn is_reversed(&self) -> bool {
        matches!(self, CqlType::Reversed(_))
    }

    /// The same type with collections/UDTs marked frozen (recursively for the outer level).
    pub fn frozen(self) -> CqlType {
        match self {
            CqlType::List { elem, .. } => CqlType::List { elem, frozen: true },
            CqlType::Set { elem, .. } => CqlType::Set { elem, frozen: true },
            CqlType::Map { key, value, .. } => CqlType::Map {
                key,
                value,
                frozen: true,
            },
            CqlType::Udt(mut u) => {
                u.frozen = true;
                CqlType::Udt(u)
            }
            CqlType::Reversed(t) => CqlType::Reversed(Box::new(t.frozen())),
            t => t,
        }
    }

    /// Is this type one whose JSON form is a string (used for map keys)?
    pub fn is_text_like(&self) -> bool {
        matches!(self.base(), CqlType::Ascii | CqlType::Text)
    }

    /// The CQL spelling, as `DESCRIBE TABLE` prints it.
    pub fn cql_name(&self) -> String {
        let mut s = String::new();
        self.write_cql(&mut s);
        s
    }

    fn write_cql(&self, s: &mut String) {
        use std::fmt::Write;
        let simple = |s: &mut String, n: &str| s.push_str(n);
        match self {
            CqlType::Ascii => simple(s, "ascii"),
            CqlType::BigInt => simple(s, "bigint"),
            CqlType::Blob => simple(s, "blob"),
            CqlType::Boolean => simple(s, "boolean"),
            CqlType::Counter => simple(s, "counter"),
            CqlType::Date => simple(s, "date"),
            CqlType::Decimal => simple(s, "decimal"),
            CqlType::Double => simple(s, "double"),
            CqlType::Duration => simple(s, "duration"),
            CqlType::Float => simple(s, "float"),
            CqlType::Inet => simple(s, "inet"),
            CqlType::Int => simple(s, "int"),
            CqlType::SmallInt => simple(s, "smallint"),
            CqlType::Text => simple(s, "text"),
            CqlType::Time => simple(s, "time"),
            CqlType::Timestamp => simple(s, "timestamp"),
            CqlType::TimeUuid => simple(s, "timeuuid"),
            CqlType::TinyInt => simple(s, "tinyint"),
            CqlType::Uuid => simple(s, "uuid"),
            CqlType::VarInt => simple(s, "varint"),
            CqlType::Empty => simple(s, "'org.apache.cassandra.db.marshal.EmptyType'"),
            CqlType::Custom(c) => {
                let _ = write!(s, "'{}'", c.replace('\'', "''"));
            }
            CqlType::Reversed(t) => t.write_cql(s),
            CqlType::Composite(ts) => {
                s.push_str("'org.apache.cassandra.db.marshal.CompositeType(");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&t.marshal_name());
                }
                s.push_str(")'");
            }
            CqlType::List { elem, frozen } | CqlType::Set { elem, frozen } => {
                let wrap = *frozen;
                if wrap {
                    s.push_str("frozen<");
                }
                s.push_str(if matches!(self, CqlType::List { .. }) {
                    "list<"
                } else {
                    "set<"
                });
                elem.write_cql(s);
                s.push('>');
                if wrap {
                    s.push('>');
                }
            }
            CqlType::Map { key, value, frozen } => {
                let wrap = *frozen;
                if wrap {
                    s.push_str("frozen<");
                }
                s.push_str("map<");
                key.write_cql(s);
                s.push_str(", ");
                value.write_cql(s);
                s.push('>');
                if wrap {
                    s.push('>');
                }
            }
            CqlType::Tuple(ts) => {
                let wrap = true;
                if wrap {
                    s.push_str("frozen<");
                }
                s.push_str("tuple<");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    t.write_cql(s);
                }
                s.push('>');
                if wrap {
                    s.push('>');
                }
            }
            CqlType::Udt(u) => {
                let wrap = u.frozen;
                if wrap {
                    s.push_str("frozen<");
                }
                s.push_str(&crate::cql::quote_identifier(&u.name));
                if wrap {
                    s.push('>');
                }
            }
            CqlType::Vector { elem, dimension } => {
                s.push_str("vector<");
                elem.write_cql(s);
                let _ = write!(s, ", {dimension}>");
            }
        }
    }

    /// The marshal class spelling, as Cassandra writes it in serialization
    /// headers: `FrozenType(...)` around a frozen collection or UDT, but not
    /// around tuples (always frozen) nor anywhere inside a frozen type.
    pub fn marshal_name(&self) -> String {
        self.marshal(false)
    }

    fn marshal(&self, inside_frozen: bool) -> String {
        let m = |n: &str| format!("{MARSHAL}{n}");
        let wrap_frozen = |frozen: bool, inner: String| {
            if frozen && !inside_frozen {
                format!("{MARSHAL}FrozenType({inner})")
            } else {
                inner
            }
        };
        let join = |ts: &[CqlType], frozen: bool| {
            ts.iter()
                .map(|t| t.marshal(frozen))
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            CqlType::Ascii => m("AsciiType"),
            CqlType::BigInt => m("LongType"),
            CqlType::Blob => m("BytesType"),
            CqlType::Boolean => m("BooleanType"),
            CqlType::Counter => m("CounterColumnType"),
            CqlType::Date => m("SimpleDateType"),
            CqlType::Decimal => m("DecimalType"),
            CqlType::Double => m("DoubleType"),
            CqlType::Duration => m("DurationType"),
            CqlType::Float => m("FloatType"),
            CqlType::Inet => m("InetAddressType"),
            CqlType::Int => m("Int32Type"),
            CqlType::SmallInt => m("ShortType"),
            CqlType::Text => m("UTF8Type"),
            CqlType::Time => m("TimeType"),
            CqlType::Timestamp => m("TimestampType"),
            CqlType::TimeUuid => m("TimeUUIDType"),
            CqlType::TinyInt => m("ByteType"),
            CqlType::Uuid => m("UUIDType"),
            CqlType::VarInt => m("IntegerType"),
            CqlType::Empty => m("EmptyType"),
            CqlType::Custom(c) => c.clone(),
            CqlType::Reversed(t) => {
                format!("{MARSHAL}ReversedType({})", t.marshal(inside_frozen))
            }
            CqlType::Composite(ts) => {
                format!("{MARSHAL}CompositeType({})", join(ts, inside_frozen))
            }
            CqlType::List { elem, frozen } => wrap_frozen(
                *frozen,
                format!(
                    "{MARSHAL}ListType({})",
                    elem.marshal(*frozen || inside_frozen)
                ),
            ),
            CqlType::Set { elem, frozen } => wrap_frozen(
                *frozen,
                format!(
                    "{MARSHAL}SetType({})",
                    elem.marshal(*frozen || inside_frozen)
                ),
            ),
            CqlType::Map { key, value, frozen } => {
                let f = *frozen || inside_frozen;
                wrap_frozen(
                    *frozen,
                    format!("{MARSHAL}MapType({},{})", key.marshal(f), value.marshal(f)),
                )
            }
            CqlType::Tuple(ts) => format!("{MARSHAL}TupleType({})", join(ts, true)),
            CqlType::Udt(u) => {
                let f = u.frozen || inside_frozen;
                let mut s = format!(
                    "{MARSHAL}UserType({},{}",
                    u.keyspace,
                    hex(u.name.as_bytes())
                );
                for (n, t) in &u.fields {
                    s.push_str(&format!(",{}:{}", hex(n.as_bytes()), t.marshal(f)));
                }
                s.push(')');
                wrap_frozen(u.frozen, s)
            }
            CqlType::Vector { elem, dimension } => {
                format!("{MARSHAL}VectorType({},{})", elem.marshal(true), dimension)
            }
        }
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cql_name())
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

struct MarshalParser<'a> {
    s: &'a [u8],
    pos: usize,
    src: &'a str,
}

const MAX_TYPE_DEPTH: usize = 64;

impl MarshalParser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::Type(format!(
            "cannot parse type `{}` at character {}: expected {what}",
            self.src, self.pos
        ))
    }
    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }
    fn ident(&mut self) -> &str {
        self.skip_ws();
        let start = self.pos;
        while let Some(b) = self.s.get(self.pos) {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'$' | b'&') {
                self.pos += 1;
            } else {
                break;
            }
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("`{}`", c as char)))
        }
    }

    /// Parse `Type(args)` lists of types.
    fn type_list(&mut self, depth: usize) -> Result<Vec<CqlType>> {
        let mut v = Vec::new();
        if !self.eat(b'(') {
            return Ok(v);
        }
        if self.eat(b')') {
            return Ok(v);
        }
        loop {
            v.push(self.parse_type(depth + 1)?);
            if self.eat(b',') {
                continue;
            }
            self.expect(b')')?;
            return Ok(v);
        }
    }

    fn one(&mut self, depth: usize, name: &str) -> Result<CqlType> {
        let mut v = self.type_list(depth)?;
        if v.len() != 1 {
            return Err(self.err(&format!("one type parameter for {name}")));
        }
        Ok(v.remove(0))
    }

    fn parse_type(&mut self, depth: usize) -> Result<CqlType> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.err("a type nested less deeply"));
        }
        let full = self.ident().to_string();
        if full.is_empty() {
            return Err(self.err("a type name"));
        }
        let name = full.strip_prefix(MARSHAL).unwrap_or(&full);
        Ok(match name {
            "AsciiType" => CqlType::Ascii,
            "LongType" => CqlType::BigInt,
            "BytesType" => CqlType::Blob,
            "BooleanType" => CqlType::Boolean,
            "CounterColumnType" => CqlType::Counter,
            "SimpleDateType" => CqlType::Date,
            "DecimalType" => CqlType::Decimal,
            "DoubleType" => CqlType::Double,
            "DurationType" => CqlType::Duration,
            "FloatType" => CqlType::Float,
            "InetAddressType" => CqlType::Inet,
            "Int32Type" => CqlType::Int,
            "ShortType" => CqlType::SmallInt,
            "UTF8Type" => CqlType::Text,
            "TimeType" => CqlType::Time,
            "TimestampType" | "DateType" => CqlType::Timestamp,
            "TimeUUIDType" => CqlType::TimeUuid,
            "ByteType" => CqlType::TinyInt,
            "UUIDType" | "LexicalUUIDType" => CqlType::Uuid,
            "IntegerType" => CqlType::VarInt,
            "EmptyType" => CqlType::Empty,
            "ReversedType" => CqlType::Reversed(Box::new(self.one(depth, "ReversedType")?)),
            "FrozenType" => self.one(depth, "FrozenType")?.frozen(),
            "ListType" => CqlType::List {
                elem: Box::new(self.one(depth, "ListType")?.frozen()),
                frozen: false,
            },
            "SetType" => CqlType::Set {
                elem: Box::new(self.one(depth, "SetType")?.frozen()),
                frozen: false,
            },
            "MapType" => {
                let mut v = self.type_list(depth)?;
                if v.len() != 2 {
                    return Err(self.err("two type parameters for MapType"));
                }
                let value = v.pop().unwrap_or(CqlType::Blob);
                let key = v.pop().unwrap_or(CqlType::Blob);
                CqlType::Map {
                    key: Box::new(key.frozen()),
                    value: Box::new(value.frozen()),
                    frozen: false,
                }
            }
            "TupleType" => CqlType::Tuple(
                self.type_list(depth)?
                    .into_iter()
                    .map(CqlType::frozen)
                    .collect(),
            ),
            "CompositeType" => CqlType::Composite(self.type_list(depth)?),
            "UserType" => self.user_type(depth)?,
            "VectorType" => {
                self.expect(b'(')?;
                let elem = self.parse_type(depth + 1)?;
                self.expect(b',')?;
                let n = self.ident().to_string();
                let dimension = n
                    .parse::<u32>()
                    .map_err(|_| self.err("a vector dimension"))?;
                self.expect(b')')?;
                CqlType::Vector {
                    elem: Box::new(elem.frozen()),
                    dimension,
                }
            }
            _ => {
                // Unknown class: keep its full text, including parameters.
                let start = self.pos;
                if self.s.get(self.pos) == Some(&b'(') {
                    let mut level = 0usize;
                    while let Some(b) = self.s.get(self.pos) {
                        self.pos += 1;
                        match b {
                            b'(' => level += 1,
                            b')' => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                let params = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                CqlType::Custom(format!("{full}{params}"))
            }
        })
    }

    fn user_type(&mut self, depth: usize) -> Result<CqlType> {
        self.expect(b'(')?;
        let keyspace = self.ident().to_string();
        self.expect(b',')?;
        let hexname = self.ident().to_string();
        let name = unhex(&hexname)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| self.err("a hex-encoded UDT name"))?;
        let mut fields = Vec::new();
        while self.eat(b',') {
            let hf = self.ident().to_string();
            let fname = unhex(&hf)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| self.err("a hex-encoded field name"))?;
            self.expect(b':')?;
            let t = self.parse_type(depth + 1)?;
            fields.push((fname, t.frozen()));
        }
        self.expect(b')')?;
        Ok(CqlType::Udt(Box::new(UdtDef {
            keyspace,
            name,
            fields,
            frozen: false,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marshal names as Cassandra 5.0 wrote them in a serialization header
    /// (fixtures/sample collections): round trip, no FrozenType inside
    /// frozen types nor around tuples.
    #[test]
    fn marshal_names_are_spelled_as_cassandra_writes_them() {
        let m = "org.apache.cassandra.db.marshal.";
        for name in [
            format!("{m}FrozenType({m}UserType(sample_ks,61646472657373,737472656574:{m}UTF8Type,70686f6e6573:{m}ListType({m}UTF8Type)))"),
            format!("{m}TupleType({m}Int32Type,{m}UTF8Type,{m}BooleanType)"),
            format!("{m}ListType({m}TupleType({m}TimestampType,{m}InetAddressType))"),
            format!("{m}ListType({m}FrozenType({m}ListType({m}Int32Type)))"),
            format!("{m}FrozenType({m}MapType({m}Int32Type,{m}FrozenType({m}SetType({m}UTF8Type))))"),
        ] {
            let t = CqlType::parse_marshal(&name).unwrap();
            let expected = name.replace(
                &format!("{m}FrozenType({m}MapType({m}Int32Type,{m}FrozenType({m}SetType({m}UTF8Type))))"),
                &format!("{m}FrozenType({m}MapType({m}Int32Type,{m}SetType({m}UTF8Type)))"),
            );
            assert_eq!(t.marshal_name(), expected);
        }
    }

    #[test]
    fn parses_marshal_names() {
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.FrozenType(org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type))").unwrap();
        assert_eq!(t.cql_name(), "frozen<map<int, text>>");
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.ReversedType(org.apache.cassandra.db.marshal.Int32Type)").unwrap();
        assert!(t.is_reversed());
        assert_eq!(t.fixed_length(), Some(4));
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.UserType(ks,61646472657373,737472656574:org.apache.cassandra.db.marshal.UTF8Type,7a6970:org.apache.cassandra.db.marshal.Int32Type)").unwrap();
        match &t {
            CqlType::Udt(u) => {
                assert_eq!(u.name, "address");
                assert_eq!(u.fields[0].0, "street");
                assert!(!u.frozen);
            }
            _ => panic!(),
        }
        assert!(t.is_multi_cell());
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType,3)").unwrap();
        assert_eq!(t.fixed_length(), Some(12));
        assert_eq!(t.cql_name(), "vector<float, 3>");
        let t = CqlType::parse_marshal("org.apache.cassandra.db.marshal.TupleType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type)").unwrap();
        assert_eq!(t.cql_name(), "frozen<tuple<int, text>>");
        let t = CqlType::parse_marshal(
            "org.apache.cassandra.db.marshal.ListType(org.apache.cassandra.db.marshal.UTF8Type)",
        )
        .unwrap();
        assert!(t.is_multi_cell());
        assert_eq!(t.cql_name(), "list<text>");
    }

    #[test]
    fn round_trips_marshal_names() {
        for s in [
            "org.apache.cassandra.db.marshal.UTF8Type",
            "org.apache.cassandra.db.marshal.CompositeType(org.apache.cassandra.db.marshal.Int32Type,org.apache.cassandra.db.marshal.UTF8Type)",
            "org.apache.cassandra.db.marshal.FrozenType(org.apache.cassandra.db.marshal.SetType(org.apache.cassandra.db.marshal.UUIDType))",
        ] {
            assert_eq!(CqlType::parse_marshal(s).unwrap().marshal_name(), s);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(CqlType::parse_marshal("").is_err());
        assert!(CqlType::parse_marshal("org.apache.cassandra.db.marshal.ListType(").is_err());
        assert!(CqlType::parse_marshal(
            "org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.Int32Type)"
        )
        .is_err());
        let deep = "org.apache.cassandra.db.marshal.ListType(".repeat(200);
        assert!(CqlType::parse_marshal(&deep).is_err());
    }
}
