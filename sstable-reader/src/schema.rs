//! The schema of one table as the reader uses it: names and types of the
//! key columns (from DDL, or placeholders), and of the static and regular
//! columns (from the serialization header).

use crate::ddl::{ColumnKind, TableDef};
use crate::error::{ReadError, Result};
use sstable_format::statistics::SerializationHeader;
use sstable_format::CqlType;

/// A named, typed column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub cql_type: CqlType,
    /// `false` when the data of this column is to be ignored (dropped column).
    pub included: bool,
    /// The column was dropped at this time (µs) and added again: cells
    /// written up to then belong to the old column and are ignored.
    pub dropped_at: Option<i64>,
}

/// The resolved schema of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub keyspace: String,
    pub table: String,
    pub partition_key: Vec<Column>,
    /// Clustering columns; types keep `Reversed` for DESC order.
    pub clustering: Vec<Column>,
    /// In the header's (sorted) order, aligned with the row decoder's indices.
    pub statics: Vec<Column>,
    pub regulars: Vec<Column>,
    /// Key names are placeholders (no DDL was given).
    pub placeholder_keys: bool,
    /// A `COMPACT STORAGE` table without clustering columns: its columns are
    /// stored as statics, with a hidden clustering column and value.
    pub compact_static: bool,
    /// The table definition used, if any.
    pub ddl: Option<TableDef>,
}

fn header_key_types(h: &SerializationHeader) -> Vec<CqlType> {
    match &h.key_type {
        CqlType::Composite(ts) => ts.clone(),
        t => vec![t.clone()],
    }
}

/// Do two types agree? (inner frozen-ness and UDT field lists are not compared strictly)
pub fn types_agree(ddl: &CqlType, header: &CqlType) -> bool {
    use CqlType as T;
    match (ddl.base(), header.base()) {
        (
            T::List {
                elem: a,
                frozen: fa,
            },
            T::List {
                elem: b,
                frozen: fb,
            },
        )
        | (
            T::Set {
                elem: a,
                frozen: fa,
            },
            T::Set {
                elem: b,
                frozen: fb,
            },
        ) => fa == fb && types_agree(a, b),
        (
            T::Map {
                key: ka,
                value: va,
                frozen: fa,
            },
            T::Map {
                key: kb,
                value: vb,
                frozen: fb,
            },
        ) => fa == fb && types_agree(ka, kb) && types_agree(va, vb),
        (T::Tuple(a), T::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| types_agree(x, y))
        }
        (T::Udt(a), T::Udt(b)) => a.name == b.name && a.frozen == b.frozen,
        (
            T::Vector {
                elem: a,
                dimension: da,
            },
            T::Vector {
                elem: b,
                dimension: db,
            },
        ) => da == db && types_agree(a, b),
        (T::Blob, T::Custom(_)) | (T::Custom(_), T::Blob) => true,
        (a, b) => a == b,
    }
}

impl TableSchema {
    /// `gc_grace_seconds` from the table's DDL options, if given there.
    pub fn gc_grace_seconds(&self) -> Option<i64> {
        let d = self.ddl.as_ref()?;
        d.options.iter().find_map(|o| {
            let (k, v) = o.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("gc_grace_seconds"))
                .then(|| v.trim().parse::<i64>().ok())
                .flatten()
        })
    }

    /// Build from the header alone, with the placeholder key names
    /// Cassandra's sstabledump uses (`partitionkey`, `clustering`, `clustering1`, …).
    /// A composite partition key is split into `partitionkey`, `partitionkey1`, ….
    pub fn from_header(keyspace: &str, table: &str, h: &SerializationHeader) -> TableSchema {
        let pk = header_key_types(h)
            .into_iter()
            .enumerate()
            .map(|(i, t)| Column {
                name: if i == 0 {
                    "partitionkey".into()
                } else {
                    format!("partitionkey{i}")
                },
                cql_type: t,
                included: true,
                dropped_at: None,
            })
            .collect();
        let clustering = h
            .clustering_types
            .iter()
            .enumerate()
            .map(|(i, t)| Column {
                name: if i == 0 {
                    "clustering".into()
                } else {
                    format!("clustering{i}")
                },
                cql_type: t.clone(),
                included: true,
                dropped_at: None,
            })
            .collect();
        let cols = |v: &[sstable_format::statistics::HeaderColumn]| {
            v.iter()
                .map(|c| Column {
                    name: c.name_str(),
                    cql_type: c.cql_type.clone(),
                    included: true,
                    dropped_at: None,
                })
                .collect::<Vec<_>>()
        };
        let mut s = TableSchema {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            partition_key: pk,
            clustering,
            statics: cols(&h.static_columns),
            regulars: cols(&h.regular_columns),
            placeholder_keys: true,
            compact_static: false,
            ddl: None,
        };
        // A static COMPACT STORAGE table (3.0+ layout): one hidden clustering
        // column, statics holding the data, and only EmptyType regulars.
        if h.clustering_types.len() == 1
            && !h.static_columns.is_empty()
            && h.regular_columns
                .iter()
                .all(|c| matches!(c.cql_type, CqlType::Empty))
        {
            s.compact_static = true;
        }
        s
    }

    /// Build from the header and a DDL table definition, checking the types agree.
    pub fn with_ddl(
        keyspace: &str,
        table: &str,
        h: &SerializationHeader,
        def: &TableDef,
    ) -> Result<TableSchema> {
        let mut s = TableSchema::from_header(keyspace, table, h);
        let err = |m: String| ReadError::Schema(format!("{keyspace}.{table}: {m}"));
        let key_types = header_key_types(h);
        if def.partition_key.len() != key_types.len() {
            return Err(err(format!(
                "the DDL has {} partition key column(s), the sstable {}",
                def.partition_key.len(),
                key_types.len()
            )));
        }
        for (i, name) in def.partition_key.iter().enumerate() {
            let c = def
                .column(name)
                .ok_or_else(|| err(format!("partition key column `{name}` not defined")))?;
            if !types_agree(&c.cql_type, &key_types[i]) {
                return Err(err(format!(
                    "column `{name}` is {} in the DDL but {} in the sstable",
                    c.cql_type.cql_name(),
                    key_types[i].cql_name()
                )));
            }
            s.partition_key[i] = Column {
                name: name.clone(),
                cql_type: key_types[i].clone(),
                included: true,
                dropped_at: None,
            };
        }
        let compact_static = def.compact_storage && def.clustering.is_empty();
        if compact_static {
            s.compact_static = true;
        } else {
            s.compact_static = false;
            if def.clustering.len() != h.clustering_types.len() {
                return Err(err(format!(
                    "the DDL has {} clustering column(s), the sstable {}",
                    def.clustering.len(),
                    h.clustering_types.len()
                )));
            }
            for (i, name) in def.clustering.iter().enumerate() {
                let c = def
                    .column(name)
                    .ok_or_else(|| err(format!("clustering column `{name}` not defined")))?;
                let ht = &h.clustering_types[i];
                if !types_agree(&c.cql_type, ht) {
                    return Err(err(format!(
                        "column `{name}` is {} in the DDL but {} in the sstable",
                        c.cql_type.cql_name(),
                        ht.base().cql_name()
                    )));
                }
                if def.clustering_desc[i] != ht.is_reversed() {
                    return Err(err(format!(
                        "column `{name}` is {} in the DDL but {} in the sstable",
                        if def.clustering_desc[i] {
                            "DESC"
                        } else {
                            "ASC"
                        },
                        if ht.is_reversed() { "DESC" } else { "ASC" }
                    )));
                }
                s.clustering[i] = Column {
                    name: name.clone(),
                    cql_type: ht.clone(),
                    included: true,
                    dropped_at: None,
                };
            }
        }
        for (list, want_static) in [(&mut s.statics, true), (&mut s.regulars, false)] {
            for col in list.iter_mut() {
                col.dropped_at = def
                    .dropped
                    .iter()
                    .filter(|(n, _)| *n == col.name)
                    .map(|(_, t)| *t)
                    .max();
                match def.column(&col.name) {
                    Some(d) => {
                        let is_static = d.kind == ColumnKind::Static
                            || (compact_static && d.kind == ColumnKind::Regular);
                        if matches!(d.kind, ColumnKind::PartitionKey | ColumnKind::Clustering)
                            || is_static != want_static
                        {
                            return Err(err(format!(
                                "column `{}` has a different kind in the DDL and the sstable",
                                col.name
                            )));
                        }
                        if !types_agree(&d.cql_type, &col.cql_type) {
                            return Err(err(format!(
                                "column `{}` is {} in the DDL but {} in the sstable",
                                col.name,
                                d.cql_type.cql_name(),
                                col.cql_type.cql_name()
                            )));
                        }
                    }
                    None => {
                        // Hidden compact-storage value column, or a dropped column.
                        col.included = false;
                    }
                }
            }
        }
        // Columns the DDL has and the header does not: Cassandra 3.x
        // writes in a header only the columns its memtable held, so a
        // column without data in this sstable is missing, yet `SELECT`
        // shows it (as null) and the table has it. Added after the
        // header's own, whose indices the rows' column bitmaps use.
        let mut extra: Vec<(bool, Column)> = Vec::new();
        for d in &def.columns {
            let is_static = match d.kind {
                ColumnKind::Static => true,
                ColumnKind::Regular => compact_static,
                ColumnKind::PartitionKey | ColumnKind::Clustering => continue,
            };
            let list = if is_static { &s.statics } else { &s.regulars };
            if list.iter().any(|c| c.name == d.name) {
                continue;
            }
            let dropped_at = def
                .dropped
                .iter()
                .filter(|(n, _)| *n == d.name)
                .map(|(_, t)| *t)
                .max();
            extra.push((
                is_static,
                Column {
                    name: d.name.clone(),
                    cql_type: d.cql_type.clone(),
                    included: true,
                    dropped_at,
                },
            ));
        }
        extra.sort_by(|(_, a), (_, b)| {
            (a.cql_type.is_multi_cell(), a.name.as_bytes())
                .cmp(&(b.cql_type.is_multi_cell(), b.name.as_bytes()))
        });
        for (is_static, c) in extra {
            if is_static {
                s.statics.push(c);
            } else {
                s.regulars.push(c);
            }
        }
        s.placeholder_keys = false;
        s.ddl = Some(def.clone());
        Ok(s)
    }

    /// Add the static and regular columns of `other` (another sstable of the
    /// same table) that this schema lacks, keeping Cassandra's column order.
    pub fn merge_columns(&mut self, other: &TableSchema) {
        for (mine, theirs) in [
            (&mut self.statics, &other.statics),
            (&mut self.regulars, &other.regulars),
        ] {
            for c in theirs {
                if !mine.iter().any(|m| m.name == c.name) {
                    mine.push(c.clone());
                }
            }
            mine.sort_by(|a, b| {
                a.cql_type
                    .is_multi_cell()
                    .cmp(&b.cql_type.is_multi_cell())
                    .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
            });
        }
    }

    /// The CQL-visible clustering columns (none for compact static tables).
    pub fn visible_clustering(&self) -> &[Column] {
        if self.compact_static {
            &[]
        } else {
            &self.clustering
        }
    }

    /// `CREATE TABLE` text recovered from the schema, ready for cqlsh.
    pub fn create_table(&self) -> String {
        use sstable_format::cql::maybe_quote as q;
        let mut s = String::new();
        if self.placeholder_keys {
            s.push_str("-- Key column names are placeholders: sstables store only their types.\n");
            s.push_str("-- Pass --schema FILE with the table's DDL to use the real names.\n");
        }
        s.push_str(&format!(
            "CREATE TABLE {}.{} (\n",
            q(&self.keyspace),
            q(&self.table)
        ));
        let mut lines = Vec::new();
        for c in &self.partition_key {
            lines.push(format!("    {} {}", q(&c.name), c.cql_type.cql_name()));
        }
        for c in self.visible_clustering() {
            lines.push(format!(
                "    {} {}",
                q(&c.name),
                c.cql_type.base().cql_name()
            ));
        }
        let (statics, regulars): (Vec<&Column>, Vec<&Column>) = if self.compact_static {
            (Vec::new(), self.statics.iter().collect())
        } else {
            (
                self.statics.iter().collect(),
                self.regulars.iter().collect(),
            )
        };
        for c in statics.iter().filter(|c| c.included) {
            lines.push(format!(
                "    {} {} static",
                q(&c.name),
                c.cql_type.cql_name()
            ));
        }
        for c in regulars.iter().filter(|c| {
            c.included && !(self.compact_static && matches!(c.cql_type, CqlType::Empty))
        }) {
            lines.push(format!("    {} {}", q(&c.name), c.cql_type.cql_name()));
        }
        let pk: Vec<String> = self.partition_key.iter().map(|c| q(&c.name)).collect();
        let ck: Vec<String> = self
            .visible_clustering()
            .iter()
            .map(|c| q(&c.name))
            .collect();
        let pk_text = if pk.len() == 1 {
            pk[0].clone()
        } else {
            format!("({})", pk.join(", "))
        };
        let mut key = vec![pk_text];
        key.extend(ck);
        lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
        s.push_str(&lines.join(",\n"));
        s.push_str("\n)");
        let mut with = Vec::new();
        if !self.visible_clustering().is_empty() {
            let order: Vec<String> = self
                .visible_clustering()
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        q(&c.name),
                        if c.cql_type.is_reversed() {
                            "DESC"
                        } else {
                            "ASC"
                        }
                    )
                })
                .collect();
            with.push(format!("CLUSTERING ORDER BY ({})", order.join(", ")));
        }
        if self.compact_static || self.ddl.as_ref().is_some_and(|d| d.compact_storage) {
            with.push("COMPACT STORAGE".into());
        }
        if !with.is_empty() {
            s.push_str(" WITH ");
            s.push_str(&with.join("\n    AND "));
        }
        s.push_str(";\n");
        s
    }
}
