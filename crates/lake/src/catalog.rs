use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::physical_plan::parquet::transform_schema_to_view;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::collections::HashSet;

use crate::error::LakeError;
use crate::footer::{FileFooter, read_footer};
use crate::partitions::{infer_partition_type, parse_partition_value, split_hive_segment};
use crate::published::{MANIFESTS, PublishedTable, latest_manifest};
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
                TableTarget::bare(&name),
            )
            .await?;
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

fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || segment.starts_with('_')
}

/// What a listing of the lake finds: plain tables (top-level folders) and outputs published by jobs.
struct Discovered {
    tables: BTreeMap<String, Vec<TableFile>>,
    published: Vec<Published>,
}

/// A folder holding `_manifests/`: a job's output, read through its latest manifest.
struct Published {
    /// Path segments below the lake root (`["reports", "daily_sentiment"]`).
    parts: Vec<String>,
    /// Its Parquet files, published or not; partitions relative to the folder.
    files: Vec<TableFile>,
    /// The objects under `_manifests/`.
    manifests: Vec<ObjectMeta>,
}

impl Published {
    /// `reports.daily_sentiment` (schema `reports`), or a bare name for a folder at the root; deeper
    /// folders join the rest with `_` (`a/b/c` is `a.b_c`).
    fn reference(&self) -> TableReference {
        match self.parts.split_first() {
            Some((only, [])) => TableReference::bare(only.clone()),
            Some((schema, rest)) => TableReference::partial(schema.clone(), rest.join("_")),
            None => TableReference::bare(""),
        }
    }
}

async fn discover(store: &dyn ObjectStore, location: &LakeLocation) -> Result<Discovered, LakeError> {
    let prefix = location.prefix();
    let prefix_parts = prefix.parts().count();
    let mut files: Vec<(Vec<String>, ObjectMeta)> = Vec::new();
    // Folders written by nightshift's job publisher hold `_manifests/`; only the files a manifest
    // names are published, so such folders become tables read through their manifests.
    let mut published: BTreeMap<Vec<String>, Vec<ObjectMeta>> = BTreeMap::new();
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
        if let Some(i) = parts.iter().position(|p| p == MANIFESTS) {
            if i > 0 && !parts[..i].iter().any(|p| is_hidden(p)) {
                published.entry(parts[..i].to_vec()).or_default().push(meta);
            }
            continue;
        }
        // root/table/[k=v/…]file.parquet; files directly under the root and hidden folders
        // (`_models`, `_staging`, `_errors`, `.tmp`) are not tables.
        if parts.len() < 2
            || parts.iter().any(|p| is_hidden(p))
            || !parts[parts.len() - 1].ends_with(".parquet")
        {
            continue;
        }
        files.push((parts, meta));
    }
    let hive = |segments: &[String]| -> Vec<(String, String)> {
        segments
            .iter()
            .filter_map(|s| split_hive_segment(s).map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let mut found = Discovered {
        tables: BTreeMap::new(),
        published: published
            .into_iter()
            .map(|(parts, manifests)| Published {
                parts,
                files: Vec::new(),
                manifests,
            })
            .collect(),
    };
    for (parts, meta) in files {
        // The innermost published folder holding the file, if any.
        let owner = found
            .published
            .iter_mut()
            .filter(|p| p.parts.len() < parts.len() && parts.starts_with(&p.parts))
            .max_by_key(|p| p.parts.len());
        match owner {
            Some(p) => {
                let partitions = hive(&parts[p.parts.len()..parts.len() - 1]);
                p.files.push(TableFile { meta, partitions });
            }
            None => {
                let partitions = hive(&parts[1..parts.len() - 1]);
                found
                    .tables
                    .entry(parts[0].clone())
                    .or_default()
                    .push(TableFile { meta, partitions });
            }
        }
    }
    Ok(found)
}

/// Registers a published output as a table over the files of its latest manifest; `None` when
/// nothing is published yet or the latest version has no files.
async fn register_published(
    ctx: &SessionContext,
    store: &dyn ObjectStore,
    location: &LakeLocation,
    output: Published,
) -> Result<Option<TableInfo>, LakeError> {
    let reference = output.reference();
    let name = reference.to_string();
    let folder = output.parts.join("/");
    let url = location.join(&format!("{folder}/"));
    let (files, wanted, problem) = match latest_manifest(store, &output.manifests).await {
        Ok(None) => return Ok(None),
        // One unreadable manifest makes that report unreadable, not the lake.
        Err(e) => (Vec::new(), HashSet::new(), Some(e)),
        Ok(Some((version, paths))) => {
            if paths.is_empty() {
                tracing::info!(table = %name, version, "published output has no files; not registered");
                return Ok(None);
            }
            let base: Vec<String> = location
                .prefix()
                .parts()
                .map(|p| p.as_ref().to_string())
                .chain(output.parts.iter().cloned())
                .collect();
            let wanted: HashSet<Path> = paths
                .iter()
                .map(|rel| Path::from_iter(base.iter().map(String::as_str).chain(rel.split('/'))))
                .collect();
            let files: Vec<TableFile> = output
                .files
                .into_iter()
                .filter(|f| wanted.contains(&f.meta.location))
                .collect();
            let missing = wanted
                .iter()
                .find(|w| !files.iter().any(|f| &f.meta.location == *w))
                .map(|w| LakeError::BadFile {
                    path: w.to_string(),
                    reason: format!(
                        "version {version} of the output names this file but it is missing; the folder \
                         was changed outside nightshift: rerun the job that writes it"
                    ),
                });
            (files, wanted, missing)
        }
    };
    let target = TableTarget {
        reference,
        published: Some((wanted, problem)),
    };
    register_table(ctx, store, location, &name, &url, files, &[], None, false, target)
        .await
        .map(Some)
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
        TableTarget::bare(&spec.name),
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
    target: TableTarget,
) -> Result<TableInfo, LakeError> {
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
    };
    let TableTarget { reference, published } = target;
    let result = match &published {
        Some((_, Some(missing))) => Err(bad_file(missing, url)),
        _ => build_table(
            ctx,
            name,
            url,
            &files,
            &footers,
            declared_partitions,
            declared_schema,
        ),
    };
    let provider: Arc<dyn TableProvider> = match result {
        Ok((table, partitions, rows)) => {
            info.partitions = partitions;
            info.rows = rows;
            info.schema = table.schema();
            match published {
                Some((wanted, _)) => Arc::new(PublishedTable::new(Arc::new(table), wanted)),
                None if table.table_paths().iter().any(|p| p.get_glob().is_some()) => {
                    Arc::new(GlobTable::new(table))
                }
                None => Arc::new(table),
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
            Arc::new(BrokenTable {
                message: err.to_string(),
                schema: Arc::clone(&info.schema),
            })
        }
    };
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
    Ok(info)
}

/// Where `register_table` puts a table: its SQL reference, and for a published output the files of
/// its latest manifest (with the first one that is missing, if any).
struct TableTarget {
    reference: TableReference,
    published: Option<(HashSet<Path>, Option<LakeError>)>,
}

impl TableTarget {
    fn bare(name: &str) -> Self {
        Self {
            reference: TableReference::bare(name),
            published: None,
        }
    }
}

/// `e` (borrowed, and `LakeError` is not `Clone`) as the `BadFile` error of a table: its own file and
/// reason when it names one, otherwise the table's location `url` and its message.
fn bad_file(e: &LakeError, url: &str) -> LakeError {
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
            Err(e) => return Err(bad_file(e, url)),
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

/// A table declared with a glob (`url = "s3://b/sales/*/part-*.parquet"`): a listing table whose
/// URL keeps its pattern. It is a type of its own only so that it can cross the wire to a Ballista
/// cluster with its pattern: DataFusion's plan serialisation writes a plain listing table's URL
/// without the glob, which would read the whole folder there.
#[derive(Debug)]
pub struct GlobTable {
    inner: Arc<ListingTable>,
}

impl GlobTable {
    /// Wraps a listing table whose URL has a glob.
    pub fn new(inner: ListingTable) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The listing table.
    pub fn listing(&self) -> &Arc<ListingTable> {
        &self.inner
    }
}

#[async_trait]
impl TableProvider for GlobTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        self.inner.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
}

/// A table that cannot be read; every scan fails with the reason.
#[derive(Debug)]
pub struct BrokenTable {
    message: String,
    schema: SchemaRef,
}

impl BrokenTable {
    /// A table of `schema` whose scans fail with `message`.
    pub fn new(message: String, schema: SchemaRef) -> Self {
        Self { message, schema }
    }

    /// Why it cannot be read.
    pub fn message(&self) -> &str {
        &self.message
    }
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
