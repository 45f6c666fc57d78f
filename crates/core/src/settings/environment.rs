//! The `NIGHTSHIFT_*` environment layer: it wins over the file and loses to the flags.

use std::path::PathBuf;

use super::types::Settings;
use super::values::{MAX_BATCH_SIZE, MAX_TARGET_PARTITIONS, at_most, parse_bool, parse_size};
use crate::config_error::{ConfigIssue, IssueOrigin};

/// Applies the `NIGHTSHIFT_*` variables read through `env`; a bad value is an issue naming its variable.
pub(super) fn apply_env(
    env: &dyn Fn(&str) -> Option<String>,
    s: &mut Settings,
    issues: &mut Vec<ConfigIssue>,
) {
    let mut bad = |var: &str, message: String| {
        issues.push(ConfigIssue {
            origin: IssueOrigin::Env(var.to_string()),
            key: String::new(),
            message,
        })
    };
    if let Some(v) = env("NIGHTSHIFT_LAKE") {
        s.lake.root = v;
    }
    if let Some(v) = env("NIGHTSHIFT_FRAUD_MODEL") {
        s.models.fraud = Some(v);
    }
    if let Some(v) = env("NIGHTSHIFT_LAKE_ENDPOINT") {
        s.lake.storage.endpoint = Some(v);
    }
    if let Some(v) = env("NIGHTSHIFT_LAKE_REGION") {
        s.lake.storage.region = Some(v);
    }
    if let Some(v) = env("NIGHTSHIFT_LAKE_ALLOW_HTTP") {
        match parse_bool(&v) {
            Some(b) => s.lake.storage.allow_http = b,
            None => bad(
                "NIGHTSHIFT_LAKE_ALLOW_HTTP",
                format!("'{v}' is not true or false"),
            ),
        }
    }
    if let Some(v) = env("NIGHTSHIFT_READ_ONLY") {
        match parse_bool(&v) {
            Some(b) => s.read_only = b,
            None => bad("NIGHTSHIFT_READ_ONLY", format!("'{v}' is not true or false")),
        }
    }
    if let Some(v) = env("NIGHTSHIFT_MEMORY_LIMIT") {
        match parse_size(&v) {
            Ok(n) => s.engine.memory_limit = Some(n),
            Err(m) => bad("NIGHTSHIFT_MEMORY_LIMIT", m),
        }
    }
    if let Some(v) = env("NIGHTSHIFT_MAX_SPILL_SIZE") {
        match parse_size(&v) {
            Ok(n) => s.engine.max_spill_size = Some(n),
            Err(m) => bad("NIGHTSHIFT_MAX_SPILL_SIZE", m),
        }
    }
    if let Some(v) = env("NIGHTSHIFT_SPILL_DIR") {
        s.engine.spill_dir = Some(PathBuf::from(v));
    }
    for (var, slot, max) in [
        (
            "NIGHTSHIFT_TARGET_PARTITIONS",
            &mut s.engine.target_partitions,
            MAX_TARGET_PARTITIONS,
        ),
        ("NIGHTSHIFT_BATCH_SIZE", &mut s.engine.batch_size, MAX_BATCH_SIZE),
    ] {
        if let Some(v) = env(var) {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => match at_most(n, max) {
                    Ok(n) => *slot = Some(n),
                    Err(m) => bad(var, m),
                },
                _ => bad(var, format!("'{v}' is not a positive integer")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        let env = |k: &str| match k {
            "NIGHTSHIFT_READ_ONLY" => Some("maybe".to_string()),
            "NIGHTSHIFT_BATCH_SIZE" => Some("0".to_string()),
            "NIGHTSHIFT_LAKE" => Some("s3://b/lake".to_string()),
            _ => None,
        };
        let mut s = Settings::default();
        let mut issues = Vec::new();
        apply_env(&env, &mut s, &mut issues);
        assert_eq!(s.lake.root, "s3://b/lake");
        let shown: Vec<_> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "env NIGHTSHIFT_READ_ONLY: 'maybe' is not true or false",
                "env NIGHTSHIFT_BATCH_SIZE: '0' is not a positive integer",
            ]
        );
    }
}
