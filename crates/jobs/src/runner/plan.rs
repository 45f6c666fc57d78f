//! Planning: which intervals of which jobs to run (now, due since the ledger's last commit, or a
//! range of dates), oldest first, each job after its dependencies.

use chrono::{DateTime, NaiveDate, Utc};

use super::Runner;
use crate::error::JobError;
use crate::ledger::{Ledger, RunState};
use crate::schedule::Interval;
use crate::spec::JobSpec;

/// Which intervals to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The latest due interval of each job.
    Now,
    /// Every interval due since the last committed one in the ledger (at most `catch_up_limit`,
    /// the newest), or the latest due one for a job that never ran; and every interval among the
    /// newest `catch_up_limit` that was tried and never committed (a failed day of a backfill).
    Due,
    /// The intervals whose run dates fall in `from..=to`.
    Dates(NaiveDate, NaiveDate),
    /// The newest intervals of each job that are due: its `lookback`, or this many when that is 0.
    Recent(usize),
}

/// One planned run.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// The job.
    pub job: JobSpec,
    /// The interval.
    pub interval: Interval,
    /// Why a published interval runs again: its inputs changed since (`lookback`); the run must not
    /// be skipped as committed.
    pub changed: Option<String>,
}

/// How often a long-running scheduler looks for changed inputs of a job with `lookback`: each
/// look plans the job's SQL for its last intervals, which lists the lake.
const LOOKBACK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

impl Runner {
    /// Whether `job`'s lookback is due in this process: the first time, then every
    /// [`LOOKBACK_EVERY`].
    fn lookback_due(&self, job: &str) -> bool {
        let mut last = self.lookback_checked.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        match last.get(job) {
            Some(t) if now.duration_since(*t) < LOOKBACK_EVERY => false,
            _ => {
                last.insert(job.to_string(), now);
                true
            }
        }
    }

    /// The runs for `names` (all jobs if empty), oldest interval first, each job after its
    /// dependencies within an interval.
    pub async fn plan(&self, names: &[String], selection: &Selection) -> Result<Vec<PlannedRun>, JobError> {
        let jobs: Vec<&JobSpec> = if names.is_empty() {
            self.jobs.jobs.iter().collect()
        } else {
            self.jobs
                .select(names)
                .map(|v| v.to_vec())
                .map_err(|m| JobError::Output { message: m })?
        };
        let now = self.clock.now();
        let runs = if *selection == Selection::Due {
            self.ledger.runs().await?
        } else {
            Vec::new()
        };
        let mut plan = Vec::new();
        let mut lake_session = None;
        for (order, job) in jobs.iter().enumerate() {
            let s = &job.schedule;
            let intervals = match selection {
                Selection::Now => vec![s.latest_due(now)],
                Selection::Dates(from, to) => s.intervals_for_dates(*from, *to),
                Selection::Recent(n) => {
                    let n = if job.lookback > 0 { job.lookback } else { *n };
                    let mut out = vec![s.latest_due(now)];
                    while out.len() < n {
                        let older = s.previous(&out[out.len() - 1]);
                        out.push(older);
                    }
                    out.reverse();
                    out
                }
                Selection::Due => {
                    let latest = s.latest_due(now);
                    // From the ledger, never from now() alone: a clock stepped back re-runs nothing
                    // and a clock stepped forward catches up every missed interval.
                    let mut out = match Ledger::last_committed(&runs, &job.name)
                        .and_then(|r| DateTime::parse_from_rfc3339(&r.interval_start).ok())
                    {
                        Some(start) => {
                            let mut out = Vec::new();
                            let mut iv = s.next(&s.interval_containing(start.with_timezone(&Utc)));
                            while iv.fire_at <= now {
                                out.push(iv);
                                iv = s.next(&iv);
                            }
                            let limit = self.jobs.scheduler.catch_up_limit;
                            if out.len() > limit {
                                tracing::warn!(job = %job.name, missed = out.len(), limit, "catch-up limited to the newest intervals");
                                out.drain(..out.len() - limit);
                            }
                            out
                        }
                        None => vec![latest],
                    };
                    // Failed intervals inside the catch-up window run again, also when later
                    // intervals have succeeded since: a backfill with one bad day must not leave a
                    // hole that only a manual run would fill.
                    let tried = |iv: &Interval, committed: bool| {
                        let start = iv.start.to_rfc3339();
                        runs.iter().any(|r| {
                            r.job == job.name
                                && r.interval_start == start
                                && committed
                                    == matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
                        })
                    };
                    let mut iv = latest;
                    for _ in 0..self.jobs.scheduler.catch_up_limit {
                        if !out.iter().any(|o| o.start == iv.start) && tried(&iv, false) && !tried(&iv, true)
                        {
                            tracing::info!(job = %job.name, run_date = %iv.run_date, "retrying a failed interval");
                            out.push(iv);
                        }
                        iv = s.previous(&iv);
                    }
                    out
                }
            };
            let mut changed = Vec::new();
            if *selection == Selection::Due && job.lookback > 0 && self.lookback_due(&job.name) {
                // Late data: the newest published intervals whose inputs changed run again.
                let mut iv = s.latest_due(now);
                for _ in 0..job.lookback {
                    if !intervals.iter().any(|o| o.start == iv.start)
                        && let super::changes::InputsChange::Changed(what) =
                            self.inputs_changed(job, &iv, &runs, &mut lake_session).await
                    {
                        tracing::info!(job = %job.name, run_date = %iv.run_date, %what, "inputs changed since it was published: running it again");
                        changed.push((iv, what));
                    }
                    iv = s.previous(&iv);
                }
            }
            plan.extend(
                intervals
                    .into_iter()
                    .map(|iv| (iv.start, order, (*job).clone(), iv, None))
                    .chain(
                        changed
                            .into_iter()
                            .map(|(iv, what)| (iv.start, order, (*job).clone(), iv, Some(what))),
                    ),
            );
        }
        plan.sort_by_key(|a| (a.0, a.1));
        Ok(plan
            .into_iter()
            .map(|(_, _, job, interval, changed)| PlannedRun {
                job,
                interval,
                changed,
            })
            .collect())
    }
}
