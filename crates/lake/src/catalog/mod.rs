//! The lake's tables registered in a DataFusion session: the [`Catalog`] that loads them and what
//! it knows of each.
//!
//! `discover` lists the lake into tables and published outputs, `register` registers each in the
//! session (declared tables too), `build` makes the listing table from the files and their footers,
//! and `providers` holds the table types of glob tables and unreadable tables.

mod build;
mod discover;
mod providers;
mod register;

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;

use self::discover::{Discovered, discover};
pub use self::providers::{BrokenTable, GlobTable};
use self::register::{NewTable, TableTarget, register_declared, register_published, register_table};
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
        let mut found = Discovered {
            tables: BTreeMap::new(),
            published: Vec::new(),
        };
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
                target: TableTarget::bare(&name),
            };
            let info = register_table(ctx, store.as_ref(), &location, table).await?;
            tables.insert(name, info);
        }
        for output in found.published {
            let name = output.reference().to_string();
            if spec.tables.iter().any(|t| t.name == name) {
                continue;
            }
            if let Some(info) = register_published(ctx, store.as_ref(), &location, output).await? {
                tables.insert(name, info);
            }
        }
        for t in &spec.tables {
            let info = register_declared(ctx, &location, store.as_ref(), t).await?;
            tables.insert(t.name.clone(), info);
        }
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
