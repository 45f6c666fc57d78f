//! `[[jobs.NAME.checks]]`: checks run on a job's result before it is published.

use toml::Spanned;
use toml::de::DeValue;

use nightshift_core::TomlReader;

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// The run publishes nothing and ends as `blocked`.
    #[default]
    Error,
    /// Recorded; the run publishes.
    Warn,
}

impl Severity {
    /// As written in the settings and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// What a check measures, and against what.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// The result's row count against the median of the job's last `runs` successful runs: it fails
    /// beyond `max_change` (a fraction) either way. Skipped with fewer than `min_runs` runs.
    RowCount {
        /// The largest relative change allowed.
        max_change: f64,
        /// How many earlier runs make the median.
        runs: usize,
        /// The fewest earlier runs to judge by.
        min_runs: usize,
    },
    /// The share of NULLs in `column`: it fails above `max`.
    NullShare {
        /// The result's column.
        column: String,
        /// The largest share allowed.
        max: f64,
    },
    /// Values computed by `sql` over the result (the table `output`): one number, or rows of
    /// (name, number). Each fails outside the mean ± `sigmas` standard deviations of its own values
    /// in the job's last `runs` published runs (at least ± `min_change` × the mean). Skipped with
    /// fewer than `min_runs` of them.
    Metric {
        /// The query.
        sql: String,
        /// How many standard deviations from the mean are allowed.
        sigmas: f64,
        /// A change smaller than this share of the mean always passes, so that a history that
        /// never varied (a standard deviation of 0) does not fail the smallest change.
        min_change: f64,
        /// How many earlier values make the mean.
        runs: usize,
        /// The fewest earlier values to judge by.
        min_runs: usize,
    },
    /// A query over the result (the table `output`) that returns offending rows: it fails when it
    /// returns any.
    Sql {
        /// The query.
        sql: String,
    },
}

impl CheckKind {
    /// As written in the settings and the ledger.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::RowCount { .. } => "row_count",
            CheckKind::NullShare { .. } => "null_share",
            CheckKind::Metric { .. } => "metric",
            CheckKind::Sql { .. } => "sql",
        }
    }
}

/// One check of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// Its name, unique in the job (default: the kind, with the column for `null_share`).
    pub name: String,
    /// What it measures.
    pub kind: CheckKind,
    /// What a failure does.
    pub severity: Severity,
}

const KINDS: &str = "row_count, null_share, metric, sql";

/// Reads `[[jobs.NAME.checks]]` (an array of tables) into `out`, each problem at its line.
pub(super) fn parse_checks(
    r: &mut TomlReader<'_>,
    v: &Spanned<DeValue<'_>>,
    job: &str,
    out: &mut Vec<CheckSpec>,
) {
    let key = format!("jobs.{job}.checks");
    let Some(items) = r.array(v, &key) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let Some(t) = r.table(item, &key) else {
            continue;
        };
        let field = |name: &str| t.iter().find(|(k, _)| k.get_ref() == name).map(|(_, v)| v);
        let known: &[&str] = &[
            "name",
            "kind",
            "severity",
            "max_change",
            "runs",
            "min_runs",
            "column",
            "max",
            "sql",
            "sigmas",
            "min_change",
        ];
        for (k, _) in t.iter() {
            if !known.contains(&k.get_ref().as_ref()) {
                r.unknown(k, &format!("{key}.{}", k.get_ref()), known);
            }
        }
        let Some(kind_value) = field("kind") else {
            r.issue(&item.span(), &key, format!("a check needs a 'kind': {KINDS}"));
            continue;
        };
        let Some(kind_name) = r.string(kind_value, &format!("{key}.kind")) else {
            continue;
        };
        let number = |r: &mut TomlReader<'_>, name: &str, default: f64, low: f64, high: f64| -> Option<f64> {
            let Some(v) = field(name) else {
                return Some(default);
            };
            let k = format!("{key}.{name}");
            let n = match v.get_ref() {
                DeValue::Integer(_) => r.int(v, &k).map(|i| i as f64),
                _ => r.float(v, &k),
            }?;
            if (low..=high).contains(&n) {
                Some(n)
            } else {
                r.issue(&v.span(), &k, format!("expected {low} to {high}"));
                None
            }
        };
        let count = |r: &mut TomlReader<'_>, name: &str, default: usize| -> Option<usize> {
            number(r, name, default as f64, 1.0, 10_000.0).map(|n| n as usize)
        };
        let text = |r: &mut TomlReader<'_>, name: &str| -> Option<String> {
            match field(name) {
                Some(v) => r
                    .string(v, &format!("{key}.{name}"))
                    .filter(|s| !s.trim().is_empty()),
                None => {
                    r.issue(
                        &item.span(),
                        &key,
                        format!("a '{kind_name}' check needs '{name}'"),
                    );
                    None
                }
            }
        };
        let kind = match kind_name.as_str() {
            "row_count" => (|| {
                Some(CheckKind::RowCount {
                    max_change: number(r, "max_change", 0.3, 0.0, 1e6)?,
                    runs: count(r, "runs", 7)?,
                    min_runs: count(r, "min_runs", 3)?,
                })
            })(),
            "null_share" => (|| {
                Some(CheckKind::NullShare {
                    column: text(r, "column")?,
                    max: number(r, "max", 0.0, 0.0, 1.0)?,
                })
            })(),
            "metric" => (|| {
                Some(CheckKind::Metric {
                    sql: text(r, "sql")?,
                    sigmas: number(r, "sigmas", 4.0, 0.0, 1e6)?,
                    min_change: number(r, "min_change", 0.05, 0.0, 1e6)?,
                    runs: count(r, "runs", 28)?,
                    min_runs: count(r, "min_runs", 5)?,
                })
            })(),
            "sql" => text(r, "sql").map(|sql| CheckKind::Sql { sql }),
            other => {
                r.issue(
                    &kind_value.span(),
                    &format!("{key}.kind"),
                    format!("unknown check kind '{other}'; kinds: {KINDS}"),
                );
                None
            }
        };
        let severity = match field("severity") {
            None => Some(Severity::Error),
            Some(v) => match r.string(v, &format!("{key}.severity")).as_deref() {
                Some("error") => Some(Severity::Error),
                Some("warn") => Some(Severity::Warn),
                Some(other) => {
                    r.issue(
                        &v.span(),
                        &format!("{key}.severity"),
                        format!("'{other}': use \"error\" (blocks the run) or \"warn\" (publishes)"),
                    );
                    None
                }
                None => None,
            },
        };
        let name = match field("name") {
            Some(v) => r.string(v, &format!("{key}.name")),
            None => kind.as_ref().map(|k| match k {
                CheckKind::NullShare { column, .. } => format!("null_share_{column}"),
                other => other.name().to_string(),
            }),
        };
        let (Some(kind), Some(severity), Some(name)) = (kind, severity, name) else {
            continue;
        };
        if out.iter().any(|c| c.name == name) {
            r.issue(
                &item.span(),
                &key,
                format!("a second check named '{name}'; give each a distinct 'name'"),
            );
            continue;
        }
        out.push(CheckSpec { name, kind, severity });
    }
}
