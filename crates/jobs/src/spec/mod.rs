//! Job definitions: `[jobs.NAME]` tables and `[scheduler]` in nightshift.toml and the `jobs/*.toml`
//! files it includes, read strictly through core's [`TomlReader`] with every problem reported at once
//! with its file and line.
//!
//! [`TomlReader`]: nightshift_core::TomlReader

mod alerts;
mod checks;
mod dependencies;
mod duration;
mod file;
mod job;
mod outputs;
mod scheduler;
mod types;

use std::fmt;
use std::path::Path;

use nightshift_core::{ConfigIssue, Settings};

pub use self::alerts::{AlertTarget, Alerts};
pub use self::checks::{CheckKind, CheckSpec, Severity};
pub use self::duration::parse_duration;
pub use self::job::DEFAULT_RETAIN;
pub use self::types::{JobSpec, SchedulerSettings, WriteMode};

use self::dependencies::check_dependencies;
use self::file::{Collected, FileRole, parse_file};

/// Every problem in the job definitions, each with its file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ConfigIssue::write_list(f, "invalid job definitions", &self.issues)
    }
}

/// The jobs of a project, in dependency order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSet {
    /// Jobs, each after the jobs it depends on (ties by name).
    pub jobs: Vec<JobSpec>,
    /// `[scheduler]`.
    pub scheduler: SchedulerSettings,
}

impl JobSet {
    /// The jobs declared in the settings file (and the files it includes); empty without one.
    pub fn from_settings(settings: &Settings) -> Result<Self, SpecError> {
        match &settings.jobs {
            Some(src) => Self::parse(&src.text, &src.file),
            None => Ok(Self::default()),
        }
    }

    /// Parses the `[jobs.*]` and `[scheduler]` sections of `text` (the file `file`, whose folder
    /// relative paths are relative to) and of the files its `[scheduler] include` globs name.
    pub fn parse(text: &str, file: &Path) -> Result<Self, SpecError> {
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut c = Collected::default();
        parse_file(text, file, &base, FileRole::Main, &mut c);
        for (pattern, at) in std::mem::take(&mut c.includes) {
            let issue = |key: &str, message: String| ConfigIssue {
                origin: at.clone(),
                key: key.to_string(),
                message,
            };
            let full = base.join(&pattern);
            let mut paths = match glob::glob(&full.to_string_lossy()) {
                Ok(p) => p.filter_map(Result::ok).collect::<Vec<_>>(),
                Err(e) => {
                    let bad = issue("scheduler.include", format!("bad pattern '{pattern}': {e}"));
                    c.issues.push(bad);
                    continue;
                }
            };
            if paths.is_empty() {
                let none = issue("scheduler.include", format!("no file matches '{pattern}'"));
                c.issues.push(none);
            }
            paths.sort();
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(t) => parse_file(&t, &p, &base, FileRole::Included, &mut c),
                    Err(e) => c
                        .issues
                        .push(issue("", format!("cannot read '{}': {e}", p.display()))),
                }
            }
        }
        check_dependencies(&mut c.set, &c.declared, &mut c.issues);
        // TOML tables iterate sorted by key: put the problems back in file order.
        ConfigIssue::sort_in_file_order(&mut c.issues);
        if c.issues.is_empty() {
            Ok(c.set)
        } else {
            Err(SpecError { issues: c.issues })
        }
    }

    /// A job by name.
    pub fn get(&self, name: &str) -> Option<&JobSpec> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The named jobs in dependency order, or an error naming an unknown one.
    pub fn select(&self, names: &[String]) -> Result<Vec<&JobSpec>, String> {
        for n in names {
            if self.get(n).is_none() {
                return Err(format!("no job '{n}'; known jobs: {}", self.names()));
            }
        }
        Ok(self.jobs.iter().filter(|j| names.contains(&j.name)).collect())
    }

    fn names(&self) -> String {
        let v: Vec<_> = self.jobs.iter().map(|j| j.name.as_str()).collect();
        if v.is_empty() {
            "(none)".into()
        } else {
            v.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use datafusion::common::ScalarValue;
    use nightshift_core::IssueOrigin;

    use super::*;

    fn setup(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("queries")).unwrap();
        std::fs::write(dir.path().join("queries/a.sql"), "SELECT 1").unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn parse(dir: &tempfile::TempDir) -> Result<JobSet, SpecError> {
        let file = dir.path().join("nightshift.toml");
        JobSet::parse(&std::fs::read_to_string(&file).unwrap(), &file)
    }

    const JOB: &str = "sql = \"queries/a.sql\"\nschedule = \"daily @ 02:00 UTC\"\n";

    /// The problems of `main` as nightshift.toml, as shown.
    fn problems(main: &str) -> Vec<String> {
        let dir = setup(&[("nightshift.toml", main)]);
        parse(&dir)
            .unwrap_err()
            .issues
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_jobs_in_dependency_order_with_includes() {
        let main = format!(
            "[scheduler]\ninclude = [\"jobs/*.toml\"]\ncatch_up_limit = 3\nprice_per_cpu_hour = 0.1\n\
             [jobs.zeta]\n{JOB}output = \"reports/zeta\"\npartition_by = [\"review_date\"]\nmode = \"append\"\n\
             timeout = \"30m\"\n[jobs.zeta.params]\nmin_votes = 3\nsince = 2024-06-01\n"
        );
        let inc = format!("[jobs.alpha]\n{JOB}output = \"reports/alpha\"\ndepends_on = [\"zeta\"]\n");
        let dir = setup(&[("nightshift.toml", &main), ("jobs/extra.toml", &inc)]);
        let set = parse(&dir).unwrap();
        let names: Vec<_> = set.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(set.scheduler.catch_up_limit, 3);
        let z = set.get("zeta").unwrap();
        assert_eq!(z.mode, WriteMode::Append);
        assert_eq!(z.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(
            z.params[0],
            ("min_votes".to_string(), ScalarValue::Int64(Some(3)))
        );
        assert!(matches!(z.params[1].1, ScalarValue::Date32(Some(19875))));
        assert!(set.get("alpha").unwrap().origin.ends_with("extra.toml:1"));
    }

    #[test]
    fn bad_definitions_are_reported_with_file_and_line() {
        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\ndepends_on = [\"nope\"]\n\
             [jobs.b]\nsql = \"queries/missing.sql\"\nschedule = \"daily @ 2am\"\noutput = \"r/b\"\nbogus = 1\n"
        );
        let dir = setup(&[("nightshift.toml", &main)]);
        let e = parse(&dir).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.issues.len(), 4, "{text}");
        assert!(
            e.issues[0]
                .to_string()
                .contains(":1: jobs.a.depends_on: unknown job 'nope'"),
            "{text}"
        );
        assert!(
            e.issues[1]
                .to_string()
                .contains("nightshift.toml:7: jobs.b.sql: the SQL file"),
            "{text}"
        );
        assert!(
            e.issues[2]
                .to_string()
                .contains(":8: jobs.b.schedule: bad schedule 'daily @ 2am'"),
            "{text}"
        );
        assert!(
            e.issues[3].to_string().contains(":10: jobs.b.bogus: unknown key"),
            "{text}"
        );
    }

    #[test]
    fn ready_when_and_its_wait() {
        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\nready_when = \"SELECT true\"\nwait_timeout = \"2h\"\nwait_poll = \"5m\"\n\
             [jobs.b]\n{JOB}output = \"r/b\"\n"
        );
        let dir = setup(&[("nightshift.toml", &main)]);
        let set = parse(&dir).unwrap();
        let a = set.get("a").unwrap();
        assert_eq!(a.ready_when.as_deref(), Some("SELECT true"));
        assert_eq!(
            (a.wait_timeout, a.wait_poll),
            (Duration::from_secs(7200), Duration::from_secs(300))
        );
        let b = set.get("b").unwrap();
        assert_eq!((b.ready_when.as_deref(), b.wait_timeout), (None, Duration::ZERO));

        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\nready_when = \" \"\nwait_timeout = \"soon\"\nwait_poll = \"1ms\"\n"
        );
        let shown = problems(&main);
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].contains(":5: jobs.a.ready_when: an empty query"),
            "{shown:?}"
        );
        assert!(shown[1].contains(":6: jobs.a.wait_timeout:"), "{shown:?}");
        assert!(
            shown[2].contains(":7: jobs.a.wait_poll: must be at least \"100ms\""),
            "{shown:?}"
        );
    }

    #[test]
    fn alert_targets_and_deadlines() {
        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\non_failure = \"https://hooks.example/${{TOKEN}}\"\n\
             on_blocked = \"scripts/page.sh --team data\"\ndeadline = \"06:00 UTC\"\n"
        );
        let dir = setup(&[("nightshift.toml", &main)]);
        let set = parse(&dir).unwrap();
        let a = &set.get("a").unwrap().alerts;
        assert_eq!(
            a.on_failure,
            Some(AlertTarget::Webhook("https://hooks.example/${TOKEN}".into()))
        );
        assert_eq!(
            a.on_blocked,
            Some(AlertTarget::Command("scripts/page.sh --team data".into()))
        );
        assert_eq!(a.deadline_target(), a.on_failure.as_ref());

        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\ndeadline = \"6am\"\n[jobs.b]\n{JOB}output = \"r/b\"\ndeadline = \"06:00 UTC\"\n"
        );
        let shown = problems(&main);
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].contains(":5: jobs.a.deadline: '6am' is not a time of day"),
            "{shown:?}"
        );
        assert!(
            shown[1].contains("jobs.b.deadline: a deadline needs on_deadline (or on_failure)"),
            "{shown:?}"
        );
    }

    #[test]
    fn cycles_are_named() {
        let main = format!(
            "[jobs.a]\n{JOB}output = \"r/a\"\ndepends_on = [\"b\"]\n[jobs.b]\n{JOB}output = \"r/b\"\ndepends_on = [\"c\"]\n\
             [jobs.c]\n{JOB}output = \"r/c\"\ndepends_on = [\"a\"]\n"
        );
        let dir = setup(&[("nightshift.toml", &main)]);
        let e = parse(&dir).unwrap_err().to_string();
        assert!(e.contains("dependency cycle a -> b -> c -> a"), "{e}");
    }

    #[test]
    fn nested_outputs_are_refused_at_the_inner_job() {
        let main = format!(
            "[jobs.outer]\n{JOB}output = \"reports\"\n[jobs.inner]\n{JOB}output = \"reports/b\"\n\
             [jobs.sibling]\n{JOB}output = \"reports_b\"\n"
        );
        let dir = setup(&[("nightshift.toml", &main)]);
        let e = parse(&dir).unwrap_err();
        assert_eq!(e.issues.len(), 1, "{e}");
        let text = e.issues[0].to_string();
        assert!(
            text.contains("jobs.inner.output: 'reports/b' is inside 'reports', the output of job 'outer'"),
            "{text}"
        );
        assert!(text.contains("nightshift.toml:"), "{text}");
    }

    #[test]
    fn missing_keys_and_durations() {
        let dir = setup(&[("nightshift.toml", "[jobs.a]\nsql = \"queries/a.sql\"\n")]);
        let e = parse(&dir).unwrap_err().to_string();
        assert!(
            e.contains("needs a 'schedule'") && e.contains("needs an 'output'"),
            "{e}"
        );
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("2 fortnights").is_err());
    }

    #[test]
    fn job_files_report_through_the_shared_reader_with_file_and_line() {
        let main = "[scheduler]\ninclude = [\"jobs/*.toml\"]\npoll_interval = []\n";
        let inc =
            format!("[jobs.x]\n{JOB}output = \"r/x\"\nretries = \"two\"\ncolour = 1\n[lake]\nroot = \"x\"\n");
        let dir = setup(&[("nightshift.toml", main), ("jobs/x.toml", &inc)]);
        let e = parse(&dir).unwrap_err();
        let at = |file: &str, line| IssueOrigin::Line {
            file: dir.path().join(file),
            line,
        };
        let found: Vec<_> = e
            .issues
            .iter()
            .map(|i| (i.origin.clone(), i.key.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (at("jobs/x.toml", 5), "jobs.x.retries"),
                (at("jobs/x.toml", 6), "jobs.x.colour"),
                (at("jobs/x.toml", 7), "lake"),
                (at("nightshift.toml", 3), "scheduler.poll_interval"),
            ]
        );
        assert_eq!(e.issues[0].message, "expected an integer, found string");
        assert!(e.issues[1].message.starts_with("unknown key; known keys: sql, "));
        let text = e.to_string();
        assert!(
            text.starts_with("invalid job definitions (4 problems):\n  "),
            "{text}"
        );
        assert!(text.contains("x.toml:6: jobs.x.colour: unknown key"), "{text}");
    }
}
