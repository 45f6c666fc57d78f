//! The command-line layer: values given as flags win over every other layer.

use std::path::PathBuf;

use super::datafusion_options::Origins;
use super::types::Settings;
use super::values::{MAX_BATCH_SIZE, MAX_TARGET_PARTITIONS, at_most, parse_size};
use crate::config_error::{ConfigIssue, IssueOrigin};

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--lake`
    pub lake_root: Option<String>,
    /// `--memory-limit`, as written.
    pub memory_limit: Option<String>,
    /// `--spill-dir`
    pub spill_dir: Option<PathBuf>,
    /// `--target-partitions`
    pub target_partitions: Option<usize>,
    /// `--batch-size`
    pub batch_size: Option<usize>,
    /// `--read-only`
    pub read_only: Option<bool>,
    /// `--set datafusion.x=y`, repeatable.
    pub datafusion: Vec<(String, String)>,
}

/// Applies the flags, recording where each `--set` option came from for its validation.
pub(super) fn apply_flags(
    f: &Overrides,
    s: &mut Settings,
    origins: &mut Origins,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(v) = &f.lake_root {
        s.lake.root = v.clone();
    }
    if let Some(v) = &f.memory_limit {
        match parse_size(v) {
            Ok(n) => s.engine.memory_limit = Some(n),
            Err(message) => issues.push(ConfigIssue {
                origin: IssueOrigin::Flag("--memory-limit".into()),
                key: String::new(),
                message,
            }),
        }
    }
    if let Some(v) = &f.spill_dir {
        s.engine.spill_dir = Some(v.clone());
    }
    for (flag, value, slot, max) in [
        (
            "--target-partitions",
            f.target_partitions,
            &mut s.engine.target_partitions,
            MAX_TARGET_PARTITIONS,
        ),
        (
            "--batch-size",
            f.batch_size,
            &mut s.engine.batch_size,
            MAX_BATCH_SIZE,
        ),
    ] {
        if let Some(v) = value {
            match at_most(v, max) {
                Ok(n) => *slot = Some(n),
                Err(message) => issues.push(ConfigIssue {
                    origin: IssueOrigin::Flag(flag.into()),
                    key: String::new(),
                    message,
                }),
            }
        }
    }
    if let Some(v) = f.read_only {
        s.read_only = v;
    }
    for (k, v) in &f.datafusion {
        origins.insert(k.clone(), IssueOrigin::Flag("--set".into()));
        s.engine.datafusion.push((k.clone(), v.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_and_name_themselves_in_issues() {
        let flags = Overrides {
            memory_limit: Some("12 parsecs".into()),
            batch_size: Some(64),
            datafusion: vec![("datafusion.x".into(), "1".into())],
            ..Default::default()
        };
        let (mut s, mut origins, mut issues) = (Settings::default(), Origins::new(), Vec::new());
        apply_flags(&flags, &mut s, &mut origins, &mut issues);
        assert_eq!(s.engine.batch_size, Some(64));
        assert_eq!(origins["datafusion.x"].to_string(), "flag --set");
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0]
                .to_string()
                .starts_with("flag --memory-limit: '12 parsecs'")
        );
    }
}
