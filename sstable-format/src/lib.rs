//! # sstable-format
//!
//! Pure decoding of Apache Cassandra SSTable bytes: version descriptors, one
//! module per component (TOC, Statistics, CompressionInfo, Data, Index,
//! Summary, Filter, checksums), the CQL type system and value codecs.
//!
//! This crate does no I/O, starts no threads and allocates only what the
//! decoded values need. Every length read from the bytes is checked before
//! use; malformed input gives an [`Error`] naming the component, the byte
//! offset and what was expected — never a panic.
//!
//! ```
//! use sstable_format::{Version, Descriptor};
//! let d = Descriptor::parse_file_name("nb-1-big-Data.db").unwrap();
//! assert_eq!(d.version, Version::Nb);
//! assert!(d.version.has_metadata_checksum());
//! ```

#![forbid(unsafe_code)]

pub mod bti;
pub mod checksum;
pub mod compare;
pub mod compression;
pub mod cql;
pub mod cursor;
pub mod data;
pub mod error;
pub mod filter;
pub mod index;
pub mod legacy;
pub mod partitioner;
pub mod statistics;
pub mod summary;
pub mod toc;
pub mod types;
pub mod value;
pub mod version;

pub use error::{Component, Error, Result};
pub use partitioner::{Partitioner, Token};
pub use types::CqlType;
pub use value::Value;
pub use version::{Descriptor, FormatKind, Version};
