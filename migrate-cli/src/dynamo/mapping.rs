//! From CQL rows to DynamoDB items: the default mapping, the `--mapping`
//! TOML file, and the type table (see the README).

use super::attr::{dynamo_number, int_size, item_size, number_fits, write_s_json, Attr, Item};
use super::sortkey::{encode_component, STATIC_SORT_KEY};
use serde::Deserialize;
use sstable_format::data::counter_value;
use sstable_format::value::{
    format_uuid, get_string, java_double, java_float, json_escape_into, json_needs_escape,
    json_quote_into, push_int, push_uuid, Value,
};
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
    /// The name as DynamoDB JSON text, with its colon (`"name":`).
    json_name: String,
    over: Option<TypeOverride>,
    /// The column's type, if its values are written by [`FastKind`] (not
    /// overridden).
    fast: Option<FastType>,
}

/// A key attribute's name, also as DynamoDB JSON text with its colon.
#[derive(Debug)]
struct KeyName {
    name: String,
    json: String,
}

impl KeyName {
    fn new(name: &str) -> KeyName {
        KeyName {
            name: name.to_string(),
            json: json_attr_name(name),
        }
    }
}

/// An attribute name as DynamoDB JSON text, with its colon (`"name":`).
fn json_attr_name(name: &str) -> String {
    let mut json = String::new();
    json_quote_into(name, &mut json);
    json.push(':');
    json
}

/// Maps rows of one table to items.
#[derive(Debug)]
pub struct Mapper {
    pub cfg: MappingConfig,
    pub schema: TableSchema,
    pub keys: KeySchema,
    pk_native: bool,
    sk_native: bool,
    /// The key attributes' names.
    pk_name: KeyName,
    sk_name: KeyName,
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
        // DynamoDB's limits on names: key attributes 1 to 255 bytes, others
        // 1 byte to under 64 KB.
        if cfg.partition_key.len() > 255 || cfg.sort_key.len() > 255 {
            return Err(MapError::Config(
                "key attribute names may not be longer than 255 bytes".into(),
            ));
        }
        for name in cfg
            .rename
            .values()
            .chain(cfg.ttl_attribute.iter())
            .chain(cfg.writetime_attribute.iter())
        {
            if !map_name_ok(name) {
                return Err(MapError::Config(format!(
                    "attribute name {name:?}: DynamoDB takes names of 1 byte to under 64 KB"
                )));
            }
        }
        if cfg.ttl_attribute.is_some() && cfg.ttl_attribute == cfg.writetime_attribute {
            return Err(MapError::Config(
                "ttl_attribute and writetime_attribute must differ".into(),
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
        if pk_native && matches!(schema.partition_key[0].cql_type.base(), CqlType::Decimal) {
            // Cassandra partitions by the value's bytes, DynamoDB by the number.
            warnings.push(format!(
                "partition key {:?} is a decimal kept as a DynamoDB number: keys equal as \
                 numbers but of different scales (1.0, 1.00) are two Cassandra partitions \
                 and one DynamoDB item",
                schema.partition_key[0].name
            ));
        }
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
                    json_name: String::new(),
                    over: None,
                    fast: None,
                };
            }
            if is_native_key_col {
                // Written through the key attribute itself.
                return Target {
                    name: None,
                    json_name: String::new(),
                    over: None,
                    fast: None,
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
            let json_name = json_attr_name(&name);
            let over = cfg.types.get(&c.name).copied();
            Target {
                name: Some(name),
                json_name,
                over,
                fast: over
                    .is_none()
                    .then(|| FastType::of(c.cql_type.base()))
                    .flatten(),
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
        let pk_name = KeyName::new(&cfg.partition_key);
        let sk_name = KeyName::new(&cfg.sort_key);
        Ok(Mapper {
            keys: KeySchema {
                partition: (cfg.partition_key.clone(), pk_type),
                sort: has_sort.then(|| (cfg.sort_key.clone(), sk_type)),
            },
            cfg,
            schema: schema.clone(),
            pk_native,
            sk_native,
            pk_name,
            sk_name,
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
        self.partition_text(p, &mut s)?;
        Ok(Attr::S(s))
    }

    /// The composed (string) partition key, appended to `s`.
    fn partition_text(&self, p: &PartitionInfo, s: &mut String) -> Result<(), MapError> {
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
            if !multi && plain_key_part(&col.cql_type, v, s) {
                continue;
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
        Ok(())
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
        self.sort_text(cl, &mut s)?;
        Ok(Attr::S(s))
    }

    /// The composed (string) sort key of a clustering, appended to `s`.
    fn sort_text(&self, cl: &[Option<Vec<u8>>], s: &mut String) -> Result<(), MapError> {
        for (i, col) in self.schema.clustering.iter().enumerate() {
            if i > 0 {
                s.push('#');
            }
            encode_component(&col.cql_type, cl.get(i).and_then(|v| v.as_deref()), s)
                .map_err(|e| Self::verr(col, e))?;
        }
        Ok(())
    }

    /// The key attributes of a row.
    pub fn key(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
    ) -> Result<Item, MapError> {
        let mut item = Vec::with_capacity(self.room());
        self.key_attrs(p, clustering, &mut item)?;
        Ok(item)
    }

    fn key_attrs(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
        out: &mut impl ItemOut,
    ) -> Result<(), MapError> {
        let name = &self.pk_name;
        if self.pk_native {
            out.key(name, self.partition_attr(p)?, MAX_PARTITION_KEY);
        } else {
            out.key_text(name, MAX_PARTITION_KEY, &mut |s| self.partition_text(p, s))?;
        }
        if self.keys.sort.is_some() {
            let name = &self.sk_name;
            match clustering {
                Some(cl) if !self.sk_native => {
                    out.key_text(name, MAX_SORT_KEY, &mut |s| self.sort_text(cl, s))?
                }
                _ => out.key(name, self.sort_attr(clustering)?, MAX_SORT_KEY),
            }
        }
        Ok(())
    }

    /// The item of a live row.
    pub fn row_item(&self, r: &TableRow) -> Result<Item, MapError> {
        let mut item = Vec::with_capacity(self.room());
        self.row_into(r, &mut item)?;
        Ok(item)
    }

    /// The DynamoDB JSON of a live row's item (the text `write_map_json`
    /// gives for `row_item`), appended to `out`, when the item is within
    /// DynamoDB's limits. `Ok(false)`, with `out` as it was, when it is
    /// not: `row_item` and `check_limits` then say which limit. `out` is
    /// also left as it was on an error.
    pub fn write_row_json(&self, r: &TableRow, out: &mut String) -> Result<bool, MapError> {
        let start = out.len();
        let mut j = JsonItem {
            out,
            first: true,
            size: 0,
            keys_ok: true,
        };
        j.out.push('{');
        let mapped = self.row_into(r, &mut j);
        j.out.push('}');
        if mapped.is_ok() && j.keys_ok && j.size <= MAX_ITEM {
            return Ok(true);
        }
        out.truncate(start);
        mapped.map(|()| false)
    }

    /// Attributes an item may get: two keys, the columns, TTL and
    /// writetime.
    fn room(&self) -> usize {
        4 + self.pk_cols.len()
            + self.ck_cols.len()
            + self.static_cols.len()
            + self.regular_cols.len()
    }

    fn row_into(&self, r: &TableRow, out: &mut impl ItemOut) -> Result<(), MapError> {
        self.key_attrs(r.partition, r.clustering, out)?;
        self.key_columns(r.partition, r.clustering, out)?;
        let mut meta = self.new_meta();
        if let Some((ts, exp)) = r.liveness {
            meta.add(ts, exp);
        }
        if self.cfg.static_columns == StaticMode::Copy || r.clustering.is_none() {
            self.columns(
                &self.schema.statics,
                &self.static_cols,
                r.statics,
                out,
                &mut meta,
            )?;
        }
        self.columns(
            &self.schema.regulars,
            &self.regular_cols,
            r.regulars,
            out,
            &mut meta,
        )?;
        self.meta(&meta, out);
        Ok(())
    }

    /// The static item of a partition (`static_columns = "item"`).
    pub fn static_item(
        &self,
        p: &PartitionInfo,
        statics: &[LiveColumnData],
    ) -> Result<Item, MapError> {
        let mut item = self.key(p, None)?;
        self.key_columns(p, None, &mut item)?;
        let mut meta = self.new_meta();
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

    fn new_meta(&self) -> Meta {
        Meta {
            wanted: self.cfg.ttl_attribute.is_some() || self.cfg.writetime_attribute.is_some(),
            ..Meta::default()
        }
    }

    fn meta(&self, meta: &Meta, out: &mut impl ItemOut) {
        if let (Some(name), Some(exp)) = (&self.cfg.ttl_attribute, meta.expires) {
            out.attr(name, Attr::N(exp.to_string()));
        }
        if let (Some(name), Some(ts)) = (&self.cfg.writetime_attribute, meta.writetime) {
            out.attr(name, Attr::N(ts.to_string()));
        }
    }

    fn key_columns(
        &self,
        p: &PartitionInfo,
        clustering: Option<&[Option<Vec<u8>>]>,
        out: &mut impl ItemOut,
    ) -> Result<(), MapError> {
        for ((col, t), v) in self
            .schema
            .partition_key
            .iter()
            .zip(&self.pk_cols)
            .zip(&p.key_parts)
        {
            out.scalar(self, col, t, v)?;
        }
        if let Some(cl) = clustering {
            for ((col, t), v) in self.schema.clustering.iter().zip(&self.ck_cols).zip(cl) {
                if let Some(v) = v {
                    out.scalar(self, col, t, v)?;
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
        out: &mut impl ItemOut,
        meta: &mut Meta,
    ) -> Result<(), MapError> {
        for d in data {
            let (Some(col), Some(t)) = (cols.get(d.index), targets.get(d.index)) else {
                continue;
            };
            if meta.wanted {
                for c in &d.cells {
                    meta.add(c.timestamp, c.expires_at);
                }
            }
            if t.name.is_none() {
                continue;
            }
            if !d.complex {
                if let Some(c) = d.cells.first() {
                    out.scalar(self, col, t, c.value)?;
                }
            } else if let Some(a) = self.complex(col, t.over, d)? {
                out.column(t, a);
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
                    v.push(dec(elem, c.value)?);
                }
                Attr::L(v)
            }
            // A set without elements is no value (DynamoDB has no empty set).
            CqlType::Set { .. } if d.cells.is_empty() => return Ok(None),
            CqlType::Set { elem, .. } => {
                let mut v = Vec::with_capacity(d.cells.len());
                for c in &d.cells {
                    v.push(dec(elem, c.path.unwrap_or(&[]))?);
                }
                set_attr(is_numeric(elem), matches!(elem.base(), CqlType::Boolean), v)
            }
            CqlType::Map { key, value, .. } => {
                // Text keys that can all name an entry make an `M`.
                let names: Option<Vec<&str>> =
                    if matches!(key.base(), CqlType::Text | CqlType::Ascii) {
                        d.cells
                            .iter()
                            .map(|c| {
                                std::str::from_utf8(c.path.unwrap_or(&[]))
                                    .ok()
                                    .filter(|k| map_name_ok(k))
                            })
                            .collect()
                    } else {
                        None
                    };
                if let Some(names) = names {
                    let mut m = Vec::with_capacity(d.cells.len());
                    for (k, c) in names.into_iter().zip(d.cells.iter()) {
                        m.push((k.to_string(), dec(value, c.value)?));
                    }
                    Attr::M(m)
                } else {
                    let mut l = Vec::with_capacity(d.cells.len());
                    for c in &d.cells {
                        let k = dec(key, c.path.unwrap_or(&[]))?;
                        l.push(Attr::L(vec![k, dec(value, c.value)?]));
                    }
                    Attr::L(l)
                }
            }
            CqlType::Udt(u) => {
                let mut m = Vec::new();
                for (i, (fname, ft)) in u.fields.iter().enumerate() {
                    let cell = d.cells.iter().find(|c| {
                        matches!(c.path, Some([a, b]) if u16::from_be_bytes([*a, *b]) as usize == i)
                    });
                    if let Some(c) = cell {
                        let v = Value::decode(ft, c.value).map_err(|e| Self::verr(col, e))?;
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
                set_attr(
                    items.first().is_some_and(value_is_numeric),
                    items.iter().any(|i| matches!(i, Value::Boolean(_))),
                    attrs,
                )
            }
            Value::Map(entries) => {
                let text_keys = entries
                    .iter()
                    .all(|(k, _)| matches!(k, Value::Text(s) | Value::Ascii(s) if map_name_ok(s)));
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
        if size > MAX_ITEM {
            return Err(format!("item of {size} bytes exceeds DynamoDB's 400 KB"));
        }
        for (name, a) in item.iter().take(2) {
            let (limit, what) = if *name == self.cfg.partition_key {
                (MAX_PARTITION_KEY, "partition key")
            } else if self.keys.sort.as_ref().is_some_and(|s| s.0 == *name) {
                (MAX_SORT_KEY, "sort key")
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

/// DynamoDB's limits, in bytes by its size rules: an item, a partition key
/// and a sort key.
const MAX_ITEM: usize = 400 * 1024;
const MAX_PARTITION_KEY: usize = 2048;
const MAX_SORT_KEY: usize = 1024;

/// Where a row's attributes go: an `Item`, or its DynamoDB JSON text.
trait ItemOut {
    /// A key attribute, of at most `limit` bytes.
    fn key(&mut self, name: &KeyName, a: Attr, limit: usize);
    /// A string key attribute whose text `text` appends to a buffer.
    fn key_text(
        &mut self,
        name: &KeyName,
        limit: usize,
        text: &mut dyn FnMut(&mut String) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        let mut s = String::new();
        text(&mut s)?;
        self.key(name, Attr::S(s), limit);
        Ok(())
    }
    /// An attribute the configuration names (TTL, writetime).
    fn attr(&mut self, name: &str, a: Attr);
    /// A column's attribute (the column is not excluded).
    fn column(&mut self, t: &Target, a: Attr);
    /// A simple column's value, from its bytes, as `Mapper::scalar` maps
    /// it (nothing for an excluded column).
    fn scalar(&mut self, m: &Mapper, col: &Column, t: &Target, v: &[u8]) -> Result<(), MapError>;
}

impl ItemOut for Item {
    fn key(&mut self, name: &KeyName, a: Attr, _limit: usize) {
        self.push((name.name.clone(), a));
    }

    fn attr(&mut self, name: &str, a: Attr) {
        self.push((name.to_string(), a));
    }

    fn column(&mut self, t: &Target, a: Attr) {
        if let Some(name) = &t.name {
            self.push((name.clone(), a));
        }
    }

    fn scalar(&mut self, m: &Mapper, col: &Column, t: &Target, v: &[u8]) -> Result<(), MapError> {
        if t.name.is_some() {
            if let Some(a) = m.scalar(col, t.over, v)? {
                self.column(t, a);
            }
        }
        Ok(())
    }
}

/// The text `get_string` gives for a partition-key value of the commonest
/// types (text and ascii, integers of their exact length: the values
/// [`FastKind`] reads), appended to `s`; `false`, with `s` unchanged, for
/// anything else.
fn plain_key_part(t: &CqlType, v: &[u8], s: &mut String) -> bool {
    match FastKind::of(t.base(), v) {
        Some(FastKind::Text(text)) => s.push_str(text),
        Some(FastKind::Int(n)) => push_int(s, n),
        _ => return false,
    }
    true
}

/// An item written as DynamoDB JSON as it is mapped, with its size by
/// DynamoDB's rules and whether its keys are within their limits.
struct JsonItem<'o> {
    out: &'o mut String,
    first: bool,
    size: usize,
    keys_ok: bool,
}

impl JsonItem<'_> {
    fn next(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    /// Start an attribute named `name`: `,"name":`.
    fn named(&mut self, name: &str) {
        self.next();
        json_quote_into(name, self.out);
        self.out.push(':');
    }
}

impl ItemOut for JsonItem<'_> {
    fn key(&mut self, name: &KeyName, a: Attr, limit: usize) {
        let len = a.size();
        self.keys_ok &= len > 0 && len <= limit;
        self.next();
        self.out.push_str(&name.json);
        a.write_json(self.out);
        self.size += name.name.len() + len;
    }

    fn key_text(
        &mut self,
        name: &KeyName,
        limit: usize,
        text: &mut dyn FnMut(&mut String) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        // Written as `Attr::S` would be: the text is composed in place,
        // and escaped afterwards only if it must be.
        self.next();
        self.out.push_str(&name.json);
        self.out.push_str("{\"S\":\"");
        let start = self.out.len();
        text(self.out)?;
        let len = self.out.len() - start;
        if json_needs_escape(&self.out[start..]) {
            let raw = self.out.split_off(start);
            json_escape_into(&raw, self.out);
        }
        self.out.push_str("\"}");
        self.keys_ok &= len > 0 && len <= limit;
        self.size += name.name.len() + len;
        Ok(())
    }

    fn attr(&mut self, name: &str, a: Attr) {
        self.named(name);
        a.write_json(self.out);
        self.size += name.len() + a.size();
    }

    fn column(&mut self, t: &Target, a: Attr) {
        if let Some(name) = &t.name {
            self.next();
            self.out.push_str(&t.json_name);
            a.write_json(self.out);
            self.size += name.len() + a.size();
        }
    }

    fn scalar(&mut self, m: &Mapper, col: &Column, t: &Target, v: &[u8]) -> Result<(), MapError> {
        let Some(name) = &t.name else { return Ok(()) };
        if let Some(fast) = t.fast {
            if let Some(kind) = fast.read(v) {
                self.next();
                self.out.push_str(&t.json_name);
                self.size += name.len() + kind.write(v, self.out);
                return Ok(());
            }
        }
        if let Some(a) = m.scalar(col, t.over, v)? {
            self.column(t, a);
        }
        Ok(())
    }
}

/// A set's attribute from its elements' (of a numeric or boolean element
/// type, as said): `NS` of numbers, `SS` of strings (or of numbers some of
/// which had to become strings), `BS` of blobs, each value once; any other
/// mix an `L`.
fn set_attr(numeric: bool, boolean: bool, v: Vec<Attr>) -> Attr {
    if numeric && v.iter().all(|a| matches!(a, Attr::N(_))) {
        return Attr::NS(distinct(
            v.into_iter()
                .filter_map(|a| match a {
                    Attr::N(n) => Some(n),
                    _ => None,
                })
                .collect(),
        ));
    }
    if !boolean && v.iter().all(|a| matches!(a, Attr::S(_) | Attr::N(_))) {
        return Attr::SS(distinct(
            v.into_iter()
                .filter_map(|a| match a {
                    Attr::S(s) | Attr::N(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ));
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

/// Can `k` name an entry of an `M` value? DynamoDB refuses an empty
/// attribute name at any depth ("Empty attribute name") and one of 64 KB or
/// more; a text-keyed map with such a key is written as an `L` of pairs,
/// like maps of other key types.
fn map_name_ok(k: &str) -> bool {
    !k.is_empty() && k.len() < 65536
}

/// A set's members, each once (the first of repeats kept). DynamoDB
/// rejects a set that holds one value twice, and distinct Cassandra
/// elements can map to one value: `-0.0` and `0.0` are two elements of a
/// `set<double>` (Java's `Double.compare` tells them apart), and both are
/// the number `0` in DynamoDB, which has no negative zero.
fn distinct(mut members: Vec<String>) -> Vec<String> {
    if members.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        members.retain(|m| seen.insert(m.clone()));
    }
    members
}

/// Simple values whose DynamoDB JSON is written straight from their bytes
/// (the commonest types), exactly as `Mapper::value_attr` then
/// `Attr::write_json` would write them.
#[derive(Clone, Copy)]
enum FastKind<'v> {
    Text(&'v str),
    Blob,
    Bool(bool),
    Int(i64),
    Uuid(&'v [u8; 16]),
}

/// The types [`FastKind`] reads.
#[derive(Debug, Clone, Copy)]
enum FastType {
    Text,
    Blob,
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Uuid,
}

impl FastType {
    /// `t` (its base), if it is one of the types [`FastKind`] reads.
    fn of(t: &CqlType) -> Option<FastType> {
        use CqlType as T;
        Some(match t {
            T::Text | T::Ascii => FastType::Text,
            T::Blob => FastType::Blob,
            T::Boolean => FastType::Boolean,
            T::TinyInt => FastType::TinyInt,
            T::SmallInt => FastType::SmallInt,
            T::Int => FastType::Int,
            T::BigInt => FastType::BigInt,
            T::Uuid | T::TimeUuid => FastType::Uuid,
            _ => return None,
        })
    }

    /// The decoded value, if `v` is one whose mapping is plain: valid text,
    /// any blob, booleans, integers and UUIDs of their exact lengths.
    /// Empty, malformed and other values take the general path (which
    /// omits or reports them).
    #[inline]
    fn read(self, v: &[u8]) -> Option<FastKind<'_>> {
        Some(match self {
            FastType::Text => FastKind::Text(std::str::from_utf8(v).ok()?),
            FastType::Blob => FastKind::Blob,
            FastType::Boolean => FastKind::Bool(<[u8; 1]>::try_from(v).ok()?[0] != 0),
            FastType::TinyInt => FastKind::Int(i8::from_be_bytes(v.try_into().ok()?).into()),
            FastType::SmallInt => FastKind::Int(i16::from_be_bytes(v.try_into().ok()?).into()),
            FastType::Int => FastKind::Int(i32::from_be_bytes(v.try_into().ok()?).into()),
            FastType::BigInt => FastKind::Int(i64::from_be_bytes(v.try_into().ok()?)),
            FastType::Uuid => FastKind::Uuid(v.try_into().ok()?),
        })
    }
}

impl<'v> FastKind<'v> {
    /// The decoded value of type `t` (its base), as [`FastType::read`].
    #[inline]
    fn of(t: &CqlType, v: &'v [u8]) -> Option<FastKind<'v>> {
        FastType::of(t)?.read(v)
    }

    /// Write the value's DynamoDB JSON; its size by DynamoDB's rules.
    fn write(self, v: &[u8], out: &mut String) -> usize {
        match self {
            FastKind::Text(s) => {
                write_s_json(s, out);
                s.len()
            }
            FastKind::Blob => {
                out.push_str("{\"B\":\"");
                base64_simd::STANDARD.encode_append(v, out);
                out.push_str("\"}");
                v.len()
            }
            FastKind::Bool(b) => {
                out.push_str(if b {
                    "{\"BOOL\":true}"
                } else {
                    "{\"BOOL\":false}"
                });
                1
            }
            FastKind::Int(n) => {
                out.push_str("{\"N\":\"");
                let mut buf = itoa::Buffer::new();
                let digits = buf.format(n);
                out.push_str(digits);
                let size = int_size(digits);
                out.push_str("\"}");
                size
            }
            FastKind::Uuid(u) => {
                out.push_str("{\"S\":\"");
                push_uuid(u, out);
                out.push_str("\"}");
                36
            }
        }
    }
}

#[derive(Default)]
struct Meta {
    /// Whether the cells' times are to be gathered (a TTL or writetime
    /// attribute is configured).
    wanted: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::attr::{normalize_number, write_map_json};
    use crate::dynamo::testgen::{elements_of, frozen_collection, scalar_of};
    use proptest::prelude::*;
    use sstable_format::data::DeletionTime;
    use sstable_format::partitioner::Token;
    use sstable_reader::table::{LiveCell, LiveCells};

    fn col(name: &str, t: CqlType) -> Column {
        Column {
            name: name.into(),
            cql_type: t,
            included: true,
            dropped_at: None,
        }
    }

    /// Table ks.t of these columns, without statics.
    fn table(
        partition_key: Vec<Column>,
        clustering: Vec<Column>,
        regulars: Vec<Column>,
    ) -> TableSchema {
        TableSchema {
            keyspace: "ks".into(),
            table: "t".into(),
            partition_key,
            clustering,
            statics: Vec::new(),
            regulars,
            placeholder_keys: false,
            compact_static: false,
            ddl: None,
        }
    }

    /// A row without statics or expired liveness.
    fn row<'a>(
        partition: &'a PartitionInfo,
        clustering: Option<&'a [Option<Vec<u8>>]>,
        regulars: &'a [LiveColumnData<'a>],
        liveness: Option<(i64, Option<i64>)>,
    ) -> TableRow<'a> {
        TableRow {
            partition,
            clustering,
            statics: &[],
            regulars,
            liveness,
            expired_liveness: None,
        }
    }

    /// A live cell written at timestamp 1, without TTL.
    fn live_cell<'a>(path: Option<&'a [u8]>, value: &'a [u8]) -> LiveCell<'a> {
        LiveCell {
            timestamp: 1,
            ttl: 0,
            expires_at: None,
            path,
            value,
        }
    }

    /// `row` mapped both ways, which must agree: the built item and the
    /// JSON written straight from the row, the same text (`None`, nothing
    /// written, beyond DynamoDB's limits); or the same error, nothing
    /// written (`None`). `what` names the case in a failure.
    fn mapped_both_ways(m: &Mapper, row: &TableRow, what: &str) -> Option<(Item, String)> {
        let mut direct = String::new();
        match m.row_item(row) {
            Ok(item) => {
                let ok = m.write_row_json(row, &mut direct).unwrap();
                assert_eq!(ok, m.check_limits(&item).is_ok(), "{what}");
                if !ok {
                    assert_eq!(direct, "", "{what}");
                    return None;
                }
                let mut text = String::new();
                write_map_json(&item, &mut text);
                assert_eq!(direct, text, "{what}");
                Some((item, text))
            }
            Err(e) => {
                let e2 = m.write_row_json(row, &mut direct).unwrap_err();
                assert_eq!(e.to_string(), e2.to_string(), "{what}");
                assert_eq!(direct, "", "{what}");
                None
            }
        }
    }

    fn cell(v: &[u8]) -> LiveColumnData<'_> {
        LiveColumnData {
            index: 0,
            complex: false,
            cells: LiveCells::One(live_cell(None, v)),
        }
    }

    /// Keys composed straight into the JSON (partition keys of one or two
    /// columns of several types, and sort keys) give the text of the built
    /// item, or the same error.
    #[test]
    fn row_json_keys() {
        let types = [
            CqlType::Text,
            CqlType::Ascii,
            CqlType::TinyInt,
            CqlType::SmallInt,
            CqlType::Int,
            CqlType::BigInt,
            CqlType::Uuid,
            CqlType::Blob,
        ];
        let values: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0x80, 0x01],
            vec![0x80, 0, 0, 0],
            vec![0xff; 8],
            b"a \"b\" \\ c#%\n".to_vec(),
            vec![0xc3, 0x28],
            (0u8..16).collect(),
        ];
        let mut checked = 0;
        for pk in [1usize, 2] {
            for t in &types {
                let schema = table(
                    (0..pk).map(|i| col(&format!("k{i}"), t.clone())).collect(),
                    vec![col("c", t.clone())],
                    vec![col("v", CqlType::Int)],
                );
                let m = Mapper::new(&schema, MappingConfig::default()).unwrap();
                for key in &values {
                    for cl in &values {
                        let p = PartitionInfo {
                            key: key.clone(),
                            key_parts: vec![key.clone(); pk],
                            token: Token::Long(0),
                            deletion: DeletionTime::LIVE,
                        };
                        let clustering = [Some(cl.clone())];
                        let regulars = [cell(&[0, 0, 0, 1])];
                        let row = row(&p, Some(&clustering), &regulars, None);
                        if mapped_both_ways(&m, &row, &format!("{t} {key:?} {cl:?}")).is_some() {
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked >= 60, "{checked}");
    }

    /// Items straight to JSON: the same text as the built item for the
    /// values the fast path takes and the ones it leaves (empty, short,
    /// invalid), and nothing written for items beyond DynamoDB's limits.
    #[test]
    fn row_json_values_and_limits() {
        let mut v = Vec::new();
        for t in [
            CqlType::Text,
            CqlType::Ascii,
            CqlType::Blob,
            CqlType::Boolean,
            CqlType::TinyInt,
            CqlType::SmallInt,
            CqlType::Int,
            CqlType::BigInt,
            CqlType::Uuid,
            CqlType::TimeUuid,
        ] {
            v.push(col(&format!("c{}", v.len()), t));
        }
        let schema = table(
            vec![col("k", CqlType::Text)],
            vec![col("c", CqlType::Int)],
            v.clone(),
        );
        let m = Mapper::new(&schema, MappingConfig::default()).unwrap();
        let values: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0x80],
            vec![0xff, 0xff],
            vec![0x80, 0, 0, 0],
            vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            0x8000_0000_0000_0000u64.to_be_bytes().to_vec(),
            b"plain \"quoted\" \\ text \n".to_vec(),
            vec![0xc3, 0x28],
            (0u8..16).collect(),
            vec![1, 2, 3],
        ];
        let part = |key: &[u8]| PartitionInfo {
            key: key.to_vec(),
            key_parts: vec![key.to_vec()],
            token: Token::Long(0),
            deletion: DeletionTime::LIVE,
        };
        let p = part(b"key");
        let clustering = [Some(7i32.to_be_bytes().to_vec())];
        let mut checked = 0;
        for (i, c) in v.iter().enumerate() {
            for val in &values {
                let mut d = cell(val);
                d.index = i;
                let regulars = [d];
                let row = row(&p, Some(&clustering), &regulars, Some((1, None)));
                let what = format!("{} {val:?}", c.cql_type);
                if mapped_both_ways(&m, &row, &what).is_some() {
                    checked += 1;
                }
            }
        }
        assert!(checked >= 30, "{checked}");

        // Beyond the limits: the item (400 KB), the partition key (2048
        // bytes, not empty) and the sort key (1024).
        let big = vec![b'x'; 400 * 1024];
        let long_key = vec![b'k'; 2049];
        let long_sort = [Some(vec![b's'; 1025])];
        let text_schema = TableSchema {
            clustering: vec![col("c", CqlType::Text)],
            ..schema.clone()
        };
        let mt = Mapper::new(&text_schema, MappingConfig::default()).unwrap();
        let sort = [Some(b"s".to_vec())];
        for (key, cl, value, ok) in [
            (&b"key"[..], &sort, &b"v"[..], true),
            (&b"key"[..], &sort, &big[..], false),
            (&long_key[..], &sort, &b"v"[..], false),
            (&b""[..], &sort, &b"v"[..], false),
            (&b"key"[..], &long_sort, &b"v"[..], false),
        ] {
            let p = part(key);
            let regulars = [cell(value)];
            let row = row(&p, Some(cl), &regulars, None);
            let mut out = String::from("before");
            assert_eq!(mt.write_row_json(&row, &mut out).unwrap(), ok);
            let item = mt.row_item(&row).unwrap();
            assert_eq!(mt.check_limits(&item).is_ok(), ok);
            if !ok {
                assert_eq!(out, "before");
            }
        }
    }

    /// `-0.0` and `0.0`, two elements of a Cassandra `set<double>`, are one
    /// number in DynamoDB: the number set holds it once (DynamoDB rejects
    /// a set with repeats), for a non-frozen and a frozen set alike.
    #[test]
    fn number_sets_hold_each_number_once() {
        let set = |frozen| CqlType::Set {
            elem: Box::new(CqlType::Double),
            frozen,
        };
        let schema = table(
            vec![col("k", CqlType::Int)],
            Vec::new(),
            vec![col("s", set(false)), col("f", set(true))],
        );
        let m = Mapper::new(&schema, MappingConfig::default()).unwrap();
        let p = PartitionInfo {
            key: vec![0, 0, 0, 1],
            key_parts: vec![vec![0, 0, 0, 1]],
            token: Token::Long(0),
            deletion: DeletionTime::LIVE,
        };
        let (neg, zero, two) = (
            (-0.0f64).to_be_bytes(),
            0.0f64.to_be_bytes(),
            2.5f64.to_be_bytes(),
        );
        let cells = LiveColumnData {
            index: 0,
            complex: true,
            cells: LiveCells::Many(vec![
                live_cell(Some(&neg), &[]),
                live_cell(Some(&zero), &[]),
                live_cell(Some(&two), &[]),
            ]),
        };
        let frozen = frozen_collection(3, &[neg.to_vec(), zero.to_vec(), two.to_vec()]);
        let mut f = cell(&frozen);
        f.index = 1;
        let regulars = [cells, f];
        let row = row(&p, None, &regulars, None);
        let (_, text) = mapped_both_ways(&m, &row, "sets").unwrap();
        assert!(
            text.contains(r#""s":{"NS":["0","2.5"]}"#)
                && text.contains(r#""f":{"NS":["0","2.5"]}"#),
            "{text}"
        );
    }

    /// Names DynamoDB refuses are configuration errors: empty, too long
    /// for a key, the TTL and writetime attributes alike.
    #[test]
    fn attribute_names_dynamodb_refuses() {
        let schema = table(
            vec![col("k", CqlType::Int)],
            Vec::new(),
            vec![col("v", CqlType::Int)],
        );
        let renamed = |to: &str| MappingConfig {
            rename: [("v".to_string(), to.to_string())].into_iter().collect(),
            ..MappingConfig::default()
        };
        let bad = [
            renamed(""),
            MappingConfig {
                partition_key: "p".repeat(256),
                ..MappingConfig::default()
            },
            MappingConfig {
                ttl_attribute: Some(String::new()),
                ..MappingConfig::default()
            },
            MappingConfig {
                ttl_attribute: Some("t".into()),
                writetime_attribute: Some("t".into()),
                ..MappingConfig::default()
            },
        ];
        for cfg in bad {
            assert!(
                matches!(Mapper::new(&schema, cfg.clone()), Err(MapError::Config(_))),
                "{cfg:?}"
            );
        }
        assert!(Mapper::new(&schema, renamed("value")).is_ok());
    }

    /// A decimal partition key kept as a number warns that keys of
    /// different scales meet in one item; other native keys do not.
    #[test]
    fn decimal_native_partition_key_warns() {
        for (t, warns) in [(CqlType::Decimal, true), (CqlType::Int, false)] {
            let schema = table(vec![col("k", t)], Vec::new(), vec![col("v", CqlType::Int)]);
            let cfg = MappingConfig {
                native_keys: true,
                ..MappingConfig::default()
            };
            let m = Mapper::new(&schema, cfg).unwrap();
            assert_eq!(
                m.warnings.iter().any(|w| w.contains("different scales")),
                warns,
                "{:?}",
                m.warnings
            );
        }
    }

    fn scalar_types() -> Vec<CqlType> {
        use CqlType as T;
        vec![
            T::Ascii,
            T::BigInt,
            T::Blob,
            T::Boolean,
            T::Date,
            T::Decimal,
            T::Double,
            T::Float,
            T::Inet,
            T::Int,
            T::SmallInt,
            T::Text,
            T::Time,
            T::Timestamp,
            T::TimeUuid,
            T::TinyInt,
            T::Uuid,
            T::VarInt,
        ]
    }

    /// A generated column's data: one cell's value, or a non-frozen
    /// collection's cells (path, value).
    #[derive(Debug, Clone)]
    enum Data {
        Value(Vec<u8>),
        Cells(Vec<(Vec<u8>, Vec<u8>)>),
    }

    /// Fields' values as a tuple or frozen UDT stores them: each one's
    /// length (-1 for null) and bytes.
    fn fields_value(fields: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut v = Vec::new();
        for f in fields {
            match f {
                Some(b) => {
                    v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    v.extend_from_slice(b);
                }
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        v
    }

    /// A column of a simple type, a frozen or non-frozen list, set or map
    /// of simple types, a tuple, a frozen or non-frozen UDT of two simple
    /// fields, or a vector of fixed-size elements, and a value of it as
    /// Cassandra would store it.
    fn column() -> impl Strategy<Value = (CqlType, Data)> {
        let n = scalar_types().len();
        (0..11usize, 0..n, 0..n).prop_flat_map(|(kind, a, b)| {
            let ts = scalar_types();
            let (ta, tb) = (ts[a].clone(), ts[b].clone());
            let (ea, eb) = (Box::new(ta.clone()), Box::new(tb.clone()));
            let frozen = kind <= 3;
            match kind {
                0 => scalar_of(&ta)
                    .prop_map(move |v| (ta.clone(), Data::Value(v)))
                    .boxed(),
                1 | 2 | 4 | 5 => {
                    let set = kind == 2 || kind == 4;
                    elements_of(&ta, set)
                        .prop_map(move |v| {
                            let elem = ea.clone();
                            let t = if set {
                                CqlType::Set { elem, frozen }
                            } else {
                                CqlType::List { elem, frozen }
                            };
                            if frozen {
                                return (t, Data::Value(frozen_collection(v.len(), &v)));
                            }
                            // A set's cell paths are its elements; a list's
                            // are timeuuids, in order, over its elements.
                            let cells = v
                                .into_iter()
                                .enumerate()
                                .map(|(i, e)| {
                                    if set {
                                        return (e, Vec::new());
                                    }
                                    let mut path = [0u8; 16];
                                    path[6] = 0x10;
                                    path[15] = i as u8;
                                    (path.to_vec(), e)
                                })
                                .collect();
                            (t, Data::Cells(cells))
                        })
                        .boxed()
                }
                7..=9 => (
                    proptest::option::of(scalar_of(&ta)),
                    proptest::option::of(scalar_of(&tb)),
                )
                    .prop_map(move |(x, y)| {
                        let fields =
                            vec![("a".to_string(), ta.clone()), ("b".to_string(), tb.clone())];
                        let udt = |frozen| {
                            CqlType::Udt(Box::new(sstable_format::types::UdtDef {
                                keyspace: "ks".into(),
                                name: "u".into(),
                                fields: fields.clone(),
                                frozen,
                            }))
                        };
                        match kind {
                            7 => (
                                CqlType::Tuple(vec![ta.clone(), tb.clone()]),
                                Data::Value(fields_value(&[x, y])),
                            ),
                            8 => (udt(true), Data::Value(fields_value(&[x, y]))),
                            // A non-frozen UDT's cells: the field's index as path.
                            _ => (
                                udt(false),
                                Data::Cells(
                                    [x, y]
                                        .into_iter()
                                        .enumerate()
                                        .filter_map(|(i, f)| {
                                            Some(((i as u16).to_be_bytes().to_vec(), f?))
                                        })
                                        .collect(),
                                ),
                            ),
                        }
                    })
                    .boxed(),
                10 => {
                    let elem = [
                        CqlType::Float,
                        CqlType::Double,
                        CqlType::Int,
                        CqlType::BigInt,
                    ][a % 4]
                        .clone();
                    proptest::collection::vec(scalar_of(&elem), 1..4)
                        .prop_map(move |v| {
                            let t = CqlType::Vector {
                                elem: Box::new(elem.clone()),
                                dimension: v.len() as u32,
                            };
                            (t, Data::Value(v.concat()))
                        })
                        .boxed()
                }
                _ => (elements_of(&ta, true), elements_of(&tb, false))
                    .prop_map(move |(keys, values)| {
                        let t = CqlType::Map {
                            key: ea.clone(),
                            value: eb.clone(),
                            frozen,
                        };
                        let pairs: Vec<(Vec<u8>, Vec<u8>)> = keys.into_iter().zip(values).collect();
                        if frozen {
                            let flat: Vec<Vec<u8>> =
                                pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                            return (t, Data::Value(frozen_collection(flat.len() / 2, &flat)));
                        }
                        (t, Data::Cells(pairs))
                    })
                    .boxed(),
            }
        })
    }

    /// What DynamoDB accepts in an attribute value: numbers it can store,
    /// sets that are not empty and hold each value once, map names once.
    fn dynamodb_valid(a: &Attr) -> Result<(), String> {
        let once = |v: Vec<String>, what: &str| {
            let n = v.len();
            let set: std::collections::HashSet<String> = v.into_iter().collect();
            if n == 0 || set.len() != n {
                return Err(format!("{what} empty or with repeats: {a:?}"));
            }
            Ok(())
        };
        match a {
            Attr::N(n) if !number_fits(n) => Err(format!("number {n:?}")),
            Attr::NS(v) => {
                if let Some(n) = v.iter().find(|n| !number_fits(n)) {
                    return Err(format!("number {n:?} in {a:?}"));
                }
                once(
                    v.iter()
                        .map(|n| normalize_number(n).unwrap_or_default())
                        .collect(),
                    "NS",
                )
            }
            Attr::SS(v) => once(v.clone(), "SS"),
            Attr::BS(v) => once(v.iter().map(|b| format!("{b:?}")).collect(), "BS"),
            Attr::L(v) => v.iter().try_for_each(dynamodb_valid),
            Attr::M(m) => {
                // Names: not empty (DynamoDB answers "Empty attribute name"), each once.
                if m.iter().any(|(k, _)| k.is_empty() || k.len() >= 65536) {
                    return Err(format!("M name empty or too long: {a:?}"));
                }
                if !m.is_empty() {
                    once(m.iter().map(|(k, _)| k.clone()).collect(), "M names")?;
                }
                m.iter().try_for_each(|(_, v)| dynamodb_valid(v))
            }
            _ => Ok(()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Rows of columns of every simple type and of collections of them
        /// (edge values included: NaN, both zeros, any decimal scale) map
        /// to items DynamoDB accepts, and the JSON written straight from
        /// the row is the built item's, or the same error; with the
        /// default mapping, timestamps as numbers with TTL and writetime
        /// attributes, and native keys.
        #[test]
        fn mapped_items_are_valid_dynamodb(
            cols in proptest::collection::vec(column(), 1..5),
            key in "[a-z]{0,3}",
            ck in any::<i32>(),
            config in 0..3usize,
        ) {
            let schema = table(vec![col("k", CqlType::Text)], vec![col("c", CqlType::Int)], cols
                    .iter()
                    .enumerate()
                    .map(|(i, (t, _))| col(&format!("v{i}"), t.clone()))
                    .collect());
            let cfg = match config {
                0 => MappingConfig::default(),
                1 => MappingConfig {
                    timestamp_format: TimestampFormat::EpochMillis,
                    ttl_attribute: Some("expires".into()),
                    writetime_attribute: Some("written".into()),
                    ..MappingConfig::default()
                },
                _ => MappingConfig {
                    native_keys: true,
                    ..MappingConfig::default()
                },
            };
            let m = Mapper::new(&schema, cfg).unwrap();
            let p = PartitionInfo {
                key: key.clone().into_bytes(),
                key_parts: vec![key.into_bytes()],
                token: Token::Long(0),
                deletion: DeletionTime::LIVE,
            };
            let regulars: Vec<LiveColumnData> = cols
                .iter()
                .enumerate()
                .map(|(index, (_, d))| match d {
                    Data::Value(v) => LiveColumnData {
                        index,
                        complex: false,
                        cells: LiveCells::One(live_cell(None, v)),
                    },
                    Data::Cells(c) => LiveColumnData {
                        index,
                        complex: true,
                        cells: LiveCells::Many(c.iter().map(|(p, v)| live_cell(Some(p), v)).collect()),
                    },
                })
                .collect();
            let clustering = [Some(ck.to_be_bytes().to_vec())];
            let row = row(&p, Some(&clustering), &regulars, Some((1, None)));
            if let Some((item, text)) = mapped_both_ways(&m, &row, "generated row") {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{}", text);
                for (name, a) in &item {
                    prop_assert!(dynamodb_valid(a).is_ok(), "{}: {:?}", name, dynamodb_valid(a));
                }
            }
        }
    }

    /// The TTL and writetime attributes: the latest expiry and the latest
    /// timestamp of the row's cells and liveness, only when configured.
    #[test]
    fn ttl_and_writetime_attributes() {
        let schema = table(
            vec![col("k", CqlType::Int)],
            Vec::new(),
            vec![col("a", CqlType::Int), col("b", CqlType::Text)],
        );
        let p = PartitionInfo {
            key: vec![0, 0, 0, 7],
            key_parts: vec![vec![0, 0, 0, 7]],
            token: Token::Long(0),
            deletion: DeletionTime::LIVE,
        };
        let mut a = cell(&[0, 0, 0, 1]);
        let mut b = cell(b"x");
        b.index = 1;
        if let (LiveCells::One(ca), LiveCells::One(cb)) = (&mut a.cells, &mut b.cells) {
            (ca.timestamp, ca.expires_at) = (1_000_000, Some(1_900_000_000));
            (cb.timestamp, cb.expires_at) = (3_000_000, Some(1_800_000_000));
        }
        let regulars = [a, b];
        let row = row(&p, None, &regulars, Some((2_000_000, None)));
        let with = MappingConfig {
            ttl_attribute: Some("expires".into()),
            writetime_attribute: Some("written".into()),
            ..MappingConfig::default()
        };
        let mut got = Vec::new();
        for cfg in [with, MappingConfig::default()] {
            let m = Mapper::new(&schema, cfg).unwrap();
            got.push(mapped_both_ways(&m, &row, "times").unwrap().1);
        }
        assert!(
            got[0].ends_with(r#","expires":{"N":"1900000000"},"written":{"N":"3000000"}}"#),
            "{}",
            got[0]
        );
        assert!(
            !got[1].contains("expires") && !got[1].contains("written"),
            "{}",
            got[1]
        );
    }
}
