//! A parser for the CQL DDL that `cqlsh DESCRIBE` (and Medusa's
//! `schema.cql`) print: CREATE KEYSPACE / TYPE / TABLE. Other statements
//! are skipped.

use crate::error::{ReadError, Result};
use sstable_format::types::UdtDef;
use sstable_format::CqlType;

/// A column kind in a table definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

/// A column of a `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub cql_type: CqlType,
    pub kind: ColumnKind,
}

/// A parsed `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub keyspace: Option<String>,
    pub name: String,
    /// In definition order.
    pub columns: Vec<ColumnDef>,
    pub partition_key: Vec<String>,
    pub clustering: Vec<String>,
    /// `true` for DESC, per clustering column.
    pub clustering_desc: Vec<bool>,
    pub compact_storage: bool,
    /// The raw text of the `WITH` options other than clustering order and compact storage.
    pub options: Vec<String>,
    /// Dropped columns and when (µs since the epoch), from `system_schema.dropped_columns`.
    pub dropped: Vec<(String, i64)>,
}

impl TableDef {
    /// An empty definition of `keyspace.name`.
    pub fn new(keyspace: Option<String>, name: String) -> TableDef {
        TableDef {
            keyspace,
            name,
            columns: Vec::new(),
            partition_key: Vec::new(),
            clustering: Vec::new(),
            clustering_desc: Vec::new(),
            compact_storage: false,
            options: Vec::new(),
            dropped: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A parsed `CREATE KEYSPACE`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyspaceDef {
    pub name: String,
    /// The replication map as written, e.g. `{'class': 'SimpleStrategy', 'replication_factor': '1'}`.
    pub replication: String,
    pub durable_writes: Option<bool>,
}

/// Everything found in a DDL file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaFile {
    pub keyspaces: Vec<KeyspaceDef>,
    pub types: Vec<UdtDef>,
    pub tables: Vec<TableDef>,
}

impl SchemaFile {
    /// Find a table by keyspace and name (a table without keyspace matches any).
    pub fn table(&self, keyspace: Option<&str>, name: &str) -> Option<&TableDef> {
        let exact = self
            .tables
            .iter()
            .find(|t| t.name == name && keyspace.is_some() && t.keyspace.as_deref() == keyspace);
        exact.or_else(|| {
            self.tables
                .iter()
                .find(|t| t.name == name && (t.keyspace.is_none() || keyspace.is_none()))
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Unquoted identifiers/keywords are lower-cased; `quoted` keeps case.
    Ident {
        text: String,
        quoted: bool,
    },
    Str(String),
    Num(String),
    Sym(char),
}

/// Read a `quote`-delimited token starting at `start` (doubled quotes
/// stand for one): its text and the position after it.
fn read_quoted(src: &str, start: usize, quote: u8) -> Option<(String, usize)> {
    let b = src.as_bytes();
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match b.get(i)? {
            q if *q == quote && b.get(i + 1) == Some(&quote) => {
                s.push(quote as char);
                i += 2;
            }
            q if *q == quote => return Some((s, i + 1)),
            _ => {
                let ch = src.get(i..)?.chars().next()?;
                s.push(ch);
                i += ch.len_utf8();
            }
        }
    }
}

fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |pos: usize, what: &str| {
        let line = src[..pos.min(src.len())].matches('\n').count() + 1;
        ReadError::Schema(format!("line {line}: {what}"))
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-')
            || c == b'/' && b.get(i + 1) == Some(&b'/')
        {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = src[i + 2..]
                .find("*/")
                .ok_or_else(|| err(i, "unterminated comment"))?;
            i += end + 4;
        } else if c == b'\'' {
            let start = i;
            let (s, next) =
                read_quoted(src, i, b'\'').ok_or_else(|| err(start, "unterminated string"))?;
            i = next;
            out.push((Tok::Str(s), start));
        } else if c == b'$' && b.get(i + 1) == Some(&b'$') {
            let start = i;
            let end = src[i + 2..]
                .find("$$")
                .ok_or_else(|| err(i, "unterminated $$ string"))?;
            out.push((Tok::Str(src[i + 2..i + 2 + end].to_string()), start));
            i += end + 4;
        } else if c == b'"' {
            let start = i;
            let (s, next) = read_quoted(src, i, b'"')
                .ok_or_else(|| err(start, "unterminated quoted identifier"))?;
            i = next;
            out.push((
                Tok::Ident {
                    text: s,
                    quoted: true,
                },
                start,
            ));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((
                Tok::Ident {
                    text: src[start..i].to_ascii_lowercase(),
                    quoted: false,
                },
                start,
            ));
        } else if c.is_ascii_digit()
            || (c == b'-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'-' || b[i] == b'+')
            {
                i += 1;
            }
            out.push((Tok::Num(src[start..i].to_string()), start));
        } else {
            let ch = src[i..].chars().next().unwrap_or('\0');
            out.push((Tok::Sym(ch), i));
            i += ch.len_utf8().max(1);
        }
    }
    Ok(out)
}

struct P<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    src: &'a str,
}

impl P<'_> {
    fn err(&self, what: &str) -> ReadError {
        let pos = self.toks.get(self.i).map(|t| t.1).unwrap_or(self.src.len());
        let line = self.src[..pos.min(self.src.len())].matches('\n').count() + 1;
        let near: String = self.src[pos.min(self.src.len())..]
            .chars()
            .take(30)
            .collect();
        ReadError::Schema(format!("line {line}: expected {what} near `{near}`"))
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident { text, quoted: false }) if text == kw)
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.err(&format!("`{}`", kw.to_uppercase())))
        }
    }
    fn eat_sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, c: char) -> Result<()> {
        if self.eat_sym(c) {
            Ok(())
        } else {
            Err(self.err(&format!("`{c}`")))
        }
    }
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Tok::Ident { text, .. }) => {
                let t = text.clone();
                self.i += 1;
                Ok(t)
            }
            _ => Err(self.err("an identifier")),
        }
    }
    /// `[ks.]name`
    fn qualified(&mut self) -> Result<(Option<String>, String)> {
        let a = self.ident()?;
        if self.eat_sym('.') {
            let b = self.ident()?;
            Ok((Some(a), b))
        } else {
            Ok((None, a))
        }
    }
    fn skip_statement(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Sym('(') | Tok::Sym('{') | Tok::Sym('[') => depth += 1,
                Tok::Sym(')') | Tok::Sym('}') | Tok::Sym(']') => depth -= 1,
                Tok::Sym(';') if depth <= 0 => {
                    self.i += 1;
                    return;
                }
                _ => {}
            }
            self.i += 1;
        }
    }
    /// The raw source text of tokens from `start` to the current position.
    fn text_since(&self, start: usize) -> String {
        let a = self.toks.get(start).map(|t| t.1).unwrap_or(self.src.len());
        let b = self.toks.get(self.i).map(|t| t.1).unwrap_or(self.src.len());
        self.src[a..b.max(a)]
            .trim()
            .trim_end_matches(';')
            .trim()
            .to_string()
    }

    fn cql_type(&mut self, keyspace: &Option<String>, depth: usize) -> Result<CqlType> {
        if depth > 32 {
            return Err(self.err("a less deeply nested type"));
        }
        if let Some(Tok::Str(s)) = self.peek() {
            let s = s.clone();
            self.i += 1;
            return CqlType::parse_marshal(&s).map_err(|e| ReadError::Schema(e.to_string()));
        }
        let (ks, name) = self.qualified()?;
        let args = |p: &mut Self| -> Result<Vec<CqlType>> {
            p.expect_sym('<')?;
            let mut v = vec![p.cql_type(keyspace, depth + 1)?];
            while p.eat_sym(',') {
                v.push(p.cql_type(keyspace, depth + 1)?);
            }
            p.expect_sym('>')?;
            Ok(v)
        };
        if ks.is_none() {
            let t = match name.as_str() {
                "ascii" => CqlType::Ascii,
                "bigint" => CqlType::BigInt,
                "blob" => CqlType::Blob,
                "boolean" => CqlType::Boolean,
                "counter" => CqlType::Counter,
                "date" => CqlType::Date,
                "decimal" => CqlType::Decimal,
                "double" => CqlType::Double,
                "duration" => CqlType::Duration,
                "float" => CqlType::Float,
                "inet" => CqlType::Inet,
                "int" => CqlType::Int,
                "smallint" => CqlType::SmallInt,
                "text" | "varchar" => CqlType::Text,
                "time" => CqlType::Time,
                "timestamp" => CqlType::Timestamp,
                "timeuuid" => CqlType::TimeUuid,
                "tinyint" => CqlType::TinyInt,
                "uuid" => CqlType::Uuid,
                "varint" => CqlType::VarInt,
                "empty" => CqlType::Empty,
                "frozen" => {
                    let mut a = args(self)?;
                    if a.len() != 1 {
                        return Err(self.err("one type inside frozen<>"));
                    }
                    return Ok(a.remove(0).frozen());
                }
                "list" | "set" => {
                    let mut a = args(self)?;
                    if a.len() != 1 {
                        return Err(self.err("one element type"));
                    }
                    let elem = Box::new(a.remove(0).frozen());
                    return Ok(if name == "list" {
                        CqlType::List {
                            elem,
                            frozen: false,
                        }
                    } else {
                        CqlType::Set {
                            elem,
                            frozen: false,
                        }
                    });
                }
                "map" => {
                    let mut a = args(self)?;
                    if a.len() != 2 {
                        return Err(self.err("a key and a value type"));
                    }
                    let value = Box::new(a.remove(1).frozen());
                    let key = Box::new(a.remove(0).frozen());
                    return Ok(CqlType::Map {
                        key,
                        value,
                        frozen: false,
                    });
                }
                "tuple" => {
                    return Ok(CqlType::Tuple(
                        args(self)?.into_iter().map(CqlType::frozen).collect(),
                    ))
                }
                "vector" => {
                    self.expect_sym('<')?;
                    let elem = self.cql_type(keyspace, depth + 1)?;
                    self.expect_sym(',')?;
                    let n = match self.peek() {
                        Some(Tok::Num(n)) => n
                            .parse::<u32>()
                            .map_err(|_| self.err("a vector dimension"))?,
                        _ => return Err(self.err("a vector dimension")),
                    };
                    self.i += 1;
                    self.expect_sym('>')?;
                    return Ok(CqlType::Vector {
                        elem: Box::new(elem.frozen()),
                        dimension: n,
                    });
                }
                _ => return Ok(udt_ref(keyspace.clone(), name)),
            };
            return Ok(t);
        }
        Ok(udt_ref(ks, name))
    }
}

/// A reference to a UDT by name (fields filled in by `resolve`).
fn udt_ref(keyspace: Option<String>, name: String) -> CqlType {
    CqlType::Udt(Box::new(UdtDef {
        keyspace: keyspace.unwrap_or_default(),
        name,
        fields: Vec::new(),
        frozen: false,
    }))
}

fn resolve(t: &CqlType, types: &[UdtDef], depth: usize) -> Result<CqlType> {
    if depth > 32 {
        return Err(ReadError::Schema(
            "user types nested too deeply (recursive?)".into(),
        ));
    }
    Ok(match t {
        CqlType::Udt(u) if u.fields.is_empty() => {
            let def = types
                .iter()
                .find(|d| d.name == u.name && (u.keyspace.is_empty() || d.keyspace == u.keyspace))
                .ok_or_else(|| ReadError::Schema(format!("unknown type `{}`", u.name)))?;
            let mut d = def.clone();
            d.frozen = u.frozen;
            d.fields = d
                .fields
                .iter()
                .map(|(n, ft)| Ok((n.clone(), resolve(ft, types, depth + 1)?)))
                .collect::<Result<_>>()?;
            CqlType::Udt(Box::new(d))
        }
        CqlType::List { elem, frozen } => CqlType::List {
            elem: Box::new(resolve(elem, types, depth + 1)?),
            frozen: *frozen,
        },
        CqlType::Set { elem, frozen } => CqlType::Set {
            elem: Box::new(resolve(elem, types, depth + 1)?),
            frozen: *frozen,
        },
        CqlType::Map { key, value, frozen } => CqlType::Map {
            key: Box::new(resolve(key, types, depth + 1)?),
            value: Box::new(resolve(value, types, depth + 1)?),
            frozen: *frozen,
        },
        CqlType::Tuple(ts) => CqlType::Tuple(
            ts.iter()
                .map(|t| resolve(t, types, depth + 1))
                .collect::<Result<_>>()?,
        ),
        CqlType::Vector { elem, dimension } => CqlType::Vector {
            elem: Box::new(resolve(elem, types, depth + 1)?),
            dimension: *dimension,
        },
        CqlType::Reversed(t) => CqlType::Reversed(Box::new(resolve(t, types, depth + 1)?)),
        t => t.clone(),
    })
}

/// Parse one CQL type as `system_schema.columns.type` spells it (UDTs are
/// left as references; see [`resolve_types`]).
pub fn parse_cql_type(src: &str, keyspace: &str) -> Result<CqlType> {
    let mut p = P {
        toks: tokenize(src)?,
        i: 0,
        src,
    };
    let t = p.cql_type(&Some(keyspace.to_string()), 0)?;
    if p.peek().is_some() {
        return Err(p.err("the end of the type"));
    }
    Ok(t)
}

/// Fill in UDT references in `tables` and `types` from `types`.
pub fn resolve_types(file: &mut SchemaFile) -> Result<()> {
    let types = file.types.clone();
    for ty in &mut file.types {
        ty.fields = ty
            .fields
            .iter()
            .map(|(n, t)| Ok((n.clone(), resolve(t, &types, 0)?)))
            .collect::<Result<_>>()?;
    }
    let types = file.types.clone();
    for t in &mut file.tables {
        for c in &mut t.columns {
            c.cql_type = resolve(&c.cql_type, &types, 0)?;
        }
    }
    Ok(())
}

/// Parse DDL text.
pub fn parse_schema(src: &str) -> Result<SchemaFile> {
    let mut p = P {
        toks: tokenize(src)?,
        i: 0,
        src,
    };
    let mut out = SchemaFile::default();
    let mut current_ks: Option<String> = None;
    while p.peek().is_some() {
        if p.eat_sym(';') {
            continue;
        }
        if p.eat_kw("use") {
            current_ks = Some(p.ident()?);
            p.skip_statement();
            continue;
        }
        let start = p.i;
        if p.eat_kw("alter") {
            if p.eat_kw("table") || p.eat_kw("columnfamily") {
                parse_alter_table(&mut p, &current_ks, &mut out.tables)?;
            }
            p.skip_statement();
            continue;
        }
        if !p.eat_kw("create") {
            p.skip_statement();
            continue;
        }
        if p.eat_kw("keyspace") || p.eat_kw("schema") {
            if p.eat_kw("if") {
                p.expect_kw("not")?;
                p.expect_kw("exists")?;
            }
            let name = p.ident()?;
            let mut ks = KeyspaceDef {
                name: name.clone(),
                replication: String::new(),
                durable_writes: None,
            };
            if p.eat_kw("with") {
                loop {
                    let opt = p.ident()?;
                    p.expect_sym('=')?;
                    let vstart = p.i;
                    skip_value(&mut p);
                    let v = p.text_since(vstart);
                    match opt.as_str() {
                        "replication" => ks.replication = v,
                        "durable_writes" => {
                            ks.durable_writes = Some(v.eq_ignore_ascii_case("true"))
                        }
                        _ => {}
                    }
                    if !p.eat_kw("and") {
                        break;
                    }
                }
            }
            p.skip_statement();
            current_ks = Some(name);
            out.keyspaces.push(ks);
        } else if p.eat_kw("type") {
            if p.eat_kw("if") {
                p.expect_kw("not")?;
                p.expect_kw("exists")?;
            }
            let (ks, name) = p.qualified()?;
            let ks = ks.or_else(|| current_ks.clone());
            p.expect_sym('(')?;
            let mut fields = Vec::new();
            loop {
                let f = p.ident()?;
                let t = p.cql_type(&ks, 0)?;
                fields.push((f, t.frozen()));
                if !p.eat_sym(',') {
                    break;
                }
                if p.peek() == Some(&Tok::Sym(')')) {
                    break;
                }
            }
            p.expect_sym(')')?;
            p.skip_statement();
            out.types.push(UdtDef {
                keyspace: ks.unwrap_or_default(),
                name,
                fields,
                frozen: false,
            });
        } else if p.eat_kw("table") || p.eat_kw("columnfamily") {
            let t = parse_table(&mut p, &current_ks)?;
            out.tables.push(t);
        } else {
            p.i = start;
            p.skip_statement();
        }
    }
    // Resolve UDT references now that all types are known.
    let types = out.types.clone();
    for ty in &mut out.types {
        ty.fields = ty
            .fields
            .iter()
            .map(|(n, t)| Ok((n.clone(), resolve(t, &types, 0)?)))
            .collect::<Result<_>>()?;
    }
    let types = out.types.clone();
    for t in &mut out.tables {
        for c in &mut t.columns {
            c.cql_type = resolve(&c.cql_type, &types, 0)?;
        }
    }
    Ok(out)
}

fn skip_value(p: &mut P) {
    let mut depth = 0i32;
    while let Some(t) = p.peek() {
        match t {
            Tok::Sym('{') | Tok::Sym('(') | Tok::Sym('[') => depth += 1,
            Tok::Sym('}') | Tok::Sym(')') | Tok::Sym(']') => {
                depth -= 1;
                if depth <= 0 {
                    p.i += 1;
                    if depth == 0 {
                        return;
                    }
                    return;
                }
            }
            Tok::Sym(';') if depth == 0 => return,
            Tok::Ident {
                text,
                quoted: false,
            } if depth == 0 && text == "and" => return,
            _ => {}
        }
        p.i += 1;
    }
}

/// `ALTER TABLE [IF EXISTS] [ks.]t` then `DROP`, `ADD` or `RENAME`, applied
/// to the table defined before it; other changes (`WITH`, ...) leave the
/// columns as they are. Cassandra writes a snapshot's `schema.cql` so: the
/// `CREATE TABLE` lists every column ever dropped, then `ALTER TABLE ... DROP
/// c USING TIMESTAMP t` drops it at its drop time, and `ALTER TABLE ... ADD`
/// adds again a column dropped and re-added (whose cells from before the
/// drop stay hidden). A `DROP` without a time removes the column only.
fn parse_alter_table(
    p: &mut P,
    current_ks: &Option<String>,
    tables: &mut [TableDef],
) -> Result<()> {
    if p.eat_kw("if") {
        p.expect_kw("exists")?;
    }
    let (ks, name) = p.qualified()?;
    let ks = ks.or_else(|| current_ks.clone());
    let Some(t) = tables
        .iter_mut()
        .rev()
        .find(|t| t.name == name && (ks.is_none() || t.keyspace.is_none() || t.keyspace == ks))
    else {
        return Ok(());
    };
    // One name or a parenthesised list of items.
    fn items<T>(p: &mut P, mut one: impl FnMut(&mut P) -> Result<T>) -> Result<Vec<T>> {
        if p.eat_sym('(') {
            let mut v = vec![one(p)?];
            while p.eat_sym(',') {
                v.push(one(p)?);
            }
            p.expect_sym(')')?;
            Ok(v)
        } else {
            Ok(vec![one(p)?])
        }
    }
    if p.eat_kw("drop") {
        if p.eat_kw("if") {
            p.expect_kw("exists")?;
        }
        let names = items(p, |p| p.ident())?;
        let mut at = None;
        if p.eat_kw("using") {
            p.expect_kw("timestamp")?;
            match p.peek() {
                Some(Tok::Num(n)) => {
                    at = Some(n.parse::<i64>().map_err(|_| p.err("a timestamp"))?);
                    p.i += 1;
                }
                _ => return Err(p.err("a timestamp")),
            }
        }
        for n in names {
            let Some(i) = t.columns.iter().position(|c| c.name == n) else {
                continue;
            };
            if matches!(
                t.columns[i].kind,
                ColumnKind::PartitionKey | ColumnKind::Clustering
            ) {
                return Err(ReadError::Schema(format!(
                    "table {}: ALTER TABLE drops primary key column `{n}`",
                    t.name
                )));
            }
            t.columns.remove(i);
            if let Some(at) = at {
                match t.dropped.iter_mut().find(|(d, _)| *d == n) {
                    Some((_, old)) => *old = (*old).max(at),
                    None => t.dropped.push((n, at)),
                }
            }
        }
    } else if p.eat_kw("add") {
        if p.eat_kw("if") {
            p.expect_kw("not")?;
            p.expect_kw("exists")?;
        }
        let cols = items(p, |p| {
            let name = p.ident()?;
            let cql_type = p.cql_type(&t.keyspace, 0)?;
            let kind = if p.eat_kw("static") {
                ColumnKind::Static
            } else {
                ColumnKind::Regular
            };
            Ok(ColumnDef {
                name,
                cql_type,
                kind,
            })
        })?;
        for c in cols {
            match t.columns.iter_mut().find(|x| x.name == c.name) {
                Some(x) if matches!(x.kind, ColumnKind::Static | ColumnKind::Regular) => *x = c,
                Some(_) => {}
                None => t.columns.push(c),
            }
        }
    } else if p.eat_kw("rename") {
        if p.eat_kw("if") {
            p.expect_kw("exists")?;
        }
        loop {
            let from = p.ident()?;
            p.expect_kw("to")?;
            let to = p.ident()?;
            for c in t.columns.iter_mut().filter(|c| c.name == from) {
                c.name = to.clone();
            }
            for k in t.partition_key.iter_mut().chain(t.clustering.iter_mut()) {
                if *k == from {
                    *k = to.clone();
                }
            }
            if !p.eat_kw("and") {
                break;
            }
        }
    }
    Ok(())
}

fn parse_table(p: &mut P, current_ks: &Option<String>) -> Result<TableDef> {
    if p.eat_kw("if") {
        p.expect_kw("not")?;
        p.expect_kw("exists")?;
    }
    let (ks, name) = p.qualified()?;
    let ks = ks.or_else(|| current_ks.clone());
    p.expect_sym('(')?;
    let mut t = TableDef::new(ks.clone(), name);
    let mut statics = Vec::new();
    loop {
        if p.eat_kw("primary") {
            p.expect_kw("key")?;
            p.expect_sym('(')?;
            if p.eat_sym('(') {
                loop {
                    t.partition_key.push(p.ident()?);
                    if !p.eat_sym(',') {
                        break;
                    }
                }
                p.expect_sym(')')?;
            } else {
                t.partition_key.push(p.ident()?);
            }
            while p.eat_sym(',') {
                t.clustering.push(p.ident()?);
            }
            p.expect_sym(')')?;
        } else {
            let cname = p.ident()?;
            let ty = p.cql_type(&ks, 0)?;
            let mut is_static = false;
            loop {
                if p.eat_kw("static") {
                    is_static = true;
                } else if p.eat_kw("primary") {
                    p.expect_kw("key")?;
                    t.partition_key.push(cname.clone());
                } else if p.eat_kw("masked") {
                    // MASKED WITH fn(args): skip to the next comma or `)`.
                    while let Some(tok) = p.peek() {
                        if matches!(tok, Tok::Sym(',')) {
                            break;
                        }
                        if matches!(tok, Tok::Sym('(')) {
                            skip_value(p);
                            continue;
                        }
                        if matches!(tok, Tok::Sym(')')) {
                            break;
                        }
                        p.i += 1;
                    }
                } else {
                    break;
                }
            }
            if is_static {
                statics.push(cname.clone());
            }
            t.columns.push(ColumnDef {
                name: cname,
                cql_type: ty,
                kind: ColumnKind::Regular,
            });
        }
        if !p.eat_sym(',') {
            break;
        }
        if p.peek() == Some(&Tok::Sym(')')) {
            break;
        }
    }
    p.expect_sym(')')?;
    if t.partition_key.is_empty() {
        return Err(p.err("a PRIMARY KEY"));
    }
    t.clustering_desc = vec![false; t.clustering.len()];
    if p.eat_kw("with") {
        loop {
            if p.eat_kw("clustering") {
                p.expect_kw("order")?;
                p.expect_kw("by")?;
                p.expect_sym('(')?;
                loop {
                    let c = p.ident()?;
                    let desc = if p.eat_kw("desc") {
                        true
                    } else {
                        p.eat_kw("asc");
                        false
                    };
                    if let Some(i) = t.clustering.iter().position(|x| *x == c) {
                        t.clustering_desc[i] = desc;
                    }
                    if !p.eat_sym(',') {
                        break;
                    }
                }
                p.expect_sym(')')?;
            } else if p.eat_kw("compact") {
                p.expect_kw("storage")?;
                t.compact_storage = true;
            } else {
                let ostart = p.i;
                p.ident()?;
                if p.eat_sym('=') {
                    skip_value(p);
                }
                t.options.push(p.text_since(ostart));
            }
            if !p.eat_kw("and") {
                break;
            }
        }
    }
    p.skip_statement();
    for c in &mut t.columns {
        c.kind = if t.partition_key.contains(&c.name) {
            ColumnKind::PartitionKey
        } else if t.clustering.contains(&c.name) {
            ColumnKind::Clustering
        } else if statics.contains(&c.name) {
            ColumnKind::Static
        } else {
            ColumnKind::Regular
        };
    }
    for k in t.partition_key.iter().chain(&t.clustering) {
        if t.column(k).is_none() {
            return Err(ReadError::Schema(format!(
                "table {}: primary key column `{k}` is not defined",
                t.name
            )));
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_describe_output() {
        let s = parse_schema(
            r#"
CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'}  AND durable_writes = true;
CREATE TYPE ks.address (street text, "Zip" int);
-- comment
CREATE TABLE ks."int" (
    pk int,
    "Ck" text,
    s text static,
    addr frozen<address>,
    m map<text, frozen<list<int>>>,
    v vector<float, 3>,
    PRIMARY KEY ((pk), "Ck")
) WITH CLUSTERING ORDER BY ("Ck" DESC)
    AND comment = 'it''s'
    AND compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy'};
CREATE INDEX foo ON ks."int" (s);
CREATE TABLE ks.simple (pk text PRIMARY KEY, val text) WITH COMPACT STORAGE;
"#,
        )
        .unwrap();
        assert_eq!(s.keyspaces[0].name, "ks");
        assert!(s.keyspaces[0].replication.contains("SimpleStrategy"));
        let t = s.table(Some("ks"), "int").unwrap();
        assert_eq!(t.partition_key, ["pk"]);
        assert_eq!(t.clustering, ["Ck"]);
        assert_eq!(t.clustering_desc, [true]);
        assert_eq!(t.column("s").unwrap().kind, ColumnKind::Static);
        assert_eq!(
            t.column("addr").unwrap().cql_type.cql_name(),
            "frozen<address>"
        );
        assert_eq!(
            t.column("m").unwrap().cql_type.cql_name(),
            "map<text, frozen<list<int>>>"
        );
        assert_eq!(t.options.len(), 2);
        let simple = s.table(Some("ks"), "simple").unwrap();
        assert!(simple.compact_storage);
        assert_eq!(simple.partition_key, ["pk"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_schema("CREATE TABLE t (a int,\n b int);")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(parse_schema("CREATE TABLE t (a unknowntype PRIMARY KEY);").is_err());
    }

    /// A snapshot's `schema.cql` as Cassandra 5.0 writes it: dropped
    /// columns listed in the CREATE TABLE, then dropped at their times, one
    /// of them added again.
    #[test]
    fn applies_a_snapshots_alter_table_statements() {
        let s = parse_schema(
            r#"
CREATE TYPE IF NOT EXISTS snap_ks.addr (
    street text,
    zip int
);
CREATE TABLE IF NOT EXISTS snap_ks.people (
    "Id" int,
    ck text,
    home frozen<addr>,
    name text,
    old int,
    gone text,
    PRIMARY KEY ("Id", ck)
) WITH ID = 1e8def90-f059-11f1-b5e0-e711cd619ac3
    AND CLUSTERING ORDER BY (ck DESC)
    AND comment = 'it''s; a test'
    AND speculative_retry = '99p';
ALTER TABLE snap_ks.people DROP old USING TIMESTAMP 1796440098230000;
ALTER TABLE snap_ks.people ADD old int;
ALTER TABLE snap_ks.people DROP gone USING TIMESTAMP 1796440098356000;
ALTER TABLE snap_ks.other DROP x USING TIMESTAMP 1;
ALTER TABLE snap_ks.people WITH comment = 'x';
"#,
        )
        .unwrap();
        let t = s.table(Some("snap_ks"), "people").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Id", "ck", "home", "name", "old"]);
        assert_eq!(
            t.dropped,
            vec![
                ("old".to_string(), 1796440098230000),
                ("gone".to_string(), 1796440098356000)
            ]
        );
        assert_eq!(t.column("old").unwrap().kind, ColumnKind::Regular);
        assert!(matches!(
            t.column("home").unwrap().cql_type,
            CqlType::Udt(_)
        ));
        assert_eq!(t.clustering_desc, vec![true]);

        // The other forms: lists, IF (NOT) EXISTS, statics, renamed keys,
        // a later drop time winning, a drop without a time.
        let s = parse_schema(
            "CREATE TABLE ks.t (k int, c int, a int, b text, PRIMARY KEY (k, c));
             ALTER TABLE IF EXISTS ks.t DROP (a, b) USING TIMESTAMP 5;
             ALTER TABLE ks.t DROP IF EXISTS nothing;
             ALTER TABLE ks.t ADD IF NOT EXISTS (a int, s text static);
             ALTER TABLE ks.t DROP a USING TIMESTAMP 9;
             ALTER TABLE ks.t ADD a int;
             ALTER TABLE ks.t RENAME k TO key AND c TO col;
             ALTER TABLE ks.t DROP s;",
        )
        .unwrap();
        let t = s.table(Some("ks"), "t").unwrap();
        let cols: Vec<(&str, ColumnKind)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            cols,
            [
                ("key", ColumnKind::PartitionKey),
                ("col", ColumnKind::Clustering),
                ("a", ColumnKind::Regular)
            ]
        );
        assert_eq!(t.partition_key, ["key"]);
        assert_eq!(t.clustering, ["col"]);
        assert_eq!(t.dropped, vec![("a".to_string(), 9), ("b".to_string(), 5)]);
        assert!(parse_schema(
            "CREATE TABLE ks.t (k int PRIMARY KEY, v int); ALTER TABLE ks.t DROP k USING TIMESTAMP 1;"
        )
        .is_err());
        assert!(parse_schema(
            "CREATE TABLE ks.t (k int PRIMARY KEY, v int); ALTER TABLE ks.t DROP v USING TIMESTAMP;"
        )
        .is_err());
    }
}
