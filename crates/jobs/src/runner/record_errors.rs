//! Settling a run's per-record errors: counts, the quarantine file, and the `max_error_rate` gate.

use nightshift_core::{OnRecordError, RecordErrors};

use super::Runner;
use crate::error::JobError;
use crate::schedule::Interval;
use crate::spec::JobSpec;

/// Records the run's functions evaluated and failed on (`on_record_error = null | quarantine`).
#[derive(Debug, Default)]
pub(super) struct RecordCounts {
    pub(super) evaluated: u64,
    pub(super) failed: u64,
    pub(super) quarantined_at: Option<String>,
}

impl RecordCounts {
    pub(super) fn rate(&self) -> f64 {
        if self.evaluated == 0 {
            0.0
        } else {
            self.failed as f64 / self.evaluated as f64
        }
    }

    pub(super) fn summary(&self, job: &JobSpec) -> String {
        let mut m = format!(
            "{} of {} records failed and were {}",
            self.failed,
            self.evaluated,
            match job.on_record_error {
                OnRecordError::Quarantine => "quarantined",
                _ => "written as NULL",
            }
        );
        if let Some(at) = &self.quarantined_at {
            m.push_str(&format!(" (in {at})"));
        }
        m
    }
}

impl Runner {
    /// After the run's query has finished: counts its failed records, writes the quarantined ones to
    /// `_errors/`, and fails the run (before anything is published) above `max_error_rate`.
    pub(super) async fn settle_record_errors(
        &self,
        job: &JobSpec,
        run_id: &str,
        interval: &Interval,
        errors: &RecordErrors,
        counts: &mut RecordCounts,
    ) -> Result<(), JobError> {
        counts.evaluated = errors.sink().evaluated();
        counts.failed = errors.sink().failed();
        let kept = errors.sink().take();
        if !kept.is_empty() {
            let path = self
                .output(job)
                .write_errors(&job.name, run_id, interval, &kept)
                .await?;
            tracing::warn!(records = kept.len(), file = %path, "quarantined records that functions could not evaluate");
            counts.quarantined_at = Some(path.to_string());
        }
        if let Some(max) = job.max_error_rate
            && counts.rate() > max
        {
            return Err(JobError::ErrorRate {
                job: job.name.clone(),
                failed: counts.failed,
                evaluated: counts.evaluated,
                rate: counts.rate() * 100.0,
                max: max * 100.0,
                where_: counts
                    .quarantined_at
                    .as_ref()
                    .map(|p| format!("; the failed records are in {p}"))
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }
}
