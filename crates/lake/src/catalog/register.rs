//! Registration: each discovered plain or declared table registered in the session, as a listing
//! table or, when it cannot be read, as a [`BrokenTable`] that says why.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use super::build::build_table;
use super::discover::TableFile;
use super::providers::{BrokenTable, GlobTable};
use super::{TableFormat, TableInfo};
use crate::error::LakeError;
use crate::footer::{FileFooter, read_footer};
use crate::partitions::split_hive_segment;
use crate::schema_merge::merge_file_schemas;
use crate::spec::{PartitionSpec, TableSpec};
use crate::stores::LakeLocation;

/// How many Parquet footers are read at once.
const META_CONCURRENCY: usize = 16;

/// Registers a table declared in the settings, over the files at its path (or glob).
pub(crate) async fn register_declared(
    ctx: &SessionContext,
    location: &LakeLocation,
    store: &dyn ObjectStore,
    spec: &TableSpec,
) -> Result<TableInfo, LakeError> {
    let url = if spec.path.contains("://") {
        spec.path.clone()
    } else {
        location.join(&spec.path)
    };
    let table_url = parse_table_url(&url)?;
    let files: Vec<ObjectMeta> = table_url
        .list_all_files(&ctx.state(), store, ".parquet")
        .await?
        .try_collect()
        .await?;
    if files.is_empty() && spec.schema.is_none() {
        return Err(LakeError::NoFiles {
            table: spec.name.clone(),
            location: url,
        });
    }
    let files = files
        .into_iter()
        .map(|meta| {
            let partitions = table_url
                .strip_prefix(&meta.location)
                .map(|segs| {
                    segs.filter_map(|s| split_hive_segment(s).map(|(k, v)| (k.to_string(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            TableFile { meta, partitions }
        })
        .collect();
    let schema = spec.schema.as_ref().map(|cols| {
        Schema::new(
            cols.iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), true))
                .collect::<Vec<_>>(),
        )
    });
    let table = NewTable {
        name: &spec.name,
        url: &url,
        files,
        declared: Some(Declared {
            partitions: &spec.partitions,
            schema,
        }),
        reference: TableReference::bare(spec.name.as_str()),
    };
    register_table(ctx, store, location, table).await
}

/// Splits a URL with a glob into its folder and pattern, as `ListingTableUrl::parse` does for
/// local paths only.
pub(crate) fn parse_table_url(url: &str) -> Result<ListingTableUrl, LakeError> {
    let invalid = |reason: String| LakeError::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    match url.find(['*', '?', '[']) {
        None => Ok(ListingTableUrl::parse(url)?),
        Some(first) => {
            let split = url[..first].rfind('/').map_or(0, |i| i + 1);
            let (base, pattern) = url.split_at(split);
            let base = url::Url::parse(base).map_err(|e| invalid(e.to_string()))?;
            let glob = glob::Pattern::new(pattern).map_err(|e| invalid(format!("bad glob: {e}")))?;
            Ok(ListingTableUrl::try_new(base, Some(glob))?)
        }
    }
}

/// A table for [`register_table`]: its name, location and files, what the settings declare about
/// it, and where it goes.
pub(crate) struct NewTable<'a> {
    pub(crate) name: &'a str,
    pub(crate) url: &'a str,
    pub(crate) files: Vec<TableFile>,
    /// `Some` for a table declared in the settings rather than discovered.
    pub(crate) declared: Option<Declared<'a>>,
    /// The SQL name it is registered under.
    pub(crate) reference: TableReference,
}

/// What the settings declare about a table: its partition columns and, optionally, its schema.
pub(crate) struct Declared<'a> {
    pub(crate) partitions: &'a [PartitionSpec],
    pub(crate) schema: Option<Schema>,
}

/// Registers `table` in `ctx`: reads the footers of its files, builds its listing table and
/// registers it, or registers it as a [`BrokenTable`] when it cannot be read.
pub(crate) async fn register_table(
    ctx: &SessionContext,
    store: &dyn ObjectStore,
    location: &LakeLocation,
    table: NewTable<'_>,
) -> Result<TableInfo, LakeError> {
    let NewTable {
        name,
        url,
        mut files,
        declared,
        reference,
    } = table;
    let (declared_partitions, declared_schema, declared) = match declared {
        Some(d) => (d.partitions, d.schema, true),
        None => (&[][..], None, false),
    };
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    let store_url = location.store_url();
    // The futures are made before they go into the stream: a closure inside it would make the
    // catalog's future fail rustc's higher-ranked `Send` check where callers box it as `Send`.
    let reads: Vec<_> = files
        .iter()
        .map(|f| read_footer(store, &store_url, &f.meta))
        .collect();
    let footers: Vec<Result<FileFooter, LakeError>> = futures::stream::iter(reads)
        .buffered(META_CONCURRENCY)
        .collect()
        .await;
    let bytes = files.iter().map(|f| f.meta.size).sum();
    let mut info = TableInfo {
        name: name.to_string(),
        location: url.to_string(),
        files: files.len(),
        bytes,
        rows: 0,
        partitions: Vec::new(),
        schema: Arc::new(Schema::empty()),
        declared,
        error: None,
        format: TableFormat::Parquet,
    };
    let result = build_table(
        ctx,
        name,
        url,
        &files,
        &footers,
        declared_partitions,
        declared_schema,
    );
    let provider: Arc<dyn TableProvider> = match result {
        Ok((table, partitions, rows)) => {
            crate::row_counts::record(&table, rows);
            info.partitions = partitions;
            info.rows = rows;
            info.schema = table.schema();
            if table.table_paths().iter().any(|p| p.get_glob().is_some()) {
                Arc::new(GlobTable::new(table))
            } else {
                Arc::new(table)
            }
        }
        Err(e) => {
            let err = LakeError::Table {
                table: name.to_string(),
                source: Box::new(e),
            };
            tracing::warn!(table = name, error = %err, "table registered as unreadable");
            info.error = Some(err.to_string());
            // Best effort: the columns of the readable files, so that queries naming them reach the
            // scan and report the broken file instead of an unknown column.
            let readable: Vec<&FileFooter> = footers.iter().filter_map(|f| f.as_ref().ok()).collect();
            let schema = merge_file_schemas(name, readable.iter().map(|f| (f.location.as_str(), &f.schema)))
                .unwrap_or_else(|_| Schema::empty());
            info.schema = Arc::new(schema);
            Arc::new(BrokenTable::new(err.to_string(), Arc::clone(&info.schema)))
        }
    };
    put_table(ctx, reference, provider)?;
    Ok(info)
}

/// Registers `provider` as `reference`, replacing a table of that name and creating its schema
/// (`reports` of `reports.daily`) when the session has none yet.
pub(crate) fn put_table(
    ctx: &SessionContext,
    reference: TableReference,
    provider: Arc<dyn TableProvider>,
) -> Result<(), LakeError> {
    if let Some(schema) = reference.schema() {
        let catalog_name = ctx.state().config_options().catalog.default_catalog.clone();
        if let Some(catalog) = ctx.catalog(&catalog_name)
            && catalog.schema(schema).is_none()
        {
            catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
        }
    }
    ctx.deregister_table(reference.clone())?;
    ctx.register_table(reference, provider)?;
    Ok(())
}

/// `e` (borrowed, and `LakeError` is not `Clone`) as the `BadFile` error of a table: its own file and
/// reason when it names one, otherwise the table's location `url` and its message.
pub(crate) fn bad_file(e: &LakeError, url: &str) -> LakeError {
    match e {
        LakeError::BadFile { path, reason } => LakeError::BadFile {
            path: path.clone(),
            reason: reason.clone(),
        },
        other => LakeError::BadFile {
            path: url.to_string(),
            reason: other.to_string(),
        },
    }
}
