//! The table providers a catalog registers besides plain listing tables: [`GlobTable`], a listing
//! table that keeps its glob, and [`BrokenTable`], an unreadable table whose scans fail with why.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::listing::ListingTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

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
