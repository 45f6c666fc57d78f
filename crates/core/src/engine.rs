//! Where statements run: the engine abstraction that jobs run on, local or on a cluster.
//!
//! It lives in core, beside the [`Session`] it hands out, so that the jobs crate (which runs on an
//! engine) and the cluster crate (which implements one on Ballista) each depend on core and never on
//! each other.

use futures::future::BoxFuture;

use crate::error::CoreError;
use crate::session::Session;
use crate::settings::Settings;

/// What an engine reports when it cannot hand out a session. The cause is kept, so a caller can tell
/// a bad setting (exit code 2) from a cluster that failed at run time (exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The session itself could not be built (settings, the lake, functions).
    #[error(transparent)]
    Session(#[from] CoreError),
    /// The cluster could not be reached or refused the session.
    #[error("the cluster at {url} failed: {source}")]
    Cluster {
        /// The scheduler's address.
        url: String,
        /// What the cluster client reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where runs execute. Each run gets a fresh session from [`Engine::session`]; the runner itself
/// (staging, validation, publishing, the ledger) always works from this process, with its own
/// credentials, so a cluster run publishes exactly as atomically as a local one.
pub trait Engine: Send + Sync {
    /// Where, as the ledger's `executed_on` records it: `local`, `standalone` or a scheduler's URL.
    fn name(&self) -> String;
    /// Whether statements run in other processes (a Ballista cluster).
    fn is_remote(&self) -> bool;
    /// A fresh session of `settings` for one run; `label` (`nightshift:<job>:<run id>`) names the
    /// work it submits, for [`Engine::executor_cpu_seconds`] and the cluster's job list.
    fn session(&self, settings: Settings, label: String) -> BoxFuture<'_, Result<Session, EngineError>>;
    /// CPU seconds the cluster's executors spent on everything submitted under `label`, summed
    /// over executors; `None` where it ran in this process (the run's `cpu_seconds` counts it).
    fn executor_cpu_seconds<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Option<f64>> {
        let _ = label;
        Box::pin(async { None })
    }
    /// The ids of the cluster's live executors; `None` where runs stay in this process or the
    /// cluster cannot say.
    fn executors(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async { None })
    }
}

/// Runs in this process, on a fresh local session each.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalEngine;

impl LocalEngine {
    /// What the ledger's `executed_on` says for a run in this process.
    pub const NAME: &'static str = "local";
}

impl Engine for LocalEngine {
    fn name(&self) -> String {
        Self::NAME.to_string()
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn session(&self, settings: Settings, _label: String) -> BoxFuture<'_, Result<Session, EngineError>> {
        Box::pin(async move { Ok(Session::new(settings).await?) })
    }
}
