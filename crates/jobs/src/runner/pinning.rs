//! Dependency model pinning: a run scores with the model versions its dependency's run recorded.

use chrono::DateTime;
use nightshift_core::Session;

use super::Runner;
use crate::error::JobError;
use crate::ledger::{RunRecord, RunState};
use crate::schedule::Interval;
use crate::spec::JobSpec;

impl Runner {
    /// A run uses what its dependencies produced for an interval not newer than its own: for each
    /// dependency, its latest successful run whose interval starts no later than this run's, and the
    /// model versions that run recorded in its Delta commit info are pinned in the session (so `fraud_score`
    /// and `predict('fraud', …)` score with them, not with a model trained later, and a rerun of an
    /// old interval gives the same report). A dependency that never succeeded pins nothing; one that
    /// succeeded only for newer intervals fails the run.
    pub(super) async fn pin_dependency_models(
        &self,
        job: &JobSpec,
        interval: &Interval,
        session: &Session,
    ) -> Result<(), JobError> {
        if job.depends_on.is_empty() {
            return Ok(());
        }
        let runs = self.ledger.runs().await?;
        let start_of = |r: &RunRecord| DateTime::parse_from_rfc3339(&r.interval_start).ok();
        for dep in &job.depends_on {
            let Some(dep_job) = self.jobs.get(dep) else {
                continue;
            };
            let done: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| {
                    &r.job == dep && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
                })
                .collect();
            if done.is_empty() {
                continue;
            }
            let usable = done
                .iter()
                .filter(|r| start_of(r).is_some_and(|s| s <= interval.start))
                .max_by_key(|r| (start_of(r), r.ended_at.clone()));
            let Some(from) = usable else {
                let oldest = done.iter().filter_map(|r| start_of(r)).min();
                return Err(JobError::Dependency {
                    job: job.name.clone(),
                    message: format!(
                        "its dependency '{dep}' has succeeded only for intervals newer than this run's \
                         ({}; the oldest starts {}), and a run may not use what was made from newer \
                         data: run `nightshift run {dep} --date {}` first",
                        interval.run_date,
                        oldest.map_or_else(|| "?".to_string(), |t| t.date_naive().to_string()),
                        interval.run_date
                    ),
                });
            };
            let Some(version) = from.output_version else {
                continue;
            };
            let Some(info) = self.output(dep_job).run_info(version).await? else {
                return Err(JobError::Dependency {
                    job: job.name.clone(),
                    message: format!(
                        "version {version} of its dependency '{dep}' (run {}) has no nightshift commit \
                         info to read the model versions from (its log entry was cleaned up, or another \
                         tool wrote it): run `nightshift run {dep} --date {}` again",
                        from.run_id, interval.run_date
                    ),
                });
            };
            for reference in &info.model_versions {
                if let Some((name, v)) = reference.split_once("@v")
                    && let Ok(v) = v.parse::<u32>()
                {
                    tracing::info!(model = name, version = v, dependency = %dep, "model pinned to the dependency's run");
                    session.models().pin(name, v);
                }
            }
        }
        Ok(())
    }
}
