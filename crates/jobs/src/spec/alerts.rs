//! A job's alerts: where its failed, blocked, partial and input-missing runs and its missed
//! deadlines are reported.

use std::ops::Range;

use nightshift_core::TomlReader;
use toml::Spanned;
use toml::de::DeValue;

use crate::schedule::Schedule;

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertTarget {
    /// POST the event's JSON to this URL; `${NAME}` in it is replaced by the environment variable
    /// `NAME` when the alert is sent (secrets stay out of the settings).
    Webhook(String),
    /// Run this command with `sh -c`, the event's JSON on its standard input.
    Command(String),
}

impl AlertTarget {
    fn parse(text: &str) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            AlertTarget::Webhook(text.to_string())
        } else {
            AlertTarget::Command(text.to_string())
        }
    }
}

/// A job's alert settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    /// A run that failed (also blocked and input-missing runs, when they have no target of their own).
    pub on_failure: Option<AlertTarget>,
    /// A run whose checks blocked its report.
    pub on_blocked: Option<AlertTarget>,
    /// A run that published with some records skipped or quarantined.
    pub on_partial: Option<AlertTarget>,
    /// A run whose input was not ready in time.
    pub on_input_missing: Option<AlertTarget>,
    /// An interval not published by its deadline (default: `on_failure`'s target).
    pub on_deadline: Option<AlertTarget>,
    /// The time of day (`06:00 UTC`) by which an interval's report must be published: the first
    /// such time at or after the interval's fire time.
    pub deadline: Option<Schedule>,
    /// The deadline as written.
    pub deadline_text: Option<String>,
}

impl Alerts {
    /// Where a missed deadline is reported.
    pub fn deadline_target(&self) -> Option<&AlertTarget> {
        self.on_deadline.as_ref().or(self.on_failure.as_ref())
    }
}

/// Reads one alert key of `[jobs.NAME]` into `alerts`; `false` when `field` is not an alert key.
pub(super) fn parse_alert_key(
    r: &mut TomlReader<'_>,
    v: &Spanned<DeValue<'_>>,
    field: &str,
    key: &str,
    alerts: &mut Alerts,
) -> bool {
    let slot = match field {
        "on_failure" => &mut alerts.on_failure,
        "on_blocked" => &mut alerts.on_blocked,
        "on_partial" => &mut alerts.on_partial,
        "on_input_missing" => &mut alerts.on_input_missing,
        "on_deadline" => &mut alerts.on_deadline,
        "deadline" => {
            if let Some(text) = r.string(v, key) {
                match Schedule::parse(&format!("daily @ {text}")) {
                    Ok(s) => {
                        alerts.deadline = Some(s);
                        alerts.deadline_text = Some(text);
                    }
                    Err(_) => r.issue(
                        &v.span(),
                        key,
                        format!(
                            "'{text}' is not a time of day such as \"06:00 UTC\" or \"07:30 Europe/Paris\""
                        ),
                    ),
                }
            }
            return true;
        }
        _ => return false,
    };
    if let Some(text) = r.string(v, key) {
        if text.trim().is_empty() {
            r.issue(
                &v.span(),
                key,
                "an empty target: give a webhook URL (https://…) or a command",
            );
        } else {
            *slot = Some(AlertTarget::parse(text.trim()));
        }
    }
    true
}

/// A deadline needs somewhere to go.
pub(super) fn check_alerts(r: &mut TomlReader<'_>, alerts: &Alerts, job: &str, span: &Range<usize>) {
    if alerts.deadline.is_some() && alerts.deadline_target().is_none() {
        r.issue(
            span,
            &format!("jobs.{job}.deadline"),
            "a deadline needs on_deadline (or on_failure): the webhook URL or command its alert goes to",
        );
    }
}
