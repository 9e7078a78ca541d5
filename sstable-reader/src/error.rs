//! Reader errors: a format error with the file it came from, or an I/O error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: sstable_format::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Other { path: PathBuf, message: String },
    #[error("schema: {0}")]
    Schema(String),
}

impl ReadError {
    pub fn format(path: impl Into<PathBuf>, source: sstable_format::Error) -> Self {
        ReadError::Format {
            path: path.into(),
            source,
        }
    }
    pub fn other(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ReadError::Other {
            path: path.into(),
            message: message.into(),
        }
    }
    /// The underlying format error, if this is one.
    pub fn format_error(&self) -> Option<&sstable_format::Error> {
        match self {
            ReadError::Format { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ReadError>;
