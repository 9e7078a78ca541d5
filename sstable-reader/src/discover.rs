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

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|source| ReadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(_) => continue,
        };
        if ft.is_dir() {
            walk(&p, depth + 1, out)?;
        } else if p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("-Data.db"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Resolve each PATH (a component file, a table directory, a keyspace
/// directory or a data/snapshot root) to the Data.db files under it,
/// grouped by keyspace and table.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<TableGroup>> {
    let mut found: Vec<PathBuf> = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ReadError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, 0, &mut found)?;
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
    Ok(groups
        .into_iter()
        .map(|((keyspace, table), mut data_files)| {
            data_files.sort();
            TableGroup {
                keyspace,
                table,
                data_files,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::sstable::keyspace_table_from_dir;
    use std::path::Path;

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
}
