//! The scheduler daemon: runs every job interval as it falls due, on an injectable clock, until
//! it is shut down.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

// Only the crate's public API: the runner's modules may move under it.
use crate::{Clock, JobError, PlannedRun, RunRecord, Runner, SchedulerSettings, Selection, SystemClock};

/// The shortest idle wait: a fire time a few milliseconds away is not worth a wake-up of its own.
const MIN_IDLE: Duration = Duration::from_millis(200);

/// A [`Clock`] the daemon can also wait on, so that tests step time instead of sleeping.
pub trait DaemonClock: Clock {
    /// Resolves once `now()` has reached `deadline` (at once if it has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

impl DaemonClock for SystemClock {
    fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// How the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Check once for due intervals, run them, and return instead of waiting for the next.
    pub once: bool,
    /// The longest idle wait between two checks.
    pub poll_interval: Duration,
    /// After shutdown is requested, how long a running job may take to finish before it is
    /// abandoned.
    pub grace_period: Duration,
}

impl DaemonConfig {
    /// A long-running daemon with the poll interval and grace period of `[scheduler]`.
    pub fn from_settings(settings: &SchedulerSettings) -> Self {
        Self {
            once: false,
            poll_interval: settings.poll_interval,
            grace_period: settings.grace_period,
        }
    }
}

/// What happened to one due interval.
#[derive(Debug)]
pub enum DaemonEvent {
    /// The interval ran; its record says how it ended.
    Ran(RunRecord),
    /// Not run here: the ledger shows it committed, or another process holds its lease.
    Skipped {
        /// The job.
        job: String,
        /// The interval's run date.
        run_date: NaiveDate,
    },
    /// The run could not start (its lease or the ledger could not be read or written).
    Failed {
        /// The job.
        job: String,
        /// The interval's run date.
        run_date: NaiveDate,
        /// Why.
        error: JobError,
    },
    /// Shutdown was requested and the run did not finish within the grace period. Nothing was
    /// published: an output changes only with its Delta commit, so the previous version stays.
    Abandoned {
        /// The job.
        job: String,
        /// The interval's run date.
        run_date: NaiveDate,
        /// The grace period it had.
        grace: Duration,
    },
}

/// The scheduler loop over one [`Runner`]: every pass runs the intervals due since the last ones
/// committed in the ledger (oldest first), then waits on the clock until the next fire time or the
/// poll interval, whichever comes first.
pub struct Daemon {
    runner: Runner,
    clock: Arc<dyn DaemonClock>,
    config: DaemonConfig,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("runner", &self.runner)
            .field("config", &self.config)
            .finish()
    }
}

impl Daemon {
    /// A daemon over `runner`; `clock` must be the clock the runner was built with, so that what
    /// is due and how long to wait are read from the same time.
    pub fn new(runner: Runner, clock: Arc<dyn DaemonClock>, config: DaemonConfig) -> Self {
        Self {
            runner,
            clock,
            config,
        }
    }

    /// The runner.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Runs until `shutdown` resolves (or after one pass with [`DaemonConfig::once`]), reporting
    /// each due interval to `on_event`. A shutdown while idle returns at once; one during a run
    /// starts no new run and gives the running one the grace period to finish. Errors only when
    /// the ledger cannot be read to plan a pass.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_event: impl FnMut(DaemonEvent),
    ) -> Result<(), JobError> {
        let mut shutdown = pin!(shutdown.fuse());
        let mut stopping = false;
        loop {
            let plan = self.runner.plan(&[], &Selection::Due).await?;
            for p in &plan {
                if !stopping && (&mut shutdown).now_or_never().is_some() {
                    stopping = true;
                    tracing::info!("shutdown requested: no new work");
                }
                if stopping {
                    break;
                }
                let event = self.run_one(p, &mut shutdown, &mut stopping).await;
                on_event(event);
            }
            if !stopping {
                self.runner.check_deadlines().await;
            }
            if self.config.once || stopping {
                return Ok(());
            }
            let now = self.clock.now();
            let wait = self.idle_wait(now);
            tracing::info!(sleep_ms = wait.as_millis() as u64, "scheduler idle");
            let deadline = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            tokio::select! {
                _ = self.clock.sleep_until(deadline) => {}
                _ = &mut shutdown => {
                    tracing::info!("shutdown requested: no new work");
                    return Ok(());
                }
            }
        }
    }

    /// Runs one due interval; a shutdown during the run sets `stopping` and leaves the run the
    /// grace period (real time: it bounds work in progress, not the schedule).
    async fn run_one(
        &self,
        p: &PlannedRun,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
        stopping: &mut bool,
    ) -> DaemonEvent {
        let (job, run_date) = (p.job.name.clone(), p.interval.run_date);
        // A published interval whose inputs changed runs although the ledger shows it committed.
        let skip_committed = p.changed.is_none();
        let mut run = pin!(self.runner.run_due_or_again(&p.job, &p.interval, skip_committed));
        let outcome = tokio::select! {
            r = &mut run => Some(r),
            _ = shutdown => {
                *stopping = true;
                tracing::info!("shutdown requested: no new work");
                tokio::time::timeout(self.config.grace_period, &mut run).await.ok()
            }
        };
        match outcome {
            Some(Ok(Some(record))) => DaemonEvent::Ran(record),
            Some(Ok(None)) => {
                tracing::info!(job = %job, run_date = %run_date, "already run or running elsewhere");
                DaemonEvent::Skipped { job, run_date }
            }
            Some(Err(error)) => DaemonEvent::Failed { job, run_date, error },
            None => DaemonEvent::Abandoned {
                job,
                run_date,
                grace: self.config.grace_period,
            },
        }
    }

    /// Until the next fire time of any job, at most the poll interval, at least [`MIN_IDLE`].
    fn idle_wait(&self, now: DateTime<Utc>) -> Duration {
        let poll = self.config.poll_interval;
        self.runner
            .jobs()
            .jobs
            .iter()
            .map(|j| j.schedule.next_fire(now))
            .min()
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(poll)
            .min(poll)
            .max(MIN_IDLE)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use nightshift_core::{Session, Settings};
    use object_store::path::Path;
    use tokio::sync::Notify;

    use super::*;
    use crate::{JobSet, Lease, RunState};

    /// A clock whose waits return at once: each jumps to the next scripted time (a machine that
    /// slept through fire times); with the script spent, a wait never ends and `idle` is notified.
    struct SteppedClock {
        now: Mutex<DateTime<Utc>>,
        jumps: Mutex<VecDeque<DateTime<Utc>>>,
        waits: Mutex<Vec<DateTime<Utc>>>,
        idle: Notify,
    }

    impl SteppedClock {
        fn new(now: &str, jumps: &[&str]) -> Arc<Self> {
            Arc::new(Self {
                now: Mutex::new(t(now)),
                jumps: Mutex::new(jumps.iter().map(|s| t(s)).collect()),
                waits: Mutex::new(Vec::new()),
                idle: Notify::new(),
            })
        }

        fn waits(&self) -> Vec<DateTime<Utc>> {
            self.waits.lock().unwrap().clone()
        }
    }

    impl Clock for SteppedClock {
        fn now(&self) -> DateTime<Utc> {
            *self.now.lock().unwrap()
        }
    }

    impl DaemonClock for SteppedClock {
        fn sleep_until(&self, deadline: DateTime<Utc>) -> BoxFuture<'_, ()> {
            self.waits.lock().unwrap().push(deadline);
            match self.jumps.lock().unwrap().pop_front() {
                Some(next) => {
                    *self.now.lock().unwrap() = next;
                    Box::pin(async {})
                }
                None => {
                    self.idle.notify_one();
                    Box::pin(std::future::pending())
                }
            }
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const SQL: &str = "SELECT review_date, count(*) AS reviews FROM reviews \
                       WHERE review_date = $run_date GROUP BY 1";

    /// A small demo lake and daily jobs named `jobs`, all running the same query.
    async fn project(jobs: &[&str]) -> (tempfile::TempDir, Session) {
        let dir = tempfile::tempdir().unwrap();
        nightshift_datasets::generate(&nightshift_datasets::GenerateOptions {
            out: dir.path().join("lake"),
            reviews: 60,
            transactions: 0,
            days: 7,
            seed: 7,
            start_date: d("2024-06-01"),
        })
        .unwrap();
        std::fs::create_dir_all(dir.path().join("queries")).unwrap();
        std::fs::write(dir.path().join("queries/daily.sql"), SQL).unwrap();
        let mut toml = String::from("[lake]\nroot = \"lake\"\n");
        for job in jobs {
            toml.push_str(&format!(
                "[jobs.{job}]\nsql = \"queries/daily.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
                 output = \"reports/{job}\"\n"
            ));
        }
        let file = dir.path().join("nightshift.toml");
        std::fs::write(&file, &toml).unwrap();
        let settings = Settings::from_toml(&toml, &file).unwrap();
        (dir, Session::new(settings).await.unwrap())
    }

    fn runner(session: &Session, clock: &Arc<SteppedClock>) -> Runner {
        let jobs = JobSet::from_settings(session.settings()).unwrap();
        Runner::new(session, jobs, clock.clone()).unwrap()
    }

    fn config(once: bool) -> DaemonConfig {
        DaemonConfig {
            once,
            ..DaemonConfig::from_settings(&SchedulerSettings::default())
        }
    }

    /// (job, run date, state) of each event, in order.
    fn outline(events: &[DaemonEvent]) -> Vec<(String, String, String)> {
        events
            .iter()
            .map(|e| match e {
                DaemonEvent::Ran(r) => (r.job.clone(), r.run_date.clone(), r.state.as_str().to_string()),
                DaemonEvent::Skipped { job, run_date } => {
                    (job.clone(), run_date.to_string(), "skipped".into())
                }
                DaemonEvent::Failed { job, run_date, error } => {
                    (job.clone(), run_date.to_string(), format!("failed: {error}"))
                }
                DaemonEvent::Abandoned { job, run_date, .. } => {
                    (job.clone(), run_date.to_string(), "abandoned".into())
                }
            })
            .collect()
    }

    fn row(job: &str, run_date: &str, state: &str) -> (String, String, String) {
        (job.into(), run_date.into(), state.into())
    }

    /// Bounds a test's daemon in real time: a loop that should have stopped fails the test.
    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("the daemon did not stop")
    }

    #[tokio::test]
    async fn catch_up_runs_each_missed_interval_once_oldest_first() {
        let (_dir, session) = project(&["daily"]).await;
        // The first pass runs the latest due interval; then the machine sleeps through three fire
        // times, and the next pass catches them up from the ledger.
        let clock = SteppedClock::new("2024-06-02T03:00:00Z", &["2024-06-05T03:00:00Z"]);
        let daemon = Daemon::new(runner(&session, &clock), clock.clone(), config(false));
        let mut events = Vec::new();
        within(daemon.run(clock.idle.notified(), |e| events.push(e)))
            .await
            .unwrap();
        assert_eq!(
            outline(&events),
            [
                row("daily", "2024-06-01", "succeeded"),
                row("daily", "2024-06-02", "succeeded"),
                row("daily", "2024-06-03", "succeeded"),
                row("daily", "2024-06-04", "succeeded"),
            ]
        );
        // The first idle wait: the poll interval (30 s), sooner than the next fire time.
        assert_eq!(clock.waits()[0], t("2024-06-02T03:00:30Z"));
        let runs = daemon.runner().ledger().runs().await.unwrap();
        assert_eq!(runs.iter().filter(|r| r.state == RunState::Succeeded).count(), 4);
    }

    #[tokio::test]
    async fn a_shutdown_while_idle_stops_the_loop() {
        let (_dir, session) = project(&["daily"]).await;
        let clock = SteppedClock::new("2024-06-02T03:00:00Z", &[]);
        let daemon = Daemon::new(runner(&session, &clock), clock.clone(), config(false));
        let mut events = Vec::new();
        // The wait never ends on its own: only the shutdown ends the loop.
        within(daemon.run(clock.idle.notified(), |e| events.push(e)))
            .await
            .unwrap();
        assert_eq!(outline(&events), [row("daily", "2024-06-01", "succeeded")]);
        assert_eq!(clock.waits().len(), 1);
    }

    /// Requests shutdown when the first run reports its first stage.
    fn shutdown_on_first_stage(runner: Runner) -> (Runner, Arc<Notify>) {
        let stop = Arc::new(Notify::new());
        let notify = stop.clone();
        let runner = runner.with_progress(Arc::new(move |event| {
            if matches!(event, crate::RunProgress::Stage { .. }) {
                notify.notify_one();
            }
        }));
        (runner, stop)
    }

    #[tokio::test]
    async fn a_shutdown_during_a_run_lets_it_finish_and_starts_nothing_new() {
        let (_dir, session) = project(&["first", "second"]).await;
        let clock = SteppedClock::new("2024-06-02T03:00:00Z", &[]);
        let (runner, stop) = shutdown_on_first_stage(runner(&session, &clock));
        let daemon = Daemon::new(runner, clock.clone(), config(false));
        let mut events = Vec::new();
        within(daemon.run(stop.notified(), |e| events.push(e)))
            .await
            .unwrap();
        assert_eq!(outline(&events), [row("first", "2024-06-01", "succeeded")]);
        assert!(clock.waits().is_empty(), "it went idle instead of stopping");
        let job = daemon.runner().jobs().get("first").unwrap().clone();
        assert!(
            daemon
                .runner()
                .output(&job)
                .latest_version()
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_run_that_outlasts_the_grace_period_is_abandoned_unpublished() {
        let (_dir, session) = project(&["first", "second"]).await;
        let clock = SteppedClock::new("2024-06-02T03:00:00Z", &[]);
        let (runner, stop) = shutdown_on_first_stage(runner(&session, &clock));
        let config = DaemonConfig {
            grace_period: Duration::ZERO,
            ..config(false)
        };
        let daemon = Daemon::new(runner, clock.clone(), config);
        let mut events = Vec::new();
        within(daemon.run(stop.notified(), |e| events.push(e)))
            .await
            .unwrap();
        assert_eq!(outline(&events), [row("first", "2024-06-01", "abandoned")]);
        let job = daemon.runner().jobs().get("first").unwrap().clone();
        assert!(
            daemon
                .runner()
                .output(&job)
                .latest_version()
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_interval_leased_elsewhere_is_skipped_and_the_loop_goes_on() {
        let (_dir, session) = project(&["first", "second"]).await;
        let clock = SteppedClock::new("2024-06-02T03:00:00Z", &[]);
        // Another scheduler holds the lease of first's interval.
        let location = session.catalog().location();
        let store = session
            .context()
            .runtime_env()
            .object_store(location.store_url())
            .unwrap();
        let prefix: Path = location.prefix();
        let held = Lease::acquire(
            store,
            &prefix,
            "first",
            "2024-06-01",
            "another-scheduler",
            Duration::from_secs(3600),
            clock.now(),
        )
        .await
        .unwrap();
        assert!(held.is_some());
        let daemon = Daemon::new(runner(&session, &clock), clock.clone(), config(true));
        let mut events = Vec::new();
        within(daemon.run(std::future::pending(), |e| events.push(e)))
            .await
            .unwrap();
        assert_eq!(
            outline(&events),
            [
                row("first", "2024-06-01", "skipped"),
                row("second", "2024-06-01", "succeeded"),
            ]
        );
        let runs = daemon.runner().ledger().runs().await.unwrap();
        assert!(runs.iter().all(|r| r.job == "second"), "{runs:?}");
    }
}
