//! The one place a nightshift session is built: engine config, memory pool and spilling, object
//! stores, the lake catalog and every UDF.

use std::sync::Arc;

use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use nightshift_fraud::{ModelPins, ModelRegistry, ModelStore};
use nightshift_lake::{Catalog, LakeLocation, NameFilesInErrors};
use nightshift_udf_common::{OnRecordError, RecordErrors};

use crate::error::CoreError;
use crate::functions::register_functions;
use crate::params::Params;
use crate::settings::{Settings, normalize};

/// A DataFusion session over the lake, with nightshift's functions and settings.
pub struct Session {
    ctx: SessionContext,
    settings: Settings,
    catalog: Catalog,
    models: Arc<ModelRegistry>,
}

/// The DataFusion configuration for `settings`: defaults nightshift relies on, then the user's
/// `datafusion.*` options, which win.
pub fn session_config(settings: &Settings) -> Result<SessionConfig, CoreError> {
    let base = SessionConfig::new().with_target_partitions(default_target_partitions());
    session_config_with(settings, base)
}

/// The partitions of a local query when the settings name none: the threads of the runtime the
/// session starts in (the cores, unless `--threads` says otherwise), plus as many again up to 4.
///
/// A partition is one stream, driven by one task: it waits for each read of its files (a blocking
/// read from the page cache, a request to an object store) before it decodes the next batch, and
/// DataFusion's default of one partition a core leaves that core idle meanwhile. With more
/// partitions than threads one partition decodes while another waits, and tokio's work stealing
/// evens out partitions that finish unevenly. TPC-H at scale 10 on 2 cores, 4 partitions against 2:
/// 8 to 19% less in total, with range partitions on and off (docs/benchmarks.md). Measured on 2 cores
/// only, so the extra is capped: on many cores the partitions already outnumber the stalls.
pub fn default_target_partitions() -> usize {
    partitions_for_threads(runtime_threads())
}

/// The worker threads of the tokio runtime this is called in (`--threads`), else the cores.
pub fn runtime_threads() -> usize {
    tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_workers())
        .unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, usize::from))
}

/// [`default_target_partitions`] for a runtime of `threads` threads.
fn partitions_for_threads(threads: usize) -> usize {
    let threads = threads.max(1);
    threads + threads.min(4)
}

/// [`session_config`] on top of `base` (a cluster client starts from Ballista's configuration, whose
/// restrictions the user's `datafusion.*` options must come after, or they would be reverted).
pub fn session_config_with(settings: &Settings, base: SessionConfig) -> Result<SessionConfig, CoreError> {
    // `SET nightshift.on_record_error = 'null'`; jobs set it from their `on_record_error`.
    let mut config = base
        .with_information_schema(true)
        .with_option_extension(RecordErrors::default())
        .with_option_extension(ModelPins::default())
        .with_option_extension(crate::optimizer::OptimizerOptions::default());
    if let Some(n) = settings.engine.target_partitions {
        config = config.with_target_partitions(n);
    }
    if let Some(n) = settings.engine.batch_size {
        config = config.with_batch_size(n);
    }
    let opts = config.options_mut();
    // Hive folders below a table and files in nested folders are part of the table.
    opts.execution.listing_table_ignore_subdirectory = false;
    opts.execution.collect_statistics = true;
    if let Some(limit) = settings.engine.memory_limit {
        // Joins stay hash joins under a limit (sort-merge joins made TPC-H twice as slow): a
        // statement whose hash-join build side does not fit is planned again with sort-merge
        // joins, which spill (see `Session::execute_stream`).
        // Each sort reserves this much up front for its final merge (10 MiB by default); with several
        // sorts per query under a small limit the reservations alone exhaust the pool.
        let per_sort = usize::try_from(limit / 64).unwrap_or(usize::MAX);
        opts.execution.sort_spill_reservation_bytes =
            per_sort.clamp(64 << 10, opts.execution.sort_spill_reservation_bytes);
    }
    for (k, v) in &settings.engine.datafusion {
        opts.set(k, v).map_err(|source| CoreError::EngineOption {
            key: k.clone(),
            value: v.clone(),
            source,
        })?;
    }
    let user_set = |key: &str| settings.engine.datafusion.iter().any(|(k, _)| k == key);
    if opts.execution.target_partitions <= BROADCAST_MAX_PARTITIONS
        && !user_set("datafusion.optimizer.hash_join_single_partition_threshold")
        && !user_set("datafusion.optimizer.hash_join_single_partition_threshold_rows")
    {
        // On few cores, broadcast (collect-left) hash joins up to a larger build side: a partitioned
        // join repartitions its probe side by hash (lineitem, 60 M rows at TPC-H scale 10), which costs
        // more than the build it spreads over 2 to 4 threads. TPC-H at scale 10 on 2 cores: q3 -15%,
        // q4 -10%, q17 -28%, q20 -10%, the rest within the noise (docs/benchmarks.md).
        opts.optimizer.hash_join_single_partition_threshold = BROADCAST_MAX_BYTES;
        opts.optimizer.hash_join_single_partition_threshold_rows = BROADCAST_MAX_ROWS;
    }
    Ok(config)
}

/// Up to this many partitions a query broadcasts larger build sides (see [`session_config_with`]): the
/// default partitions of up to 4 threads (`partitions_for_threads(4)`), where it was measured.
const BROADCAST_MAX_PARTITIONS: usize = 8;
/// The estimated build side a hash join broadcasts on few cores, in bytes (DataFusion's default: 1 MiB).
const BROADCAST_MAX_BYTES: usize = 64 << 20;
/// The same in rows, where the size in bytes is unknown (DataFusion's default: 128 Ki rows).
const BROADCAST_MAX_ROWS: usize = 2_000_000;

/// Whether a plan joins (a statement without a join never needs the sort-merge fallback).
fn plan_has_join(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = matches!(node, LogicalPlan::Join(_));
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Whether an engine error is a hash join's build side running out of the memory limit: the one
/// failure that planning the statement again with sort-merge joins (which spill) can cure. Other
/// operators that run out (a multi-partition sort's final merge) fail as they are.
pub fn hash_join_out_of_memory(message: &str) -> bool {
    message.contains("Resources exhausted") && message.contains("HashJoin")
}

/// Settings that plan equi-joins as sort-merge joins, which spill: for a statement whose hash join
/// ran out of memory. DataFusion plans a sort-merge join only over two partitions or more.
pub fn with_sort_merge_joins(settings: &mut Settings) {
    settings
        .engine
        .datafusion
        .push(("datafusion.optimizer.prefer_hash_join".into(), "false".into()));
    settings.engine.target_partitions = Some(
        settings
            .engine
            .target_partitions
            .unwrap_or_else(default_target_partitions)
            .max(2),
    );
}

/// `df` planned again with sort-merge joins, which spill: for a statement whose hash join ran out
/// of memory (see [`hash_join_out_of_memory`]).
pub fn with_sort_merge_joins_df(df: DataFrame) -> DataFrame {
    let (mut state, plan) = df.into_parts();
    let options = state.config_mut().options_mut();
    options.optimizer.prefer_hash_join = false;
    // DataFusion plans a sort-merge join only over two partitions or more.
    options.execution.target_partitions = options.execution.target_partitions.max(2);
    DataFrame::new(state, plan)
}

/// The runtime: a fair spill pool of `memory_limit` bytes with a disk manager for spill files.
pub fn runtime_env(settings: &Settings) -> Result<Arc<RuntimeEnv>, CoreError> {
    let mode = match &settings.engine.spill_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| CoreError::SpillDir {
                path: dir.clone(),
                source,
            })?;
            DiskManagerMode::Directories(vec![dir.clone()])
        }
        None => DiskManagerMode::OsTmpDirectory,
    };
    let mut disk = DiskManagerBuilder::default().with_mode(mode);
    if let Some(cap) = settings.engine.max_spill_size {
        disk = disk.with_max_temp_directory_size(cap);
    }
    let mut builder = RuntimeEnvBuilder::new().with_disk_manager_builder(disk);
    if let Some(limit) = settings.engine.memory_limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        builder = builder.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    builder.build_arc().map_err(CoreError::Runtime)
}

/// The model registry of a lake: models live under `_models/` at the lake root, and `fraud_score`
/// uses `[models] fraud`. The lake's object store must already be registered in `ctx`.
pub fn model_registry(
    ctx: &SessionContext,
    settings: &Settings,
    lake: &LakeLocation,
) -> Result<Arc<ModelRegistry>, CoreError> {
    let store = ctx.runtime_env().object_store(lake.store_url())?;
    let prefix = lake.prefix().clone().join("_models");
    Ok(ModelRegistry::new(
        Some(ModelStore::new(store, prefix)),
        settings.models.fraud.clone(),
    ))
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.ctx.session_id())
            .field("catalog", &self.catalog)
            .finish()
    }
}

/// Turns a freshly built session state into the one a [`Session`] runs on: how a cluster client
/// hands its statements to Ballista. It gets the state before nightshift's functions are registered,
/// because Ballista's upgrade replaces the function list.
pub type StateUpgrade = Box<dyn FnOnce(SessionState) -> datafusion::common::Result<SessionState> + Send>;

impl Session {
    /// Builds the session and loads the lake catalog.
    pub async fn new(settings: Settings) -> Result<Self, CoreError> {
        let config = session_config(&settings)?;
        Self::new_with(settings, config, None).await
    }

    /// Builds the session from `config`, passing the state through `upgrade` first (a cluster
    /// client), then adds URL tables, the functions, the lake catalog and the models, in that order.
    pub async fn new_with(
        settings: Settings,
        config: SessionConfig,
        upgrade: Option<StateUpgrade>,
    ) -> Result<Self, CoreError> {
        let runtime = runtime_env(&settings)?;
        let ctx = match upgrade {
            // In this process, errors reading a Parquet file name it (Ballista plans on its own).
            None => SessionContext::new_with_state(
                crate::optimizer::with_rules(
                    SessionStateBuilder::new()
                        .with_default_features()
                        .with_config(config)
                        .with_runtime_env(runtime),
                )
                .with_physical_optimizer_rule(Arc::new(NameFilesInErrors))
                .build(),
            ),
            Some(upgrade) => {
                let state = crate::optimizer::with_rules(
                    SessionStateBuilder::new()
                        .with_default_features()
                        .with_config(config)
                        .with_runtime_env(runtime),
                )
                .build();
                SessionContext::new_with_state(upgrade(state)?)
            }
        };
        let ctx = nightshift_lake::enable_url_tables(ctx);
        let catalog = Catalog::load(&ctx, &settings.lake).await?;
        let models = model_registry(&ctx, &settings, catalog.location())?;
        register_functions(&ctx, &settings, &models)?;
        Ok(Self {
            ctx,
            settings,
            catalog,
            models,
        })
    }

    /// The session's models: loaded once per session, shared by the scoring functions.
    pub fn models(&self) -> &Arc<ModelRegistry> {
        &self.models
    }

    /// The DataFusion context.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Sets the per-record error policy of the session's functions and returns the sink that counts
    /// the records they evaluate and fail on (and keeps the quarantined ones), fresh for this policy.
    pub fn set_on_record_error(&self, policy: OnRecordError) -> RecordErrors {
        let errors = RecordErrors::new(policy);
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .insert(errors.clone());
        errors
    }

    /// Records in the session options the versions that model names without a version mean now
    /// (`nightshift_models.versions`), so that a plan run elsewhere (Ballista executors) scores with
    /// the same versions as the client planned with.
    fn ship_model_versions(&self) {
        let pins = ModelPins::new(&self.models.planned_versions(), self.models.default_fraud_model());
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().extensions.insert(pins);
    }

    /// The lake catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The settings the session was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The statement checks in force: in read-only mode no DDL, no DML (`COPY`, `INSERT`) and no
    /// paths outside the lake.
    pub fn sql_options(&self) -> SQLOptions {
        let ro = self.settings.read_only;
        SQLOptions::new()
            .with_allow_ddl(!ro)
            .with_allow_dml(!ro)
            .with_allow_statements(true)
    }

    /// Plans one statement with the session's `SQLOptions` and binds its parameters. Nothing is
    /// executed until the returned frame is collected or streamed, except for DDL and the model
    /// statements (`CREATE MODEL` trains here and returns a summary row).
    pub async fn sql(&self, sql: &str, params: &Params) -> Result<DataFrame, CoreError> {
        if let Some(stmt) = crate::model_sql::parse(sql).map_err(|e| CoreError::ModelSyntax(e.to_string()))? {
            return self.model_statement(stmt, sql, params).await;
        }
        // The scoring functions check their arguments while DataFusion plans, which is synchronous:
        // load the models the statement names first.
        for name in crate::model_sql::referenced_models(sql) {
            let name = match name {
                Some(n) => n,
                None => match self.models.default_fraud_model() {
                    Some(n) => n.to_string(),
                    None => continue, // fraud_score itself explains how to set one
                },
            };
            self.models.ensure_loaded(&name).await?;
        }
        self.ship_model_versions();
        self.plan_sql(sql, params).await
    }

    /// Runs `df` as a stream.
    ///
    /// Under a memory limit, equi-joins are hash joins, whose build side cannot spill in DataFusion
    /// 55. A statement that runs out of memory before its first batch (where a hash join's build
    /// fails) is planned again with sort-merge joins, which spill, and run again; the log says so.
    /// Running out of memory later is the statement's error, naming the limit.
    pub async fn execute_stream(&self, df: DataFrame) -> Result<SendableRecordBatchStream, CoreError> {
        let (state, plan) = df.into_parts();
        let fallback = self.settings.engine.memory_limit.is_some()
            && state.config().options().optimizer.prefer_hash_join
            && plan_has_join(&plan);
        let mut stream = DataFrame::new(state.clone(), plan.clone())
            .execute_stream()
            .await?;
        if !fallback {
            return Ok(stream);
        }
        let schema = stream.schema();
        match stream.next().await {
            None => Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            ))),
            Some(Ok(first)) => Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::once(async { Ok(first) }).chain(stream),
            ))),
            Some(Err(e)) if hash_join_out_of_memory(&e.to_string()) => {
                drop(stream);
                tracing::warn!(error = %e.strip_backtrace(), memory_limit = ?self.settings.engine.memory_limit,
                    "a hash join's build side did not fit in the memory limit: running the statement again \
                     with sort-merge joins, which spill to disk");
                Ok(with_sort_merge_joins_df(DataFrame::new(state, plan))
                    .execute_stream()
                    .await?)
            }
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// [`Session::sql`] for a statement that is not a model statement.
    pub(crate) async fn plan_sql(&self, sql: &str, params: &Params) -> Result<DataFrame, CoreError> {
        if self.settings.read_only && sql.split(['/', '\\', '\'', '"']).any(|s| s == "..") {
            return Err(CoreError::ReadOnly {
                what: "a path containing '..'".into(),
            });
        }
        let df = self
            .ctx
            .sql_with_options(sql, self.sql_options())
            .await
            .map_err(|e| {
                if self.settings.read_only && e.to_string().contains("not supported") {
                    CoreError::ReadOnly {
                        what: e.strip_backtrace(),
                    }
                } else {
                    CoreError::DataFusion(e)
                }
            })?;
        if self.settings.read_only {
            self.check_paths(df.logical_plan())?;
        }
        bind_params(df, params)
    }

    /// Every table a read-only plan scans must live under the lake root.
    fn check_paths(&self, plan: &LogicalPlan) -> Result<(), CoreError> {
        let root = self.catalog.location().url().clone();
        let root_path = root.to_file_path().ok().map(|p| normalize(&p));
        let mut outside = None;
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Ok(provider) = source_as_provider(&scan.source)
                && let Some(table) = provider.as_ref().downcast_ref::<ListingTable>()
            {
                for url in table.table_paths() {
                    let inside = match (url.get_url().to_file_path(), &root_path) {
                        (Ok(p), Some(r)) => normalize(&p).starts_with(r),
                        _ => url.as_str().starts_with(root.as_str()),
                    };
                    if !inside {
                        outside = Some(url.as_str().to_string());
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match outside {
            Some(path) => Err(CoreError::ReadOnly {
                what: format!("reading '{path}' outside the lake root"),
            }),
            None => Ok(()),
        }
    }
}

/// Binds `$name` placeholders; every placeholder the statement uses must be given.
fn bind_params(df: DataFrame, params: &Params) -> Result<DataFrame, CoreError> {
    let names = df.logical_plan().get_parameter_names()?;
    if names.is_empty() {
        return Ok(df);
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    let mut values = Vec::with_capacity(names.len());
    for id in &names {
        let name = id.trim_start_matches('$');
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Err(CoreError::Parameter {
                name: id.clone(),
                message: "positional parameters are not supported; use a name such as $run_date".into(),
            });
        }
        match params.get(name) {
            Some(v) => values.push((name.to_string(), v.clone())),
            None => {
                return Err(CoreError::Parameter {
                    name: name.to_string(),
                    message: format!(
                        "the statement uses ${name} but no value was given: pass --param {name}=VALUE"
                    ),
                });
            }
        }
    }
    Ok(df.with_param_values(ParamValues::from(values))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(settings: &Settings) -> (usize, usize) {
        let config = session_config(settings).unwrap();
        let o = &config.options().optimizer;
        (
            o.hash_join_single_partition_threshold,
            o.hash_join_single_partition_threshold_rows,
        )
    }

    #[test]
    fn default_partitions_are_the_threads_plus_up_to_four() {
        let got: Vec<usize> = [0, 1, 2, 3, 4, 5, 8, 64].map(partitions_for_threads).to_vec();
        assert_eq!(got, [2, 2, 4, 6, 8, 9, 12, 68]);
        // Machines of up to 4 threads keep broadcasting with their default partitions.
        assert_eq!(BROADCAST_MAX_PARTITIONS, partitions_for_threads(4));
    }

    #[test]
    fn few_cores_broadcast_larger_build_sides_unless_the_user_says_otherwise() {
        let mut settings = Settings::default();
        settings.engine.target_partitions = Some(2);
        assert_eq!(thresholds(&settings), (BROADCAST_MAX_BYTES, BROADCAST_MAX_ROWS));
        settings.engine.target_partitions = Some(8);
        assert_eq!(thresholds(&settings), (BROADCAST_MAX_BYTES, BROADCAST_MAX_ROWS));
        // Many cores spread the build: DataFusion's defaults.
        settings.engine.target_partitions = Some(16);
        let defaults = SessionConfig::new();
        let d = &defaults.options().optimizer;
        assert_eq!(
            thresholds(&settings),
            (
                d.hash_join_single_partition_threshold,
                d.hash_join_single_partition_threshold_rows
            )
        );
        // The user's value wins.
        settings.engine.target_partitions = Some(2);
        settings.engine.datafusion.push((
            "datafusion.optimizer.hash_join_single_partition_threshold".into(),
            "1000".into(),
        ));
        assert_eq!(thresholds(&settings).0, 1000);
    }
}
