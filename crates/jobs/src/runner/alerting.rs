//! Alerts of a runner: a run that ended badly, and an interval not published by its deadline.

use chrono::{DateTime, Utc};
use object_store::{PutMode, PutOptions, PutPayload};
use serde_json::json;

use super::Runner;
use crate::alerts;
use crate::ledger::{RunRecord, RunState};
use crate::spec::JobSpec;

impl Runner {
    /// Sends the alert of `record`'s end, if its job has a target for it: failed (`on_failure`),
    /// blocked (`on_blocked`, else `on_failure`), input missing (`on_input_missing`, else
    /// `on_failure`), partially succeeded (`on_partial`). Never fails.
    pub(super) async fn alert_run(&self, job: &JobSpec, record: &RunRecord) {
        let a = &job.alerts;
        let (event, target) = match record.state {
            RunState::Failed => ("failure", a.on_failure.as_ref()),
            RunState::Blocked => ("blocked", a.on_blocked.as_ref().or(a.on_failure.as_ref())),
            RunState::InputMissing => (
                "input_missing",
                a.on_input_missing.as_ref().or(a.on_failure.as_ref()),
            ),
            RunState::PartiallySucceeded => ("partial", a.on_partial.as_ref()),
            _ => return,
        };
        let Some(target) = target else {
            return;
        };
        let body = json!({
            "event": event,
            "job": record.job,
            "run_date": record.run_date,
            "state": record.state.as_str(),
            "message": record.message,
            "run": record,
        });
        alerts::send(target, &body).await;
    }

    /// For each job with a `deadline`: the newest interval whose deadline has passed, if its report
    /// is not published, is alerted once (a create-only marker in the lake remembers it across
    /// passes and schedulers).
    pub async fn check_deadlines(&self) {
        let now = self.clock.now();
        let runs = match self.ledger.runs().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the ledger to check deadlines");
                return;
            }
        };
        for job in &self.jobs.jobs {
            let (Some(deadline), Some(target)) = (&job.alerts.deadline, job.alerts.deadline_target()) else {
                continue;
            };
            // The deadline of an interval: the first deadline time at or after its fire time.
            let due_by = |fire: DateTime<Utc>| deadline.next_fire(fire - chrono::Duration::seconds(1));
            let mut iv = job.schedule.latest_due(now);
            let mut missed = None;
            for _ in 0..8 {
                if due_by(iv.fire_at) <= now {
                    missed = Some(iv);
                    break;
                }
                iv = job.schedule.previous(&iv);
            }
            let Some(iv) = missed else {
                continue;
            };
            let start = iv.start.to_rfc3339();
            let of_interval: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| r.job == job.name && r.interval_start == start)
                .collect();
            if of_interval
                .iter()
                .any(|r| matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded))
            {
                continue;
            }
            let by = due_by(iv.fire_at);
            if !self
                .first_alert(&job.name, &iv.run_date.to_string(), "deadline")
                .await
            {
                continue;
            }
            let body = json!({
                "event": "deadline",
                "job": job.name,
                "run_date": iv.run_date.to_string(),
                "deadline": by.to_rfc3339(),
                "message": format!(
                    "the report of job '{}' for {} was not published by its deadline, {} ({})",
                    job.name,
                    iv.run_date,
                    by.to_rfc3339(),
                    job.alerts.deadline_text.as_deref().unwrap_or("")
                ),
                "last_run": of_interval.last(),
            });
            tracing::warn!(job = %job.name, run_date = %iv.run_date, deadline = %by, "deadline missed");
            alerts::send(target, &body).await;
        }
    }

    /// Whether this is the first alert of `event` for the interval: takes its marker
    /// `_nightshift/alerts/<job>/<run date>.<event>` with a create-only put.
    async fn first_alert(&self, job: &str, run_date: &str, event: &str) -> bool {
        let path = self
            .lake_prefix
            .clone()
            .join("_nightshift")
            .join("alerts")
            .join(job)
            .join(format!("{run_date}.{event}"));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let body = PutPayload::from(self.clock.now().to_rfc3339().into_bytes());
        match self.store.put_opts(&path, body, opts).await {
            Ok(_) => true,
            Err(object_store::Error::AlreadyExists { .. }) => false,
            Err(e) => {
                tracing::warn!(error = %e, path = %path, "cannot record the alert; it is not sent, the next pass tries again");
                false
            }
        }
    }
}
