//! The lake's settings: root, storage options, and declared tables with partitions and columns.

use datafusion::arrow::datatypes::DataType;

/// Where the lake is and how to reach it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LakeSpec {
    /// The lake root: a local folder (absolute, or resolved by the caller) or a URL
    /// such as `s3://bucket/prefix`.
    pub root: String,
    /// Non-secret object-store options.
    pub storage: StorageOptions,
    /// Tables declared explicitly; they add to or override discovered ones.
    pub tables: Vec<TableSpec>,
    /// Whether folders under the root become tables automatically.
    pub discover: bool,
}

/// Non-secret object-store options. Credentials never live here: they come from the
/// environment (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`, …).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageOptions {
    /// A custom endpoint, for S3-compatible servers.
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// Allow plain `http://` endpoints (for loopback test servers).
    pub allow_http: bool,
    /// Use virtual-hosted-style S3 addressing instead of path-style.
    pub virtual_hosted_style: bool,
    /// Send unsigned requests (public buckets).
    pub skip_signature: bool,
    /// Retries and timeouts of requests to the store.
    pub retry: RetrySettings,
}

/// How requests to an object store are retried (5xx, 429, timeouts, dropped connections, with
/// exponential backoff) and how long one may take; object_store's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Retries of one request.
    pub max_retries: usize,
    /// How long one request may keep being retried, in seconds.
    pub retry_timeout_seconds: u64,
    /// How long one attempt may take, in seconds.
    pub request_timeout_seconds: u64,
    /// How long connecting may take, in seconds.
    pub connect_timeout_seconds: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout_seconds: 180,
            request_timeout_seconds: 30,
            connect_timeout_seconds: 5,
        }
    }
}

/// A table declared in the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// The SQL name of the table.
    pub name: String,
    /// A folder, file or glob, relative to the lake root or a full URL.
    pub path: String,
    /// Partition columns in folder order; empty means inferred from the folder names.
    pub partitions: Vec<PartitionSpec>,
    /// An explicit file schema (without partition columns); `None` means inferred.
    pub schema: Option<Vec<ColumnSpec>>,
}

/// A hive partition column.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    /// The column name (the key in `key=value` folders).
    pub name: String,
    /// Its type.
    pub data_type: PartitionType,
}

/// The types a partition column can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// `YYYY-MM-DD`, as `DATE`.
    Date,
    /// A 64-bit integer.
    Int,
    /// Any text.
    String,
}

impl PartitionType {
    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            PartitionType::Date => DataType::Date32,
            PartitionType::Int => DataType::Int64,
            PartitionType::String => DataType::Utf8,
        }
    }

    /// The closest partition type of an Arrow type (of a Delta table's partition column): dates and
    /// integers as such, anything else shown as text.
    pub fn of(data_type: &DataType) -> Self {
        match data_type {
            DataType::Date32 | DataType::Date64 => PartitionType::Date,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => PartitionType::Int,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => PartitionType::Int,
            DataType::Dictionary(_, value) => Self::of(value),
            _ => PartitionType::String,
        }
    }

    /// Parses the names used in settings: `date`, `int`/`integer`/`bigint`, `string`/`varchar`/`text`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "date" => Some(Self::Date),
            "int" | "integer" | "bigint" | "int64" => Some(Self::Int),
            "string" | "varchar" | "text" | "utf8" => Some(Self::String),
            _ => None,
        }
    }
}

/// A column of an explicit schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// The column name.
    pub name: String,
    /// Its Arrow type.
    pub data_type: DataType,
}
