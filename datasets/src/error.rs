//! The generator's typed error, [`DatasetError`].

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while generating the demo lake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// An option is out of range; nothing was written.
    #[error("invalid option '{option}': {reason}")]
    InvalidOptions {
        /// The offending field of `GenerateOptions`.
        option: &'static str,
        /// Why the value was rejected, quoting it.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("failed to {action} '{}': {source}", path.display())]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Encoding a Parquet file failed.
    #[error("failed to write '{}': {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Assembling an Arrow record batch failed.
    #[error("failed to build a record batch for table '{table}': {source}")]
    Arrow {
        /// The table being generated.
        table: &'static str,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
}

impl DatasetError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }

    pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidOptions {
            option,
            reason: reason.into(),
        }
    }
}
