//! SSTable versions and file-name descriptors.
//!
//! The two-letter version is parsed once into [`Version`]; everything that
//! depends on it asks a feature predicate instead of comparing strings.

use crate::error::{Error, Result};
use std::fmt;

/// The on-disk format family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormatKind {
    /// The original "big" format (Index.db + Summary.db).
    Big,
    /// Cassandra 5.0's trie-indexed format (Partitions.db + Rows.db).
    Bti,
}

impl fmt::Display for FormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatKind::Big => "big",
            FormatKind::Bti => "bti",
        })
    }
}

/// A known sstable version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Version {
    /// Cassandra 2.0.
    Jb,
    /// Cassandra 2.1.
    Ka,
    /// Cassandra 2.2.
    La,
    /// Cassandra 2.2.7+: commit log lower bound.
    Lb,
    /// 3.0.0: rows stored natively.
    Ma,
    /// 3.0.7 / 3.7: commit log lower bound.
    Mb,
    /// 3.0.8 / 3.9: commit log intervals.
    Mc,
    /// 3.0.18 / 3.11.4: corrected min/max clustering.
    Md,
    /// 3.0.25 / 3.11.11: originating host id.
    Me,
    /// 4.0-rc1: uncompressed chunks, pending repair, transient, metadata checksum, new bloom filter.
    Na,
    /// 4.0.0 / 4.1: originating host id.
    Nb,
    /// 5.0 development: improved min/max, partition deletion marker, key range.
    Nc,
    /// 5.0: unsigned (long-range) deletion times, token space coverage.
    Oa,
    /// 5.0 BTI.
    Da,
}

impl Version {
    pub fn parse(s: &str) -> Result<Version> {
        Ok(match s {
            "jb" => Version::Jb,
            "ka" => Version::Ka,
            "la" => Version::La,
            "lb" => Version::Lb,
            "ma" => Version::Ma,
            "mb" => Version::Mb,
            "mc" => Version::Mc,
            "md" => Version::Md,
            "me" => Version::Me,
            "na" => Version::Na,
            "nb" => Version::Nb,
            "nc" => Version::Nc,
            "oa" => Version::Oa,
            "da" => Version::Da,
            other => {
                return Err(Error::UnsupportedVersion {
                    version: other.to_string(),
                    reason: "not a known Cassandra sstable version".into(),
                })
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::Jb => "jb",
            Version::Ka => "ka",
            Version::La => "la",
            Version::Lb => "lb",
            Version::Ma => "ma",
            Version::Mb => "mb",
            Version::Mc => "mc",
            Version::Md => "md",
            Version::Me => "me",
            Version::Na => "na",
            Version::Nb => "nb",
            Version::Nc => "nc",
            Version::Oa => "oa",
            Version::Da => "da",
        }
    }

    /// The Cassandra release that writes this version.
    pub fn cassandra_release(self) -> &'static str {
        match self {
            Version::Jb => "2.0",
            Version::Ka => "2.1",
            Version::La => "2.2",
            Version::Lb => "2.2.7",
            Version::Ma => "3.0.0",
            Version::Mb => "3.0.7 / 3.7",
            Version::Mc => "3.0.8 / 3.9",
            Version::Md => "3.0.18 / 3.11.4",
            Version::Me => "3.0.25 / 3.11.11",
            Version::Na => "4.0-rc1",
            Version::Nb => "4.0 / 4.1",
            Version::Nc => "5.0 (development)",
            Version::Oa => "5.0",
            Version::Da => "5.0 (BTI)",
        }
    }

    /// Whether this crate decodes the version today.
    pub fn check_supported(self) -> Result<()> {
        match self {
            Version::Jb => Err(Error::UnsupportedVersion {
                version: "jb".into(),
                reason: "Cassandra 2.0 sstables are not supported; upgrade them with Cassandra 2.1+ first".into(),
            }),
            Version::Ka | Version::La | Version::Lb => Ok(()),
            _ => Ok(()),
        }
    }

    /// 3.0+ row storage (`ma` and later).
    pub fn stores_rows(self) -> bool {
        self >= Version::Ma
    }
    pub fn has_commit_log_lower_bound(self) -> bool {
        self >= Version::Mb || self == Version::Lb
    }
    /// 2.1/2.2: the cell-based ("atom") layout, no serialization header.
    pub fn is_legacy(self) -> bool {
        self < Version::Ma
    }
    /// Written by Cassandra 4.0 or later, whose rules resolve ties between
    /// versions of a cell or row differently from 3.x and 2.x (see
    /// `sstable_reader::merge::Rules`).
    pub fn is_cassandra_4_or_later(self) -> bool {
        self >= Version::Na
    }
    /// Compressed chunks and CRC.db use Adler-32 (2.x) instead of CRC32.
    pub fn uses_adler32(self) -> bool {
        self < Version::Ma
    }
    /// Bloom filter hashes in the pre-3.0 order. (Some `la` files written
    /// by 3.0 test tooling use the new order; verification accepts both for `la`.)
    pub fn has_old_bf_hash_order(self) -> bool {
        self < Version::Ma
    }
    pub fn has_commit_log_intervals(self) -> bool {
        self >= Version::Mc
    }
    pub fn has_accurate_min_max(self) -> bool {
        self >= Version::Md
    }
    /// Uncompressed chunks allowed inside compressed Data.db, and `maxCompressedLength` in CompressionInfo.
    pub fn has_max_compressed_length(self) -> bool {
        self >= Version::Na
    }
    pub fn has_pending_repair(self) -> bool {
        self >= Version::Na
    }
    pub fn has_is_transient(self) -> bool {
        self >= Version::Na
    }
    pub fn has_metadata_checksum(self) -> bool {
        self >= Version::Na
    }
    pub fn has_new_bloom_filter_format(self) -> bool {
        self >= Version::Na
    }
    pub fn has_originating_host_id(self) -> bool {
        matches!(self, Version::Me) || self >= Version::Nb
    }
    pub fn has_improved_min_max(self) -> bool {
        self >= Version::Nc
    }
    pub fn has_partition_level_deletion_presence_marker(self) -> bool {
        self >= Version::Nc
    }
    pub fn has_key_range(self) -> bool {
        self >= Version::Nc
    }
    /// Deletion times stored as unsigned ints, and the compact DeletionTime encoding.
    pub fn has_uint_deletion_time(self) -> bool {
        self >= Version::Oa
    }
    pub fn has_token_space_coverage(self) -> bool {
        self >= Version::Oa
    }
    pub fn format(self) -> FormatKind {
        if self == Version::Da {
            FormatKind::Bti
        } else {
            FormatKind::Big
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parsed file name of one sstable component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Descriptor {
    pub version: Version,
    /// Generation: an integer, or a 5.0 time-based identifier.
    pub generation: String,
    pub format: FormatKind,
    /// Keyspace and table, when the old file-name form carries them.
    pub keyspace: Option<String>,
    pub table: Option<String>,
    /// Component name, e.g. `Data.db`.
    pub component: String,
    /// The file-name prefix shared by all components (`nb-1-big-`).
    pub prefix: String,
}

impl Descriptor {
    /// Parse a component file name (no directory), in the new form
    /// `nb-1-big-Data.db` or the old form `ks-cf-ka-1-Data.db`.
    pub fn parse_file_name(name: &str) -> Result<Descriptor> {
        let bad = |why: &str| Error::Invalid {
            component: crate::Component::FileName,
            offset: 0,
            expected: format!("an sstable component file name ({why}), got `{name}`"),
        };
        let parts: Vec<&str> = name.split('-').collect();
        if parts.len() < 3 {
            return Err(bad("too few `-` separated parts"));
        }
        let is_version = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase());
        // New form: version-generation-format-Component
        if parts.len() == 4 && is_version(parts[0]) && (parts[2] == "big" || parts[2] == "bti") {
            let version = Version::parse(parts[0])?;
            let format = if parts[2] == "bti" {
                FormatKind::Bti
            } else {
                FormatKind::Big
            };
            return Ok(Descriptor {
                version,
                generation: parts[1].to_string(),
                format,
                keyspace: None,
                table: None,
                component: parts[3].to_string(),
                prefix: format!("{}-{}-{}-", parts[0], parts[1], parts[2]),
            });
        }
        // Old form: [ks-]cf-version-generation-Component (ks/cf may not contain '-')
        let n = parts.len();
        if n >= 4 && is_version(parts[n - 3]) && parts[n - 2].bytes().all(|b| b.is_ascii_digit()) {
            let version = Version::parse(parts[n - 3])?;
            let (keyspace, table) = if n >= 5 {
                (
                    Some(parts[n - 5].to_string()),
                    Some(parts[n - 4].to_string()),
                )
            } else {
                (None, Some(parts[n - 4].to_string()))
            };
            let prefix_len = name.len() - parts[n - 1].len();
            return Ok(Descriptor {
                version,
                generation: parts[n - 2].to_string(),
                format: FormatKind::Big,
                keyspace,
                table,
                component: parts[n - 1].to_string(),
                prefix: name[..prefix_len].to_string(),
            });
        }
        Err(bad("neither `<version>-<generation>-<format>-<component>` nor `<ks>-<table>-<version>-<generation>-<component>`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_form() {
        let d = Descriptor::parse_file_name("nb-1-big-Data.db").unwrap();
        assert_eq!(d.version, Version::Nb);
        assert_eq!(d.generation, "1");
        assert_eq!(d.format, FormatKind::Big);
        assert_eq!(d.component, "Data.db");
        assert_eq!(d.prefix, "nb-1-big-");
        let d = Descriptor::parse_file_name("da-3gdo_0x5f_2ydkw2jj0s0n6dqzvs-bti-Partitions.db")
            .unwrap();
        assert_eq!(d.version, Version::Da);
        assert_eq!(d.format, FormatKind::Bti);
    }

    #[test]
    fn old_form() {
        let d = Descriptor::parse_file_name("legacy_tables-legacy_ka_simple-ka-1-Data.db").unwrap();
        assert_eq!(d.version, Version::Ka);
        assert_eq!(d.keyspace.as_deref(), Some("legacy_tables"));
        assert_eq!(d.table.as_deref(), Some("legacy_ka_simple"));
        assert_eq!(d.prefix, "legacy_tables-legacy_ka_simple-ka-1-");
    }

    #[test]
    fn rejects() {
        assert!(Descriptor::parse_file_name("foo.txt").is_err());
        assert!(Descriptor::parse_file_name("zz-1-big-Data.db").is_err());
        assert!(Version::Jb.check_supported().is_err());
        assert!(Version::Nb.check_supported().is_ok());
    }
}
