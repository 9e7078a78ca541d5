//! Target DDL for a Cassandra 4.x/5.0 cluster (Aiven included): `CREATE
//! KEYSPACE` with rewritten replication, `CREATE TYPE` in dependency order,
//! `CREATE TABLE` with the source's options where known, ready for
//! `cqlsh -f`.

use sstable_format::cql::maybe_quote as q;
use sstable_format::types::UdtDef;
use sstable_format::CqlType;
use sstable_reader::TableSchema;

/// `NetworkTopologyStrategy:aiven=3[,dc2=2]` or `SimpleStrategy:3` → the
/// CQL replication map.
pub fn parse_replication(s: &str) -> Result<String, String> {
    let (class, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("--replication is CLASS:SETTINGS, e.g. NetworkTopologyStrategy:aiven=3 or SimpleStrategy:3; got `{s}`"))?;
    let class = class.trim();
    let rf = |v: &str| -> Result<String, String> {
        v.trim()
            .parse::<u32>()
            .map(|n| n.to_string())
            .map_err(|_| format!("`{v}` is not a replication factor"))
    };
    match class {
        "SimpleStrategy" | "org.apache.cassandra.locator.SimpleStrategy" => Ok(format!(
            "{{'class': 'SimpleStrategy', 'replication_factor': '{}'}}",
            rf(rest)?
        )),
        "NetworkTopologyStrategy" | "org.apache.cassandra.locator.NetworkTopologyStrategy" => {
            let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_string()];
            for dc in rest.split(',').filter(|p| !p.trim().is_empty()) {
                let (name, n) = dc
                    .split_once('=')
                    .ok_or_else(|| format!("`{dc}`: each datacenter is NAME=RF"))?;
                let name = name.trim();
                if name.is_empty() || name.contains('\'') {
                    return Err(format!("`{name}` is not a datacenter name"));
                }
                parts.push(format!("'{name}': '{}'", rf(n)?));
            }
            if parts.len() == 1 {
                return Err("NetworkTopologyStrategy needs at least one DC=RF".into());
            }
            Ok(format!("{{{}}}", parts.join(", ")))
        }
        other => Err(format!(
            "unknown replication class `{other}` (SimpleStrategy, NetworkTopologyStrategy)"
        )),
    }
}

/// Table options a 4.x/5.0 cluster accepts (others, e.g. 3.x's
/// `read_repair_chance`, are dropped).
const KEPT_OPTIONS: &[&str] = &[
    "bloom_filter_fp_chance",
    "caching",
    "comment",
    "compaction",
    "compression",
    "crc_check_chance",
    "default_time_to_live",
    "gc_grace_seconds",
    "max_index_interval",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "speculative_retry",
    "additional_write_policy",
    "cdc",
    "read_repair",
];

fn collect_udts(t: &CqlType, out: &mut Vec<UdtDef>) {
    match t {
        CqlType::Udt(u) => {
            for (_, ft) in &u.fields {
                collect_udts(ft, out);
            }
            if !out.iter().any(|x| x.name == u.name) {
                out.push((**u).clone());
            }
        }
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } | CqlType::Vector { elem, .. } => {
            collect_udts(elem, out)
        }
        CqlType::Map { key, value, .. } => {
            collect_udts(key, out);
            collect_udts(value, out);
        }
        CqlType::Tuple(ts) | CqlType::Composite(ts) => ts.iter().for_each(|t| collect_udts(t, out)),
        CqlType::Reversed(i) => collect_udts(i, out),
        _ => {}
    }
}

/// A field or column type as DDL text (UDTs inside collections frozen).
fn type_text(t: &CqlType) -> String {
    t.base().cql_name()
}

/// The complete target DDL for `tables`.
pub fn target_ddl(
    tables: &[TableSchema],
    target_keyspace: Option<&str>,
    replication: &str,
) -> String {
    let mut s = String::new();
    let mut keyspaces: Vec<String> = Vec::new();
    for t in tables {
        let ks = target_keyspace.unwrap_or(&t.keyspace).to_string();
        if !keyspaces.contains(&ks) {
            keyspaces.push(ks);
        }
    }
    for ks in &keyspaces {
        s.push_str(&format!(
            "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {replication} AND durable_writes = true;\n\n",
            q(ks)
        ));
    }
    // UDTs in dependency order (fields before the types using them).
    let mut udts: Vec<(String, UdtDef)> = Vec::new();
    for t in tables {
        let ks = target_keyspace.unwrap_or(&t.keyspace).to_string();
        let mut v = Vec::new();
        for c in t
            .partition_key
            .iter()
            .chain(&t.clustering)
            .chain(&t.statics)
            .chain(&t.regulars)
        {
            collect_udts(&c.cql_type, &mut v);
        }
        for u in v {
            if !udts.iter().any(|(k, x)| *k == ks && x.name == u.name) {
                udts.push((ks.clone(), u));
            }
        }
    }
    for (ks, u) in &udts {
        let fields: Vec<String> = u
            .fields
            .iter()
            .map(|(n, ft)| format!("    {} {}", q(n), type_text(ft)))
            .collect();
        s.push_str(&format!(
            "CREATE TYPE IF NOT EXISTS {}.{} (\n{}\n);\n\n",
            q(ks),
            q(&u.name),
            fields.join(",\n")
        ));
    }
    for t in tables {
        let mut t2 = t.clone();
        if let Some(k) = target_keyspace {
            t2.keyspace = k.to_string();
        }
        s.push_str(&create_table(&t2));
        s.push('\n');
    }
    s
}

/// `CREATE TABLE IF NOT EXISTS` for a 4.x/5.0 target: no COMPACT STORAGE
/// (gone since 4.0; a compact table's columns become regular columns),
/// the source's options that target accepts.
pub fn create_table(t: &TableSchema) -> String {
    let mut lines = Vec::new();
    for c in &t.partition_key {
        lines.push(format!("    {} {}", q(&c.name), type_text(&c.cql_type)));
    }
    for c in t.visible_clustering() {
        lines.push(format!("    {} {}", q(&c.name), type_text(&c.cql_type)));
    }
    let (statics, regulars): (Vec<_>, Vec<_>) = if t.compact_static {
        (Vec::new(), t.statics.iter().collect())
    } else {
        (t.statics.iter().collect(), t.regulars.iter().collect())
    };
    for c in statics.iter().filter(|c| c.included) {
        lines.push(format!(
            "    {} {} static",
            q(&c.name),
            type_text(&c.cql_type)
        ));
    }
    for c in regulars
        .iter()
        .filter(|c| c.included && !matches!(c.cql_type, CqlType::Empty))
    {
        lines.push(format!("    {} {}", q(&c.name), type_text(&c.cql_type)));
    }
    let pk: Vec<String> = t.partition_key.iter().map(|c| q(&c.name)).collect();
    let mut key = vec![if pk.len() == 1 {
        pk[0].clone()
    } else {
        format!("({})", pk.join(", "))
    }];
    key.extend(t.visible_clustering().iter().map(|c| q(&c.name)));
    lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
    let mut s = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n)",
        q(&t.keyspace),
        q(&t.table),
        lines.join(",\n")
    );
    let mut with = Vec::new();
    if !t.visible_clustering().is_empty() {
        let order: Vec<String> = t
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
    if let Some(d) = &t.ddl {
        for o in &d.options {
            let name = o
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if KEPT_OPTIONS.contains(&name.as_str()) {
                with.push(
                    o.trim()
                        .replace("'sstable_compression'", "'class'")
                        .replace("'chunk_length_kb'", "'chunk_length_in_kb'"),
                );
            }
        }
    }
    if !with.is_empty() {
        s.push_str(" WITH ");
        s.push_str(&with.join("\n    AND "));
    }
    s.push_str(";\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication() {
        assert_eq!(
            parse_replication("NetworkTopologyStrategy:aiven=3").unwrap(),
            "{'class': 'NetworkTopologyStrategy', 'aiven': '3'}"
        );
        assert_eq!(
            parse_replication("NetworkTopologyStrategy:dc1=3,dc2=2").unwrap(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': '3', 'dc2': '2'}"
        );
        assert_eq!(
            parse_replication("SimpleStrategy:1").unwrap(),
            "{'class': 'SimpleStrategy', 'replication_factor': '1'}"
        );
        assert!(parse_replication("SimpleStrategy:x").is_err());
        assert!(parse_replication("NetworkTopologyStrategy:").is_err());
        assert!(parse_replication("aiven=3").is_err());
        assert!(parse_replication("NetworkTopologyStrategy:a'b=3").is_err());
    }
}
