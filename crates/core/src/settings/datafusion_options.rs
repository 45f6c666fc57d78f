//! DataFusion options (`[datafusion.*]` in the file, `--set datafusion.x=y` on the command line): read
//! as written, then validated against DataFusion's own option list.

use std::collections::BTreeMap;

use datafusion::config::ConfigOptions;
use toml::de::{DeTable, DeValue};

use super::values::{MAX_BATCH_SIZE, MAX_TARGET_PARTITIONS, at_most};
use crate::config_error::{ConfigIssue, IssueOrigin};
use crate::toml_reader::TomlReader;

/// Where each DataFusion option was set (a file line or `flag --set`), for validation messages.
pub(super) type Origins = BTreeMap<String, IssueOrigin>;

/// Flattens `[datafusion.*]` tables into `(datafusion.a.b, value)` pairs, remembering each one's line.
pub(super) fn flatten_datafusion(
    r: &mut TomlReader<'_>,
    t: &DeTable<'_>,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    origins: &mut Origins,
) {
    for (k, v) in t.iter() {
        let key = format!("{prefix}.{}", k.get_ref());
        let value = match v.get_ref() {
            DeValue::Table(inner) => {
                flatten_datafusion(r, inner, &key, out, origins);
                continue;
            }
            DeValue::String(s) => s.to_string(),
            DeValue::Boolean(b) => b.to_string(),
            DeValue::Integer(i) => i.as_str().replace('_', ""),
            DeValue::Float(f) => f.as_str().to_string(),
            other => {
                r.issue(
                    &v.span(),
                    &key,
                    format!("expected a string, number or boolean, found {}", other.type_str()),
                );
                continue;
            }
        };
        origins.insert(key.clone(), r.at(&v.span()));
        out.push((key, value));
    }
}

/// Every option DataFusion refuses is an issue at the place it was set.
pub(super) fn validate_datafusion(
    options: &[(String, String)],
    origins: &Origins,
    issues: &mut Vec<ConfigIssue>,
) {
    // nightshift's optimizer switches (`--set nightshift_optimizer.join_order=false`) go the same way.
    let mut extensions = datafusion::common::config::Extensions::new();
    extensions.insert(crate::optimizer::OptimizerOptions::default());
    let mut config = ConfigOptions::new().with_extensions(extensions);
    for (k, v) in options {
        // Options come from the file (whose lines are recorded) or from `--set`.
        let origin = || {
            origins
                .get(k)
                .cloned()
                .unwrap_or_else(|| IssueOrigin::Flag("--set".into()))
        };
        if let Err(e) = config.set(k, v) {
            let msg = e.strip_backtrace();
            issues.push(ConfigIssue {
                origin: origin(),
                key: k.clone(),
                message: format!("not a valid DataFusion option: {msg}"),
            });
            continue;
        }
        let limit = match k.as_str() {
            "datafusion.execution.batch_size" => at_most(config.execution.batch_size.into(), MAX_BATCH_SIZE),
            "datafusion.execution.target_partitions" => {
                at_most(config.execution.target_partitions, MAX_TARGET_PARTITIONS)
            }
            _ => Ok(0),
        };
        if let Err(message) = limit {
            issues.push(ConfigIssue {
                origin: origin(),
                key: k.clone(),
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn options_are_flattened_and_checked_where_they_were_written() {
        let text = "[datafusion.execution]\nbatch_size = 10\nbatch_sise = 1_000\n[datafusion.x]\ny = [1]\n";
        let file = Path::new("/p/n.toml");
        let mut r = TomlReader::new(text, file);
        let doc = r.parse("", "TOML syntax error");
        let (mut out, mut origins) = (Vec::new(), Origins::new());
        for (_, v) in doc.get_ref().iter() {
            let DeValue::Table(t) = v.get_ref() else { panic!() };
            flatten_datafusion(&mut r, t, "datafusion", &mut out, &mut origins);
        }
        // Tables iterate by key.
        assert_eq!(
            out,
            [
                ("datafusion.execution.batch_sise".to_string(), "1000".to_string()),
                ("datafusion.execution.batch_size".to_string(), "10".to_string()),
            ]
        );
        let mut issues = r.into_issues();
        assert_eq!(
            issues[0].to_string(),
            "/p/n.toml:5: datafusion.x.y: expected a string, number or boolean, found array"
        );
        validate_datafusion(&out, &origins, &mut issues);
        assert_eq!(issues.len(), 2);
        assert!(
            issues[1]
                .to_string()
                .starts_with("/p/n.toml:3: datafusion.execution.batch_sise: not a valid DataFusion option"),
            "{}",
            issues[1]
        );
    }
}
