//! Schemas recovered without a cluster from the `system_schema` keyspace
//! (3.0+) found in the same data directory or snapshot: tables, columns and
//! user types, read with this crate's own reader.

use crate::ddl::{parse_cql_type, resolve_types, ColumnDef, ColumnKind, SchemaFile, TableDef};
use crate::error::{ReadError, Result};
use crate::live::PartitionState;
use crate::merge::Merger;
use crate::scanner::ScanOptions;
use crate::schema::TableSchema;
use crate::sstable::{table_name_from_dir, SSTable};
use sstable_format::data::ColumnData;
use sstable_format::types::UdtDef;
use sstable_format::value::Value;
use sstable_format::CqlType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory of one system_schema table under `data_dir`, if present
/// (live files first, else the newest snapshot).
fn table_dir(data_dir: &Path, table: &str) -> Option<PathBuf> {
    let ks = data_dir.join("system_schema");
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

/// A live row as (clustering values, column name → cell value bytes / complex cells).
type RowCells = (Vec<Vec<u8>>, BTreeMap<String, Vec<u8>>);

/// Read the live rows of one system table, merged across its sstables.
fn read_rows(dir: &Path) -> Result<Vec<(Vec<u8>, RowCells)>> {
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
        ssts.push(SSTable::open(&p)?);
    }
    if ssts.is_empty() {
        return Ok(Vec::new());
    }
    let mut schema = TableSchema::from_header("system_schema", "t", &ssts[0].header);
    for s in &ssts[1..] {
        schema.merge_columns(&TableSchema::from_header("system_schema", "t", &s.header));
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
            for cd in &r.columns {
                let Some(col) = schema.regulars.get(cd.column()) else {
                    continue;
                };
                if let ColumnData::Simple { cell, .. } = cd {
                    if cell.is_live(now) && !r.deletion.deletes(cell.timestamp) {
                        cells.insert(col.name.clone(), cell.value.to_vec());
                    }
                }
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

fn text_list(t: &CqlType, b: Option<&Vec<u8>>) -> Vec<String> {
    match b.map(|b| Value::decode(t, b)) {
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

/// Load the schema of every table from `data_dir/system_schema`, or `None`
/// when the directory has no system_schema keyspace.
pub fn load(data_dir: &Path) -> Result<Option<SchemaFile>> {
    let Some(columns_dir) = table_dir(data_dir, "columns") else {
        return Ok(None);
    };
    let mut file = SchemaFile::default();
    let list_text = CqlType::List {
        elem: Box::new(CqlType::Text),
        frozen: true,
    };
    if let Some(d) = table_dir(data_dir, "types") {
        for (ks, (ck, cells)) in read_rows(&d)? {
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
    let mut tables: BTreeMap<(String, String), Vec<ColumnRow>> = BTreeMap::new();
    for (ks, (ck, cells)) in read_rows(&columns_dir)? {
        let ks = text(&ks);
        let table = ck.first().map(|b| text(b)).unwrap_or_default();
        let column = ck.get(1).map(|b| text(b)).unwrap_or_default();
        let kind = cells.get("kind").map(|b| text(b)).unwrap_or_default();
        let position = cells
            .get("position")
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(i32::from_be_bytes)
            .unwrap_or(-1);
        let ty = cells.get("type").map(|b| text(b)).unwrap_or_default();
        let order = cells
            .get("clustering_order")
            .map(|b| text(b))
            .unwrap_or_default();
        tables
            .entry((ks, table))
            .or_default()
            .push((column, kind, position, ty, order));
    }
    for ((ks, table), cols) in tables {
        let mut def = TableDef::new(Some(ks.clone()), table);
        let mut pk: Vec<(i32, String)> = Vec::new();
        let mut ck: Vec<(i32, String, bool)> = Vec::new();
        for (name, kind, pos, ty, order) in cols {
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
        pk.sort();
        ck.sort();
        def.partition_key = pk.into_iter().map(|p| p.1).collect();
        def.clustering_desc = ck.iter().map(|c| c.2).collect();
        def.clustering = ck.into_iter().map(|c| c.1).collect();
        file.tables.push(def);
    }
    // Columns dropped (and perhaps re-added): their old cells are ignored.
    if let Some(d) = table_dir(data_dir, "dropped_columns") {
        for (ks, (ck, cells)) in read_rows(&d)? {
            let ks = text(&ks);
            let table = ck.first().map(|b| text(b)).unwrap_or_default();
            let column = ck.get(1).map(|b| text(b)).unwrap_or_default();
            let at = cells
                .get("dropped_time")
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
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
