//! Reading `nightshift.toml`: the top-level keys and the `[engine]`, `[udfs]`, `[models]` and
//! `[cluster]` sections (the lake has its own module); `[jobs.*]` and `[scheduler]` are kept as
//! written for the jobs crate.

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::datafusion_options::{Origins, flatten_datafusion};
use super::lake::{parse_lake, parse_tables};
use super::types::{ClusterSettings, EngineSettings, JobsSource, ModelSettings, Settings, UdfSettings};
use super::values::{MAX_BATCH_SIZE, MAX_TARGET_PARTITIONS, at_most, parse_size};
use crate::config_error::ConfigIssue;
use crate::toml_reader::{TomlReader, integer};

/// The top-level keys of the settings file.
const TOP_KEYS: [&str; 10] = [
    "read_only",
    "lake",
    "tables",
    "engine",
    "datafusion",
    "udfs",
    "models",
    "cluster",
    "jobs",
    "scheduler",
];

/// Reads the settings file `file` (whose text is `text`) into `settings`, adding its problems to
/// `issues` in file order.
pub(super) fn parse_file(
    text: &str,
    file: &Path,
    settings: &mut Settings,
    origins: &mut Origins,
    issues: &mut Vec<ConfigIssue>,
) {
    let mut r = TomlReader::new(text, file);
    walk_file(&mut r, settings, origins);
    if settings.jobs.is_some() {
        settings.jobs = Some(JobsSource {
            file: file.to_path_buf(),
            text: text.to_string(),
        });
    }
    let mut found = r.into_issues();
    ConfigIssue::sort_in_file_order(&mut found);
    issues.extend(found);
}

fn walk_file(r: &mut TomlReader<'_>, settings: &mut Settings, origins: &mut Origins) {
    let doc = r.parse("", "TOML syntax error");
    for (k, v) in doc.get_ref().iter() {
        match k.get_ref().as_ref() {
            "read_only" => {
                if let Some(b) = r.boolean(v, "read_only") {
                    settings.read_only = b;
                }
            }
            "lake" => {
                if let Some(t) = r.table(v, "lake") {
                    parse_lake(r, t, &mut settings.lake);
                }
            }
            "tables" => parse_tables(r, v, &mut settings.lake.tables),
            "engine" => {
                if let Some(t) = r.table(v, "engine") {
                    parse_engine(r, t, &mut settings.engine);
                }
            }
            "udfs" => {
                if let Some(t) = r.table(v, "udfs") {
                    parse_udfs(r, t, &mut settings.udfs);
                }
            }
            "models" => {
                if let Some(t) = r.table(v, "models") {
                    parse_models(r, t, &mut settings.models);
                }
            }
            "cluster" => {
                if let Some(t) = r.table(v, "cluster") {
                    parse_cluster(r, t, &mut settings.cluster);
                }
            }
            "datafusion" => {
                if let Some(t) = r.table(v, "datafusion") {
                    flatten_datafusion(r, t, "datafusion", &mut settings.engine.datafusion, origins);
                }
            }
            // Parsed strictly by nightshift-jobs from the text kept in `settings.jobs`.
            "jobs" | "scheduler" => {
                settings.jobs.get_or_insert(JobsSource {
                    file: PathBuf::new(),
                    text: String::new(),
                });
            }
            other => r.unknown(k, other, &TOP_KEYS),
        }
    }
}

fn parse_engine(r: &mut TomlReader<'_>, t: &DeTable<'_>, e: &mut EngineSettings) {
    let known = [
        "memory_limit",
        "spill_dir",
        "max_spill_size",
        "target_partitions",
        "batch_size",
    ];
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("engine.{name}");
        match name {
            "memory_limit" => e.memory_limit = size(r, v, &key).or(e.memory_limit),
            "max_spill_size" => e.max_spill_size = size(r, v, &key).or(e.max_spill_size),
            "spill_dir" => e.spill_dir = r.string(v, &key).map(PathBuf::from).or(e.spill_dir.take()),
            "target_partitions" => {
                e.target_partitions = bounded(r, v, &key, MAX_TARGET_PARTITIONS).or(e.target_partitions)
            }
            "batch_size" => e.batch_size = bounded(r, v, &key, MAX_BATCH_SIZE).or(e.batch_size),
            _ => r.unknown(k, &key, &known),
        }
    }
}

/// A positive integer up to `max`.
fn bounded(r: &mut TomlReader<'_>, v: &Spanned<DeValue<'_>>, key: &str, max: usize) -> Option<usize> {
    let n = r.positive(v, key)?;
    match at_most(n, max) {
        Ok(n) => Some(n),
        Err(m) => {
            r.issue(&v.span(), key, m);
            None
        }
    }
}

/// A size: a number of bytes, or a string such as `"4GiB"`.
fn size(r: &mut TomlReader<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Option<u64> {
    let parsed = match v.get_ref() {
        DeValue::Integer(_) => integer(v.get_ref())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| "expected a positive size".to_string()),
        DeValue::String(s) => parse_size(s),
        other => Err(format!(
            "expected a size such as \"4GiB\", found {}",
            other.type_str()
        )),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(m) => {
            r.issue(&v.span(), key, m);
            None
        }
    }
}

fn parse_udfs(r: &mut TomlReader<'_>, t: &DeTable<'_>, u: &mut UdfSettings) {
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "sentiment" => {
                if let Some(st) = r.table(v, "udfs.sentiment") {
                    for (k2, v2) in st.iter() {
                        match k2.get_ref().as_ref() {
                            "lexicon" => {
                                if let Some(p) = r.string(v2, "udfs.sentiment.lexicon") {
                                    u.sentiment_lexicon = Some(PathBuf::from(p));
                                }
                            }
                            other => r.unknown(k2, &format!("udfs.sentiment.{other}"), &["lexicon"]),
                        }
                    }
                }
            }
            other => r.unknown(k, &format!("udfs.{other}"), &["sentiment"]),
        }
    }
}

fn parse_models(r: &mut TomlReader<'_>, t: &DeTable<'_>, m: &mut ModelSettings) {
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "fraud" => m.fraud = r.string(v, "models.fraud"),
            other => r.unknown(k, &format!("models.{other}"), &["fraud"]),
        }
    }
}

fn parse_cluster(r: &mut TomlReader<'_>, t: &DeTable<'_>, c: &mut ClusterSettings) {
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "url" => {
                if let Some(url) = r.string(v, "cluster.url") {
                    if url == "standalone" || url.starts_with("df://") {
                        c.url = Some(url);
                    } else {
                        r.issue(
                            &v.span(),
                            "cluster.url",
                            format!(
                                "'{url}' is not a Ballista scheduler URL: write df://host:50050, or standalone"
                            ),
                        );
                    }
                }
            }
            "connect_timeout_seconds" => {
                c.connect_timeout_seconds = r.positive(v, "cluster.connect_timeout_seconds").map(|n| n as u64)
            }
            other => r.unknown(
                k,
                &format!("cluster.{other}"),
                &["url", "connect_timeout_seconds"],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use nightshift_lake::PartitionType;

    use super::*;
    use crate::config_error::ConfigError;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_toml(text, Path::new("/p/nightshift.toml"))
    }

    #[test]
    fn parses_a_full_file() {
        let s = parse(
            r#"
read_only = true
[lake]
root = "lake"
[lake.storage]
endpoint = "http://127.0.0.1:9000"
allow_http = true
[[tables]]
name = "events"
path = "raw/2024-*/**/*.parquet"
partitions = [{ name = "tx_date", type = "date" }]
[engine]
memory_limit = "2GiB"
target_partitions = 4
[datafusion.optimizer]
prefer_hash_join = false
[models]
fraud = "fraud@v2"
"#,
        )
        .unwrap();
        assert!(s.read_only);
        assert_eq!(s.models.fraud.as_deref(), Some("fraud@v2"));
        assert_eq!(s.lake.root, "/p/lake");
        assert_eq!(s.lake.storage.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.lake.tables[0].partitions[0].data_type, PartitionType::Date);
        assert_eq!(s.engine.memory_limit, Some(2 << 30));
        assert_eq!(
            s.engine.datafusion,
            vec![("datafusion.optimizer.prefer_hash_join".into(), "false".into())]
        );
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let err = parse(
            "[lake]\nroot = 3\nbogus = 1\n[engine]\nmemory_limit = \"lots\"\ntarget_partitions = 0\n\
             [models]\nfraud = 1\nspam = \"x\"\n",
        )
        .unwrap_err();
        let lines: Vec<_> = err
            .issues
            .iter()
            .map(|i| (i.origin.to_string(), i.key.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("/p/nightshift.toml:2".to_string(), "lake.root"),
                ("/p/nightshift.toml:3".to_string(), "lake.bogus"),
                ("/p/nightshift.toml:5".to_string(), "engine.memory_limit"),
                ("/p/nightshift.toml:6".to_string(), "engine.target_partitions"),
                ("/p/nightshift.toml:8".to_string(), "models.fraud"),
                ("/p/nightshift.toml:9".to_string(), "models.spam"),
            ]
        );
    }

    #[test]
    fn batch_size_and_partitions_are_bounded() {
        let err = parse(
            "[engine]\nbatch_size = 4428515313657047564\ntarget_partitions = 1099511627776\n\
             [datafusion.execution]\nbatch_size = 2000000\ntarget_partitions = 64\n",
        )
        .unwrap_err();
        let shown: Vec<String> = err.issues.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "/p/nightshift.toml:2: engine.batch_size: 4428515313657047564 is too large; the most nightshift \
                 accepts is 1048576",
                "/p/nightshift.toml:3: engine.target_partitions: 1099511627776 is too large; the most nightshift \
                 accepts is 4096",
                "/p/nightshift.toml:5: datafusion.execution.batch_size: 2000000 is too large; the most nightshift \
                 accepts is 1048576",
            ]
        );
    }

    #[test]
    fn keeps_job_sections_for_the_jobs_crate() {
        let text = "[jobs.daily]\nsql = \"q.sql\"\n[scheduler]\ncatch_up_limit = 2\n";
        let s = parse(text).unwrap();
        let jobs = s.jobs.unwrap();
        assert_eq!(jobs.text, text);
        assert_eq!(jobs.file, Path::new("/p/nightshift.toml"));
        assert!(parse("[lake]\nroot = \"x\"\n").unwrap().jobs.is_none());
    }

    #[test]
    fn cluster_urls_are_checked() {
        let err = parse("[cluster]\nurl = \"http://x\"\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("/p/nightshift.toml:2: cluster.url: 'http://x' is not a Ballista scheduler URL"),
            "{err}"
        );
        let s = parse("[cluster]\nurl = \"df://h:50050\"\nconnect_timeout_seconds = 3\n").unwrap();
        assert_eq!(s.cluster.url.as_deref(), Some("df://h:50050"));
        assert_eq!(s.cluster.connect_timeout_seconds, Some(3));
    }
}
