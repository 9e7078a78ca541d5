//! One sstable: its components, parsed metadata and the Data.db stream.

use crate::error::{ReadError, Result};
use crate::mmap::MappedFile;
use sstable_format::checksum::{parse_digest_crc32, ChecksumKind, CrcFile};
use sstable_format::compression::CompressionInfo;
use sstable_format::data::RowDecoder;
use sstable_format::statistics::{SerializationHeader, Statistics};
use sstable_format::summary::Summary;
use sstable_format::toc::parse_toc;
use sstable_format::{Component, Descriptor, Error as FmtError, Partitioner, Version};
use std::path::{Path, PathBuf};

/// An opened sstable. Cheap to share between threads (`&SSTable` is `Sync`).
#[derive(Debug)]
pub struct SSTable {
    pub descriptor: Descriptor,
    pub dir: PathBuf,
    /// Keyspace and table, from the directory layout (or the old file-name form).
    pub keyspace: Option<String>,
    pub table: Option<String>,
    /// Component names from TOC.txt (or the directory, if there is no TOC).
    pub components: Vec<String>,
    pub data: MappedFile,
    pub statistics: Statistics,
    pub header: SerializationHeader,
    pub compression: Option<CompressionInfo>,
    pub partitioner: Partitioner,
    pub crc: Option<CrcFile>,
    /// The whole-file checksum from Digest.*: algorithm, value, component name.
    pub digest: Option<(ChecksumKind, u32, &'static str)>,
    pub index: Option<MappedFile>,
    pub summary: Option<MappedFile>,
    pub filter: Option<MappedFile>,
    /// BTI (`da`): the partition index trie and the row index.
    pub partitions: Option<MappedFile>,
    pub rows_index: Option<MappedFile>,
    pub decoder: RowDecoder,
    /// For 2.x sstables: how cells map to rows (from the DDL).
    pub legacy: Option<crate::legacy::LegacyLayout>,
}

/// Split a table directory name `name-<32 hex>` into the table name.
pub fn table_name_from_dir(dir: &str) -> &str {
    match dir.rsplit_once('-') {
        Some((name, id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => name,
        _ => dir,
    }
}

/// Keyspace and table implied by the directory an sstable lives in:
/// `<ks>/<table[-id]>/`, `<ks>/<table>/snapshots/<name>/`, `<ks>/<table>/backups/`.
pub fn keyspace_table_from_dir(dir: &Path) -> (Option<String>, Option<String>) {
    let names: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut i = names.len();
    if i >= 2 && names[i - 2] == "snapshots" {
        i -= 2;
    } else if i >= 1 && names[i - 1] == "backups" {
        i -= 1;
    }
    // Secondary-index sstables live in `.<index>` subdirectories.
    if i >= 1 && names[i - 1].starts_with('.') {
        i -= 1;
    }
    let table = i
        .checked_sub(1)
        .and_then(|j| names.get(j))
        .map(|t| table_name_from_dir(t).to_string());
    let keyspace = i.checked_sub(2).and_then(|j| names.get(j)).cloned();
    (keyspace, table)
}

impl SSTable {
    /// Open the sstable one of whose component files is `path`.
    pub fn open(path: &Path) -> Result<SSTable> {
        Self::open_with_schema(path, None)
    }

    /// Open with a table definition, which 2.x sstables need (they have no
    /// serialization header).
    pub fn open_with_schema(path: &Path, ddl: Option<&crate::ddl::TableDef>) -> Result<SSTable> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ReadError::other(path, "not a file path"))?;
        let descriptor =
            Descriptor::parse_file_name(&file_name).map_err(|e| ReadError::format(path, e))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let prefix = descriptor.prefix.clone();
        let listing = |dir: &Path| {
            let mut v = Vec::new();
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if let Some(c) = n.strip_prefix(&prefix) {
                        v.push(c.to_string());
                    }
                }
            }
            v.sort();
            v
        };
        let present = listing(&dir);
        let d2 = dir.clone();
        let p2 = descriptor.prefix.clone();
        Self::open_with(descriptor, dir, present, ddl, move |name| {
            let p = d2.join(format!("{p2}{name}"));
            if p.exists() {
                MappedFile::open(&p).map(Some)
            } else {
                Ok(None)
            }
        })
    }

    /// Open an sstable whose components are already in memory, given as
    /// (component name, bytes), e.g. `("Data.db", …)`. `file_prefix` is the
    /// shared file-name prefix such as `nb-1-big-`.
    pub fn open_in_memory(
        dir: &Path,
        file_prefix: &str,
        parts: Vec<(String, Vec<u8>)>,
    ) -> Result<SSTable> {
        Self::open_in_memory_with_schema(dir, file_prefix, parts, None)
    }

    /// [`SSTable::open_in_memory`] with a table definition (what 2.x
    /// sstables need to be read as rows).
    pub fn open_in_memory_with_schema(
        dir: &Path,
        file_prefix: &str,
        parts: Vec<(String, Vec<u8>)>,
        ddl: Option<&crate::ddl::TableDef>,
    ) -> Result<SSTable> {
        let label = dir.join(format!("{file_prefix}Data.db"));
        let descriptor = Descriptor::parse_file_name(&format!("{file_prefix}Data.db"))
            .map_err(|e| ReadError::format(&label, e))?;
        let present: Vec<String> = parts.iter().map(|p| p.0.clone()).collect();
        let mut map: std::collections::HashMap<String, Vec<u8>> = parts.into_iter().collect();
        let d = dir.to_path_buf();
        let prefix = file_prefix.to_string();
        Self::open_with(descriptor, dir.to_path_buf(), present, ddl, move |name| {
            Ok(map
                .remove(name)
                .map(|b| MappedFile::from_bytes(d.join(format!("{prefix}{name}")), b)))
        })
    }

    fn open_with(
        descriptor: Descriptor,
        dir: PathBuf,
        present: Vec<String>,
        ddl: Option<&crate::ddl::TableDef>,
        mut load: impl FnMut(&str) -> Result<Option<MappedFile>>,
    ) -> Result<SSTable> {
        let comp = |name: &str| dir.join(format!("{}{}", descriptor.prefix, name));
        descriptor
            .version
            .check_supported()
            .map_err(|e| ReadError::format(comp("Data.db"), e))?;
        let components = match load("TOC.txt")? {
            Some(f) => parse_toc(f.bytes()),
            None => present,
        };
        let (mut keyspace, mut table) = keyspace_table_from_dir(&dir);
        if descriptor.keyspace.is_some() {
            keyspace = descriptor.keyspace.clone();
        }
        if descriptor.table.is_some() {
            table = descriptor.table.clone();
        }
        let version = descriptor.version;
        let data_path = comp("Data.db");
        let data =
            load("Data.db")?.ok_or_else(|| ReadError::other(&data_path, "missing Data.db"))?;
        let stats_file = load("Statistics.db")?.ok_or_else(|| {
            ReadError::other(
                comp("Statistics.db"),
                "missing Statistics.db (needed for the serialization header)",
            )
        })?;
        let statistics = Statistics::parse(stats_file.bytes(), version)
            .map_err(|e| ReadError::format(stats_file.path(), e))?;
        let mut legacy = None;
        let header = match (&statistics.header, version.is_legacy(), ddl) {
            (Some(h), _, _) => h.clone(),
            (None, true, Some(def)) => {
                let (layout, h) = crate::legacy::LegacyLayout::from_ddl(def);
                legacy = Some(layout);
                h
            }
            // No schema: only the raw atom view (`Scanner::next_atom`) is available.
            (None, true, None) => SerializationHeader {
                stats: sstable_format::statistics::EncodingStats {
                    min_timestamp: 0,
                    min_local_deletion_time: 0,
                    min_ttl: 0,
                },
                key_type_string: "org.apache.cassandra.db.marshal.BytesType".into(),
                key_type: sstable_format::CqlType::Blob,
                clustering_types: Vec::new(),
                clustering_type_strings: Vec::new(),
                static_columns: Vec::new(),
                regular_columns: Vec::new(),
            },
            (None, false, _) => {
                return Err(ReadError::format(
                    stats_file.path(),
                    FmtError::Unsupported("Statistics.db has no serialization header".into()),
                ))
            }
        };
        let partitioner = match &statistics.validation {
            Some(v) => Partitioner::from_class(&v.partitioner)
                .map_err(|e| ReadError::format(stats_file.path(), e))?,
            None => Partitioner::Murmur3,
        };
        let compression = match load("CompressionInfo.db")? {
            Some(f) => Some(
                CompressionInfo::parse(f.bytes(), version)
                    .map_err(|e| ReadError::format(f.path(), e))?,
            ),
            None => None,
        };
        let kind = ChecksumKind::for_version(version);
        let crc = match (compression.is_none(), load("CRC.db")?) {
            (true, Some(f)) => Some(
                CrcFile::parse_with(f.bytes(), kind).map_err(|e| ReadError::format(f.path(), e))?,
            ),
            _ => None,
        };
        // Digest.crc32 (3.0+), Digest.adler32 (2.2) or Digest.sha1 (2.1,
        // which despite its name holds a decimal Adler-32).
        let mut digest = None;
        for (name, k) in [
            ("Digest.crc32", ChecksumKind::Crc32),
            ("Digest.adler32", ChecksumKind::Adler32),
            ("Digest.sha1", ChecksumKind::Adler32),
        ] {
            if let Some(f) = load(name)? {
                let v =
                    parse_digest_crc32(f.bytes()).map_err(|e| ReadError::format(f.path(), e))?;
                digest = Some((k, v, name));
                break;
            }
        }
        if let Some(ci) = &compression {
            // The last chunk must end inside the file.
            if let Some(last) = ci.chunk_offsets.last() {
                if *last > data.len() {
                    return Err(ReadError::format(
                        &data_path,
                        FmtError::Truncated {
                            component: Component::Data,
                            offset: data.len(),
                            needed: last - data.len(),
                            what: "compressed chunks listed in CompressionInfo.db",
                        },
                    ));
                }
            }
        }
        let decoder = RowDecoder::new(version, &header);
        Ok(SSTable {
            index: load("Index.db")?,
            summary: load("Summary.db")?,
            filter: load("Filter.db")?,
            partitions: load("Partitions.db")?,
            rows_index: load("Rows.db")?,
            descriptor,
            dir,
            keyspace,
            table,
            components,
            data,
            statistics,
            header,
            compression,
            partitioner,
            crc,
            digest,
            decoder,
            legacy,
        })
    }

    pub fn version(&self) -> Version {
        self.descriptor.version
    }

    /// Path of a component of this sstable.
    pub fn component_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}{}", self.descriptor.prefix, name))
    }

    /// Uncompressed length of Data.db.
    pub fn data_length(&self) -> u64 {
        match &self.compression {
            Some(c) => c.data_length,
            None => self.data.len(),
        }
    }

    /// Parse Summary.db, if present.
    pub fn summary(&self) -> Option<Result<Summary<'_>>> {
        self.summary
            .as_ref()
            .map(|f| Summary::parse(f.bytes()).map_err(|e| ReadError::format(f.path(), e)))
    }

    /// A 2.x sstable opened without a table definition: rows cannot be
    /// assembled, only raw cells (atoms) read.
    pub fn is_raw_legacy(&self) -> bool {
        self.version().is_legacy() && self.legacy.is_none()
    }

    /// Label for errors: the Data.db path.
    pub fn data_path(&self) -> &Path {
        self.data.path()
    }

    /// Size in bytes of each component file present.
    pub fn file_sizes(&self) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        for c in &self.components {
            if let Ok(m) = std::fs::metadata(self.component_path(c)) {
                v.push((c.clone(), m.len()));
            }
        }
        v
    }
}

impl SSTable {
    /// Iterate Index.db entries (big format).
    pub fn index_entries(&self) -> Option<sstable_format::index::IndexEntries<'_, '_>> {
        self.index.as_ref().map(|f| {
            sstable_format::index::IndexEntries::new(
                f.bytes(),
                self.version(),
                &self.header.clustering_types,
            )
        })
    }

    /// First and last partition keys, read from Index.db.
    pub fn first_last_index_keys(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(it) = self.index_entries() else {
            return Ok(None);
        };
        let path = self.component_path("Index.db");
        let mut first: Option<Vec<u8>> = None;
        let mut last: Option<Vec<u8>> = None;
        for e in it {
            let e = e.map_err(|e| ReadError::format(&path, e))?;
            if first.is_none() {
                first = Some(e.key.to_vec());
            }
            last = Some(e.key.to_vec());
        }
        Ok(first.zip(last))
    }
}
