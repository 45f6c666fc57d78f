//! Errors (and panics) while a query reads a Parquet file, named by the file.
//!
//! The catalog validates footers when it loads, but page headers, data pages, page indexes and bloom
//! filters are only decoded when a query reads them, inside DataFusion's Parquet scan, whose errors
//! say what is wrong (`Unexpected PageType -11`) but not in which file. [`NameFilesInErrors`], the
//! last physical optimizer rule of a local session, wraps the source of every Parquet scan so that
//! each file's errors carry its name, and a panic of the Parquet decoder on corrupt data becomes an
//! error naming the file instead of tearing down the query's task.
//!
//! Plans sent to a Ballista cluster are logical and are planned there without this rule.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalExpr};
use datafusion::physical_expr_common::sort_expr::PhysicalSortExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan, SortOrderPushdownResult};
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use object_store::ObjectStore;

use crate::error::LakeError;
use crate::footer::display_location;

/// The file scan configuration of `plan`, if it is a scan of files (`DataSourceExec` over a
/// `FileScanConfig`): the one way the crates look into a planned scan.
pub fn file_scan(plan: &dyn ExecutionPlan) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
}

/// The physical optimizer rule that makes every Parquet scan name the file in its errors. Add it last.
#[derive(Debug, Default, Clone, Copy)]
pub struct NameFilesInErrors;

impl PhysicalOptimizerRule for NameFilesInErrors {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(config) =
                file_scan(node.as_ref()).filter(|config| config.file_source.is::<ParquetSource>())
            else {
                return Ok(Transformed::no(node));
            };
            let mut config = config.clone();
            config.file_source = Arc::new(NamedFileSource {
                inner: Arc::clone(&config.file_source),
                store_url: config.object_store_url.clone(),
            });
            let exec: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
            Ok(Transformed::yes(exec))
        })
        .data()
    }

    fn name(&self) -> &str {
        "name_files_in_errors"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A file's error with its name. Only errors of reading it are: an expression the scan evaluates
/// for the query (a projection or filter pushed into it, a scoring function) fails on its own,
/// and a resource limit is not about the file.
fn name_error(file: &str, e: DataFusionError) -> DataFusionError {
    let about_the_file = match e.find_root() {
        DataFusionError::ParquetError(_) | DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => {
            true
        }
        DataFusionError::ArrowError(a, _) => matches!(
            a.as_ref(),
            datafusion::arrow::error::ArrowError::ParquetError(_)
                | datafusion::arrow::error::ArrowError::IoError(..)
                | datafusion::arrow::error::ArrowError::InvalidArgumentError(_)
        ),
        _ => false,
    };
    if !about_the_file {
        return e;
    }
    LakeError::ReadFile {
        path: file.to_string(),
        source: e,
    }
    .into()
}

/// A panic of the decoder as an error naming the file.
fn panic_error(file: &str, panic: Box<dyn Any + Send>) -> DataFusionError {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    LakeError::BadFile {
        path: file.to_string(),
        reason: format!("the parquet decoder failed on its data ({what})"),
    }
    .into()
}

/// `f`, with its error or panic named by `file`.
fn guarded<T>(file: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| name_error(file, e)),
        Err(panic) => Err(panic_error(file, panic)),
    }
}

/// A Parquet source whose morsels name their file in errors; everything else is the inner source's.
struct NamedFileSource {
    inner: Arc<dyn FileSource>,
    store_url: ObjectStoreUrl,
}

impl NamedFileSource {
    fn wrap(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        Arc::new(Self {
            inner,
            store_url: self.store_url.clone(),
        })
    }
}

impl FileSource for NamedFileSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn datafusion::datasource::physical_plan::FileOpener>> {
        self.inner
            .create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        let inner = self
            .inner
            .create_morselizer(object_store, base_config, partition)?;
        Ok(Box::new(NamedMorselizer {
            inner,
            store_url: self.store_url.clone(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        self.wrap(self.inner.with_batch_size(batch_size))
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        self.inner.repartitioned(
            target_partitions,
            repartition_file_min_size,
            output_ordering,
            config,
        )
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let mut pushed = self.inner.try_pushdown_filters(filters, config)?;
        pushed.updated_node = pushed.updated_node.map(|inner| self.wrap(inner));
        Ok(pushed)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &EquivalenceProperties,
    ) -> Result<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_sort(order, eq_properties)?
            .map(|inner| self.wrap(inner)))
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_projection(projection)?
            .map(|inner| self.wrap(inner)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}

/// Plans each file with the inner morselizer, keeping the file's name for its errors.
#[derive(Debug)]
struct NamedMorselizer {
    inner: Box<dyn Morselizer>,
    store_url: ObjectStoreUrl,
}

impl Morselizer for NamedMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let name: Arc<str> = display_location(&self.store_url, &file.object_meta.location).into();
        let inner = guarded(&name, || self.inner.plan_file(file))?;
        Ok(Box::new(NamedPlanner { inner, file: name }))
    }
}

#[derive(Debug)]
struct NamedPlanner {
    inner: Box<dyn MorselPlanner>,
    file: Arc<str>,
}

impl MorselPlanner for NamedPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let Self { inner, file } = *self;
        let Some(mut plan) = guarded(&file, || inner.plan())? else {
            return Ok(None);
        };
        let morsels = plan
            .take_morsels()
            .into_iter()
            .map(|inner| {
                Box::new(NamedMorsel {
                    inner,
                    file: Arc::clone(&file),
                }) as Box<dyn Morsel>
            })
            .collect();
        let planners = plan
            .take_ready_planners()
            .into_iter()
            .map(|inner| {
                Box::new(NamedPlanner {
                    inner,
                    file: Arc::clone(&file),
                }) as Box<dyn MorselPlanner>
            })
            .collect();
        let mut named = MorselPlan::new().with_morsels(morsels).with_planners(planners);
        if let Some(pending) = plan.take_pending_planner() {
            named.set_pending_planner(async move {
                match AssertUnwindSafe(pending.into_future()).catch_unwind().await {
                    Ok(Ok(inner)) => Ok(Box::new(NamedPlanner { inner, file }) as Box<dyn MorselPlanner>),
                    Ok(Err(e)) => Err(name_error(&file, e)),
                    Err(panic) => Err(panic_error(&file, panic)),
                }
            });
        }
        Ok(Some(named))
    }
}

#[derive(Debug)]
struct NamedMorsel {
    inner: Box<dyn Morsel>,
    file: Arc<str>,
}

impl Morsel for NamedMorsel {
    fn into_stream(self: Box<Self>) -> BoxStream<'static, Result<RecordBatch>> {
        let Self { inner, file } = *self;
        match guarded(&file, || Ok(inner.into_stream())) {
            Ok(inner) => Box::pin(NamedStream {
                inner: Some(inner),
                file,
            }),
            Err(e) => Box::pin(futures::stream::once(async { Err(e) })),
        }
    }
}

/// The batches of one morsel; its errors name the file, and after a panic it ends.
struct NamedStream {
    inner: Option<BoxStream<'static, Result<RecordBatch>>>,
    file: Arc<str>,
}

impl Stream for NamedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(Poll::Ready(Some(Err(e)))) => Poll::Ready(Some(Err(name_error(&this.file, e)))),
            Ok(other) => other,
            Err(panic) => {
                this.inner = None;
                Poll::Ready(Some(Err(panic_error(&this.file, panic))))
            }
        }
    }
}
