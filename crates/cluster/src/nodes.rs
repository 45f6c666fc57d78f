//! `nightshift scheduler` and `nightshift executor`: Ballista's own scheduler and executor
//! processes, with nightshift's kit installed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::{ClusterError, NodeKit};

/// Executors pull tasks when they have free slots. Killing one of two executors mid-job (the test
/// `an_executor_killed_mid_job_loses_nothing`) left the job waiting forever in Ballista 55.0.0 with
/// its defaults, push-staged and the adaptive planner: the rolled-back stage's late task report was
/// dropped and the survivor's slots never came back. Pull-staged, with the static planner (see
/// `ballista_config`), reran the lost tasks and completed the job in every run.
const POLICY: TaskSchedulingPolicy = TaskSchedulingPolicy::PullStaged;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address to listen on (gRPC, REST and health on one port); loopback unless told.
    pub bind: SocketAddr,
    /// The host name executors and clients are told to use (default: the bind address).
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is dead and its tasks are rescheduled.
    pub executor_timeout_seconds: u64,
}

/// Runs a Ballista scheduler with `kit` installed (session builder, config producer, codecs) until
/// the process ends. The listener is bound before anything is logged, so a port in use fails at once.
pub async fn run_scheduler(kit: &NodeKit, options: &SchedulerOptions) -> Result<(), ClusterError> {
    let listener = tokio::net::TcpListener::bind(options.bind).await.map_err(|e| {
        ClusterError::Start(format!(
            "cannot listen on {}: {e}; choose another address with --bind",
            options.bind
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| ClusterError::Start(e.to_string()))?;
    let timeout = options.executor_timeout_seconds.max(1);
    let config = SchedulerConfig {
        bind_host: bound.ip().to_string(),
        bind_port: bound.port(),
        external_host: options
            .external_host
            .clone()
            .unwrap_or_else(|| bound.ip().to_string()),
        executor_timeout_seconds: timeout,
        scheduling_policy: POLICY,
        no_executors_grace_period_seconds: timeout,
        expire_dead_executor_interval_seconds: timeout.min(15),
        override_session_builder: Some(kit.session_builder()),
        override_config_producer: Some(kit.config_producer()),
        override_logical_codec: Some(kit.logical_codec()),
        override_physical_codec: Some(kit.physical_codec()),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let server =
        ballista_scheduler::scheduler_process::create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(
            cluster,
            Arc::new(config),
        )
        .await?;
    tracing::info!(address = %bound, functions = ?kit.function_names(), "nightshift scheduler listening");
    ballista_scheduler::scheduler_process::start_grpc_service_with_listener(listener, server).await?;
    Ok(())
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address the executor's services listen on; loopback unless told.
    pub bind_host: String,
    /// The host name the scheduler and other executors are told to use.
    pub external_host: Option<String>,
    /// The Arrow Flight port (shuffle and result fetches).
    pub port: u16,
    /// The executor's gRPC port.
    pub grpc_port: u16,
    /// Task slots (Ballista's vcores); 0 means one per core.
    pub slots: usize,
    /// Where shuffle files go (default: a fresh temporary folder).
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
    /// The memory shared by the executor's tasks, in bytes (default: Ballista's, 70% of the host).
    pub memory_pool_bytes: Option<u64>,
}

/// Runs a Ballista executor with `kit` installed (function registry, config and runtime producers,
/// codecs) until SIGTERM, Ctrl-C or a stop from the scheduler.
pub async fn run_executor(kit: &NodeKit, options: &ExecutorOptions) -> Result<(), ClusterError> {
    // Ballista's connect-retry loop never ends (it measures elapsed time against itself), so it is
    // left off (timeout 0) and a scheduler that does not answer is reported here instead.
    crate::check_reachable(
        &format!("df://{}:{}", options.scheduler_host, options.scheduler_port),
        std::time::Duration::from_secs(10),
    )
    .await?;
    let config = ExecutorProcessConfig {
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        bind_host: options.bind_host.clone(),
        external_host: options.external_host.clone(),
        port: options.port,
        grpc_port: options.grpc_port,
        vcores: options.slots,
        work_dir: options.work_dir.as_ref().map(|d| d.display().to_string()),
        executor_heartbeat_interval_seconds: options.heartbeat_seconds.max(1),
        task_scheduling_policy: POLICY,
        memory_pool_size: options.memory_pool_bytes,
        override_function_registry: Some(Arc::new(kit.function_registry()?)),
        override_config_producer: Some(kit.config_producer()),
        override_runtime_producer: Some(kit.runtime_producer()),
        override_logical_codec: Some(kit.logical_codec()),
        override_physical_codec: Some(kit.physical_codec()),
        ..ExecutorProcessConfig::default()
    };
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            ClusterError::Start(format!("cannot create the work dir '{}': {e}", dir.display()))
        })?;
    }
    tracing::info!(
        scheduler = %format!("{}:{}", options.scheduler_host, options.scheduler_port),
        flight_port = options.port,
        grpc_port = options.grpc_port,
        functions = ?kit.function_names(),
        "nightshift executor starting"
    );
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
