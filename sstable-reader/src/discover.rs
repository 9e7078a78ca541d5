//! Finding sstables under user-given paths and grouping them by table.

use crate::error::{ReadError, Result};
use crate::sstable::keyspace_table_from_dir;
use sstable_format::Descriptor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The sstables of one table found under the given paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGroup {
    pub keyspace: String,
    pub table: String,
    /// Paths of the Data.db files, sorted.
    pub data_files: Vec<PathBuf>,
}

const MAX_DEPTH: usize = 16;

/// A directory's name is that of a table directory of Cassandra 2.1+:
/// `<table>-<32 hex digits>`.
fn is_table_dir_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(t, id)| {
        !t.is_empty() && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Cassandra's own keyspaces (node state, schema, roles, traces, repair
/// history): a data directory's, not its users' tables.
pub const SYSTEM_KEYSPACES: &[&str] = &[
    "system",
    "system_schema",
    "system_auth",
    "system_distributed",
    "system_traces",
    "system_cluster_metadata",
];

/// What [`walk`] passes by.
#[derive(Default)]
struct Passed {
    /// Snapshot and backup directories holding sstables.
    copies: Vec<PathBuf>,
    /// System keyspace directories.
    system: Vec<PathBuf>,
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, passed: &mut Passed) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|source| ReadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let is_data = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("-Data.db"))
    };
    // A table directory's `snapshots/` and `backups/` hold copies (hard
    // links) of its sstables from other times: read with the live ones,
    // they would count data twice and bring back rows whose deletions
    // compaction has since purged. They are read only when named.
    let table_dir = dir
        .file_name()
        .is_some_and(|n| is_table_dir_name(&n.to_string_lossy()))
        || entries.iter().any(|e| is_data(&e.path()));
    for e in entries {
        let p = e.path();
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(_) => continue,
        };
        if ft.is_dir() {
            // A secondary index's own sstables (3.0+: `<table dir>/.<index>/`)
            // hold the index, not the table's rows; the target rebuilds it.
            if table_dir && e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if table_dir && (e.file_name() == "snapshots" || e.file_name() == "backups") {
                // Listed only when it holds sstables (4.x makes an empty
                // `backups/` in every table directory).
                let mut inside = Vec::new();
                walk(&p, depth + 1, &mut inside, &mut Passed::default())?;
                if !inside.is_empty() {
                    passed.copies.push(p);
                }
                continue;
            }
            if !table_dir && SYSTEM_KEYSPACES.iter().any(|k| e.file_name() == *k) {
                passed.system.push(p);
                continue;
            }
            walk(&p, depth + 1, out, passed)?;
        } else if is_data(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Resolve each PATH (a component file, a table directory, a keyspace
/// directory or a data/snapshot root) to the Data.db files under it,
/// grouped by keyspace and table. The `snapshots/` and `backups/`
/// directories of a table directory, and the system keyspaces' directories,
/// met on the way are not read (see [`discover_all`]).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<TableGroup>> {
    Ok(discover_all(paths)?.groups)
}

/// What [`discover_all`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub groups: Vec<TableGroup>,
    /// The `snapshots/` and `backups/` directories of table directories
    /// under the PATHs, not read: they hold the table's sstables of other
    /// times (as Cassandra's own tools, they are read only when a PATH is
    /// one of them or lies inside one).
    pub skipped: Vec<PathBuf>,
    /// The directories of Cassandra's system keyspaces ([`SYSTEM_KEYSPACES`])
    /// met under the PATHs, not read: a PATH naming one, or inside one,
    /// is read.
    pub system: Vec<PathBuf>,
}

/// As [`discover`], also listing the snapshot, backup and system keyspace
/// directories passed by.
pub fn discover_all(paths: &[PathBuf]) -> Result<Discovered> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut passed = Passed::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ReadError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, 0, &mut found, &mut passed)?;
        } else {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let d = Descriptor::parse_file_name(&name).map_err(|e| ReadError::format(p, e))?;
            let data = p.with_file_name(format!("{}Data.db", d.prefix));
            if !data.exists() {
                return Err(ReadError::other(
                    &data,
                    "no Data.db for this sstable component",
                ));
            }
            found.push(data);
        }
    }
    let mut groups: BTreeMap<(String, String), Vec<PathBuf>> = BTreeMap::new();
    for f in found {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let d = Descriptor::parse_file_name(&name).ok();
        // 2.x names a secondary index's sstables `<ks>-<table>.<index>-…`,
        // next to the table's own.
        if d.as_ref()
            .and_then(|d| d.table.as_ref())
            .is_some_and(|t| t.contains('.'))
        {
            continue;
        }
        let dir = f.parent().unwrap_or(Path::new("."));
        let (ks, t) = keyspace_table_from_dir(dir);
        let ks = d
            .as_ref()
            .and_then(|d| d.keyspace.clone())
            .or(ks)
            .unwrap_or_else(|| "keyspace".into());
        let t = d
            .as_ref()
            .and_then(|d| d.table.clone())
            .or(t)
            .unwrap_or_else(|| "table".into());
        let v = groups.entry((ks, t)).or_default();
        if !v.contains(&f) {
            v.push(f);
        }
    }
    let groups = groups
        .into_iter()
        .map(|((keyspace, table), mut data_files)| {
            data_files.sort();
            TableGroup {
                keyspace,
                table,
                data_files,
            }
        })
        .collect();
    Ok(Discovered {
        groups,
        skipped: passed.copies,
        system: passed.system,
    })
}

#[cfg(test)]
mod tests {
    use crate::sstable::keyspace_table_from_dir;
    use std::path::{Path, PathBuf};

    #[test]
    fn names_from_dirs() {
        let (k, t) = keyspace_table_from_dir(Path::new(
            "/var/lib/cassandra/data/ks1/users-0123456789abcdef0123456789abcdef",
        ));
        assert_eq!((k.as_deref(), t.as_deref()), (Some("ks1"), Some("users")));
        let (k, t) = keyspace_table_from_dir(Path::new(
            "/d/ks1/users-0123456789abcdef0123456789abcdef/snapshots/snap1",
        ));
        assert_eq!((k.as_deref(), t.as_deref()), (Some("ks1"), Some("users")));
        let (k, t) = keyspace_table_from_dir(Path::new("/d/ks1/users/backups"));
        assert_eq!((k.as_deref(), t.as_deref()), (Some("ks1"), Some("users")));
    }

    /// A table directory's snapshots and incremental backups are passed by
    /// (and listed) when its table, keyspace or data directory is walked,
    /// and read when named; a keyspace called `backups` is still read.
    /// Secondary indexes' sstables are never the table's. System keyspaces
    /// are read only when named.
    #[test]
    fn snapshots_and_backups_are_read_only_when_named() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let id = "0123456789abcdef0123456789abcdef";
        let t = root.path().join("ks").join(format!("t-{id}"));
        let files = [
            t.join("nb-1-big-Data.db"),
            t.join("snapshots/s1/nb-1-big-Data.db"),
            t.join("snapshots/s2/nb-1-big-Data.db"),
            t.join("backups/nb-2-big-Data.db"),
            root.path().join(format!("backups/u-{id}/nb-3-big-Data.db")),
            // Not a 2.1+ table directory, but it holds sstables.
            root.path().join("ks2/v/nb-4-big-Data.db"),
            root.path().join("ks2/v/snapshots/s1/nb-4-big-Data.db"),
            // Not an sstable: this snapshot holds none.
            root.path().join("ks2/v/backups/manifest.json"),
            // Secondary indexes' sstables, 3.0+ and 2.x.
            t.join(".t_email_idx/nb-1-big-Data.db"),
            root.path()
                .join(format!("ks3/w-{id}/ks3-w.w_idx-ka-1-Data.db")),
            root.path().join(format!("ks3/w-{id}/ks3-w-ka-1-Data.db")),
            // A system keyspace.
            root.path()
                .join(format!("system/local-{id}/nb-1-big-Data.db")),
        ];
        for f in &files {
            std::fs::create_dir_all(f.parent().expect("a parent")).expect("mkdir");
            std::fs::write(f, b"").expect("write");
        }
        let d = super::discover_all(&[root.path().to_path_buf()]).expect("discover");
        let got: Vec<(String, String, Vec<PathBuf>)> = d
            .groups
            .iter()
            .map(|g| (g.keyspace.clone(), g.table.clone(), g.data_files.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("backups".into(), "u".into(), vec![files[4].clone()]),
                ("ks".into(), "t".into(), vec![files[0].clone()]),
                ("ks2".into(), "v".into(), vec![files[5].clone()]),
                ("ks3".into(), "w".into(), vec![files[10].clone()]),
            ]
        );
        let mut skipped = d.skipped.clone();
        skipped.sort();
        assert_eq!(
            skipped,
            vec![
                t.join("backups"),
                t.join("snapshots"),
                root.path().join("ks2/v/snapshots")
            ]
        );
        assert_eq!(d.system, vec![root.path().join("system")]);
        let d = super::discover_all(&[root.path().join("system")]).expect("discover");
        assert_eq!(d.groups[0].data_files, vec![files[11].clone()]);
        assert!(d.system.is_empty());
        // Named, they are read: all the snapshots, or one.
        let d = super::discover_all(&[t.join("snapshots")]).expect("discover");
        assert_eq!(d.groups.len(), 1);
        assert_eq!(
            d.groups[0].data_files,
            vec![files[1].clone(), files[2].clone()]
        );
        assert!(d.skipped.is_empty());
        let d = super::discover_all(&[t.join("snapshots/s2")]).expect("discover");
        assert_eq!(d.groups[0].data_files, vec![files[2].clone()]);
        assert_eq!(
            (d.groups[0].keyspace.as_str(), d.groups[0].table.as_str()),
            ("ks", "t")
        );
    }
}
