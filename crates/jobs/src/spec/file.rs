//! One job file: its `[jobs.NAME]` tables and, in the main settings file, `[scheduler]`; a file the
//! scheduler includes holds jobs only.

use std::collections::BTreeMap;
use std::path::Path;

use nightshift_core::{ConfigIssue, IssueOrigin, TomlReader};
use toml::de::DeValue;

use super::JobSet;
use super::job::parse_job;
use super::scheduler::parse_scheduler;

/// Which file is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileRole {
    /// The settings file: jobs, `[scheduler]`, and sections that belong to `core::Settings`.
    Main,
    /// A file named by `[scheduler] include`: jobs only.
    Included,
}

/// What reading the job files collects, across the main file and the files it includes.
#[derive(Debug, Default)]
pub(super) struct Collected {
    /// The jobs and the scheduler settings read so far.
    pub(super) set: JobSet,
    /// The main file's `[scheduler] include` patterns, with the place each was written.
    pub(super) includes: Vec<(String, IssueOrigin)>,
    /// Where each job was first declared.
    pub(super) declared: BTreeMap<String, IssueOrigin>,
    /// Every problem found so far.
    pub(super) issues: Vec<ConfigIssue>,
}

/// Reads the job file `file` (whose text is `text`; relative SQL paths are relative to `base`).
pub(super) fn parse_file(text: &str, file: &Path, base: &Path, role: FileRole, c: &mut Collected) {
    let mut r = TomlReader::new(text, file);
    let doc = r.parse("toml", "syntax error");
    for (k, v) in doc.get_ref().iter() {
        match k.get_ref().as_ref() {
            "jobs" => {
                let DeValue::Table(t) = v.get_ref() else {
                    r.issue(&v.span(), "jobs", "declare each job as a table [jobs.NAME]");
                    continue;
                };
                for (name, jv) in t.iter() {
                    let name_s = name.get_ref().to_string();
                    let key = format!("jobs.{name_s}");
                    if name_s.is_empty()
                        || !name_s
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                    {
                        r.issue(&name.span(), &key, "a job name is letters, digits, '_' and '-'");
                        continue;
                    }
                    let DeValue::Table(jt) = jv.get_ref() else {
                        r.issue(&jv.span(), &key, "expected a table");
                        continue;
                    };
                    let origin = r.at(&name.span());
                    if let Some(first) = c.declared.get(&name_s) {
                        r.issue(
                            &name.span(),
                            &key,
                            format!("job '{name_s}' is already declared at {first}"),
                        );
                        continue;
                    }
                    c.declared.insert(name_s.clone(), origin.clone());
                    if let Some(job) = parse_job(&mut r, jt, &name_s, origin.to_string(), base, &jv.span()) {
                        c.set.jobs.push(job);
                    }
                }
            }
            "scheduler" if role == FileRole::Main => {
                let DeValue::Table(t) = v.get_ref() else {
                    r.issue(&v.span(), "scheduler", "expected a table");
                    continue;
                };
                parse_scheduler(&mut r, t, &mut c.set.scheduler, &mut c.includes);
            }
            // Included files hold jobs only; the main file's other sections belong to core::Settings.
            other if role == FileRole::Included => r.issue(
                &k.span(),
                other,
                "an included job file holds [jobs.NAME] tables only",
            ),
            _ => {}
        }
    }
    c.issues.extend(r.into_issues());
}
