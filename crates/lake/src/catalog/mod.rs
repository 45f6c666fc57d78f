//! The lake's tables registered in a DataFusion session: the [`Catalog`] that loads them and what
//! it knows of each.
//!
//! `discover` lists the lake into plain, Delta and refused tables, `register` registers plain and
//! declared tables, `build` makes the listing table from the files and their footers, `delta`
//! registers Delta tables (and refused folders), `time_travel` wraps the schemas holding Delta tables
//! so that `name@v3` reads an earlier version, and `providers` holds the table types of glob tables
//! and unreadable tables.

mod build;
mod delta;
mod discover;
mod providers;
mod register;
mod time_travel;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;

use self::delta::{register_delta, register_unsupported};
use self::discover::{Discovered, discover, reference_of};
pub use self::providers::{BrokenTable, GlobTable};
use self::register::{NewTable, register_declared, register_table};
pub use self::time_travel::TimeTravelSchema;
use crate::error::LakeError;
use crate::spec::{LakeSpec, PartitionSpec};
use crate::stores::{LakeLocation, register_object_store};

/// What the catalog knows about one table, from file listings and Parquet footers only.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The SQL name.
    pub name: String,
    /// Where the table lives (a folder URL, possibly with a glob).
    pub location: String,
    /// Number of Parquet files.
    pub files: usize,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Total rows, from the footers.
    pub rows: u64,
    /// Partition columns, in folder order.
    pub partitions: Vec<PartitionSpec>,
    /// The table schema: file columns, then partition columns.
    pub schema: SchemaRef,
    /// Whether the table was declared in the settings rather than discovered.
    pub declared: bool,
    /// Why the table cannot be read, if it cannot. Queries on it fail with this message.
    pub error: Option<String>,
    /// The table's format.
    pub format: TableFormat,
}

/// How a table's files are organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// A folder (or glob) of Parquet files, hive partitions included.
    Parquet,
    /// A Delta Lake table, read at one version of its log.
    Delta {
        /// The version read.
        version: u64,
    },
    /// A format the lake refuses to read (Iceberg, Hudi).
    Unsupported(&'static str),
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableFormat::Parquet => f.write_str("parquet"),
            TableFormat::Delta { version } => write!(f, "delta v{version}"),
            TableFormat::Unsupported(name) => write!(f, "{} (unsupported)", name.to_lowercase()),
        }
    }
}

/// The tables of a lake, registered in a DataFusion session.
#[derive(Debug)]
pub struct Catalog {
    location: LakeLocation,
    tables: BTreeMap<String, TableInfo>,
}

impl Catalog {
    /// Discovers and registers every table of the lake in `ctx`.
    ///
    /// A table with a broken file is still registered, so that the rest of the lake stays usable:
    /// reading it fails with an error that names the file.
    #[tracing::instrument(level = "info", skip_all, fields(root = %spec.root))]
    pub async fn load(ctx: &SessionContext, spec: &LakeSpec) -> Result<Self, LakeError> {
        let location = LakeLocation::parse(&spec.root)?;
        let store = register_object_store(ctx, &location, &spec.storage)?;
        let mut found = Discovered::default();
        if spec.discover && location.url().scheme() != "http" && location.url().scheme() != "https" {
            found = discover(store.as_ref(), &location).await?;
        }
        let mut tables = BTreeMap::new();
        for (name, files) in found.tables {
            if spec.tables.iter().any(|t| t.name == name) {
                continue;
            }
            let url = location.join(&format!("{name}/"));
            let table = NewTable {
                name: &name,
                url: &url,
                files,
                declared: None,
                reference: TableReference::bare(name.as_str()),
            };
            let info = register_table(ctx, store.as_ref(), &location, table).await?;
            tables.insert(name, info);
        }
        let mut delta_tables = Vec::new();
        for parts in found.delta {
            let reference = reference_of(&parts);
            let name = reference.to_string();
            if spec.tables.iter().any(|t| t.name == name) {
                continue;
            }
            let url = location.join(&format!("{}/", parts.join("/")));
            let info = register_delta(ctx, Arc::clone(&store), &url, reference.clone()).await?;
            delta_tables.push((reference, url));
            tables.insert(name, info);
        }
        for (parts, format) in found.foreign {
            let reference = reference_of(&parts);
            let name = reference.to_string();
            if spec.tables.iter().any(|t| t.name == name) {
                continue;
            }
            let url = location.join(&format!("{}/", parts.join("/")));
            let info = register_unsupported(ctx, &url, reference, format)?;
            tables.insert(name, info);
        }
        for t in &spec.tables {
            let info = register_declared(ctx, &location, store.as_ref(), t).await?;
            tables.insert(t.name.clone(), info);
        }
        TimeTravelSchema::install(ctx, Arc::clone(&store), &delta_tables)?;
        tracing::info!(tables = tables.len(), "lake catalog loaded");
        Ok(Self { location, tables })
    }

    /// The tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values()
    }

    /// One table.
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.get(name)
    }

    /// The lake root.
    pub fn location(&self) -> &LakeLocation {
        &self.location
    }
}
