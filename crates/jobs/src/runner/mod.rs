//! The runner of one project's jobs: plans intervals, takes each interval's lease, and runs it on its
//! engine with a fresh session (see [`execute`] for one run, [`plan`] for planning).

mod alerting;
mod changes;
mod checks;
mod execute;
mod pinning;
mod plan;
mod record_errors;
mod rerun;

use std::sync::Arc;

use futures::future::BoxFuture;
use nightshift_core::{Engine, LocalEngine, Session, Settings};
use object_store::ObjectStore;
use object_store::path::Path;

pub use changes::InputsChange;
pub use execute::interval_params;
pub use plan::{PlannedRun, Selection};
pub use rerun::{Rerun, RerunPins};

use crate::clock::Clock;
use crate::error::JobError;
use crate::lease::Lease;
use crate::ledger::{Ledger, RunRecord, RunState};
use crate::progress::{ProgressFn, RunProgress};
use crate::publisher::Output;
use crate::schedule::Interval;
use crate::spec::{JobSet, JobSpec, WriteMode};

/// Runs jobs of one project against its lake.
pub struct Runner {
    settings: Settings,
    jobs: JobSet,
    clock: Arc<dyn Clock>,
    store: Arc<dyn ObjectStore>,
    store_url: datafusion::execution::object_store::ObjectStoreUrl,
    lake_prefix: Path,
    lake_local: Option<std::path::PathBuf>,
    ledger: Ledger,
    progress: Option<ProgressFn>,
    engine: Arc<dyn Engine>,
    force: bool,
    wait_for_inputs: bool,
    pins: Option<RerunPins>,
    /// When each job's lookback last looked for changed inputs (see `plan`).
    lookback_checked: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("lake", &self.settings.lake.root)
            .finish()
    }
}

impl Runner {
    /// A runner over the lake of `session` (used for its object store); each run builds its own
    /// fresh session from `settings`, so new input files are always seen.
    pub fn new(session: &Session, jobs: JobSet, clock: Arc<dyn Clock>) -> Result<Self, JobError> {
        let location = session.catalog().location().clone();
        jobs.check_outputs(&location, session.catalog().tables())?;
        let store = session
            .context()
            .runtime_env()
            .object_store(location.store_url())
            .map_err(JobError::DataFusion)?;
        let lake_prefix = location.prefix();
        let lake_local = location.url().to_file_path().ok().filter(|_| location.is_local());
        let ledger = Ledger::new(store.clone(), &lake_prefix);
        Ok(Self {
            settings: session.settings().clone(),
            jobs,
            clock,
            store,
            store_url: location.store_url(),
            lake_prefix,
            lake_local,
            ledger,
            progress: None,
            engine: Arc::new(LocalEngine),
            force: false,
            wait_for_inputs: true,
            pins: None,
            lookback_checked: Default::default(),
        })
    }

    /// Runs statements on `engine` (a Ballista cluster) instead of in this process.
    pub fn with_engine(mut self, engine: Arc<dyn Engine>) -> Self {
        self.engine = engine;
        self
    }

    /// Runs without asking the jobs' `ready_when` first (`nightshift run --force`).
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Whether a job's `ready_when` is asked until its `wait_timeout` (the scheduler, `run --due`:
    /// the default) or once (an explicit `nightshift run --date`, whose user is waiting).
    pub fn with_wait_for_inputs(mut self, wait: bool) -> Self {
        self.wait_for_inputs = wait;
        self
    }

    /// Runs hold the models and Delta inputs of `pins` fixed (`nightshift rerun`).
    pub fn with_pins(mut self, pins: RerunPins) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Reports each run's stages and rows written to `progress`.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    fn report(&self, event: RunProgress<'_>) {
        if let Some(p) = &self.progress {
            p(event);
        }
    }

    fn stage(&self, job: &JobSpec, interval: &Interval, stage: &'static str) {
        self.report(RunProgress::Stage {
            job: &job.name,
            run_date: interval.run_date,
            stage,
        });
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The jobs.
    pub fn jobs(&self) -> &JobSet {
        &self.jobs
    }

    /// The output of a job.
    pub fn output(&self, job: &JobSpec) -> Output {
        let mut prefix = self.lake_prefix.clone();
        for part in job.output.split('/').filter(|s| !s.is_empty()) {
            prefix = prefix.join(part);
        }
        let local = self.lake_local.as_ref().map(|d| d.join(&job.output));
        Output::new(self.store.clone(), self.store_url.clone(), prefix, local)
            .within_lake(self.lake_prefix.clone())
    }

    /// Runs one interval of a job (an explicit run: it reruns a committed interval) with retries and
    /// its timeout, records it in the ledger, and returns the record (failures are in the record, not
    /// an error). The interval's lease is taken first: if another process is running it, the run fails.
    pub async fn run(&self, job: &JobSpec, interval: &Interval) -> RunRecord {
        match self.run_with_lease(job, interval, false).await {
            Ok(Some(r)) => r,
            Ok(None) => self.failed_record(
                job,
                interval,
                "another process is running this interval (its lease is held)".into(),
            ),
            Err(e) => self.failed_record(job, interval, format!("cannot take the interval's lease: {e}")),
        }
    }

    /// The scheduler's run: `None` when another process holds the interval's lease or the ledger shows
    /// the interval committed, so two schedulers on one lake run each interval exactly once.
    pub async fn run_due(&self, job: &JobSpec, interval: &Interval) -> Result<Option<RunRecord>, JobError> {
        self.run_with_lease(job, interval, true).await
    }

    /// [`Runner::run_due`], or with `skip_committed` false a run of a committed interval (its
    /// inputs changed): `None` still when another process holds the interval's lease.
    pub async fn run_due_or_again(
        &self,
        job: &JobSpec,
        interval: &Interval,
        skip_committed: bool,
    ) -> Result<Option<RunRecord>, JobError> {
        self.run_with_lease(job, interval, skip_committed).await
    }

    fn failed_record(&self, job: &JobSpec, interval: &Interval, message: String) -> RunRecord {
        let now = self.clock.now().to_rfc3339();
        RunRecord {
            state: RunState::Failed,
            ended_at: Some(now.clone()),
            message: Some(message),
            ..execute::new_record(String::new(), job, interval, now)
        }
    }

    /// Settles the ledger records of earlier runs of this interval that are still `running`: this
    /// run holds the interval's lease, so their processes have ended (killed, crashed, or taken
    /// over after their lease expired). One whose commit is in the output's log succeeded (it died
    /// between its commit and its ledger record); the others failed and published nothing. For an
    /// `append` job, a settled success is returned: this run must not append the interval again.
    ///
    /// `runs` is the ledger as read by the caller; the settled records are updated in it too.
    async fn settle_ended_runs(
        &self,
        job: &JobSpec,
        interval: &Interval,
        this_run: &str,
        runs: &mut [RunRecord],
    ) -> Result<Option<RunRecord>, JobError> {
        let start = interval.start.to_rfc3339();
        let mut ended = runs
            .iter_mut()
            .filter(|r| {
                r.job == job.name
                    && r.interval_start == start
                    && r.state == RunState::Running
                    && r.run_id != this_run
            })
            .peekable();
        if ended.peek().is_none() {
            return Ok(None);
        }
        let output = self.output(job);
        let mut published = None;
        for r in ended {
            r.ended_at = Some(self.clock.now().to_rfc3339());
            match output.find_run_commit(&r.run_id).await? {
                Some(v) => {
                    r.state = RunState::Succeeded;
                    r.output_version = Some(v);
                    r.message = Some(format!(
                        "published version {v}; its process ended before recording it (settled by run {this_run})"
                    ));
                }
                None => {
                    r.state = RunState::Failed;
                    r.message = Some(format!(
                        "its process ended before publishing (killed or crashed); nothing was published \
                         (settled by run {this_run})"
                    ));
                }
            }
            tracing::warn!(job = %job.name, run = %r.run_id, state = r.state.as_str(), "settled a run whose process ended");
            self.ledger.record(r).await?;
            if job.mode == WriteMode::Append && r.state == RunState::Succeeded {
                published = Some(r.clone());
            }
        }
        Ok(published)
    }

    async fn run_with_lease(
        &self,
        job: &JobSpec,
        interval: &Interval,
        skip_committed: bool,
    ) -> Result<Option<RunRecord>, JobError> {
        let run_id = format!(
            "{}z{:08x}",
            self.clock.now().format("%Y%m%dT%H%M%S"),
            rand::random::<u32>()
        );
        let ttl = self.jobs.scheduler.lease_ttl;
        let run_date = interval.run_date.to_string();
        let Some(lease) = Lease::acquire(
            self.store.clone(),
            &self.lake_prefix,
            &job.name,
            &run_date,
            &run_id,
            ttl,
            self.clock.now(),
        )
        .await?
        else {
            return Ok(None);
        };
        // One read of the ledger serves both the settling and the check below.
        let mut runs = self.ledger.runs().await?;
        if let Some(published) = self.settle_ended_runs(job, interval, &run_id, &mut runs).await? {
            // An append run that committed and then died: appending again would double its rows.
            lease.release(self.clock.now()).await?;
            return Ok(Some(published));
        }
        if skip_committed {
            let start = interval.start.to_rfc3339();
            if runs.iter().any(|r| {
                r.job == job.name
                    && r.interval_start == start
                    && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
            }) {
                lease.release(self.clock.now()).await?;
                return Ok(None);
            }
        }
        let renewer = {
            let (lease, clock) = (lease.clone(), self.clock.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if !lease.renew(clock.now()).await.unwrap_or(false) {
                        tracing::warn!("lost the interval's lease; the run will not publish");
                        return;
                    }
                }
            })
        };
        let owner = {
            let (lease, clock) = (lease.clone(), self.clock.clone());
            move || -> BoxFuture<'static, bool> {
                let (lease, clock) = (lease.clone(), clock.clone());
                Box::pin(async move { lease.is_held(clock.now()).await })
            }
        };
        let record = self.run_inner(job, interval, run_id, &owner).await;
        renewer.abort();
        if let Err(e) = lease.release(self.clock.now()).await {
            tracing::warn!(error = %e, "cannot release the lease; it expires on its own");
        }
        Ok(Some(record))
    }
}
