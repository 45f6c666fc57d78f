//! Job definitions: `[jobs.NAME]` tables and `[scheduler]` in nightshift.toml and the `jobs/*.toml`
//! files it includes, parsed strictly with every problem reported at once with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::common::ScalarValue;
use nightshift_core::{OnRecordError, Settings};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::schedule::Schedule;

/// How a run's output replaces what was there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Replace exactly this run's interval (the default): reruns give the same report.
    #[default]
    OverwriteInterval,
    /// Add this run's files to what is there.
    Append,
    /// Replace the whole output.
    Replace,
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The job's name (`[jobs.NAME]`).
    pub name: String,
    /// Where it was declared (`file:line`).
    pub origin: String,
    /// The SQL file (absolute, or relative to the current folder).
    pub sql: PathBuf,
    /// When it runs and which interval each run covers.
    pub schedule: Schedule,
    /// Output folder, relative to the lake root (or a URL).
    pub output: String,
    /// Hive partition columns of the output.
    pub partition_by: Vec<String>,
    /// How the output is replaced.
    pub mode: WriteMode,
    /// Jobs that run before this one.
    pub depends_on: Vec<String>,
    /// Retries after a transient failure (object store, I/O).
    pub retries: u32,
    /// First backoff; doubled on each retry.
    pub retry_backoff: Duration,
    /// A run that takes longer fails.
    pub timeout: Option<Duration>,
    /// What a record a function cannot evaluate does (`fail`, `null`, `quarantine` to `_errors/`).
    pub on_record_error: OnRecordError,
    /// A run whose share of failed records is larger fails and publishes nothing; `None`: no limit.
    pub max_error_rate: Option<f64>,
    /// Extra typed parameters bound as `$name`.
    pub params: Vec<(String, ScalarValue)>,
}

/// `[scheduler]`: settings of `nightshift schedule` and the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    /// At most this many missed intervals per job are caught up after downtime (the latest ones).
    pub catch_up_limit: usize,
    /// A lease not renewed for this long is taken over.
    pub lease_ttl: Duration,
    /// After SIGTERM, a running job gets this long to finish before it is abandoned.
    pub grace_period: Duration,
    /// How often the scheduler wakes up when nothing is due sooner.
    pub poll_interval: Duration,
    /// Price of one CPU-hour, for the cost per 1,000 rows KPI.
    pub price_per_cpu_hour: f64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            catch_up_limit: 30,
            lease_ttl: Duration::from_secs(600),
            grace_period: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            price_per_cpu_hour: 0.05,
        }
    }
}

/// Every problem in the job definitions, each with `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// `file:line: key: message`, in file order.
    pub issues: Vec<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "invalid job definitions ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for i in &self.issues {
            write!(f, "\n  {i}")?;
        }
        Ok(())
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
        let mut issues = Vec::new();
        let mut set = JobSet::default();
        let mut includes = Vec::new();
        let mut origins: BTreeMap<String, String> = BTreeMap::new();
        parse_one(
            text,
            file,
            &base,
            true,
            &mut set,
            &mut includes,
            &mut origins,
            &mut issues,
        );
        for (pattern, at) in includes {
            let full = base.join(&pattern);
            let paths = match glob::glob(&full.to_string_lossy()) {
                Ok(p) => p.filter_map(Result::ok).collect::<Vec<_>>(),
                Err(e) => {
                    issues.push((
                        at.clone(),
                        format!("scheduler.include: bad pattern '{pattern}': {e}"),
                    ));
                    continue;
                }
            };
            if paths.is_empty() {
                issues.push((
                    at.clone(),
                    format!("scheduler.include: no file matches '{pattern}'"),
                ));
            }
            let mut paths = paths;
            paths.sort();
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(t) => parse_one(
                        &t,
                        &p,
                        &base,
                        false,
                        &mut set,
                        &mut Vec::new(),
                        &mut origins,
                        &mut issues,
                    ),
                    Err(e) => issues.push((at.clone(), format!("cannot read '{}': {e}", p.display()))),
                }
            }
        }
        check_dependencies(&mut set, &mut issues);
        // TOML tables iterate sorted by key: put the problems back in file order.
        issues.sort_by_key(|(origin, _)| {
            let (file, line) = origin.rsplit_once(':').unwrap_or((origin, "0"));
            (file.to_string(), line.parse::<usize>().unwrap_or(0))
        });
        if issues.is_empty() {
            Ok(set)
        } else {
            Err(SpecError {
                issues: issues.into_iter().map(|(o, m)| format!("{o}: {m}")).collect(),
            })
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

struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
    issues: &'a mut Vec<(String, String)>,
}

impl Ctx<'_> {
    fn at(&self, span: &Range<usize>) -> String {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        format!("{}:{line}", self.file.display())
    }
    fn issue(&mut self, span: &Range<usize>, key: &str, msg: impl fmt::Display) {
        let at = self.at(span);
        self.issues.push((at, format!("{key}: {msg}")));
    }
    fn string(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }
    fn strings(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<Vec<String>> {
        match v.get_ref() {
            DeValue::Array(a) => a.iter().map(|i| self.string(i, key)).collect(),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected an array of strings, found {}", other.type_str()),
                );
                None
            }
        }
    }
    fn int(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
                if n.is_none() {
                    self.issue(&v.span(), key, "the integer is too large");
                }
                n
            }
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected an integer, found {}", other.type_str()),
                );
                None
            }
        }
    }
    fn float(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
            DeValue::Integer(_) => self.int(v, key).map(|i| i as f64),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected a number, found {}", other.type_str()),
                );
                None
            }
        }
    }
    fn duration(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<Duration> {
        let parsed = match v.get_ref() {
            DeValue::Integer(_) => {
                return self
                    .int(v, key)
                    .and_then(|n| u64::try_from(n).ok())
                    .map(Duration::from_secs);
            }
            DeValue::String(s) => parse_duration(s),
            other => Err(format!(
                "expected a duration such as \"30s\", \"10m\" or \"2h\", found {}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(d) => Some(d),
            Err(m) => {
                self.issue(&v.span(), key, m);
                None
            }
        }
    }
}

/// `"90s"`, `"10m"`, `"2h"`, `"1d"`, `"500ms"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as \"30s\", \"10m\" or \"2h\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        u => return Err(format!("unknown unit '{u}' in '{s}'; use ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable duration"))
}

#[allow(clippy::too_many_arguments)]
fn parse_one(
    text: &str,
    file: &Path,
    base: &Path,
    main: bool,
    set: &mut JobSet,
    includes: &mut Vec<(String, String)>,
    origins: &mut BTreeMap<String, String>,
    issues: &mut Vec<(String, String)>,
) {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let mut c = Ctx { text, file, issues };
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        c.issue(&span, "toml", format!("syntax error: {}", e.message()));
    }
    for (k, v) in doc.get_ref().iter() {
        match k.get_ref().as_ref() {
            "jobs" => {
                let DeValue::Table(t) = v.get_ref() else {
                    c.issue(&v.span(), "jobs", "declare each job as a table [jobs.NAME]");
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
                        c.issue(&name.span(), &key, "a job name is letters, digits, '_' and '-'");
                        continue;
                    }
                    let DeValue::Table(jt) = jv.get_ref() else {
                        c.issue(&jv.span(), &key, "expected a table");
                        continue;
                    };
                    let origin = c.at(&name.span());
                    if let Some(first) = origins.get(&name_s) {
                        c.issue(
                            &name.span(),
                            &key,
                            format!("job '{name_s}' is already declared at {first}"),
                        );
                        continue;
                    }
                    origins.insert(name_s.clone(), origin.clone());
                    if let Some(job) = parse_job(&mut c, jt, &name_s, origin, base, &jv.span()) {
                        set.jobs.push(job);
                    }
                }
            }
            "scheduler" if main => {
                let DeValue::Table(t) = v.get_ref() else {
                    c.issue(&v.span(), "scheduler", "expected a table");
                    continue;
                };
                parse_scheduler(&mut c, t, &mut set.scheduler, includes);
            }
            // Included files hold jobs only; the main file's other sections belong to core::Settings.
            other if !main => c.issue(
                &k.span(),
                other,
                "an included job file holds [jobs.NAME] tables only",
            ),
            _ => {}
        }
    }
}

fn parse_scheduler(
    c: &mut Ctx<'_>,
    t: &DeTable<'_>,
    s: &mut SchedulerSettings,
    includes: &mut Vec<(String, String)>,
) {
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("scheduler.{name}");
        match name {
            "include" => {
                if let Some(list) = c.strings(v, &key) {
                    let at = c.at(&v.span());
                    includes.extend(list.into_iter().map(|p| (p, at.clone())));
                }
            }
            "catch_up_limit" => match c.int(v, &key) {
                Some(n) if n >= 0 => s.catch_up_limit = n as usize,
                Some(_) => c.issue(&v.span(), &key, "expected 0 or more"),
                None => {}
            },
            "lease_ttl" => s.lease_ttl = c.duration(v, &key).unwrap_or(s.lease_ttl),
            "grace_period" => s.grace_period = c.duration(v, &key).unwrap_or(s.grace_period),
            "poll_interval" => s.poll_interval = c.duration(v, &key).unwrap_or(s.poll_interval),
            "price_per_cpu_hour" => match c.float(v, &key) {
                Some(p) if p >= 0.0 && p.is_finite() => s.price_per_cpu_hour = p,
                Some(_) => c.issue(&v.span(), &key, "expected a price of 0 or more"),
                None => {}
            },
            other => c.issue(
                &k.span(),
                &format!("scheduler.{other}"),
                "unknown key; known keys: include, catch_up_limit, lease_ttl, grace_period, poll_interval, price_per_cpu_hour",
            ),
        }
    }
}

const JOB_KEYS: &str = "sql, schedule, output, partition_by, mode, depends_on, retries, retry_backoff, timeout, \
                        on_record_error, max_error_rate, params";

fn parse_job(
    c: &mut Ctx<'_>,
    t: &DeTable<'_>,
    name: &str,
    origin: String,
    base: &Path,
    span: &Range<usize>,
) -> Option<JobSpec> {
    let before = c.issues.len();
    let mut sql = None;
    let mut schedule = None;
    let mut output = None;
    let mut job = JobSpec {
        name: name.to_string(),
        origin,
        sql: PathBuf::new(),
        schedule: Schedule::parse("daily").ok()?,
        output: String::new(),
        partition_by: Vec::new(),
        mode: WriteMode::default(),
        depends_on: Vec::new(),
        retries: 2,
        retry_backoff: Duration::from_secs(1),
        timeout: None,
        on_record_error: OnRecordError::default(),
        max_error_rate: None,
        params: Vec::new(),
    };
    for (k, v) in t.iter() {
        let field = k.get_ref().as_ref();
        let key = format!("jobs.{name}.{field}");
        match field {
            "sql" => {
                if let Some(p) = c.string(v, &key) {
                    let path = base.join(&p);
                    if !path.is_file() {
                        c.issue(
                            &v.span(),
                            &key,
                            format!("the SQL file '{}' does not exist", path.display()),
                        );
                    }
                    sql = Some(path);
                }
            }
            "schedule" => {
                if let Some(s) = c.string(v, &key) {
                    match Schedule::parse(&s) {
                        Ok(s) => schedule = Some(s),
                        Err(e) => c.issue(&v.span(), &key, e),
                    }
                }
            }
            "output" => {
                if let Some(o) = c.string(v, &key) {
                    let o = o.trim_end_matches('/').to_string();
                    if o.is_empty() || o.split(['/', '\\']).any(|s| s == "..") || o.starts_with('/') {
                        c.issue(
                            &v.span(),
                            &key,
                            format!("'{o}' must be a folder under the lake root (no '..')"),
                        );
                    } else if o.starts_with('_') {
                        c.issue(
                            &v.span(),
                            &key,
                            "folders starting with '_' are reserved (_nightshift/)",
                        );
                    }
                    output = Some(o);
                }
            }
            "partition_by" => job.partition_by = c.strings(v, &key).unwrap_or_default(),
            "depends_on" => job.depends_on = c.strings(v, &key).unwrap_or_default(),
            "mode" => {
                if let Some(m) = c.string(v, &key) {
                    job.mode = match m.as_str() {
                        "overwrite_interval" => WriteMode::OverwriteInterval,
                        "append" => WriteMode::Append,
                        "replace" => WriteMode::Replace,
                        _ => {
                            c.issue(
                                &v.span(),
                                &key,
                                format!("'{m}': use overwrite_interval, append or replace"),
                            );
                            continue;
                        }
                    }
                }
            }
            "on_record_error" => {
                if let Some(m) = c.string(v, &key) {
                    match m.parse::<OnRecordError>() {
                        Ok(p) => job.on_record_error = p,
                        Err(e) => c.issue(&v.span(), &key, e),
                    }
                }
            }
            "retries" => match c.int(v, &key) {
                Some(n) if (0..=100).contains(&n) => job.retries = n as u32,
                Some(_) => c.issue(&v.span(), &key, "expected 0 to 100"),
                None => {}
            },
            "retry_backoff" => job.retry_backoff = c.duration(v, &key).unwrap_or(job.retry_backoff),
            "timeout" => job.timeout = c.duration(v, &key).or(job.timeout),
            "max_error_rate" => match c.float(v, &key) {
                Some(r) if (0.0..=1.0).contains(&r) => job.max_error_rate = Some(r),
                Some(_) => c.issue(&v.span(), &key, "expected a fraction from 0 to 1"),
                None => {}
            },
            "params" => {
                let DeValue::Table(pt) = v.get_ref() else {
                    c.issue(&v.span(), &key, "expected a table of NAME = value");
                    continue;
                };
                for (pk, pv) in pt.iter() {
                    let pname = pk.get_ref().to_string();
                    let pkey = format!("{key}.{pname}");
                    if ["run_date", "interval_start", "interval_end"].contains(&pname.as_str()) {
                        c.issue(&pk.span(), &pkey, "is set by the runner for each interval");
                        continue;
                    }
                    let value = match pv.get_ref() {
                        DeValue::String(s) => Some(ScalarValue::Utf8(Some(s.to_string()))),
                        DeValue::Boolean(b) => Some(ScalarValue::Boolean(Some(*b))),
                        DeValue::Integer(_) => c.int(pv, &pkey).map(|i| ScalarValue::Int64(Some(i))),
                        DeValue::Float(_) => c.float(pv, &pkey).map(|f| ScalarValue::Float64(Some(f))),
                        DeValue::Datetime(d) => match (d.date, d.time) {
                            (Some(date), None) => {
                                let s = ScalarValue::Utf8(Some(date.to_string()));
                                s.cast_to(&datafusion::arrow::datatypes::DataType::Date32).ok()
                            }
                            _ => {
                                c.issue(&pv.span(), &pkey, "only dates (2024-06-01) are supported");
                                None
                            }
                        },
                        other => {
                            c.issue(
                                &pv.span(),
                                &pkey,
                                format!(
                                    "expected a string, number, boolean or date, found {}",
                                    other.type_str()
                                ),
                            );
                            None
                        }
                    };
                    if let Some(value) = value {
                        job.params.push((pname, value));
                    }
                }
            }
            other => c.issue(
                &k.span(),
                &format!("jobs.{name}.{other}"),
                format!("unknown key; known keys: {JOB_KEYS}"),
            ),
        }
    }
    let key = format!("jobs.{name}");
    if sql.is_none() {
        c.issue(
            span,
            &key,
            "a job needs 'sql' (a SQL file such as \"queries/daily_sentiment.sql\")",
        );
    }
    if schedule.is_none() && !t.iter().any(|(k, _)| k.get_ref() == "schedule") {
        c.issue(
            span,
            &key,
            "a job needs a 'schedule' (such as \"daily @ 02:00 UTC\")",
        );
    }
    if output.is_none() && !t.iter().any(|(k, _)| k.get_ref() == "output") {
        c.issue(
            span,
            &key,
            "a job needs an 'output' folder under the lake root (such as \"reports/daily_sentiment\")",
        );
    }
    if c.issues.len() > before {
        return None;
    }
    job.sql = sql?;
    job.schedule = schedule?;
    job.output = output?;
    Some(job)
}

/// Unknown dependencies and cycles are errors; the jobs are sorted so each follows its dependencies.
fn check_dependencies(set: &mut JobSet, issues: &mut Vec<(String, String)>) {
    let names: BTreeSet<String> = set.jobs.iter().map(|j| j.name.clone()).collect();
    let mut ok = true;
    for j in &set.jobs {
        for d in &j.depends_on {
            if !names.contains(d) {
                ok = false;
                let known: Vec<_> = names.iter().map(String::as_str).collect();
                issues.push((
                    j.origin.clone(),
                    format!(
                        "jobs.{}.depends_on: unknown job '{d}'; known jobs: {}",
                        j.name,
                        known.join(", ")
                    ),
                ));
            }
            if d == &j.name {
                ok = false;
                issues.push((
                    j.origin.clone(),
                    format!("jobs.{}.depends_on: a job cannot depend on itself", j.name),
                ));
            }
        }
        let outputs: Vec<_> = set
            .jobs
            .iter()
            .filter(|o| o.output == j.output)
            .map(|o| o.name.as_str())
            .collect();
        if outputs.len() > 1 && outputs[0] == j.name {
            ok = false;
            issues.push((
                j.origin.clone(),
                format!(
                    "jobs.{}.output: '{}' is also the output of {}",
                    j.name,
                    j.output,
                    outputs[1..].join(", ")
                ),
            ));
        }
    }
    if !ok {
        return;
    }
    // Depth-first topological sort by name, reporting the first cycle found as a path.
    let mut jobs: BTreeMap<String, JobSpec> = set.jobs.drain(..).map(|j| (j.name.clone(), j)).collect();
    let mut order = Vec::new();
    let mut state: BTreeMap<String, u8> = BTreeMap::new();
    fn visit(
        n: &str,
        jobs: &BTreeMap<String, JobSpec>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.to_string());
                return Err(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        let mut deps = jobs[n].depends_on.clone();
        deps.sort();
        for d in &deps {
            visit(d, jobs, state, stack, order)?;
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        order.push(n.to_string());
        Ok(())
    }
    let names: Vec<String> = jobs.keys().cloned().collect();
    for n in &names {
        if let Err(cycle) = visit(n, &jobs, &mut state, &mut Vec::new(), &mut order) {
            issues.push((
                jobs[&cycle[0]].origin.clone(),
                format!(
                    "jobs.{}.depends_on: dependency cycle {}",
                    cycle[0],
                    cycle.join(" -> ")
                ),
            ));
            set.jobs = jobs.into_values().collect();
            return;
        }
    }
    set.jobs = order.iter().filter_map(|n| jobs.remove(n)).collect();
}

#[cfg(test)]
mod tests {
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
            e.issues[0].contains(":1: jobs.a.depends_on: unknown job 'nope'"),
            "{text}"
        );
        assert!(
            e.issues[1].contains("nightshift.toml:7: jobs.b.sql: the SQL file"),
            "{text}"
        );
        assert!(
            e.issues[2].contains(":8: jobs.b.schedule: bad schedule 'daily @ 2am'"),
            "{text}"
        );
        assert!(e.issues[3].contains(":10: jobs.b.bogus: unknown key"), "{text}");
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
}
