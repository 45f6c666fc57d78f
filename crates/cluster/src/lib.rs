//! nightshift on Apache DataFusion Ballista.
//!
//! Ballista does the distribution (scheduler, shuffle, task retries); this crate only installs
//! nightshift's pieces into it, from one place: [`NodeKit`] builds the session state of the client,
//! the scheduler and every executor with the same functions (sentiment, model scoring), the lake's
//! object stores (credentials from each process's own environment, never shipped in the session
//! configuration) and the codecs. See docs/design/ballista-plan.md for the design and its sources.
#![deny(missing_docs)]

mod codec;
mod file_set;
mod nodes;
mod status;

pub use codec::NightshiftLogicalCodec;
pub use nodes::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};
pub use status::{ClusterStatus, ExecutorStatus, JobStatus, executor_cpu_seconds, http_url, status};

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::ConfigProducer;
use ballista_core::RuntimeProducer;
use ballista_core::extension::{
    SessionConfigExt, SessionStateExt, ballista_aggregate_functions, ballista_scalar_functions,
    ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use nightshift_core::{
    CoreError, Engine, EngineError, ModelPins, ModelRegistry, RecordErrors, Session, Settings, StateUpgrade,
};
use nightshift_lake::LakeLocation;

/// Errors of cluster set-up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The session could not be built.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Ballista or DataFusion failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Ballista's own error.
    #[error(transparent)]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// Starting a node failed.
    #[error("{0}")]
    Start(String),
}

/// What every node of a cluster installs: nightshift's functions, the lake's stores, the codecs.
/// Built once per process; [`NodeKit::session_state`] is the one session builder of the scheduler and
/// the executors, and [`connect`] builds the client from the same settings.
#[derive(Clone)]
pub struct NodeKit {
    runtime: Arc<RuntimeEnv>,
    udfs: Vec<Arc<ScalarUDF>>,
    models: Arc<ModelRegistry>,
}

impl std::fmt::Debug for NodeKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the runtime: its stores were built from credentials.
        f.debug_struct("NodeKit")
            .field("udfs", &self.udfs.iter().map(|u| u.name()).collect::<Vec<_>>())
            .finish()
    }
}

impl NodeKit {
    /// The kit of a node of the project `settings`: its lake store is registered in a runtime that is
    /// shared by every session this process builds (one set of connections, one model cache).
    pub fn new(settings: &Settings) -> Result<Self, ClusterError> {
        let runtime = nightshift_core::runtime_env(settings)?;
        let scratch =
            SessionContext::new_with_config_rt(nightshift_core::session_config(settings)?, runtime.clone());
        let location = LakeLocation::parse(&settings.lake.root).map_err(CoreError::from)?;
        nightshift_lake::register_object_store(&scratch, &location, &settings.lake.storage)
            .map_err(CoreError::from)?;
        let models = nightshift_core::model_registry(&scratch, settings, &location)?;
        // The scheduler re-plans what the client checked; executors load the versions it shipped.
        models.plan_leniently();
        // The same list the local session registers: nothing to keep in step by hand.
        let udfs = nightshift_core::functions(settings, &models)?;
        Ok(Self {
            runtime,
            udfs,
            models,
        })
    }

    /// The names of nightshift's own functions this kit installs, sorted.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.udfs.iter().map(|u| u.name().to_string()).collect();
        names.sort();
        names
    }

    /// The session state of a scheduler or executor for a query with `config`: Ballista's defaults
    /// (optimizer rules, functions) plus nightshift's optimizer rules and functions, over this
    /// process's runtime.
    pub fn session_state(&self, config: SessionConfig) -> datafusion::common::Result<SessionState> {
        let mut scalar = ballista_scalar_functions();
        scalar.extend(self.udfs.iter().cloned());
        let builder = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules());
        Ok(nightshift_core::optimizer::with_rules(builder)
            .with_scalar_functions(scalar)
            .with_aggregate_functions(ballista_aggregate_functions())
            .with_window_functions(ballista_window_functions())
            .build())
    }

    /// [`Self::session_state`] as the scheduler's session builder.
    pub fn session_builder(&self) -> SessionBuilder {
        let kit = self.clone();
        Arc::new(move |config| kit.session_state(config))
    }

    /// The configuration a node starts from: Ballista's, with nightshift's options
    /// (`nightshift.on_record_error`, `nightshift_models.*`, `nightshift_optimizer.*`), so that the values the client ships with
    /// each task are applied rather than dropped.
    pub fn config_producer(&self) -> ConfigProducer {
        Arc::new(|| {
            ballista_config()
                .with_option_extension(RecordErrors::default())
                .with_option_extension(ModelPins::default())
                .with_option_extension(nightshift_core::optimizer::OptimizerOptions::default())
        })
    }

    /// The executor's runtime: one per process, with the lake's stores.
    pub fn runtime_producer(&self) -> RuntimeProducer {
        let runtime = self.runtime.clone();
        Arc::new(move |_| Ok(runtime.clone()))
    }

    /// The functions an executor resolves plans against: the same as the scheduler's.
    pub fn function_registry(&self) -> Result<BallistaFunctionRegistry, ClusterError> {
        let state = self.session_state(ballista_config())?;
        Ok(BallistaFunctionRegistry::from(&state))
    }

    /// The plan codecs: [`NightshiftLogicalCodec`] for logical plans (the lake's own tables),
    /// Ballista's own for physical plans.
    pub fn codec(&self) -> BallistaCodec {
        BallistaCodec::new(self.logical_codec(), self.physical_codec())
    }

    /// The logical half of [`Self::codec`].
    pub fn logical_codec(&self) -> Arc<dyn LogicalExtensionCodec> {
        Arc::new(NightshiftLogicalCodec::default())
    }

    /// The physical half of [`Self::codec`].
    pub fn physical_codec(&self) -> Arc<dyn PhysicalExtensionCodec> {
        Arc::new(ballista_core::serde::BallistaPhysicalExtensionCodec::default())
    }

    /// The process-wide model registry the scoring functions use.
    pub fn models(&self) -> &Arc<ModelRegistry> {
        &self.models
    }
}

/// Ballista's session configuration as nightshift runs it: without the adaptive planner, whose
/// stage rollback in Ballista 55.0.0 left a job waiting forever after an executor was killed
/// mid-stage (the surviving executor's late task report for the rolled-back stage was dropped);
/// the static planner reruns the lost tasks and the job completes (tested by killing an executor).
fn ballista_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .set_bool(ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED, false)
}

/// Starts a scheduler and `executors` executors (each with `slots` task slots) inside this process,
/// on loopback ports the OS picks, and returns the scheduler's address: Ballista's standalone mode with
/// nightshift's kit installed.
pub async fn start_standalone(
    kit: &NodeKit,
    executors: usize,
    slots: usize,
) -> Result<SocketAddr, ClusterError> {
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
        kit.session_builder(),
        kit.config_producer(),
        kit.codec(),
    )
    .await?;
    let url = format!("http://localhost:{}", addr.port());
    let mut client = None;
    for _ in 0..100 {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    let client =
        client.ok_or_else(|| ClusterError::Start(format!("the scheduler at {url} did not answer")))?;
    for _ in 0..executors {
        ballista_executor::new_standalone_executor_from_builder(
            client.clone(),
            slots,
            kit.config_producer(),
            kit.runtime_producer(),
            kit.codec(),
            kit.function_registry()?,
        )
        .await?;
    }
    Ok(addr)
}

/// Fails with a clear message unless the scheduler at `url` (`df://host:port`) accepts a connection
/// within `timeout`: Ballista itself connects only when the first statement runs.
pub async fn check_reachable(url: &str, timeout: std::time::Duration) -> Result<(), ClusterError> {
    let addr = http_url(url).trim_start_matches("http://").to_string();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ClusterError::Start(format!(
            "cannot reach the Ballista scheduler at {url} ({addr}): {e}; check the address given with \
             --cluster or NIGHTSHIFT_CLUSTER, and that the scheduler is running"
        ))),
        Err(_) => Err(ClusterError::Start(format!(
            "the Ballista scheduler at {url} ({addr}) did not answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// A session of the project `settings` whose statements run on the Ballista scheduler at `url`
/// (`df://host:port`), with the same functions and catalog as a local session.
pub async fn connect(settings: Settings, url: &str) -> Result<Session, ClusterError> {
    let config = nightshift_core::session_config_with(&settings, ballista_config())?
        .with_ballista_logical_extension_codec(Arc::new(NightshiftLogicalCodec::default()));
    let url = url.to_string();
    let upgrade: StateUpgrade = Box::new(move |state: SessionState| {
        let scheduler = url.replacen("df://", "http://", 1);
        state.upgrade_for_ballista(scheduler)
    });
    Ok(Session::new_with(settings, config, Some(upgrade)).await?)
}

/// Job runs on a Ballista cluster: each run's session is a client of the scheduler at `url`;
/// staging, validation and publishing stay in this process (see [`nightshift_core::Engine`]).
#[derive(Debug, Clone)]
pub struct ClusterEngine {
    url: String,
    label: String,
}

impl ClusterEngine {
    /// Runs on the scheduler at `url` (`df://host:port`); `label` is what the ledger records
    /// (`standalone` for an in-process cluster, else the URL).
    pub fn new(url: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            label: label.into(),
        }
    }
}

impl Engine for ClusterEngine {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn session(
        &self,
        settings: Settings,
        label: String,
    ) -> futures::future::BoxFuture<'_, Result<Session, EngineError>> {
        Box::pin(async move {
            let session = connect(settings, &self.url).await.map_err(|e| match e {
                ClusterError::Core(c) => EngineError::Session(c),
                other => EngineError::Cluster {
                    url: self.url.clone(),
                    source: Box::new(other),
                },
            })?;
            // Every statement of the run is a Ballista job of this name (`cluster status` shows it).
            session
                .context()
                .state_ref()
                .write()
                .config_mut()
                .options_mut()
                .set("ballista.job.name", &label)
                .map_err(|e| EngineError::Session(CoreError::DataFusion(e)))?;
            Ok(session)
        })
    }

    fn executors(&self) -> futures::future::BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async move {
            match status::executor_ids(&self.url).await {
                Ok(ids) => Some(ids),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the cluster's executors");
                    None
                }
            }
        })
    }

    fn executor_cpu_seconds<'a>(&'a self, label: &'a str) -> futures::future::BoxFuture<'a, Option<f64>> {
        Box::pin(async move {
            match status::named_jobs_cpu_seconds(&self.url, label).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(run = %label, error = %e, "cannot read the run's job metrics; its executor CPU time is not recorded");
                    None
                }
            }
        })
    }
}
