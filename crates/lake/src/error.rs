//! The lake's typed error, [`LakeError`], and the schema conflict it can carry.

use datafusion::error::DataFusionError;

/// Errors raised while discovering, validating or registering lake tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    /// The lake root or a table path is not a usable location.
    #[error("invalid lake location '{location}': {reason}")]
    InvalidLocation {
        /// The location as written in the settings.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object store could not be built or reached.
    #[error("object store for '{location}' failed: {source}")]
    ObjectStore {
        /// The URL of the store.
        location: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
    /// A Parquet file is empty, truncated or corrupt.
    #[error("bad parquet file '{path}': {reason}; remove or replace the file")]
    BadFile {
        /// The file's full location.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Parquet file failed while a query read its pages, indexes or bloom filters.
    #[error("failed to read parquet file '{path}': {}", .source.strip_backtrace())]
    ReadFile {
        /// The file's full location.
        path: String,
        /// The scan's error.
        #[source]
        source: DataFusionError,
    },
    /// Two files of one table disagree on a column's type.
    #[error(
        "table '{}': column '{}' is {} in '{}' but {} in '{}'; \
         rewrite one of the files or declare the table's schema in nightshift.toml",
        .0.table, .0.column, .0.left_type, .0.left_file, .0.right_type, .0.right_file
    )]
    IncompatibleSchema(Box<SchemaConflict>),
    /// A table declared in the settings matches no Parquet file.
    #[error("table '{table}': no parquet files found at '{location}'")]
    NoFiles {
        /// The table.
        table: String,
        /// Where it was looked for.
        location: String,
    },
    /// A table could not be read.
    #[error("failed to read table '{table}': {source}")]
    Table {
        /// The table.
        table: String,
        /// The underlying error.
        #[source]
        source: Box<LakeError>,
    },
    /// A Delta table's log cannot be read, or asks for something delta-rs cannot do.
    #[error("Delta table '{location}': {reason}")]
    Delta {
        /// The table's folder.
        location: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// A folder holds a table format the lake cannot read; it is not read as loose Parquet.
    #[error(
        "'{location}' is an {format} table, which nightshift cannot read: its Parquet files are not          read as a plain folder because the table's metadata decides which of them are current.          Convert it to Delta Lake or move it out of the lake"
    )]
    UnsupportedFormat {
        /// The table's folder.
        location: String,
        /// The format.
        format: &'static str,
    },
    /// A job report still in nightshift's pre-Delta layout (`_manifests/`).
    #[error(
        "'{location}' is a report in nightshift's pre-Delta layout (_manifests/), which is no longer \
         read: the next `nightshift run` of the job that writes it converts it to a Delta table in place"
    )]
    LegacyReport {
        /// The report's folder.
        location: String,
    },
    /// An error from DataFusion.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<LakeError> for DataFusionError {
    fn from(e: LakeError) -> Self {
        match e {
            LakeError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Two files of one table that disagree on a column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaConflict {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The first file.
    pub left_file: String,
    /// The column's type in the first file.
    pub left_type: String,
    /// The second file.
    pub right_file: String,
    /// The column's type in the second file.
    pub right_type: String,
}
