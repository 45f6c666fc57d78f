//! The session every command works in: settings layered from defaults, file, environment and
//! flags, the lake, `nightshift.runs`, and where statements run (here or on a Ballista cluster).

use std::sync::Arc;

use nightshift_core::{Engine, LocalEngine, Overrides, Session, Settings};
use nightshift_jobs::Ledger;

use crate::args::GlobalArgs;
use crate::failure::Failure;

/// The settings: defaults < nightshift.toml < `NIGHTSHIFT_*` variables < flags.
pub fn load_settings(g: &GlobalArgs) -> Result<Settings, Failure> {
    let overrides = Overrides {
        lake_root: g.lake.clone(),
        memory_limit: g.memory_limit.clone(),
        spill_dir: g.spill_dir.clone(),
        target_partitions: g.target_partitions.map(|n| n as usize),
        batch_size: g.batch_size.map(|n| n as usize),
        read_only: g.read_only.then_some(true),
        datafusion: g.set.clone(),
    };
    Settings::load(g.config.as_deref(), &|k| std::env::var(k).ok(), &overrides).map_err(Failure::usage)
}

fn core_failure(e: nightshift_core::CoreError) -> Failure {
    match e {
        nightshift_core::CoreError::Config(c) => Failure::Usage(c.into()),
        e @ (nightshift_core::CoreError::EngineOption { .. }
        | nightshift_core::CoreError::SpillDir { .. }
        | nightshift_core::CoreError::Runtime(_)) => Failure::Usage(e.into()),
        e @ nightshift_core::CoreError::Lexicon(_) => Failure::Usage(e.into()),
        other => Failure::Query(anyhow::Error::new(other).context("failed to load the lake")),
    }
}

/// The session of a command that runs nothing on a cluster itself.
pub async fn session(g: &GlobalArgs) -> Result<Session, Failure> {
    Ok(session_and_engine(g).await?.0)
}

/// The session of a command, and where its job runs execute: in this process, or on the cluster
/// named by `--cluster` / `NIGHTSHIFT_CLUSTER` / `[cluster] url`.
pub async fn session_and_engine(g: &GlobalArgs) -> Result<(Session, Arc<dyn Engine>), Failure> {
    let settings = load_settings(g)?;
    // `--cluster local` runs here even when nightshift.toml names a cluster.
    let cluster = g
        .cluster
        .clone()
        .or_else(|| settings.cluster.url.clone())
        .filter(|u| u != "local");
    let (session, engine) = match cluster {
        None => (
            Session::new(settings).await.map_err(core_failure)?,
            Arc::new(LocalEngine) as Arc<dyn Engine>,
        ),
        Some(url) => cluster_session(settings, &url).await?,
    };
    register_runs(&session).await;
    Ok((session, engine))
}

/// A session whose statements run on Ballista: a scheduler at `url`, checked to answer within the
/// connect timeout (`[cluster] connect_timeout_seconds`, default 10 s), or `standalone` (a
/// scheduler and one executor in this process, with a slot per core).
async fn cluster_session(settings: Settings, url: &str) -> Result<(Session, Arc<dyn Engine>), Failure> {
    let cluster = |e: nightshift_cluster::ClusterError| match e {
        nightshift_cluster::ClusterError::Core(c) => core_failure(c),
        other => Failure::Query(anyhow::Error::new(other).context("cannot start the cluster")),
    };
    let timeout = std::time::Duration::from_secs(settings.cluster.connect_timeout_seconds.unwrap_or(10));
    let (url, label) = if url == "standalone" {
        let kit = nightshift_cluster::NodeKit::new(&settings).map_err(cluster)?;
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        let addr = nightshift_cluster::start_standalone(&kit, 1, slots)
            .await
            .map_err(cluster)?;
        (
            format!("df://localhost:{}", addr.port()),
            "standalone".to_string(),
        )
    } else {
        nightshift_cluster::check_reachable(url, timeout)
            .await
            .map_err(|e| Failure::Query(anyhow::Error::new(e)))?;
        (url.to_string(), url.to_string())
    };
    let session = nightshift_cluster::connect(settings, &url)
        .await
        .map_err(cluster)?;
    Ok((
        session,
        Arc::new(nightshift_cluster::ClusterEngine::new(url, label)),
    ))
}

/// Registers `nightshift.runs` in every session the CLI builds; a lake without a ledger gets an
/// empty table, and a ledger that cannot be read only logs a warning.
pub(crate) async fn register_runs(session: &Session) {
    let Ok(store) = session
        .context()
        .runtime_env()
        .object_store(session.catalog().location().store_url())
    else {
        return;
    };
    let ledger = Ledger::new(store, &session.catalog().location().prefix());
    if let Err(e) = ledger.register(session.context()).await {
        tracing::warn!(error = %e, "nightshift.runs is not available");
    }
}
