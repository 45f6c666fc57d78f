//! `nightshift rerun RUN_ID`: a past run again, as it was: the same SQL (or an error saying it
//! changed), the models at the versions it scored with, and its Delta inputs at the versions it read.

use std::sync::Arc;

use datafusion::common::TableReference;
use nightshift_core::Session;
use nightshift_lake::{DeltaLocation, TableFormat, TimeTravel, delta_table_provider};

use super::Runner;
use super::execute::sql_hash;
use crate::error::JobError;
use crate::ledger::RunRecord;
use crate::schedule::Interval;
use crate::spec::JobSpec;

/// What a rerun holds fixed: the run it repeats, its models and its Delta inputs' versions.
#[derive(Debug, Clone, Default)]
pub struct RerunPins {
    /// The run repeated.
    pub run_id: String,
    /// `name@vN` of each model it scored with.
    pub models: Vec<String>,
    /// `url@vN` of each Delta table it read.
    pub delta_inputs: Vec<String>,
}

/// A past run found again, ready to be run as it was.
#[derive(Debug, Clone)]
pub struct Rerun {
    /// The job.
    pub job: JobSpec,
    /// Its interval.
    pub interval: Interval,
    /// What is held fixed.
    pub pins: RerunPins,
}

impl Runner {
    /// The run `run_id` of the ledger, with what its commit recorded; an error when it cannot be
    /// repeated as it was (unknown run, nothing published, SQL file changed since).
    pub async fn find_rerun(&self, run_id: &str) -> Result<Rerun, JobError> {
        let bad = |message: String| JobError::Output { message };
        let runs = self.ledger.runs().await?;
        let Some(record) = runs.iter().rev().find(|r| r.run_id == run_id) else {
            return Err(bad(format!(
                "no run '{run_id}' in the ledger; `nightshift runs` lists them (column run_id)"
            )));
        };
        let job = self.jobs.get(&record.job).ok_or_else(|| {
            bad(format!(
                "run '{run_id}' is of job '{}', which is no longer declared",
                record.job
            ))
        })?;
        let interval = interval_of(job, record).ok_or_else(|| {
            bad(format!(
                "run '{run_id}' covered {} .. {}, which is no interval of the job's schedule ({}) any more",
                record.interval_start, record.interval_end, job.schedule
            ))
        })?;
        let Some(version) = record.output_version else {
            return Err(bad(format!(
                "run '{run_id}' ({}) published nothing, so there is no record of what it read; \
                 run the interval with `nightshift run {} --date {}`",
                record.state.as_str(),
                job.name,
                record.run_date
            )));
        };
        let info = match self.output(job).run_info(version).await? {
            Some(info) if info.run_id == run_id => info,
            _ => {
                return Err(bad(format!(
                    "the commit of run '{run_id}' (version {version} of {}) is gone (vacuumed, or \
                     rewritten by another tool)",
                    job.output
                )));
            }
        };
        let text = std::fs::read_to_string(&job.sql).map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: job.sql.display().to_string(),
            message: format!("cannot read the SQL file: {e}"),
        })?;
        let now = sql_hash(&text);
        if now != info.sql_hash {
            return Err(bad(format!(
                "the SQL file {} changed since run '{run_id}' ({} then, {now} now); restore the file \
                 as it was (from version control) to repeat the run exactly, or run the interval \
                 with today's SQL: `nightshift run {} --date {}`",
                job.sql.display(),
                info.sql_hash,
                job.name,
                record.run_date
            )));
        }
        Ok(Rerun {
            job: job.clone(),
            interval,
            pins: RerunPins {
                run_id: run_id.to_string(),
                models: info.model_versions.clone(),
                delta_inputs: info
                    .input_files
                    .iter()
                    .filter(|f| f.contains("@v"))
                    .cloned()
                    .collect(),
            },
        })
    }

    /// Holds the models and Delta inputs of `pins` fixed in `session`.
    pub(super) async fn apply_pins(&self, pins: &RerunPins, session: &Session) -> Result<(), JobError> {
        for reference in &pins.models {
            if let Some((name, v)) = reference.split_once("@v")
                && let Ok(v) = v.parse::<u32>()
            {
                session.models().pin(name, v);
            }
        }
        let ctx = session.context();
        for input in &pins.delta_inputs {
            let Some((url, v)) = input.rsplit_once("@v") else {
                continue;
            };
            let Ok(version) = v.parse::<u64>() else {
                continue;
            };
            let same = |location: &str| location.trim_end_matches('/') == url.trim_end_matches('/');
            let Some(table) = session
                .catalog()
                .tables()
                .find(|t| matches!(t.format, TableFormat::Delta { .. }) && same(&t.location))
            else {
                return Err(JobError::Output {
                    message: format!(
                        "run '{}' read the Delta table {url}, which is no longer in the lake",
                        pins.run_id
                    ),
                });
            };
            let store = ctx
                .runtime_env()
                .object_store(session.catalog().location().store_url())
                .map_err(JobError::DataFusion)?;
            let opened = DeltaLocation::new(store, url)
                .map_err(|e| JobError::Output {
                    message: e.to_string(),
                })?
                .open(Some(TimeTravel::Version(version)))
                .await
                .map_err(|e| JobError::Output {
                    message: format!(
                        "run '{}' read version {version} of {}, which cannot be read any more \
                         (vacuumed past its retain?): {e}",
                        pins.run_id, table.name
                    ),
                })?;
            let provider = delta_table_provider(ctx, &opened)
                .await
                .map_err(|e| JobError::Output {
                    message: e.to_string(),
                })?;
            let name = TableReference::from(table.name.as_str());
            ctx.deregister_table(name.clone()).map_err(JobError::DataFusion)?;
            ctx.register_table(name, Arc::clone(&provider))
                .map_err(JobError::DataFusion)?;
            tracing::info!(table = %table.name, version, "input pinned to the version the run read");
        }
        Ok(())
    }
}

/// The interval of `job` that `record` covered.
fn interval_of(job: &JobSpec, record: &RunRecord) -> Option<Interval> {
    let date = record.run_date.parse().ok()?;
    job.schedule
        .intervals_for_dates(date, date)
        .into_iter()
        .find(|iv| iv.start.to_rfc3339() == record.interval_start)
}
