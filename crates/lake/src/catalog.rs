use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::physical_plan::parquet::transform_schema_to_view;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use crate::error::LakeError;
use crate::footer::{FileFooter, read_footer};
use crate::partitions::{infer_partition_type, parse_partition_value, split_hive_segment};
use crate::schema_merge::merge_file_schemas;
use crate::spec::{LakeSpec, PartitionSpec, TableSpec};
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

/// A file of a table with its hive partition values.
struct TableFile {
    meta: ObjectMeta,
    partitions: Vec<(String, String)>,
}

const META_CONCURRENCY: usize = 16;

impl Catalog {
    /// Discovers and registers every table of the lake in `ctx`.
    ///
    /// A table with a broken file is still registered, so that the rest of the lake stays usable:
    /// reading it fails with an error that names the file.
    #[tracing::instrument(level = "info", skip_all, fields(root = %spec.root))]
    pub async fn load(ctx: &SessionContext, spec: &LakeSpec) -> Result<Self, LakeError> {
        let location = LakeLocation::parse(&spec.root)?;
        let store = register_object_store(ctx, &location, &spec.storage)?;
        let mut groups: BTreeMap<String, Vec<TableFile>> = BTreeMap::new();
        if spec.discover && location.url().scheme() != "http" && location.url().scheme() != "https" {
            groups = discover(store.as_ref(), &location).await?;
        }
        let mut tables = BTreeMap::new();
        for (name, files) in groups {
            if spec.tables.iter().any(|t| t.name == name) {
                continue;
            }
            let url = location.join(&format!("{name}/"));
            let info = register_table(
                ctx,
                store.as_ref(),
                &location,
                &name,
                &url,
                files,
                &[],
                None,
                false,
            )
            .await?;
            tables.insert(name, info);
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

fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || segment.starts_with('_')
}

async fn discover(
    store: &dyn ObjectStore,
    location: &LakeLocation,
) -> Result<BTreeMap<String, Vec<TableFile>>, LakeError> {
    let prefix = location.prefix();
    let prefix_parts = prefix.parts().count();
    let mut groups: BTreeMap<String, Vec<(Vec<String>, TableFile)>> = BTreeMap::new();
    // Folders written by nightshift's job publisher hold `_manifests/`; only the files a manifest
    // names are published, so such folders are not discovered as plain tables.
    let mut published: std::collections::HashSet<Vec<String>> = std::collections::HashSet::new();
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|source| LakeError::ObjectStore {
            location: location.url().to_string(),
            source,
        })?;
        let parts: Vec<String> = meta
            .location
            .parts()
            .skip(prefix_parts)
            .map(|p| p.as_ref().to_string())
            .collect();
        if let Some(i) = parts.iter().position(|p| p == "_manifests") {
            published.insert(parts[..i].to_vec());
        }
        // root/table/[k=v/…]file.parquet; files directly under the root and hidden folders
        // (`_models`, `_staging`, `.tmp`) are not tables.
        if parts.len() < 2
            || parts.iter().any(|p| is_hidden(p))
            || !parts[parts.len() - 1].ends_with(".parquet")
        {
            continue;
        }
        let partitions = parts[1..parts.len() - 1]
            .iter()
            .filter_map(|s| split_hive_segment(s).map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        groups
            .entry(parts[0].clone())
            .or_default()
            .push((parts, TableFile { meta, partitions }));
    }
    let is_published = |parts: &[String]| (1..parts.len()).any(|n| published.contains(&parts[..n]));
    Ok(groups
        .into_iter()
        .filter_map(|(table, files)| {
            let files: Vec<TableFile> = files
                .into_iter()
                .filter(|(parts, _)| !is_published(parts))
                .map(|(_, f)| f)
                .collect();
            (!files.is_empty()).then_some((table, files))
        })
        .collect())
}

async fn register_declared(
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
    register_table(
        ctx,
        store,
        location,
        &spec.name,
        &url,
        files,
        &spec.partitions,
        schema,
        true,
    )
    .await
}

/// Splits a URL with a glob into its folder and pattern, as `ListingTableUrl::parse` does for
/// local paths only.
fn parse_table_url(url: &str) -> Result<ListingTableUrl, LakeError> {
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

#[allow(clippy::too_many_arguments)]
async fn register_table(
    ctx: &SessionContext,
    store: &dyn ObjectStore,
    location: &LakeLocation,
    name: &str,
    url: &str,
    mut files: Vec<TableFile>,
    declared_partitions: &[PartitionSpec],
    declared_schema: Option<Schema>,
    declared: bool,
) -> Result<TableInfo, LakeError> {
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    let store_url = location.store_url();
    let footers: Vec<Result<FileFooter, LakeError>> = futures::stream::iter(files.iter())
        .map(|f| read_footer(store, &store_url, &f.meta))
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
            info.partitions = partitions;
            info.rows = rows;
            info.schema = table.schema();
            Arc::new(table)
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
            Arc::new(BrokenTable {
                message: err.to_string(),
                schema: Arc::clone(&info.schema),
            })
        }
    };
    ctx.deregister_table(TableReference::bare(name))?;
    ctx.register_table(TableReference::bare(name), provider)?;
    Ok(info)
}

type Built = (ListingTable, Vec<PartitionSpec>, u64);

fn build_table(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    files: &[TableFile],
    footers: &[Result<FileFooter, LakeError>],
    declared_partitions: &[PartitionSpec],
    declared_schema: Option<Schema>,
) -> Result<Built, LakeError> {
    let mut ok = Vec::with_capacity(footers.len());
    for f in footers {
        match f {
            Ok(f) => ok.push(f),
            Err(e) => {
                return Err(LakeError::BadFile {
                    path: match e {
                        LakeError::BadFile { path, .. } => path.clone(),
                        _ => url.to_string(),
                    },
                    reason: match e {
                        LakeError::BadFile { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    },
                });
            }
        }
    }
    let rows = ok.iter().map(|f| f.rows).sum();
    let partitions = partition_columns(url, files, declared_partitions)?;
    let file_schema = match declared_schema {
        Some(s) => s,
        None if ok.is_empty() => Schema::empty(),
        None => {
            let merged = merge_file_schemas(name, ok.iter().map(|f| (f.location.as_str(), &f.schema)))?;
            // Partition values come from folders; a copy inside the files is dropped.
            Schema::new(
                merged
                    .fields()
                    .iter()
                    .filter(|f| !partitions.iter().any(|p| &p.name == f.name()))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        }
    };
    let state = ctx.state();
    let file_schema = if state.config_options().execution.parquet.schema_force_view_types {
        transform_schema_to_view(&file_schema)
    } else {
        file_schema
    };
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            partitions
                .iter()
                .map(|p| (p.name.clone(), p.data_type.data_type()))
                .collect(),
        );
    let config = ListingTableConfig::new(parse_table_url(url)?)
        .with_listing_options(options)
        .with_schema(Arc::new(file_schema));
    let table = ListingTable::try_new(config)?;
    Ok((table, partitions, rows))
}

fn partition_columns(
    url: &str,
    files: &[TableFile],
    declared: &[PartitionSpec],
) -> Result<Vec<PartitionSpec>, LakeError> {
    let bad = |reason: String| LakeError::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    let Some(first) = files.first() else {
        return Ok(declared.to_vec());
    };
    let keys: Vec<&str> = first.partitions.iter().map(|(k, _)| k.as_str()).collect();
    for f in files {
        let other: Vec<&str> = f.partitions.iter().map(|(k, _)| k.as_str()).collect();
        if other != keys {
            return Err(bad(format!(
                "partition folders disagree: '{}' has [{}] but '{}' has [{}]",
                first.meta.location,
                keys.join(", "),
                f.meta.location,
                other.join(", ")
            )));
        }
    }
    if !declared.is_empty() {
        let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
        if names != keys {
            return Err(bad(format!(
                "declared partition columns [{}] do not match the folders [{}] of '{}'",
                names.join(", "),
                keys.join(", "),
                first.meta.location
            )));
        }
        for (i, p) in declared.iter().enumerate() {
            if let Some(f) = files
                .iter()
                .find(|f| !parse_partition_value(&f.partitions[i].1, p.data_type))
            {
                return Err(bad(format!(
                    "partition folder '{}={}' of '{}' is not a {:?}",
                    p.name, f.partitions[i].1, f.meta.location, p.data_type
                )));
            }
        }
        return Ok(declared.to_vec());
    }
    Ok(keys
        .iter()
        .enumerate()
        .map(|(i, k)| PartitionSpec {
            name: (*k).to_string(),
            data_type: infer_partition_type(files.iter().map(|f| f.partitions[i].1.as_str())),
        })
        .collect())
}

/// A table that cannot be read; every scan fails with the reason.
#[derive(Debug)]
struct BrokenTable {
    message: String,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for BrokenTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(self.message.clone()))
    }
}
