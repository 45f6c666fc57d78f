//! A listing table restricted to an exact set of files: how a Delta table's version crosses to a
//! Ballista cluster. delta-rs 1.1 has no codec for its physical scan, so the client sends the
//! version's file list and the folder's listing table; the scheduler scans exactly those files with
//! DataFusion's own Parquet scan, which Ballista ships to its executors. Versions with deletion
//! vectors are refused before they get here (`DeltaSnapshotTable::files`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path;

/// A table over a folder's listing table, with every scan restricted to a set of files (one Delta
/// version's). Pruning, projection and filter pushdown are the listing table's.
#[derive(Debug)]
pub struct FileSetTable {
    inner: Arc<dyn TableProvider>,
    files: Arc<HashSet<Path>>,
    /// The columns in the order the client's plan uses (delta-rs's), which may differ from the
    /// listing table's (partition columns last).
    schema: SchemaRef,
}

impl FileSetTable {
    /// `inner` restricted to `files` (object paths), showing its columns as `schema` orders them.
    pub fn new(inner: Arc<dyn TableProvider>, files: HashSet<Path>, schema: SchemaRef) -> Self {
        Self {
            inner,
            files: Arc::new(files),
            schema,
        }
    }
}

#[async_trait]
impl TableProvider for FileSetTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
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
        // Projections index this table's columns; the listing table orders them otherwise.
        let inner_schema = self.inner.schema();
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let mapped = wanted
            .iter()
            .map(|&i| inner_schema.index_of(self.schema.field(i).name()))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = self.inner.scan(state, Some(&mapped), filters, limit).await?;
        let files = Arc::clone(&self.files);
        plan.transform_down(|node| {
            let Some(config) = nightshift_lake::file_scan(node.as_ref()) else {
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
            // count(*) is answered from files outside the set.
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
