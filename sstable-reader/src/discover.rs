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
    /// Data.db files of writes that are unfinished or undone.
    unfinished: Vec<PathBuf>,
    /// Directories walked, resolved: one reached twice through symbolic
    /// links is walked once.
    visited: std::collections::HashSet<PathBuf>,
}

/// Largest transaction log read.
const TXN_LOG_MAX: u64 = 16 << 20;

/// A 2.x temporary sstable (being written): `<ks>-<cf>-tmp[link]-ka-…`
/// (2.1) or `tmp[link]-la-<gen>-big-…` (2.2).
fn is_temporary(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let temp = |s: &str| s == "tmp" || s == "tmplink";
    (parts.len() == 6 && temp(parts[2]))
        || (parts.len() == 5 && temp(parts[0]) && parts[3] == "big")
}

/// The sstables (as their file-name prefixes, `oa-3-big`) that the
/// transaction log `text` (3.0+: `<v>_txn_<op>_<id>.log`) says are not
/// part of the table: the new ones (`ADD`) of a transaction that did not
/// commit (still running, killed or aborted: they may be partly written),
/// or the old ones (`REMOVE`) of one that did (replaced, not yet deleted).
/// Cassandra applies the same rule on start-up, deleting them.
pub fn txn_log_obsolete(text: &str) -> Vec<String> {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut committed = false;
    for line in text.lines() {
        let Some((kind, rest)) = line.split_once(':') else {
            continue;
        };
        // `[<path>,<update time>,<files>][<checksum>]`
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.rfind("][").map(|i| &r[..i]));
        let prefix = inner
            .and_then(|i| i.rsplitn(3, ',').nth(2))
            .and_then(|path| path.rsplit(['/', '\\']).next())
            // 3.x writes `me-3-big`, 4.0+ `nb-3-big-`.
            .map(|p| p.trim_end_matches('-'))
            .filter(|p| !p.is_empty());
        match (kind, prefix) {
            ("ADD", Some(p)) => added.push(p.to_string()),
            ("REMOVE", Some(p)) => removed.push(p.to_string()),
            ("COMMIT", _) => committed = true,
            _ => {}
        }
    }
    if committed {
        removed
    } else {
        added
    }
}

/// The sstables of `dir` its transaction logs rule out (see [`txn_log_obsolete`]).
fn txn_obsolete_in(entries: &[std::fs::DirEntry]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.contains("_txn_") && name.ends_with(".log")) {
            continue;
        }
        let p = e.path();
        let io = |source| ReadError::Io {
            path: p.clone(),
            source,
        };
        let len = e.metadata().map_err(io)?.len();
        if len > TXN_LOG_MAX {
            return Err(ReadError::other(
                &p,
                format!("a transaction log of {len} bytes (at most {TXN_LOG_MAX} expected)"),
            ));
        }
        let text = std::fs::read(&p).map_err(io)?;
        out.extend(txn_log_obsolete(&String::from_utf8_lossy(&text)));
    }
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, passed: &mut Passed) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    if let Ok(real) = std::fs::canonicalize(dir) {
        if !passed.visited.insert(real) {
            return Ok(());
        }
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
    let obsolete = txn_obsolete_in(&entries)?;
    for e in entries {
        let p = e.path();
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(_) => continue,
        };
        // A symbolic link (a keyspace moved to another disk) is followed.
        let is_dir = ft.is_dir() || (ft.is_symlink() && p.is_dir());
        if is_dir {
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
            let name = e.file_name().to_string_lossy().into_owned();
            let prefix = name[..name.len() - "Data.db".len()].trim_end_matches('-');
            if is_temporary(&name) || obsolete.iter().any(|o| o == prefix) {
                passed.unfinished.push(p);
            } else {
                out.push(p);
            }
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
    /// Data.db files met under the PATHs and not read: sstables being
    /// written (2.x temporary files; 3.0+ the new sstables of a compaction,
    /// flush or stream whose transaction log has not committed) or
    /// replaced (the old sstables of a committed one, not yet deleted), as
    /// in a copy of a running node's data directory. Cassandra deletes
    /// them when it starts.
    pub unfinished: Vec<PathBuf>,
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
    // A directory passed by that a PATH names, or holds, was read after all.
    let named: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let read = |d: &PathBuf| {
        std::fs::canonicalize(d).is_ok_and(|d| named.iter().any(|n| n.starts_with(&d)))
    };
    passed.copies.retain(|d| !read(d));
    passed.system.retain(|d| !read(d));
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
        unfinished: passed.unfinished,
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
        // A table directory and one of its snapshots, both named: both read,
        // and the snapshots are not reported as passed by (its backups are).
        let d = super::discover_all(&[t.clone(), t.join("snapshots/s2")]).expect("discover");
        assert_eq!(
            d.groups[0].data_files,
            vec![files[0].clone(), files[2].clone()]
        );
        assert_eq!(d.skipped, vec![t.join("backups")]);
        let d = super::discover_all(&[root.path().to_path_buf(), root.path().join("system")])
            .expect("discover");
        assert!(d.system.is_empty());
        let d = super::discover_all(&[t.join("snapshots/s2")]).expect("discover");
        assert_eq!(d.groups[0].data_files, vec![files[2].clone()]);
        assert_eq!(
            (d.groups[0].keyspace.as_str(), d.groups[0].table.as_str()),
            ("ks", "t")
        );
    }

    /// Transaction logs as Cassandra 5.0 writes them (the first from a copy
    /// of a node's table directory taken during a compaction).
    #[test]
    fn transaction_logs_rule_out_unfinished_and_replaced_sstables() {
        let running = "ADD:[/d/ks/t-d0d31d30f05c11f1bcd103cda70407e4/oa-3-big-,0,8][2728436846]\n";
        assert_eq!(super::txn_log_obsolete(running), ["oa-3-big"]);
        // Cassandra 3.11 writes the prefix without its last `-`.
        let running =
            "ADD:[/d/narrow_ks/narrow-af3ef6c0f05d11f1957aef0ac3a13320/me-3-big,0,8][728580890]\n";
        assert_eq!(super::txn_log_obsolete(running), ["me-3-big"]);
        let done = "ADD:[/d/ks/t-1/oa-3-big-,0,8][1]\n\
                    REMOVE:[/d/ks/t-1/oa-1-big-,1733380000000,8][2]\n\
                    REMOVE:[/d/ks/t-1/oa-2-big-,1733380000000,8][3]\n\
                    COMMIT:[,0,0][4]\n";
        assert_eq!(super::txn_log_obsolete(done), ["oa-1-big", "oa-2-big"]);
        let aborted = "ADD:[/d/ks/t-1/nb-5-big-,0,8][1]\nREMOVE:[/d/ks/t-1/nb-4-big-,9,8][2]\nABORT:[,0,0][3]\n";
        assert_eq!(super::txn_log_obsolete(aborted), ["nb-5-big"]);
        // A record cut short (the node died writing it) rules nothing out.
        assert_eq!(
            super::txn_log_obsolete("ADD:[/d/ks/t-1/nb-5-big-,0"),
            Vec::<String>::new()
        );
        assert!(super::txn_log_obsolete("").is_empty());
        assert!(super::is_temporary("ks-cf-tmp-ka-7-Data.db"));
        assert!(super::is_temporary("ks-cf-tmplink-ka-7-Data.db"));
        assert!(super::is_temporary("tmp-la-3-big-Data.db"));
        assert!(!super::is_temporary("ks-tmp-ka-7-Data.db"));
        assert!(!super::is_temporary("la-3-big-Data.db"));

        let root = tempfile::tempdir().expect("a temporary directory");
        let t = root.path().join("ks/t-0123456789abcdef0123456789abcdef");
        std::fs::create_dir_all(&t).expect("mkdir");
        for f in [
            "oa-1-big-Data.db",
            "oa-2-big-Data.db",
            "oa-3-big-Data.db",
            "oa-4-big-Data.db",
        ] {
            std::fs::write(t.join(f), b"").expect("write");
        }
        std::fs::write(
            t.join("oa_txn_compaction_db277650-f05c-11f1-bcd1-03cda70407e4.log"),
            "ADD:[/elsewhere/oa-3-big-,0,8][2728436846]\n",
        )
        .expect("write");
        std::fs::write(
            t.join("oa_txn_flush_11111111-f05c-11f1-bcd1-03cda70407e4.log"),
            "ADD:[/elsewhere/oa-4-big-,0,8][1]\nREMOVE:[/elsewhere/oa-1-big-,5,8][2]\nCOMMIT:[,0,0][3]\n",
        )
        .expect("write");
        let d = super::discover_all(&[root.path().to_path_buf()]).expect("discover");
        assert_eq!(
            d.groups[0].data_files,
            vec![t.join("oa-2-big-Data.db"), t.join("oa-4-big-Data.db")]
        );
        let mut u = d.unfinished.clone();
        u.sort();
        assert_eq!(
            u,
            vec![t.join("oa-1-big-Data.db"), t.join("oa-3-big-Data.db")]
        );
    }

    /// A keyspace or table directory reached through a symbolic link is
    /// read, once, even when a link loops back.
    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_followed_once() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let disk2 = tempfile::tempdir().expect("a temporary directory");
        let id = "0123456789abcdef0123456789abcdef";
        let t = disk2.path().join(format!("ks/t-{id}"));
        std::fs::create_dir_all(&t).expect("mkdir");
        std::fs::write(t.join("nb-1-big-Data.db"), b"").expect("write");
        let data = root.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::os::unix::fs::symlink(disk2.path().join("ks"), data.join("ks")).expect("symlink");
        // A loop: data/ks/t-<id>/up -> data.
        std::os::unix::fs::symlink(&data, t.join("up")).expect("symlink");
        let d = super::discover_all(std::slice::from_ref(&data)).expect("discover");
        assert_eq!(d.groups.len(), 1);
        assert_eq!(
            d.groups[0].data_files,
            vec![data.join(format!("ks/t-{id}/nb-1-big-Data.db"))]
        );
    }
}
