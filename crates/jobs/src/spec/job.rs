//! One `[jobs.NAME]` table: its keys, checked one by one, with every problem recorded at its line.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::common::ScalarValue;
use nightshift_core::{OnRecordError, TomlReader};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::duration::duration;
use super::types::{JobSpec, WriteMode};

/// How long replaced files stay (and earlier versions stay readable) by default: Delta's own default.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 86_400);
/// The shortest `retain` accepted.
const MIN_RETAIN: Duration = Duration::from_secs(3600);
use crate::schedule::Schedule;

const JOB_KEYS: &str = "sql, schedule, output, partition_by, mode, depends_on, retries, retry_backoff, timeout, \
                        retain, on_record_error, max_error_rate, params, ready_when, wait_for, wait_timeout, wait_poll, checks, \
                        on_failure, on_blocked, on_partial, on_input_missing, on_deadline, deadline, lookback";

/// How often `ready_when` is asked again by default while a run waits for its input.
pub const DEFAULT_WAIT_POLL: Duration = Duration::from_secs(60);

/// Reads the table of the job `name`, declared at `origin`; `None` (with the problems recorded) when
/// it is not usable.
pub(super) fn parse_job(
    r: &mut TomlReader<'_>,
    t: &DeTable<'_>,
    name: &str,
    origin: String,
    base: &Path,
    span: &Range<usize>,
) -> Option<JobSpec> {
    let before = r.issue_count();
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
        retain: DEFAULT_RETAIN,
        on_record_error: OnRecordError::default(),
        max_error_rate: None,
        params: Vec::new(),
        ready_when: None,
        wait_for: Vec::new(),
        wait_timeout: Duration::ZERO,
        wait_poll: DEFAULT_WAIT_POLL,
        checks: Vec::new(),
        alerts: Default::default(),
        lookback: 0,
    };
    for (k, v) in t.iter() {
        let field = k.get_ref().as_ref();
        let key = format!("jobs.{name}.{field}");
        match field {
            "sql" => {
                if let Some(p) = r.string(v, &key) {
                    let path = base.join(&p);
                    if !path.is_file() {
                        r.issue(
                            &v.span(),
                            &key,
                            format!("the SQL file '{}' does not exist", path.display()),
                        );
                    }
                    sql = Some(path);
                }
            }
            "schedule" => {
                if let Some(s) = r.string(v, &key) {
                    match Schedule::parse(&s) {
                        Ok(s) => schedule = Some(s),
                        Err(e) => r.issue(&v.span(), &key, e),
                    }
                }
            }
            "output" => {
                if let Some(o) = r.string(v, &key) {
                    let o = o.trim_end_matches('/').to_string();
                    if o.is_empty()
                        || o.split(['/', '\\']).any(|s| s == ".." || s == ".")
                        || o.starts_with('/')
                    {
                        r.issue(
                            &v.span(),
                            &key,
                            format!("'{o}' must be a folder under the lake root (no '..' or '.')"),
                        );
                    } else if o.starts_with('_') {
                        r.issue(
                            &v.span(),
                            &key,
                            "folders starting with '_' are reserved (_nightshift/)",
                        );
                    }
                    output = Some(o);
                }
            }
            "partition_by" => job.partition_by = r.strings(v, &key).unwrap_or_default(),
            "depends_on" => job.depends_on = r.strings(v, &key).unwrap_or_default(),
            "mode" => {
                if let Some(m) = r.string(v, &key) {
                    job.mode = match m.as_str() {
                        "overwrite_interval" => WriteMode::OverwriteInterval,
                        "append" => WriteMode::Append,
                        "replace" => WriteMode::Replace,
                        _ => {
                            r.issue(
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
                if let Some(m) = r.string(v, &key) {
                    match m.parse::<OnRecordError>() {
                        Ok(p) => job.on_record_error = p,
                        Err(e) => r.issue(&v.span(), &key, e),
                    }
                }
            }
            "retries" => match r.int(v, &key) {
                Some(n) if (0..=100).contains(&n) => job.retries = n as u32,
                Some(_) => r.issue(&v.span(), &key, "expected 0 to 100"),
                None => {}
            },
            "retry_backoff" => job.retry_backoff = duration(r, v, &key).unwrap_or(job.retry_backoff),
            "timeout" => job.timeout = duration(r, v, &key).or(job.timeout),
            "retain" => match duration(r, v, &key) {
                Some(d) if d >= MIN_RETAIN => job.retain = d,
                Some(_) => r.issue(
                    &v.span(),
                    &key,
                    "must be at least \"1h\": a vacuum with a shorter retention could delete the files \
                     of a run still writing, and the versions a reader has just opened",
                ),
                None => {}
            },
            "max_error_rate" => match r.float(v, &key) {
                Some(rate) if (0.0..=1.0).contains(&rate) => job.max_error_rate = Some(rate),
                Some(_) => r.issue(&v.span(), &key, "expected a fraction from 0 to 1"),
                None => {}
            },
            "params" => parse_params(r, v, &key, &mut job.params),
            "ready_when" => match r.string(v, &key) {
                Some(q) if q.trim().is_empty() => r.issue(
                    &v.span(),
                    &key,
                    "an empty query: give one that returns true once the input is ready, such as \
                     \"SELECT count(*) > 0 FROM reviews WHERE review_date = $run_date\"",
                ),
                Some(q) => job.ready_when = Some(q),
                None => {}
            },
            "checks" => super::checks::parse_checks(r, v, name, &mut job.checks),
            "lookback" => match r.int(v, &key) {
                Some(n) if (0..=1000).contains(&n) => job.lookback = n as usize,
                Some(_) => r.issue(&v.span(), &key, "expected 0 to 1000 intervals"),
                None => {}
            },
            "wait_for" => job.wait_for = r.strings(v, &key).unwrap_or_default(),
            "wait_timeout" => job.wait_timeout = duration(r, v, &key).unwrap_or(job.wait_timeout),
            "wait_poll" => match duration(r, v, &key) {
                Some(d) if d >= Duration::from_millis(100) => job.wait_poll = d,
                Some(_) => r.issue(&v.span(), &key, "must be at least \"100ms\""),
                None => {}
            },
            other if super::alerts::parse_alert_key(r, v, other, &key, &mut job.alerts) => {}
            other => r.issue(
                &k.span(),
                &format!("jobs.{name}.{other}"),
                format!("unknown key; known keys: {JOB_KEYS}"),
            ),
        }
    }
    super::alerts::check_alerts(r, &job.alerts, name, span);
    let key = format!("jobs.{name}");
    if sql.is_none() {
        r.issue(
            span,
            &key,
            "a job needs 'sql' (a SQL file such as \"queries/daily_sentiment.sql\")",
        );
    }
    if schedule.is_none() && !t.iter().any(|(k, _)| k.get_ref() == "schedule") {
        r.issue(
            span,
            &key,
            "a job needs a 'schedule' (such as \"daily @ 02:00 UTC\")",
        );
    }
    if output.is_none() && !t.iter().any(|(k, _)| k.get_ref() == "output") {
        r.issue(
            span,
            &key,
            "a job needs an 'output' folder under the lake root (such as \"reports/daily_sentiment\")",
        );
    }
    if r.issue_count() > before {
        return None;
    }
    job.sql = sql?;
    job.schedule = schedule?;
    job.output = output?;
    Some(job)
}

/// `[jobs.NAME.params]`: typed values bound as `$NAME`; the runner's own parameters are refused.
fn parse_params(
    r: &mut TomlReader<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
    params: &mut Vec<(String, ScalarValue)>,
) {
    let DeValue::Table(pt) = v.get_ref() else {
        r.issue(&v.span(), key, "expected a table of NAME = value");
        return;
    };
    for (pk, pv) in pt.iter() {
        let pname = pk.get_ref().to_string();
        let pkey = format!("{key}.{pname}");
        if ["run_date", "interval_start", "interval_end"].contains(&pname.as_str()) {
            r.issue(&pk.span(), &pkey, "is set by the runner for each interval");
            continue;
        }
        let value = match pv.get_ref() {
            DeValue::String(s) => Some(ScalarValue::Utf8(Some(s.to_string()))),
            DeValue::Boolean(b) => Some(ScalarValue::Boolean(Some(*b))),
            DeValue::Integer(_) => r.int(pv, &pkey).map(|i| ScalarValue::Int64(Some(i))),
            DeValue::Float(_) => r.float(pv, &pkey).map(|f| ScalarValue::Float64(Some(f))),
            DeValue::Datetime(d) => match (d.date, d.time) {
                (Some(date), None) => {
                    let s = ScalarValue::Utf8(Some(date.to_string()));
                    s.cast_to(&datafusion::arrow::datatypes::DataType::Date32).ok()
                }
                _ => {
                    r.issue(&pv.span(), &pkey, "only dates (2024-06-01) are supported");
                    None
                }
            },
            other => {
                r.issue(
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
            params.push((pname, value));
        }
    }
}
