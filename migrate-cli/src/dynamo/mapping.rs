//! From CQL rows to DynamoDB items: the default mapping, the `--mapping`
//! TOML file, and the type table (see the README).

use super::attr::{dynamo_number, item_size, number_fits, Attr, Item};
use super::sortkey::{encode_component, STATIC_SORT_KEY};
use serde::Deserialize;
use sstable_format::data::counter_value;
use sstable_format::value::{format_uuid, get_string, java_double, java_float, Value};
use sstable_format::{CqlType, Error as FmtError};
use sstable_reader::schema::Column;
use sstable_reader::table::{LiveColumnData, PartitionInfo, TableRow};
use sstable_reader::TableSchema;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// How static columns reach DynamoDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StaticMode {
    /// Copied into each row's item (what `SELECT` shows).
    #[default]
    Copy,
    /// One item per partition, with sort key `!static`.
    Item,
}

/// How timestamps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// ISO-8601 `S`: `2024-05-01T12:00:00.000Z`.
    #[default]
    Iso,
    /// `N`: milliseconds since the epoch.
    EpochMillis,
}

/// A per-column type override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TypeOverride {
    /// The value's text (CQL literal text for scalars, JSON for collections).
    S,
    /// A number (the column must be numeric or numeric text).
    N,
    /// The value's serialized bytes.
    B,
    /// `S` holding the value's `SELECT JSON` text.
    #[serde(rename = "JSON")]
    Json,
}

/// The `--mapping` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    /// Name of the partition-key attribute.
    pub partition_key: String,
    /// Name of the sort-key attribute (tables with clustering columns).
    pub sort_key: String,
    /// Separator between composed key components.
    pub key_separator: String,
    /// A key of a single column keeps its native type (N, S or B) instead
    /// of the composed string (sort keys: ASC only).
    pub native_keys: bool,
    pub static_columns: StaticMode,
    /// Attribute holding the row's expiry (epoch seconds), from its latest
    /// expiring cell; absent for rows without TTL. Use it as the table's
    /// TTL attribute.
    pub ttl_attribute: Option<String>,
    /// Attribute holding the row's newest write time (µs since the epoch).
    pub writetime_attribute: Option<String>,
    pub timestamp_format: TimestampFormat,
    /// Columns left out.
    pub exclude: Vec<String>,
    /// Column → attribute name.
    pub rename: BTreeMap<String, String>,
    /// Column → type override.
    pub types: BTreeMap<String, TypeOverride>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            partition_key: "pk".into(),
            sort_key: "sk".into(),
            key_separator: "#".into(),
            native_keys: false,
            static_columns: StaticMode::Copy,
            ttl_attribute: None,
            writetime_attribute: None,
            timestamp_format: TimestampFormat::Iso,
            exclude: Vec::new(),
            rename: BTreeMap::new(),
            types: BTreeMap::new(),
        }
    }
}

impl MappingConfig {
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// A mapping error (bad configuration or a value that cannot be mapped).
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("mapping: {0}")]
    Config(String),
    #[error("mapping column {column}: {source}")]
    Value {
        column: String,
        #[source]
        source: FmtError,
    },
}

/// DynamoDB key attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

/// The target table's key schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub partition: (String, KeyType),
    pub sort: Option<(String, KeyType)>,
}

/// Counters of values that needed special handling.
#[derive(Debug, Default)]
pub struct MapStats {
    /// Numbers written as `S` (NaN, ±Infinity, beyond 38 digits or
    /// DynamoDB's magnitude).
    pub numbers_as_strings: AtomicU64,
    /// Attributes whose column name collided with a key attribute.
    pub renamed_collisions: AtomicU64,
}

/// One column's place in the item.
#[derive(Debug, Clone)]
struct Target {
    /// Attribute name; `None` if excluded.
    name: Option<String>,
    over: Option<TypeOverride>,
}

/// Maps rows of one table to items.
#[derive(Debug)]
pub struct Mapper {
    pub cfg: MappingConfig,
    pub schema: TableSchema,
    pub keys: KeySchema,
    pk_native: bool,
    sk_native: bool,
    pk_cols: Vec<Target>,
    ck_cols: Vec<Target>,
    static_cols: Vec<Target>,
    regular_cols: Vec<Target>,
    pub stats: MapStats,
    /// Warnings about the configuration (shown once).
    pub warnings: Vec<String>,
}

fn native_key_type(t: &CqlType) -> Option<KeyType> {
    use CqlType as T;
    match t {
        T::Text | T::Ascii => Some(KeyType::S),
        T::Int | T::BigInt | T::SmallInt | T::TinyInt | T::VarInt | T::Decimal => Some(KeyType::N),
        T::Blob => Some(KeyType::B),
        _ => None,
    }
}

impl Mapper {
    pub fn new(schema: &TableSchema, cfg: MappingConfig) -> Result<Mapper, MapError> {
        if cfg.partition_key.is_empty() || cfg.sort_key.is_empty() {
            return Err(MapError::Config(
                "key attribute names may not be empty".into(),
            ));
        }
        if cfg.partition_key == cfg.sort_key {
            return Err(MapError::Config(
                "partition_key and sort_key must differ".into(),
            ));
        }
        let all: Vec<&Column> = schema
            .partition_key
            .iter()
            .chain(schema.clustering.iter())
            .chain(schema.statics.iter())
            .chain(schema.regulars.iter())
            .collect();
        for name in cfg
            .exclude
            .iter()
            .chain(cfg.rename.keys())
            .chain(cfg.types.keys())
        {
            if !all.iter().any(|c| c.name == *name) {
                return Err(MapError::Config(format!(
                    "column {name:?} named in the mapping is not in table {}.{}",
                    schema.keyspace, schema.table
                )));
            }
        }
        let has_sort = !schema.visible_clustering().is_empty();
        // A single key column named like its key attribute becomes that
        // attribute with its native type (e.g. `pk int` → `pk` N).
        let pk_native = schema.partition_key.len() == 1
            && native_key_type(schema.partition_key[0].cql_type.base()).is_some()
            && (cfg.native_keys || schema.partition_key[0].name == cfg.partition_key);
        let ck = schema.visible_clustering();
        let sk_native = has_sort
            && ck.len() == 1
            && !ck[0].cql_type.is_reversed()
            && native_key_type(&ck[0].cql_type).is_some()
            && (cfg.native_keys || ck[0].name == cfg.sort_key);
        let mut warnings = Vec::new();
        let stats = MapStats::default();
        let key_names: Vec<&str> = if has_sort {
            vec![&cfg.partition_key, &cfg.sort_key]
        } else {
            vec![&cfg.partition_key]
        };
        let target = |c: &Column, is_native_key_col: bool, warnings: &mut Vec<String>| -> Target {
            if cfg.exclude.contains(&c.name) {
                return Target {
                    name: None,
                    over: None,
                };
            }
            if is_native_key_col {
                // Written through the key attribute itself.
                return Target {
                    name: None,
                    over: None,
                };
            }
            let mut name = cfg.rename.get(&c.name).cloned().unwrap_or(c.name.clone());
            if key_names.contains(&name.as_str()) {
                let new = format!("{name}_");
                warnings.push(format!(
                    "column {:?} collides with a key attribute: written as {new:?}",
                    c.name
                ));
                stats.renamed_collisions.fetch_add(1, Ordering::Relaxed);
                name = new;
            }
            Target {
                name: Some(name),
                over: cfg.types.get(&c.name).copied(),
            }
        };
        let pk_cols = schema
            .partition_key
            .iter()
            .map(|c| target(c, pk_native, &mut warnings))
            .collect();
        let ck_cols = schema
            .clustering
            .iter()
            .map(|c| target(c, sk_native, &mut warnings))
            .collect();
        let static_cols = schema
            .statics
            .iter()
            .map(|c| target(c, false, &mut warnings))
            .collect();
        let regular_cols = schema
            .regulars
            .iter()
            .map(|c| target(c, false, &mut warnings))
            .collect();
        let pk_type = if pk_native {
            native_key_type(schema.partition_key[0].cql_type.base()).unwrap_or(KeyType::S)
        } else {
            KeyType::S
        };
        let sk_type = if sk_native {
            native_key_type(&ck[0].cql_type).unwrap_or(KeyType::S)
        } else {
            KeyType::S
        };
        // Attribute names must be unique.
        let mut seen: Vec<&str> = key_names.clone();
        let names: Vec<&Target> = [&pk_cols, &ck_cols, &static_cols, &regular_cols]
            .into_iter()
            .flat_map(|v: &Vec<Target>| v.iter())
            .collect();
        for t in names {
            if let Some(n) = &t.name {
                if seen.contains(&n.as_str()) {
                    return Err(MapError::Config(format!(
                        "two columns map to the attribute {n:?}; rename one"
                    )));
                }
                seen.push(n);
            }
        }
        for extra in [&cfg.ttl_attribute, &cfg.writetime_attribute]
            .into_iter()
            .flatten()
        {
            if seen.contains(&extra.as_str()) {
                return Err(MapError::Config(format!(
                    "the attribute {extra:?} is also a column or key"
                )));
            }
        }
        Ok(Mapper {
            keys: KeySchema {
                partition: (cfg.partition_key.clone(), pk_type),
                sort: has_sort.then(|| (cfg.sort_key.clone(), sk_type)),
            },
            cfg,
            schema: schema.clone(),
            pk_native,
            sk_native,
            pk_cols,
            ck_cols,
            static_cols,
            regular_cols,
            stats,
            warnings,
        })
    }

    fn verr(col: &Column, e: FmtError) -> MapError {
        MapError::Value {
            column: col.name.clone(),
            source: e,
        }
    }

    /// The partition-key attribute of a partition.
    pub fn partition_attr(&self, p: &PartitionInfo) -> Result<Attr, MapError> {
        if self.pk_native {
            let col = &self.schema.partition_key[0];
            let v = p.key_parts.first().map(Vec::as_slice).unwrap_or(&[]);
            return self.native_key(col, v).map_err(|e| Self::verr(col, e));
        }
        let mut s = String::new();
        let multi = p.key_parts.len() > 1;
        for (i, (col, v)) in self
            .schema
            .partition_key
            .iter()
            .zip(&p.key_parts)
            .enumerate()
        {
            if i > 0 {
                s.push_str(&self.cfg.key_separator);
            }
            let part = get_string(&col.cql_type, v).map_err(|e| Self::verr(col, e))?;
            if multi {
                // Escape so that different keys never compose equal.
                for ch in part.chars() {
                    match ch {
                        '%' => s.push_str("%25"),
                        c if self.cfg.key_separator.starts_with(c) => {
                            s.push_str(&format!("%{:02X}", c as u32))
                        }
                        c => s.push(c),
                    }
                }
            } else {
                s.push_str(&part);
            }
        }
        Ok(Attr::S(s))
    }

    fn native_key(&self, col: &Column, v: &[u8]) -> Result<Attr, FmtError> {
        Ok(match native_key_type(col.cql_type.base()) {
            Some(KeyType::B) => Attr::B(v.to_vec()),
            Some(KeyType::N) => Attr::N(get_string(&col.cql_type, v)?),
            _ => Attr::S(get_string(&col.cql_type, v)?),
        })
    }

    /// The sort-key attribute of a row (`None` = the static item).
    pub fn sort_attr(&self, clustering: Option<&[Option<Vec<u8>>]>) -> Result<Attr, MapError> {
        let Some(cl) = clustering else {
            return Ok(Attr::S(STATIC_SORT_KEY.into()));
        };
        if self.sk_native {
            let col = &self.schema.clustering[0];
            let v = cl.first().and_then(|v| v.as_deref()).unwrap_or(&[]);
            return self.native_key(col, v).map_err(|e| Self::verr(col, e));
        }
        let mut s = String::new();
        for (i, col) in self.schema.clustering.iter().enumerate() {
            if i > 0 {
                s.push('#');
            }
            encode_component(&col.cql_type, cl.get(i).and_then(|v| v.as_deref()), &mut s)
                .map_err(|e| Self::verr(col, e))?;
        }
        Ok(Attr::S(s))
    }

    /// The key attributes of a row.
    pub fn key(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
    ) -> Result<Item, MapError> {
        // Room for every attribute the item may get: two keys, the
        // columns, the TTL and writetime attributes.
        let room = 4
            + self.pk_cols.len()
            + self.ck_cols.len()
            + self.static_cols.len()
            + self.regular_cols.len();
        let mut item = Vec::with_capacity(room);
        item.push((self.cfg.partition_key.clone(), self.partition_attr(p)?));
        if self.keys.sort.is_some() {
            item.push((self.cfg.sort_key.clone(), self.sort_attr(clustering)?));
        }
        Ok(item)
    }

    /// The item of a live row.
    pub fn row_item(&self, r: &TableRow) -> Result<Item, MapError> {
        let mut item = self.key(r.partition, r.clustering)?;
        self.key_columns(r.partition, r.clustering, &mut item)?;
        let mut meta = Meta::default();
        if let Some((ts, exp)) = r.liveness {
            meta.add(ts, exp);
        }
        if self.cfg.static_columns == StaticMode::Copy || r.clustering.is_none() {
            self.columns(
                &self.schema.statics,
                &self.static_cols,
                r.statics,
                &mut item,
                &mut meta,
            )?;
        }
        self.columns(
            &self.schema.regulars,
            &self.regular_cols,
            r.regulars,
            &mut item,
            &mut meta,
        )?;
        self.meta(&meta, &mut item);
        Ok(item)
    }

    /// The static item of a partition (`static_columns = "item"`).
    pub fn static_item(
        &self,
        p: &PartitionInfo,
        statics: &[LiveColumnData],
    ) -> Result<Item, MapError> {
        let mut item = self.key(p, None)?;
        self.key_columns(p, None, &mut item)?;
        let mut meta = Meta::default();
        self.columns(
            &self.schema.statics,
            &self.static_cols,
            statics,
            &mut item,
            &mut meta,
        )?;
        self.meta(&meta, &mut item);
        Ok(item)
    }

    fn meta(&self, meta: &Meta, item: &mut Item) {
        if let (Some(name), Some(exp)) = (&self.cfg.ttl_attribute, meta.expires) {
            item.push((name.clone(), Attr::N(exp.to_string())));
        }
        if let (Some(name), Some(ts)) = (&self.cfg.writetime_attribute, meta.writetime) {
            item.push((name.clone(), Attr::N(ts.to_string())));
        }
    }

    fn key_columns(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
        item: &mut Item,
    ) -> Result<(), MapError> {
        for ((col, t), v) in self
            .schema
            .partition_key
            .iter()
            .zip(&self.pk_cols)
            .zip(&p.key_parts)
        {
            if let Some(name) = &t.name {
                if let Some(a) = self.scalar(col, t.over, v)? {
                    item.push((name.clone(), a));
                }
            }
        }
        if let Some(cl) = clustering {
            for ((col, t), v) in self.schema.clustering.iter().zip(&self.ck_cols).zip(cl) {
                if let (Some(name), Some(v)) = (&t.name, v) {
                    if let Some(a) = self.scalar(col, t.over, v)? {
                        item.push((name.clone(), a));
                    }
                }
            }
        }
        Ok(())
    }

    fn columns(
        &self,
        cols: &[Column],
        targets: &[Target],
        data: &[LiveColumnData],
        item: &mut Item,
        meta: &mut Meta,
    ) -> Result<(), MapError> {
        for d in data {
            let (Some(col), Some(t)) = (cols.get(d.index), targets.get(d.index)) else {
                continue;
            };
            for c in &d.cells {
                meta.add(c.timestamp, c.expires_at);
            }
            let Some(name) = &t.name else { continue };
            let a = if d.complex {
                self.complex(col, t.over, d)?
            } else {
                match d.cells.first() {
                    Some(c) => self.scalar(col, t.over, &c.value)?,
                    None => None,
                }
            };
            if let Some(a) = a {
                item.push((name.clone(), a));
            }
        }
        Ok(())
    }

    /// A simple (or frozen) column's value; `None` for null/empty.
    fn scalar(
        &self,
        col: &Column,
        over: Option<TypeOverride>,
        v: &[u8],
    ) -> Result<Option<Attr>, MapError> {
        let t = &col.cql_type;
        if t.is_counter() {
            if v.is_empty() {
                return Ok(None);
            }
            let n = counter_value(v).map_err(|e| Self::verr(col, e))?;
            return Ok(Some(Attr::N(n.to_string())));
        }
        if let Some(o) = over {
            return self.overridden(col, o, v).map(Some);
        }
        let value = Value::decode(t, v).map_err(|e| Self::verr(col, e))?;
        Ok(self.value_attr(&value))
    }

    fn overridden(&self, col: &Column, o: TypeOverride, v: &[u8]) -> Result<Attr, MapError> {
        let value = Value::decode(&col.cql_type, v).map_err(|e| Self::verr(col, e))?;
        Ok(match o {
            TypeOverride::B => Attr::B(v.to_vec()),
            TypeOverride::Json => Attr::S(value.to_json()),
            TypeOverride::S => Attr::S(plain_string(&value)),
            TypeOverride::N => {
                let s = plain_string(&value);
                match dynamo_number(&s) {
                    Some(n) if number_fits(&n) => Attr::N(n),
                    _ => {
                        return Err(MapError::Config(format!(
                            "column {}: value {s:?} is not a number DynamoDB can store",
                            col.name
                        )))
                    }
                }
            }
        })
    }

    /// A multi-cell column from its live cells.
    fn complex(
        &self,
        col: &Column,
        over: Option<TypeOverride>,
        d: &LiveColumnData,
    ) -> Result<Option<Attr>, MapError> {
        let t = col.cql_type.base();
        let dec = |t: &'_ CqlType, b: &[u8]| -> Result<Attr, MapError> {
            let v = Value::decode(t, b).map_err(|e| Self::verr(col, e))?;
            Ok(self.value_attr(&v).unwrap_or(Attr::Null))
        };
        // Build a Value for overrides that need the whole text.
        if let Some(o) = over {
            if o != TypeOverride::Json && o != TypeOverride::S {
                return Err(MapError::Config(format!(
                    "column {}: a non-frozen collection can only be overridden to S or JSON",
                    col.name
                )));
            }
        }
        let attr = match t {
            CqlType::List { elem, .. } => {
                let mut v = Vec::with_capacity(d.cells.len());
                for c in &d.cells {
                    v.push(dec(elem, &c.value)?);
                }
                Attr::L(v)
            }
            CqlType::Set { elem, .. } => {
                let mut v = Vec::with_capacity(d.cells.len());
                for c in &d.cells {
                    v.push(dec(elem, c.path.as_deref().unwrap_or(&[]))?);
                }
                self.set_attr(elem, v)
            }
            CqlType::Map { key, value, .. } => {
                let text_keys = matches!(key.base(), CqlType::Text | CqlType::Ascii);
                if text_keys {
                    let mut m = Vec::with_capacity(d.cells.len());
                    for c in &d.cells {
                        let k = c.path.as_deref().unwrap_or(&[]);
                        let k = std::str::from_utf8(k).unwrap_or_default().to_string();
                        m.push((k, dec(value, &c.value)?));
                    }
                    Attr::M(m)
                } else {
                    let mut l = Vec::with_capacity(d.cells.len());
                    for c in &d.cells {
                        let k = dec(key, c.path.as_deref().unwrap_or(&[]))?;
                        l.push(Attr::L(vec![k, dec(value, &c.value)?]));
                    }
                    Attr::L(l)
                }
            }
            CqlType::Udt(u) => {
                let mut m = Vec::new();
                for (i, (fname, ft)) in u.fields.iter().enumerate() {
                    let cell = d.cells.iter().find(|c| {
                        matches!(c.path.as_deref(), Some([a, b]) if u16::from_be_bytes([*a, *b]) as usize == i)
                    });
                    if let Some(c) = cell {
                        let v = Value::decode(ft, &c.value).map_err(|e| Self::verr(col, e))?;
                        if let Some(a) = self.value_attr(&v) {
                            m.push((fname.clone(), a));
                        }
                    }
                }
                Attr::M(m)
            }
            _ => return Ok(None),
        };
        if over.is_some() {
            // S/JSON of a non-frozen column: the JSON text of the mapped value.
            let mut s = String::new();
            attr_json_text(&attr, &mut s);
            return Ok(Some(Attr::S(s)));
        }
        Ok(Some(attr))
    }

    fn number(&self, text: String) -> Attr {
        match dynamo_number(&text) {
            Some(n) if number_fits(&n) => Attr::N(n),
            _ => {
                self.stats
                    .numbers_as_strings
                    .fetch_add(1, Ordering::Relaxed);
                Attr::S(text)
            }
        }
    }

    fn set_attr(&self, elem: &CqlType, v: Vec<Attr>) -> Attr {
        if v.iter().all(|a| matches!(a, Attr::N(_))) && is_numeric(elem) {
            return Attr::NS(
                v.into_iter()
                    .filter_map(|a| match a {
                        Attr::N(n) => Some(n),
                        _ => None,
                    })
                    .collect(),
            );
        }
        if v.iter().all(|a| matches!(a, Attr::S(_) | Attr::N(_)))
            && !matches!(elem.base(), CqlType::Boolean)
        {
            // Strings (or numbers some of which had to become strings).
            let mut ss: Vec<String> = v
                .into_iter()
                .filter_map(|a| match a {
                    Attr::S(s) | Attr::N(s) => Some(s),
                    _ => None,
                })
                .collect();
            ss.dedup();
            return Attr::SS(ss);
        }
        if v.iter().all(|a| matches!(a, Attr::B(_))) {
            return Attr::BS(
                v.into_iter()
                    .filter_map(|a| match a {
                        Attr::B(b) => Some(b),
                        _ => None,
                    })
                    .collect(),
            );
        }
        Attr::L(v)
    }

    /// A decoded value as an attribute; `None` for null/empty.
    pub fn value_attr(&self, v: &Value) -> Option<Attr> {
        Some(match v {
            Value::Empty => return None,
            Value::Ascii(s) | Value::Text(s) => Attr::S(s.to_string()),
            Value::Blob(b) => Attr::B(b.to_vec()),
            Value::Boolean(b) => Attr::Bool(*b),
            Value::BigInt(n) | Value::Counter(n) => Attr::N(n.to_string()),
            Value::Int(n) => Attr::N(n.to_string()),
            Value::SmallInt(n) => Attr::N(n.to_string()),
            Value::TinyInt(n) => Attr::N(n.to_string()),
            Value::Float(f) => {
                if f.is_finite() {
                    self.number(java_float(*f))
                } else {
                    self.stats
                        .numbers_as_strings
                        .fetch_add(1, Ordering::Relaxed);
                    Attr::S(java_float(*f))
                }
            }
            Value::Double(f) => {
                if f.is_finite() {
                    self.number(java_double(*f))
                } else {
                    self.stats
                        .numbers_as_strings
                        .fetch_add(1, Ordering::Relaxed);
                    Attr::S(java_double(*f))
                }
            }
            Value::Timestamp(ms) => match self.cfg.timestamp_format {
                TimestampFormat::EpochMillis => Attr::N(ms.to_string()),
                TimestampFormat::Iso => Attr::S(plain_string(v)),
            },
            Value::VarInt(_) | Value::Decimal { .. } => self.number(v.to_cql_string()),
            Value::Date(_) | Value::Time(_) | Value::Duration { .. } | Value::Inet(_) => {
                Attr::S(plain_string(v))
            }
            Value::Uuid(u) | Value::TimeUuid(u) => Attr::S(format_uuid(u)),
            Value::List(items) | Value::Vector(items) => Attr::L(
                items
                    .iter()
                    .map(|i| self.value_attr(i).unwrap_or(Attr::Null))
                    .collect(),
            ),
            Value::Tuple(items) => Attr::L(
                items
                    .iter()
                    .map(|i| {
                        i.as_ref()
                            .and_then(|i| self.value_attr(i))
                            .unwrap_or(Attr::Null)
                    })
                    .collect(),
            ),
            Value::Set(items) if items.is_empty() => return None,
            Value::Set(items) => {
                let attrs: Vec<Attr> = items
                    .iter()
                    .map(|i| self.value_attr(i).unwrap_or(Attr::Null))
                    .collect();
                let elem_numeric = items.first().is_some_and(value_is_numeric);
                if elem_numeric && attrs.iter().all(|a| matches!(a, Attr::N(_))) {
                    Attr::NS(
                        attrs
                            .into_iter()
                            .filter_map(|a| match a {
                                Attr::N(n) => Some(n),
                                _ => None,
                            })
                            .collect(),
                    )
                } else if items.iter().all(|i| !matches!(i, Value::Boolean(_)))
                    && attrs.iter().all(|a| matches!(a, Attr::S(_) | Attr::N(_)))
                {
                    Attr::SS(
                        attrs
                            .into_iter()
                            .filter_map(|a| match a {
                                Attr::S(s) | Attr::N(s) => Some(s),
                                _ => None,
                            })
                            .collect(),
                    )
                } else if attrs.iter().all(|a| matches!(a, Attr::B(_))) {
                    Attr::BS(
                        attrs
                            .into_iter()
                            .filter_map(|a| match a {
                                Attr::B(b) => Some(b),
                                _ => None,
                            })
                            .collect(),
                    )
                } else {
                    Attr::L(attrs)
                }
            }
            Value::Map(entries) => {
                let text_keys = entries
                    .iter()
                    .all(|(k, _)| matches!(k, Value::Text(_) | Value::Ascii(_)));
                if text_keys && !entries.is_empty() {
                    Attr::M(
                        entries
                            .iter()
                            .map(|(k, v)| {
                                let k = match k {
                                    Value::Text(s) | Value::Ascii(s) => s.to_string(),
                                    _ => String::new(),
                                };
                                (k, self.value_attr(v).unwrap_or(Attr::Null))
                            })
                            .collect(),
                    )
                } else {
                    Attr::L(
                        entries
                            .iter()
                            .map(|(k, v)| {
                                Attr::L(vec![
                                    self.value_attr(k).unwrap_or(Attr::Null),
                                    self.value_attr(v).unwrap_or(Attr::Null),
                                ])
                            })
                            .collect(),
                    )
                }
            }
            Value::Udt(fields) => Attr::M(
                fields
                    .iter()
                    .filter_map(|(n, v)| Some((n.to_string(), self.value_attr(v.as_ref()?)?)))
                    .collect(),
            ),
            other => Attr::S(plain_string(other)),
        })
    }

    /// Check an item against DynamoDB's limits: `Err` names the limit.
    pub fn check_limits(&self, item: &Item) -> Result<(), String> {
        let size = item_size(item);
        if size > 400 * 1024 {
            return Err(format!("item of {size} bytes exceeds DynamoDB's 400 KB"));
        }
        for (name, a) in item.iter().take(2) {
            let (limit, what) = if *name == self.cfg.partition_key {
                (2048, "partition key")
            } else if self.keys.sort.as_ref().is_some_and(|s| s.0 == *name) {
                (1024, "sort key")
            } else {
                continue;
            };
            let len = a.size();
            if len > limit {
                return Err(format!("{what} of {len} bytes exceeds DynamoDB's {limit}"));
            }
            if len == 0 {
                return Err(format!("{what} is empty, which DynamoDB rejects"));
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Meta {
    writetime: Option<i64>,
    expires: Option<i64>,
}

impl Meta {
    fn add(&mut self, ts: i64, exp: Option<i64>) {
        self.writetime = Some(self.writetime.map_or(ts, |w| w.max(ts)));
        if let Some(e) = exp {
            self.expires = Some(self.expires.map_or(e, |x| x.max(e)));
        }
    }
}

fn is_numeric(t: &CqlType) -> bool {
    use CqlType as T;
    matches!(
        t.base(),
        T::Int
            | T::BigInt
            | T::SmallInt
            | T::TinyInt
            | T::VarInt
            | T::Decimal
            | T::Float
            | T::Double
            | T::Counter
    )
}

fn value_is_numeric(v: &Value) -> bool {
    matches!(
        v,
        Value::Int(_)
            | Value::BigInt(_)
            | Value::SmallInt(_)
            | Value::TinyInt(_)
            | Value::VarInt(_)
            | Value::Decimal { .. }
            | Value::Float(_)
            | Value::Double(_)
            | Value::Counter(_)
    )
}

/// The plain text of a value: text as is, timestamps ISO-8601 with `T`,
/// other scalars as their CQL literal text without quotes, collections as
/// their `SELECT JSON` text.
pub fn plain_string(v: &Value) -> String {
    match v {
        Value::Ascii(s) | Value::Text(s) => s.to_string(),
        Value::Timestamp(ms) => sstable_format::value::format_timestamp(*ms).replacen(' ', "T", 1),
        Value::Date(_) | Value::Time(_) | Value::Inet(_) | Value::Duration { .. } => {
            let s = v.to_cql_string();
            s.trim_matches('\'').to_string()
        }
        Value::List(_)
        | Value::Set(_)
        | Value::Map(_)
        | Value::Tuple(_)
        | Value::Udt(_)
        | Value::Vector(_) => v.to_json(),
        _ => v.to_cql_string(),
    }
}

/// JSON text of an attribute's plain value (for S overrides of
/// non-frozen collections).
fn attr_json_text(a: &Attr, out: &mut String) {
    use sstable_format::value::json_quote_into;
    match a {
        Attr::S(s) => json_quote_into(s, out),
        Attr::N(n) => out.push_str(n),
        Attr::B(b) => json_quote_into(&format!("0x{}", sstable_format::value::hex(b)), out),
        Attr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Attr::Null => out.push_str("null"),
        Attr::L(v) => {
            out.push('[');
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                attr_json_text(x, out);
            }
            out.push(']');
        }
        Attr::M(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_quote_into(k, out);
                out.push_str(": ");
                attr_json_text(x, out);
            }
            out.push('}');
        }
        Attr::SS(v) => attr_json_text(&Attr::L(v.iter().cloned().map(Attr::S).collect()), out),
        Attr::NS(v) => attr_json_text(&Attr::L(v.iter().cloned().map(Attr::N).collect()), out),
        Attr::BS(v) => attr_json_text(&Attr::L(v.iter().cloned().map(Attr::B).collect()), out),
    }
}
