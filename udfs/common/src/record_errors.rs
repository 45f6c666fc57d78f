//! The per-record error policy of scoring functions, and the sink that collects failed records.

use std::any::Any;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{DataFusionError, Result, config_err};
use datafusion::config::ConfigOptions;

/// What a record that a function cannot evaluate (a text that is not UTF-8, …) does to the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum OnRecordError {
    /// The query fails with the record's error (the default).
    #[default]
    Fail,
    /// The function returns NULL for the record; the record is counted.
    Null,
    /// As `Null`, and the record's value and error are kept for the caller (a job writes them to
    /// `_errors/` beside its report).
    Quarantine,
}

impl OnRecordError {
    /// `fail`, `null` or `quarantine`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Null => "null",
            Self::Quarantine => "quarantine",
        }
    }
}

impl fmt::Display for OnRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OnRecordError {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(Self::Fail),
            "null" => Ok(Self::Null),
            "quarantine" => Ok(Self::Quarantine),
            _ => Err(format!("'{s}': use fail, null or quarantine")),
        }
    }
}

/// One record a function could not evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The function (`sentiment_label`).
    pub function: String,
    /// Why.
    pub message: String,
    /// The argument's bytes, unchanged, so that nothing is lost.
    pub value: Vec<u8>,
}

/// Quarantined values are held in memory until the query ends; past this many bytes the query fails
/// instead of growing without bound (the input is then mostly bad, and `null` is the policy to use).
const MAX_KEPT_BYTES: usize = 256 << 20;

/// Counts the records functions evaluate and fail on, and keeps the quarantined ones.
#[derive(Debug, Default)]
pub struct RecordErrorSink {
    evaluated: AtomicU64,
    failed: AtomicU64,
    kept_bytes: AtomicUsize,
    kept: Mutex<Vec<RecordError>>,
}

impl RecordErrorSink {
    /// `n` more records were evaluated (failed or not).
    pub fn add_evaluated(&self, n: usize) {
        self.evaluated.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Records evaluated so far.
    pub fn evaluated(&self) -> u64 {
        self.evaluated.load(Ordering::Relaxed)
    }

    /// Records that failed so far (under `null` and `quarantine`).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The quarantined records so far, oldest first, leaving the sink empty of them (counts stay).
    pub fn take(&self) -> Vec<RecordError> {
        self.kept_bytes.store(0, Ordering::Relaxed);
        std::mem::take(&mut *self.kept.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn keep(&self, error: RecordError) -> Result<()> {
        let size = error.value.len() + error.message.len() + error.function.len();
        if self.kept_bytes.fetch_add(size, Ordering::Relaxed) + size > MAX_KEPT_BYTES {
            return Err(DataFusionError::Execution(format!(
                "{}: more than {} MiB of quarantined records; the input is mostly bad: fix it, or use \
                 on_record_error = 'null' to count failed records without keeping them",
                error.function,
                MAX_KEPT_BYTES >> 20
            )));
        }
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).push(error);
        Ok(())
    }
}

/// The policy in force and its sink: the `nightshift.on_record_error` session option.
///
/// A DataFusion config extension, so `SET nightshift.on_record_error = 'null'` works in any session
/// that installed it, and the functions find it in `ScalarFunctionArgs::config_options`. Every clone
/// of one `RecordErrors` shares its sink on purpose: DataFusion clones the options into each query,
/// and the sink is where the query's failed records come back to the caller (it is append-only
/// output, not configuration). Sessions without the extension behave as `fail`.
#[derive(Debug, Clone, Default)]
pub struct RecordErrors {
    policy: OnRecordError,
    sink: Arc<RecordErrorSink>,
}

impl RecordErrors {
    /// `policy` with a fresh sink.
    pub fn new(policy: OnRecordError) -> Self {
        Self {
            policy,
            sink: Arc::default(),
        }
    }

    /// The extension installed in `options`, if any.
    pub fn from_config(options: &ConfigOptions) -> Option<&Self> {
        options.extensions.get::<Self>()
    }

    /// The policy.
    pub fn policy(&self) -> OnRecordError {
        self.policy
    }

    /// The sink shared by every clone.
    pub fn sink(&self) -> &Arc<RecordErrorSink> {
        &self.sink
    }

    /// Handles a record `function` cannot evaluate: under `fail` the error to return (with a hint
    /// naming the policy); otherwise `Ok` after counting it and, under `quarantine`, keeping it.
    pub fn fail_record(&self, function: &str, value: &[u8], message: String) -> Result<()> {
        match self.policy {
            OnRecordError::Fail => Err(DataFusionError::Execution(format!(
                "{function}: {message}. Clean the column, or skip such records with the job option \
                 on_record_error = 'null' or 'quarantine' (in a session: SET nightshift.on_record_error = 'null')"
            ))),
            OnRecordError::Null => {
                self.sink.failed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            OnRecordError::Quarantine => {
                self.sink.failed.fetch_add(1, Ordering::Relaxed);
                self.sink.keep(RecordError {
                    function: function.to_string(),
                    message,
                    value: value.to_vec(),
                })
            }
        }
    }
}

const KEY: &str = "on_record_error";

impl ConfigExtension for RecordErrors {
    const PREFIX: &'static str = "nightshift";
}

impl ExtensionOptions for RecordErrors {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            KEY => {
                self.policy = value
                    .parse()
                    .map_err(|e: String| DataFusionError::Configuration(format!("nightshift.{KEY} = {e}")))?;
                Ok(())
            }
            _ => config_err!("unknown option nightshift.{key}: the nightshift option is nightshift.{KEY}"),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.{KEY}", Self::PREFIX),
            value: Some(self.policy.to_string()),
            description: "What a record a nightshift function cannot evaluate does: fail (the default), \
                              null (NULL, counted) or quarantine (NULL, kept for _errors/)",
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_reject_others() {
        assert_eq!("NULL".parse::<OnRecordError>(), Ok(OnRecordError::Null));
        assert_eq!(
            " quarantine".parse::<OnRecordError>(),
            Ok(OnRecordError::Quarantine)
        );
        let e = "skip".parse::<OnRecordError>().unwrap_err();
        assert!(e.contains("fail, null or quarantine"), "{e}");
    }

    #[test]
    fn set_through_config_options_and_clones_share_the_sink() {
        let mut options = ConfigOptions::new();
        options.extensions.insert(RecordErrors::default());
        options.set("nightshift.on_record_error", "quarantine").unwrap();
        let err = options.set("nightshift.on_record_error", "skip").unwrap_err();
        assert!(err.to_string().contains("fail, null or quarantine"), "{err}");
        let err = options.set("nightshift.other", "1").unwrap_err();
        assert!(err.to_string().contains("nightshift.on_record_error"), "{err}");

        let ours = RecordErrors::from_config(&options).unwrap().clone();
        assert_eq!(ours.policy(), OnRecordError::Quarantine);
        let per_query = options.clone();
        let theirs = RecordErrors::from_config(&per_query).unwrap();
        theirs.fail_record("f", b"\xff", "bad".into()).unwrap();
        theirs.sink().add_evaluated(10);
        assert_eq!((ours.sink().failed(), ours.sink().evaluated()), (1, 10));
        let kept = ours.sink().take();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].value, b"\xff");
        assert!(ours.sink().take().is_empty());
    }

    #[test]
    fn fail_policy_returns_the_error_with_a_hint_and_null_counts_without_keeping() {
        let fail = RecordErrors::new(OnRecordError::Fail);
        let e = fail
            .fail_record("sentiment_label", b"x", "not UTF-8".into())
            .unwrap_err();
        assert!(e.to_string().contains("sentiment_label: not UTF-8"), "{e}");
        assert!(e.to_string().contains("on_record_error"), "{e}");
        assert_eq!(fail.sink().failed(), 0);

        let null = RecordErrors::new(OnRecordError::Null);
        null.fail_record("f", b"x", "m".into()).unwrap();
        assert_eq!(null.sink().failed(), 1);
        assert!(null.sink().take().is_empty());
    }

    #[test]
    fn quarantine_is_bounded() {
        let q = RecordErrors::new(OnRecordError::Quarantine);
        let big = vec![0xffu8; MAX_KEPT_BYTES / 2];
        q.fail_record("f", &big, "m".into()).unwrap();
        let e = q.fail_record("f", &big, "m".into()).unwrap_err();
        assert!(e.to_string().contains("on_record_error = 'null'"), "{e}");
    }
}
