//! The lake catalog of nightshift.
//!
//! Every folder under the lake root that holds Parquet files becomes a table, hive-style partition
//! folders (`tx_date=2024-06-01/`) become typed partition columns, and explicit [`TableSpec`]s add
//! to or override what discovery finds. Object stores (local, S3, GCS, Azure, HTTP) come from the
//! lake's URL and [`StorageOptions`]; credentials are only ever read from the environment. A folder
//! holding `_delta_log/` is a Delta Lake table, read through delta-rs at its latest version or at
//! any earlier one (`table@v3`); Iceberg and Hudi folders are refused rather than read as Parquet.
#![deny(missing_docs)]

mod catalog;
mod delta;
mod durable_local;
mod error;
mod footer;
mod partitions;
mod row_counts;
mod scan_errors;
mod schema_merge;
mod spec;
mod stores;
mod url_tables;

pub use catalog::{BrokenTable, Catalog, GlobTable, TableFormat, TableInfo, TimeTravelSchema};
pub use delta::{
    DELTA_LOG, DeltaFacts, DeltaLocation, DeltaSnapshotTable, LEGACY_REPORT, TimeTravel, delta_facts,
    delta_provider, delta_table_provider,
};
pub use durable_local::DurableLocalFileSystem;
pub use error::{LakeError, SchemaConflict};
pub use footer::{FileFooter, read_footer};
pub use partitions::{infer_partition_type, parse_partition_value};
pub use row_counts::table_rows;
pub use scan_errors::{NameFilesInErrors, file_scan};
pub use schema_merge::merge_file_schemas;
pub use spec::{
    ColumnSpec, LakeSpec, PartitionSpec, PartitionType, RetrySettings, StorageOptions, TableSpec,
};
pub use stores::{LakeLocation, register_object_store};
pub use url_tables::enable_url_tables;
