//! Schemas recovered without a cluster from the schema tables found in the
//! same data directory or snapshot, read with this crate's own reader:
//! `system_schema.{tables,columns,types,dropped_columns}` (3.0+), else
//! 2.1/2.2's `system.{schema_columnfamilies,schema_columns,schema_usertypes}`.

use crate::ddl::{
    parse_cql_type, parse_schema, resolve_types, ColumnDef, ColumnKind, SchemaFile, TableDef,
};
use crate::error::{ReadError, Result};
use crate::live::LiveColumn;
use crate::live::PartitionState;
use crate::merge::Merger;
use crate::scanner::ScanOptions;
use crate::schema::TableSchema;
use crate::sstable::{table_name_from_dir, SSTable};
use sstable_format::cursor::Cursor;
use sstable_format::types::UdtDef;
use sstable_format::value::Value;
use sstable_format::{Component, CqlType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory of one schema table of keyspace `ks` under `data_dir`, if
/// present (live files first, else the newest snapshot).
fn table_dir(data_dir: &Path, ks: &str, table: &str) -> Option<PathBuf> {
    let ks = data_dir.join(ks);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&ks)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| table_name_from_dir(&n.to_string_lossy()) == table)
        })
        .collect();
    dirs.sort();
    let has_data = |d: &Path| {
        std::fs::read_dir(d).ok().is_some_and(|mut r| {
            r.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with("-Data.db")))
        })
    };
    for d in &dirs {
        if has_data(d) {
            return Some(d.clone());
        }
    }
    for d in &dirs {
        let mut snaps: Vec<PathBuf> = std::fs::read_dir(d.join("snapshots"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        snaps.sort();
        if let Some(s) = snaps.into_iter().rev().find(|s| has_data(s)) {
            return Some(s);
        }
    }
    None
}

/// One `system_schema.columns` row: name, kind, position, type, clustering order.
type ColumnRow = (String, String, i32, String, String);

/// A live value of a schema table's column.
enum Val {
    Simple(Vec<u8>),
    /// A non-frozen collection's live cells: (path, value), in path order.
    Cells(Vec<(Vec<u8>, Vec<u8>)>),
}

impl Val {
    fn simple(&self) -> Option<&[u8]> {
        match self {
            Val::Simple(v) => Some(v),
            Val::Cells(_) => None,
        }
    }
}

/// A live row as (clustering values, column name → value).
type RowCells = (Vec<Vec<u8>>, BTreeMap<String, Val>);

/// Read the live rows of one system table, merged across its sstables. The
/// table's schema comes from `def` (2.x files have none of their own), else
/// from the files' serialization headers.
fn read_rows(dir: &Path, def: Option<&TableDef>) -> Result<Vec<(Vec<u8>, RowCells)>> {
    let mut ssts = Vec::new();
    let mut rd: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ReadError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("-Data.db"))
        .collect();
    rd.sort();
    for p in rd {
        ssts.push(SSTable::open_with_schema(&p, def)?);
    }
    if ssts.is_empty() {
        return Ok(Vec::new());
    }
    let mut schema = match def {
        Some(d) => TableSchema::with_ddl("system", &d.name, &ssts[0].header, d)?,
        None => TableSchema::from_header("system_schema", "t", &ssts[0].header),
    };
    if def.is_none() {
        for s in &ssts[1..] {
            schema.merge_columns(&TableSchema::from_header("system_schema", "t", &s.header));
        }
    }
    let refs: Vec<&SSTable> = ssts.iter().collect();
    let ctypes: Vec<CqlType> = schema
        .clustering
        .iter()
        .map(|c| c.cql_type.clone())
        .collect();
    let mut m = Merger::new(
        &refs,
        ScanOptions::default(),
        ctypes,
        schema.statics.clone(),
        schema.regulars.clone(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    while let Some(p) = m.next_partition(ssts[0].partitioner)? {
        let state = PartitionState::new(p.deletion, now);
        while let Some(row) = m.next_row()? {
            let r = row.as_row();
            let live = state.live(&r);
            if r.is_static || !live.is_live() {
                continue;
            }
            let mut cells = BTreeMap::new();
            for lc in &live.columns {
                let Some(col) = schema.regulars.get(lc.column()) else {
                    continue;
                };
                let v = match lc {
                    LiveColumn::Simple { cell, .. } => Val::Simple(cell.value.to_vec()),
                    LiveColumn::Complex { cells, .. } => Val::Cells(
                        cells
                            .iter()
                            .map(|c| (c.path.unwrap_or(&[]).to_vec(), c.value.to_vec()))
                            .collect(),
                    ),
                };
                cells.insert(col.name.clone(), v);
            }
            let ck = r
                .clustering
                .iter()
                .map(|v| v.unwrap_or(&[]).to_vec())
                .collect();
            out.push((p.key.clone(), (ck, cells)));
        }
    }
    Ok(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The elements of a `set<text>` (frozen: one serialized value; else one
/// cell per element, keyed by it).
fn text_set(v: Option<&Val>) -> Vec<String> {
    match v {
        Some(Val::Cells(cells)) => cells.iter().map(|(p, _)| text(p)).collect(),
        Some(Val::Simple(b)) => {
            let mut c = Cursor::new(b, Component::Value);
            let n = c.i32("set size").unwrap_or(0).max(0);
            (0..n)
                .map_while(|_| c.int_bytes("set element").ok().flatten().map(text))
                .collect()
        }
        None => Vec::new(),
    }
}

fn text_list(t: &CqlType, v: Option<&Val>) -> Vec<String> {
    if let Some(Val::Cells(cells)) = v {
        // A 2.x non-frozen list: one cell per element.
        return cells.iter().map(|(_, b)| text(b)).collect();
    }
    match v.and_then(Val::simple).map(|b| Value::decode(t, b)) {
        Some(Ok(Value::List(v))) => v
            .into_iter()
            .map(|x| match x {
                Value::Text(s) | Value::Ascii(s) => s.to_string(),
                _ => String::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn simple_text(cells: &BTreeMap<String, Val>, name: &str) -> Option<String> {
    cells.get(name).and_then(Val::simple).map(text)
}

fn simple_int(cells: &BTreeMap<String, Val>, name: &str) -> Option<i32> {
    cells
        .get(name)
        .and_then(Val::simple)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_be_bytes)
}

/// Set a table's key columns from (position, name) and (position, name,
/// DESC?) pairs, in position order.
fn set_keys(def: &mut TableDef, mut pk: Vec<(i32, String)>, mut ck: Vec<(i32, String, bool)>) {
    pk.sort();
    ck.sort();
    def.partition_key = pk.into_iter().map(|p| p.1).collect();
    def.clustering_desc = ck.iter().map(|c| c.2).collect();
    def.clustering = ck.into_iter().map(|c| c.1).collect();
}

/// Load the schema of every table from `data_dir/system_schema` (3.0+),
/// else from `data_dir/system`'s 2.x schema tables, or `None` when the
/// directory has neither.
pub fn load(data_dir: &Path) -> Result<Option<SchemaFile>> {
    let Some(columns_dir) = table_dir(data_dir, "system_schema", "columns") else {
        return match table_dir(data_dir, "system", "schema_columns") {
            Some(d) => load_legacy(data_dir, &d).map(Some),
            None => Ok(None),
        };
    };
    let mut file = SchemaFile::default();
    let list_text = CqlType::List {
        elem: Box::new(CqlType::Text),
        frozen: true,
    };
    if let Some(d) = table_dir(data_dir, "system_schema", "types") {
        for (ks, (ck, cells)) in read_rows(&d, None)? {
            let ks = text(&ks);
            let name = ck.first().map(|b| text(b)).unwrap_or_default();
            let names = text_list(&list_text, cells.get("field_names"));
            let types = text_list(&list_text, cells.get("field_types"));
            let fields = names
                .into_iter()
                .zip(types)
                .map(|(n, t)| Ok((n, parse_cql_type(&t, &ks)?.frozen())))
                .collect::<Result<Vec<_>>>()?;
            file.types.push(UdtDef {
                keyspace: ks,
                name,
                fields,
                frozen: false,
            });
        }
    }
    // COMPACT STORAGE, from system_schema.tables' flags (3.x): a table
    // that is not `compound`, or is `dense` or `super`.
    let mut compact: BTreeMap<(String, String), (bool, bool)> = BTreeMap::new();
    if let Some(d) = table_dir(data_dir, "system_schema", "tables") {
        for (ks, (ck, cells)) in read_rows(&d, None)? {
            let table = ck.first().map(|b| text(b)).unwrap_or_default();
            let flags = text_set(cells.get("flags"));
            let has = |f: &str| flags.iter().any(|x| x == f);
            if !has("compound") || has("dense") || has("super") {
                // (static compact: neither compound nor dense)
                compact.insert(
                    (text(&ks), table),
                    (true, !has("compound") && !has("dense")),
                );
            }
        }
    }
    let mut tables: BTreeMap<(String, String), Vec<ColumnRow>> = BTreeMap::new();
    for (ks, (ck, cells)) in read_rows(&columns_dir, None)? {
        let ks = text(&ks);
        let table = ck.first().map(|b| text(b)).unwrap_or_default();
        let column = ck.get(1).map(|b| text(b)).unwrap_or_default();
        let kind = simple_text(&cells, "kind").unwrap_or_default();
        let position = simple_int(&cells, "position").unwrap_or(-1);
        let ty = simple_text(&cells, "type").unwrap_or_default();
        let order = simple_text(&cells, "clustering_order").unwrap_or_default();
        tables
            .entry((ks, table))
            .or_default()
            .push((column, kind, position, ty, order));
    }
    for ((ks, table), cols) in tables {
        let (is_compact, compact_static) = compact
            .get(&(ks.clone(), table.clone()))
            .copied()
            .unwrap_or((false, false));
        let mut def = TableDef::new(Some(ks.clone()), table);
        def.compact_storage = is_compact;
        let mut pk: Vec<(i32, String)> = Vec::new();
        let mut ck: Vec<(i32, String, bool)> = Vec::new();
        for (name, kind, pos, ty, order) in cols {
            // What CQL never shows of a compact table: a static one's
            // clustering column and value column (its columns are listed
            // as static), a dense one's value column of type empty.
            let hidden = match kind.as_str() {
                "clustering" | "regular" => compact_static,
                _ => false,
            } || (is_compact && kind == "regular" && ty == "empty");
            if hidden {
                continue;
            }
            let kind = if compact_static && kind == "static" {
                "regular".to_string()
            } else {
                kind
            };
            let k = match kind.as_str() {
                "partition_key" => {
                    pk.push((pos, name.clone()));
                    ColumnKind::PartitionKey
                }
                "clustering" => {
                    ck.push((pos, name.clone(), order == "desc"));
                    ColumnKind::Clustering
                }
                "static" => ColumnKind::Static,
                _ => ColumnKind::Regular,
            };
            let cql_type = parse_cql_type(&ty, &ks)?;
            def.columns.push(ColumnDef {
                name,
                cql_type,
                kind: k,
            });
        }
        set_keys(&mut def, pk, ck);
        file.tables.push(def);
    }
    // Columns dropped (and perhaps re-added): their old cells are ignored.
    if let Some(d) = table_dir(data_dir, "system_schema", "dropped_columns") {
        for (ks, (ck, cells)) in read_rows(&d, None)? {
            let ks = text(&ks);
            let table = ck.first().map(|b| text(b)).unwrap_or_default();
            let column = ck.get(1).map(|b| text(b)).unwrap_or_default();
            let at = cells
                .get("dropped_time")
                .and_then(Val::simple)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes);
            if let (Some(t), Some(ms)) = (
                file.tables
                    .iter_mut()
                    .find(|t| t.keyspace.as_deref() == Some(&ks) && t.name == table),
                at,
            ) {
                t.dropped.push((column, ms.saturating_mul(1000)));
            }
        }
    }
    resolve_types(&mut file)?;
    Ok(Some(file))
}

/// The 2.1/2.2 schema tables as those versions define them: a superset of
/// both (a column one version lacks is simply absent from its files).
const LEGACY_SCHEMA_DDL: &str = "
CREATE TABLE system.schema_columnfamilies (keyspace_name text, columnfamily_name text,
    bloom_filter_fp_chance double, caching text, cf_id uuid, comment text,
    compaction_strategy_class text, compaction_strategy_options text, comparator text,
    compression_parameters text, default_time_to_live int, default_validator text,
    dropped_columns map<text, bigint>, gc_grace_seconds int, is_dense boolean,
    key_validator text, local_read_repair_chance double, max_compaction_threshold int,
    max_index_interval int, memtable_flush_period_in_ms int, min_compaction_threshold int,
    min_index_interval int, read_repair_chance double, speculative_retry text,
    subcomparator text, type text, key_aliases text, column_aliases text, value_alias text,
    index_interval int, populate_io_cache_on_flush boolean, replicate_on_write boolean,
    PRIMARY KEY (keyspace_name, columnfamily_name));
CREATE TABLE system.schema_columns (keyspace_name text, columnfamily_name text,
    column_name text, component_index int, index_name text, index_options text,
    index_type text, type text, validator text,
    PRIMARY KEY (keyspace_name, columnfamily_name, column_name));
CREATE TABLE system.schema_usertypes (keyspace_name text, type_name text,
    field_names list<text>, field_types list<text>, PRIMARY KEY (keyspace_name, type_name));
";

fn marshal(s: &str) -> Result<CqlType> {
    CqlType::parse_marshal(s).map_err(|e| ReadError::Schema(format!("type `{s}`: {e}")))
}

/// In 2.x, UDTs and every type nested in another are frozen, whatever the
/// type string says.
fn freeze_2x(t: CqlType) -> CqlType {
    let inner = |t: Box<CqlType>| Box::new(freeze_2x(*t).frozen());
    match t {
        CqlType::Udt(mut u) => {
            u.fields = std::mem::take(&mut u.fields)
                .into_iter()
                .map(|(n, f)| (n, freeze_2x(f).frozen()))
                .collect();
            CqlType::Udt(u).frozen()
        }
        CqlType::List { elem, frozen } => CqlType::List {
            elem: inner(elem),
            frozen,
        },
        CqlType::Set { elem, frozen } => CqlType::Set {
            elem: inner(elem),
            frozen,
        },
        CqlType::Map { key, value, frozen } => CqlType::Map {
            key: inner(key),
            value: inner(value),
            frozen,
        },
        CqlType::Tuple(ts) => {
            CqlType::Tuple(ts.into_iter().map(|t| freeze_2x(t).frozen()).collect())
        }
        CqlType::Reversed(t) => CqlType::Reversed(Box::new(freeze_2x(*t))),
        t => t,
    }
}

/// A 2.x option map, stored as a JSON object of strings, as CQL map text.
fn cql_map(entries: &[(String, String)]) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let parts: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}: {}", q(k), q(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn json_entries(json: &str) -> Option<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let o = v.as_object()?;
    Some(
        o.iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// The `WITH` options of a 2.x `schema_columnfamilies` row, as CQL text.
fn legacy_options(cells: &BTreeMap<String, Val>) -> Vec<String> {
    let mut o = Vec::new();
    let double = |n: &str| {
        cells
            .get(n)
            .and_then(Val::simple)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(f64::from_be_bytes)
    };
    if let Some(v) = double("bloom_filter_fp_chance") {
        o.push(format!("bloom_filter_fp_chance = {v}"));
    }
    if let Some(e) = simple_text(cells, "caching").and_then(|c| json_entries(&c)) {
        o.push(format!("caching = {}", cql_map(&e)));
    }
    if let Some(c) = simple_text(cells, "comment") {
        o.push(format!("comment = '{}'", c.replace('\'', "''")));
    }
    if let Some(class) = simple_text(cells, "compaction_strategy_class") {
        let mut e = vec![("class".to_string(), class)];
        if let Some(more) =
            simple_text(cells, "compaction_strategy_options").and_then(|j| json_entries(&j))
        {
            e.extend(more);
        }
        for (col, key) in [
            ("max_compaction_threshold", "max_threshold"),
            ("min_compaction_threshold", "min_threshold"),
        ] {
            if let Some(n) = simple_int(cells, col) {
                if !e.iter().any(|(k, _)| k == key) {
                    e.push((key.to_string(), n.to_string()));
                }
            }
        }
        o.push(format!("compaction = {}", cql_map(&e)));
    }
    if let Some(e) = simple_text(cells, "compression_parameters").and_then(|j| json_entries(&j)) {
        let disabled = e
            .iter()
            .any(|(k, v)| k == "sstable_compression" && v.is_empty());
        if disabled {
            o.push("compression = {'enabled': 'false'}".to_string());
        } else {
            o.push(format!("compression = {}", cql_map(&e)));
        }
    }
    for n in [
        "default_time_to_live",
        "gc_grace_seconds",
        "max_index_interval",
        "memtable_flush_period_in_ms",
        "min_index_interval",
    ] {
        if let Some(v) = simple_int(cells, n) {
            o.push(format!("{n} = {v}"));
        }
    }
    if let Some(v) = simple_text(cells, "speculative_retry") {
        o.push(format!("speculative_retry = '{}'", v.replace('\'', "''")));
    }
    o
}

/// One 2.x `schema_columns` row: name, kind, component index, validator.
type LegacyColumnRow = (String, String, i32, String);

/// Load the schema from 2.1/2.2's `system.schema_*` tables, turned into
/// CQL definitions as Cassandra 3.0's `LegacySchemaMigrator` does.
fn load_legacy(data_dir: &Path, columns_dir: &Path) -> Result<SchemaFile> {
    let defs = parse_schema(LEGACY_SCHEMA_DDL)?;
    let def = |n: &str| {
        defs.table(Some("system"), n)
            .ok_or_else(|| ReadError::Schema(format!("no definition of system.{n}")))
    };
    let mut file = SchemaFile::default();
    let list_text = CqlType::List {
        elem: Box::new(CqlType::Text),
        frozen: false,
    };
    if let Some(d) = table_dir(data_dir, "system", "schema_usertypes") {
        for (ks, (ck, cells)) in read_rows(&d, Some(def("schema_usertypes")?))? {
            let names = text_list(&list_text, cells.get("field_names"));
            let types = text_list(&list_text, cells.get("field_types"));
            let fields = names
                .into_iter()
                .zip(types)
                .map(|(n, t)| Ok((n, freeze_2x(marshal(&t)?).frozen())))
                .collect::<Result<Vec<_>>>()?;
            file.types.push(UdtDef {
                keyspace: text(&ks),
                name: ck.first().map(|b| text(b)).unwrap_or_default(),
                fields,
                frozen: false,
            });
        }
    }
    let mut tables: BTreeMap<(String, String), BTreeMap<String, Val>> = BTreeMap::new();
    if let Some(d) = table_dir(data_dir, "system", "schema_columnfamilies") {
        for (ks, (ck, cells)) in read_rows(&d, Some(def("schema_columnfamilies")?))? {
            let name = ck.first().map(|b| text(b)).unwrap_or_default();
            tables.insert((text(&ks), name), cells);
        }
    }
    let mut columns: BTreeMap<(String, String), Vec<LegacyColumnRow>> = BTreeMap::new();
    for (ks, (ck, cells)) in read_rows(columns_dir, Some(def("schema_columns")?))? {
        let table = ck.first().map(|b| text(b)).unwrap_or_default();
        let column = ck.get(1).map(|b| text(b)).unwrap_or_default();
        columns.entry((text(&ks), table)).or_default().push((
            column,
            simple_text(&cells, "type").unwrap_or_default(),
            simple_int(&cells, "component_index").unwrap_or(0),
            simple_text(&cells, "validator").unwrap_or_default(),
        ));
    }
    for ((ks, table), cols) in columns {
        // Columns of a table that was since dropped.
        let Some(cf) = tables.get(&(ks.clone(), table.clone())) else {
            continue;
        };
        if simple_text(cf, "type").is_some_and(|t| t.eq_ignore_ascii_case("super")) {
            // Super column families have no CQL form; raw mode reads them.
            continue;
        }
        let comparator = simple_text(cf, "comparator").unwrap_or_default();
        let compound = comparator.starts_with("org.apache.cassandra.db.marshal.CompositeType");
        let has_clustering = cols.iter().any(|c| c.1 == "clustering_key");
        let dense = match cf.get("is_dense").and_then(Val::simple) {
            Some([b]) => *b != 0,
            _ => !compound && has_clustering,
        };
        let mut def = TableDef::new(Some(ks.clone()), table);
        def.compact_storage = dense || !compound;
        let mut pk: Vec<(i32, String)> = Vec::new();
        let mut ck: Vec<(i32, String, bool)> = Vec::new();
        for (name, kind, pos, validator) in cols {
            let mut cql_type = freeze_2x(marshal(&validator)?);
            let k = match kind.as_str() {
                "partition_key" => {
                    pk.push((pos, name.clone()));
                    ColumnKind::PartitionKey
                }
                "clustering_key" => {
                    let desc = cql_type.is_reversed();
                    if let CqlType::Reversed(inner) = cql_type {
                        cql_type = freeze_2x(*inner);
                    }
                    ck.push((pos, name.clone(), desc));
                    ColumnKind::Clustering
                }
                "static" => ColumnKind::Static,
                // A dense table without a value column has an empty-named one.
                "compact_value" if name.is_empty() => continue,
                _ => ColumnKind::Regular,
            };
            def.columns.push(ColumnDef {
                name,
                cql_type,
                kind: k,
            });
        }
        set_keys(&mut def, pk, ck);
        def.options = legacy_options(cf);
        // Dropped columns (name → drop time in µs): their old cells are ignored.
        if let Some(Val::Cells(dropped)) = cf.get("dropped_columns") {
            for (name, at) in dropped {
                if let Ok(at) = <[u8; 8]>::try_from(at.as_slice()) {
                    def.dropped.push((text(name), i64::from_be_bytes(at)));
                }
            }
        }
        file.tables.push(def);
    }
    Ok(file)
}

/// The data directory an sstable's directory belongs to:
/// `<data>/<ks>/<table>[/snapshots/<name> | /backups]`.
pub fn data_dir_of(sstable_dir: &Path) -> Option<PathBuf> {
    let mut d = sstable_dir.to_path_buf();
    if d.parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "snapshots")
    {
        d = d.parent()?.parent()?.to_path_buf();
    } else if d.file_name().is_some_and(|n| n == "backups") {
        d = d.parent()?.to_path_buf();
    }
    Some(d.parent()?.parent()?.to_path_buf())
}
