//! Errors that say where they happened.

use std::fmt;

/// The sstable component a byte offset refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Component {
    Data,
    Index,
    Summary,
    Filter,
    Statistics,
    CompressionInfo,
    Crc,
    Digest,
    Toc,
    /// A value inside a cell, key or clustering (offsets are relative to the value).
    Value,
    /// A file name (descriptor parsing).
    FileName,
    /// CQL DDL text given by the user.
    Schema,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Component::Data => "Data.db",
            Component::Index => "Index.db",
            Component::Summary => "Summary.db",
            Component::Filter => "Filter.db",
            Component::Statistics => "Statistics.db",
            Component::CompressionInfo => "CompressionInfo.db",
            Component::Crc => "CRC.db",
            Component::Digest => "Digest",
            Component::Toc => "TOC.txt",
            Component::Value => "value",
            Component::FileName => "file name",
            Component::Schema => "schema",
        };
        f.write_str(s)
    }
}

/// Every failure of the format crate. Offsets are byte offsets in the named
/// component (for Data.db: in the *uncompressed* stream unless stated).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{component}: truncated at byte {offset}: needed {needed} more byte(s) for {what}")]
    Truncated {
        component: Component,
        offset: u64,
        needed: u64,
        what: &'static str,
    },
    #[error("{component}: invalid data at byte {offset}: expected {expected}")]
    Invalid {
        component: Component,
        offset: u64,
        expected: String,
    },
    #[error("{component}: checksum mismatch in chunk {chunk} (at byte {offset}): stored {expected:#010x}, computed {actual:#010x}")]
    ChecksumMismatch {
        component: Component,
        chunk: u64,
        offset: u64,
        expected: u32,
        actual: u32,
    },
    #[error("{component}: decompression of chunk {chunk} (at byte {offset}) failed: {reason}")]
    Decompression {
        component: Component,
        chunk: u64,
        offset: u64,
        reason: String,
    },
    #[error("unsupported sstable version `{version}`: {reason}")]
    UnsupportedVersion { version: String, reason: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("type error: {0}")]
    Type(String),
}

impl Error {
    pub(crate) fn invalid(component: Component, offset: u64, expected: impl Into<String>) -> Self {
        Error::Invalid {
            component,
            offset,
            expected: expected.into(),
        }
    }

    /// Shift the offset of this error by `base` (used when a sub-slice was parsed).
    pub fn rebase(self, component: Component, base: u64) -> Self {
        match self {
            Error::Truncated {
                offset,
                needed,
                what,
                ..
            } => Error::Truncated {
                component,
                offset: offset.saturating_add(base),
                needed,
                what,
            },
            Error::Invalid {
                offset, expected, ..
            } => Error::Invalid {
                component,
                offset: offset.saturating_add(base),
                expected,
            },
            other => other,
        }
    }

    /// The byte offset the error refers to, if it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Truncated { offset, .. }
            | Error::Invalid { offset, .. }
            | Error::ChecksumMismatch { offset, .. }
            | Error::Decompression { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
