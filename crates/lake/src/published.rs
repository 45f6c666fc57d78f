//! Job reports as tables: a folder that nightshift's job publisher committed (it holds `_manifests/`)
//! is read through its latest manifest, so a query sees exactly the files of one published version,
//! never a run's unpublished files nor the replaced files that clean-up has not removed yet.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::error::LakeError;
pub(crate) use crate::manifest::MANIFESTS;
use crate::manifest::{Manifest, latest_manifest_object};

/// The latest manifest among `manifests` (the objects under `<output>/_manifests/`): its version and
/// the paths of its files relative to the output folder. `None` when there is none.
pub async fn latest_manifest(
    store: &dyn ObjectStore,
    manifests: &[ObjectMeta],
) -> Result<Option<(u64, Vec<String>)>, LakeError> {
    let Some((_, latest)) = latest_manifest_object(manifests) else {
        return Ok(None);
    };
    let path = &latest.location;
    let bad = |reason: String| LakeError::BadFile {
        path: path.to_string(),
        reason,
    };
    let bytes = store
        .get(path)
        .await
        .map_err(|e| bad(e.to_string()))?
        .bytes()
        .await
        .map_err(|e| bad(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "not a nightshift manifest ({e}); the job's next run rewrites it"
        ))
    })?;
    Ok(Some((m.version, m.files.into_iter().map(|f| f.path).collect())))
}

/// A table over a published output: the folder's listing table, with every scan restricted to the
/// files the latest manifest names. Pruning, projection and filter pushdown are the listing table's.
#[derive(Debug)]
pub struct PublishedTable {
    inner: Arc<dyn TableProvider>,
    files: Arc<HashSet<Path>>,
}

impl PublishedTable {
    /// `inner` restricted to `files` (object paths).
    pub fn new(inner: Arc<dyn TableProvider>, files: HashSet<Path>) -> Self {
        Self {
            inner,
            files: Arc::new(files),
        }
    }

    /// The table of the whole folder.
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }

    /// The published files (object paths) it is restricted to.
    pub fn files(&self) -> &HashSet<Path> {
        &self.files
    }
}

#[async_trait]
impl TableProvider for PublishedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        let files = Arc::clone(&self.files);
        plan.transform_down(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            let groups: Vec<FileGroup> = config
                .file_groups
                .iter()
                .map(|g| {
                    FileGroup::new(
                        g.iter()
                            .filter(|f| files.contains(&f.object_meta.location))
                            .cloned()
                            .collect(),
                    )
                })
                .collect();
            // The listing's statistics counted every file in the folder: drop them, so that no
            // count(*) is answered from files that are not published.
            let unknown = Statistics::new_unknown(config.file_source.table_schema().table_schema());
            let restricted = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .with_statistics(unknown)
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(restricted) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }
}
