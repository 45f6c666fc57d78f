//! Late data: whether the inputs of a published interval changed since it was published, from the
//! files its commit recorded and the files the job's SQL reads now.

use std::collections::BTreeMap;

use super::Runner;
use super::execute::{interval_params, read_files};
use crate::ledger::{RunRecord, RunState};
use crate::publisher::InputFile;
use crate::schedule::Interval;
use crate::spec::JobSpec;

/// What a look at an interval's inputs found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputsChange {
    /// Its inputs changed since it was published: what changed.
    Changed(String),
    /// The same files, sizes and versions.
    Unchanged,
    /// Nothing to compare with, or the inputs cannot be listed: why.
    Unknown(String),
}

impl Runner {
    /// Whether the inputs of `job`'s published `interval` changed since its last publishing run.
    /// `session` is a fresh session of the lake, made on first use and shared by the looks of one
    /// plan (each would otherwise list the whole lake again).
    pub async fn inputs_changed(
        &self,
        job: &JobSpec,
        interval: &Interval,
        runs: &[RunRecord],
        session: &mut Option<nightshift_core::Session>,
    ) -> InputsChange {
        let start = interval.start.to_rfc3339();
        let Some(published) = runs
            .iter()
            .filter(|r| {
                r.job == job.name
                    && r.interval_start == start
                    && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
            })
            .max_by(|a, b| a.started_at.cmp(&b.started_at))
        else {
            return InputsChange::Unknown("it was never published".into());
        };
        let Some(version) = published.output_version else {
            return InputsChange::Unknown("its run published no version".into());
        };
        let recorded = match self.output(job).run_info(version).await {
            Ok(Some(info)) if info.run_id == published.run_id && !info.inputs.is_empty() => info.inputs,
            Ok(Some(info)) if info.inputs.is_empty() => {
                return InputsChange::Unknown(
                    "its commit records no input files (published by an older nightshift)".into(),
                );
            }
            Ok(_) => return InputsChange::Unknown(format!("the commit of version {version} is gone")),
            Err(e) => return InputsChange::Unknown(format!("its commit cannot be read: {e}")),
        };
        if session.is_none() {
            match nightshift_core::Session::new(self.settings.clone()).await {
                Ok(s) => {
                    if let Err(e) = self.ledger.register(s.context()).await {
                        return InputsChange::Unknown(e.to_string());
                    }
                    *session = Some(s);
                }
                Err(e) => return InputsChange::Unknown(e.to_string()),
            }
        }
        let Some(session) = session.as_ref() else {
            return InputsChange::Unknown("no session".into());
        };
        match self.current_inputs(job, interval, session).await {
            Ok(now) => compare(&recorded, &now),
            Err(why) => InputsChange::Unknown(why),
        }
    }

    /// The files the job's SQL reads for `interval` now: its statement planned (not run) in
    /// `session`.
    async fn current_inputs(
        &self,
        job: &JobSpec,
        interval: &Interval,
        session: &nightshift_core::Session,
    ) -> Result<Vec<InputFile>, String> {
        let text = std::fs::read_to_string(&job.sql)
            .map_err(|e| format!("cannot read {}: {e}", job.sql.display()))?;
        let statements = nightshift_core::split_statements(&text).map_err(|e| e.message.clone())?;
        let [statement] = statements.as_slice() else {
            return Err(format!(
                "its SQL file holds {} statements; only a one-statement job's inputs are compared",
                statements.len()
            ));
        };
        let df = session
            .sql(&statement.text, &interval_params(job, interval))
            .await
            .map_err(|e| e.to_string())?;
        let plan = session
            .context()
            .state()
            .optimize(df.logical_plan())
            .map_err(|e| e.strip_backtrace())?;
        Ok(read_files(session, Some(&plan)).await)
    }
}

/// What differs between the files recorded at publishing and the files read now.
fn compare(recorded: &[InputFile], now: &[InputFile]) -> InputsChange {
    let before: BTreeMap<&str, &InputFile> = recorded.iter().map(|f| (f.path.as_str(), f)).collect();
    let after: BTreeMap<&str, &InputFile> = now.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut changes = Vec::new();
    for (path, f) in &after {
        match before.get(path) {
            None => changes.push(format!("{path} is new")),
            Some(old) if old.size != f.size || old.version != f.version => {
                changes.push(format!("{path} changed ({} → {} bytes)", old.size, f.size))
            }
            Some(_) => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        changes.push(format!("{path} is gone"));
    }
    if changes.is_empty() {
        InputsChange::Unchanged
    } else {
        let more = changes.len().saturating_sub(3);
        changes.truncate(3);
        if more > 0 {
            changes.push(format!("and {more} more"));
        }
        InputsChange::Changed(changes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64, version: &str) -> InputFile {
        InputFile {
            path: path.into(),
            size,
            version: Some(version.into()),
        }
    }

    #[test]
    fn new_changed_and_gone_files_are_changes() {
        let before = [file("a", 1, "x"), file("b", 2, "y")];
        assert_eq!(compare(&before, &before), InputsChange::Unchanged);
        let after = [file("a", 1, "x2"), file("c", 3, "z")];
        assert_eq!(
            compare(&before, &after),
            InputsChange::Changed("a changed (1 → 1 bytes); c is new; b is gone".into())
        );
    }
}
