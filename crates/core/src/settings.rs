//! `nightshift.toml`: strict, layered settings (defaults < file < `NIGHTSHIFT_*` env < flags).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::config::ConfigOptions;
use nightshift_lake::{ColumnSpec, LakeSpec, PartitionSpec, PartitionType, StorageOptions, TableSpec};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// The file looked for in the current folder when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "nightshift.toml";
/// The lake root used when neither the file, the environment nor a flag names one.
pub const DEFAULT_LAKE_ROOT: &str = "datasets/lake";

/// Resolved settings of one nightshift process.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The settings file, if one was read.
    pub source: Option<PathBuf>,
    /// The lake: root, storage options, explicit tables.
    pub lake: LakeSpec,
    /// Engine settings.
    pub engine: EngineSettings,
    /// Reject writes, DDL and paths outside the lake.
    pub read_only: bool,
    /// Settings of the UDF families.
    pub udfs: UdfSettings,
    /// `[models]`: which stored models the built-in scoring functions use.
    pub models: ModelSettings,
    /// `[cluster]`: where statements and jobs run when not in this process.
    pub cluster: ClusterSettings,
    /// The file's `[jobs.*]` and `[scheduler]` sections, kept as written for the jobs crate, which
    /// parses them strictly with file and line; `None` when the file has neither.
    pub jobs: Option<JobsSource>,
}

/// `[models]`: the models behind the built-in scoring functions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelSettings {
    /// `[models] fraud`: the model `fraud_score(…)` scores with (a name, or `name@vN` to pin a version).
    pub fraud: Option<String>,
}

/// `[cluster]`: an Apache DataFusion Ballista cluster to run on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterSettings {
    /// `[cluster] url`: the scheduler (`df://host:50050`) or `standalone`; `--cluster` and
    /// `NIGHTSHIFT_CLUSTER` win over it. `None` runs everything in this process.
    pub url: Option<String>,
    /// `[cluster] connect_timeout_seconds`: how long to wait for the scheduler to answer (default 10).
    pub connect_timeout_seconds: Option<u64>,
}

/// A settings file that declares jobs: its path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsSource {
    /// The settings file.
    pub file: PathBuf,
    /// Its text, for spans and line numbers.
    pub text: String,
}

/// `[udfs.*]`: settings of the UDF families.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UdfSettings {
    /// `[udfs.sentiment] lexicon`: a word list that adds to or overrides VADER's lexicon.
    pub sentiment_lexicon: Option<PathBuf>,
}

/// Engine settings: memory, spilling, parallelism and DataFusion options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineSettings {
    /// Memory limit in bytes for query execution; beyond it operators spill to disk.
    pub memory_limit: Option<u64>,
    /// Folder for spill files (default: the OS temp folder).
    pub spill_dir: Option<PathBuf>,
    /// Partitions (threads) per query; default the number of cores.
    pub target_partitions: Option<usize>,
    /// Rows per record batch.
    pub batch_size: Option<usize>,
    /// DataFusion options by full name (`datafusion.optimizer.prefer_hash_join`), in order.
    pub datafusion: Vec<(String, String)>,
}

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

/// One problem in the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// `file:line`, `env NIGHTSHIFT_X` or `flag --x`.
    pub origin: String,
    /// The key, dotted (`engine.memory_limit`).
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem found in the settings, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "invalid settings ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for i in &self.issues {
            if i.key.is_empty() {
                write!(f, "\n  {}: {}", i.origin, i.message)?;
            } else {
                write!(f, "\n  {}: {}: {}", i.origin, i.key, i.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Default for Settings {
    fn default() -> Self {
        Self {
            source: None,
            lake: LakeSpec {
                root: DEFAULT_LAKE_ROOT.to_string(),
                discover: true,
                ..Default::default()
            },
            engine: EngineSettings::default(),
            read_only: false,
            udfs: UdfSettings::default(),
            models: ModelSettings::default(),
            cluster: ClusterSettings::default(),
            jobs: None,
        }
    }
}

/// Storage keys that would carry secrets; they are refused in the file.
const SECRET_KEYS: &[&str] = &[
    "access_key_id",
    "secret_access_key",
    "session_token",
    "token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "account_key",
    "azure_storage_account_key",
    "client_secret",
    "service_account_key",
    "password",
    "sas_token",
];

impl Settings {
    /// Loads settings: defaults, then the file (`path`, or `./nightshift.toml` if present), then the
    /// `NIGHTSHIFT_*` variables read through `env`, then `flags`. Every problem is reported at once.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut issues = Vec::new();
        let mut origins = Origins::new();
        let mut settings = Settings::default();
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        if let Some(file) = &file {
            match std::fs::read(file) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => parse_file(&text, file, &mut settings, &mut origins, &mut issues),
                    Err(e) => issues.push(ConfigIssue {
                        origin: file.display().to_string(),
                        key: String::new(),
                        message: format!("the file is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                    }),
                },
                Err(e) => issues.push(ConfigIssue {
                    origin: file.display().to_string(),
                    key: String::new(),
                    message: format!("cannot read the settings file: {e}"),
                }),
            }
            settings.source = Some(file.clone());
        }
        apply_env(env, &mut settings, &mut issues);
        apply_flags(flags, &mut settings, &mut origins, &mut issues);
        validate_datafusion(&settings.engine.datafusion, &origins, &mut issues);
        if !issues.is_empty() {
            return Err(ConfigError { issues });
        }
        settings.resolve_root();
        Ok(settings)
    }

    /// Parses settings from TOML text alone (no env, no flags); `name` is used in messages.
    pub fn from_toml(text: &str, name: &Path) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let mut issues = Vec::new();
        let mut origins = Origins::new();
        parse_file(text, name, &mut settings, &mut origins, &mut issues);
        validate_datafusion(&settings.engine.datafusion, &origins, &mut issues);
        if issues.is_empty() {
            settings.source = Some(name.to_path_buf());
            settings.resolve_root();
            Ok(settings)
        } else {
            Err(ConfigError { issues })
        }
    }

    /// A relative local root is relative to the settings file's folder (or the current folder), and
    /// so are other paths the file names.
    fn resolve_root(&mut self) {
        if let Some(p) = &self.udfs.sentiment_lexicon
            && p.is_relative()
        {
            self.udfs.sentiment_lexicon = Some(self.base_dir().join(p));
        }
        let root = &self.lake.root;
        if root.contains("://") || Path::new(root).is_absolute() {
            return;
        }
        let joined = self.base_dir().join(root);
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        self.lake.root = normalize(&abs).display().to_string();
    }

    /// The settings file's folder, or the current folder.
    fn base_dir(&self) -> PathBuf {
        self.source
            .as_ref()
            .and_then(|s| s.parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Removes `.` and resolves `..` lexically.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Walks the parsed TOML, recording problems instead of stopping at the first one.
struct Walker<'a> {
    text: &'a str,
    file: String,
    issues: &'a mut Vec<ConfigIssue>,
    origins: &'a mut Origins,
}

/// Where each DataFusion option was set (`file:line` or `flag --set`), for validation messages.
type Origins = BTreeMap<String, String>;

impl Walker<'_> {
    fn at(&self, span: &std::ops::Range<usize>) -> String {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        format!("{}:{line}", self.file)
    }

    fn issue(&mut self, span: &std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let origin = self.at(span);
        self.issues.push(ConfigIssue {
            origin,
            key: key.to_string(),
            message: message.into(),
        });
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

    fn boolean(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn positive(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<usize> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected a positive integer, found {}", other.type_str()),
                );
                return None;
            }
        };
        match n.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0) {
            Some(n) => Some(n),
            None => {
                self.issue(&v.span(), key, "expected a positive integer");
                None
            }
        }
    }

    fn size(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<u64> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .ok()
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
                self.issue(&v.span(), key, m);
                None
            }
        }
    }

    fn table<'v, 'i>(&mut self, v: &'v Spanned<DeValue<'i>>, key: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn array<'v, 'i>(&mut self, v: &'v Spanned<DeValue<'i>>, key: &str) -> Option<&'v DeArray<'i>> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            other => {
                self.issue(
                    &v.span(),
                    key,
                    format!("expected an array, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn unknown(&mut self, k: &Spanned<std::borrow::Cow<'_, str>>, key: &str, known: &[&str]) {
        self.issue(
            &k.span(),
            key,
            format!("unknown key; expected one of: {}", known.join(", ")),
        );
    }
}

/// Parses a size: `1048576`, `512MB`, `4GiB`, `1.5G` (binary units, K/M/G/T with optional iB/B).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size; write e.g. \"512MiB\" or \"4GiB\""))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{s}' has an unknown unit; use B, KiB, MiB, GiB or TiB")),
    };
    let bytes = n * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{s}' is not a usable size"));
    }
    Ok(bytes as u64)
}

/// Maps the SQL type names accepted in explicit schemas to Arrow types.
pub fn parse_sql_type(s: &str) -> Option<DataType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "boolean" | "bool" => DataType::Boolean,
        "tinyint" | "int8" => DataType::Int8,
        "smallint" | "int16" => DataType::Int16,
        "int" | "integer" | "int32" => DataType::Int32,
        "bigint" | "int64" => DataType::Int64,
        "real" | "float" | "float32" => DataType::Float32,
        "double" | "float64" | "double precision" => DataType::Float64,
        "varchar" | "string" | "text" | "utf8" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
        "binary" | "bytea" => DataType::Binary,
        _ => return None,
    })
}

fn parse_file(
    text: &str,
    file: &Path,
    settings: &mut Settings,
    origins: &mut Origins,
    issues: &mut Vec<ConfigIssue>,
) {
    let name = file.display().to_string();
    let first = issues.len();
    walk_file(text, name, settings, origins, issues);
    if settings.jobs.is_some() {
        settings.jobs = Some(JobsSource {
            file: file.to_path_buf(),
            text: text.to_string(),
        });
    }
    // The TOML tables are maps sorted by key: put the problems back in file order.
    let line = |i: &ConfigIssue| {
        i.origin
            .rsplit(':')
            .next()
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(0)
    };
    issues[first..].sort_by_key(line);
}

fn walk_file(
    text: &str,
    name: String,
    settings: &mut Settings,
    origins: &mut Origins,
    issues: &mut Vec<ConfigIssue>,
) {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let mut w = Walker {
        text,
        file: name,
        issues,
        origins,
    };
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        w.issue(&span, "", format!("TOML syntax error: {}", e.message()));
    }
    let top = [
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
    for (k, v) in doc.get_ref().iter() {
        match k.get_ref().as_ref() {
            "read_only" => {
                if let Some(b) = w.boolean(v, "read_only") {
                    settings.read_only = b;
                }
            }
            "lake" => {
                if let Some(t) = w.table(v, "lake") {
                    parse_lake(&mut w, t, &mut settings.lake);
                }
            }
            "tables" => {
                if let Some(a) = w.array(v, "tables") {
                    for (i, item) in a.iter().enumerate() {
                        let key = format!("tables[{i}]");
                        if let Some(t) = w.table(item, &key)
                            && let Some(spec) = parse_table(&mut w, t, &key, &item.span())
                        {
                            if settings.lake.tables.iter().any(|s| s.name == spec.name) {
                                w.issue(
                                    &item.span(),
                                    &key,
                                    format!("table '{}' is declared twice", spec.name),
                                );
                            }
                            settings.lake.tables.push(spec);
                        }
                    }
                }
            }
            "engine" => {
                if let Some(t) = w.table(v, "engine") {
                    parse_engine(&mut w, t, &mut settings.engine);
                }
            }
            "udfs" => {
                if let Some(t) = w.table(v, "udfs") {
                    parse_udfs(&mut w, t, &mut settings.udfs);
                }
            }
            "models" => {
                if let Some(t) = w.table(v, "models") {
                    for (k2, v2) in t.iter() {
                        match k2.get_ref().as_ref() {
                            "fraud" => settings.models.fraud = w.string(v2, "models.fraud"),
                            other => w.unknown(k2, &format!("models.{other}"), &["fraud"]),
                        }
                    }
                }
            }
            "cluster" => {
                if let Some(t) = w.table(v, "cluster") {
                    for (k2, v2) in t.iter() {
                        match k2.get_ref().as_ref() {
                            "url" => {
                                if let Some(url) = w.string(v2, "cluster.url") {
                                    if url == "standalone" || url.starts_with("df://") {
                                        settings.cluster.url = Some(url);
                                    } else {
                                        w.issue(
                                            &v2.span(),
                                            "cluster.url",
                                            format!(
                                                "'{url}' is not a Ballista scheduler URL: write df://host:50050, \
                                                 or standalone"
                                            ),
                                        );
                                    }
                                }
                            }
                            "connect_timeout_seconds" => {
                                settings.cluster.connect_timeout_seconds = w
                                    .positive(v2, "cluster.connect_timeout_seconds")
                                    .map(|n| n as u64)
                            }
                            other => w.unknown(
                                k2,
                                &format!("cluster.{other}"),
                                &["url", "connect_timeout_seconds"],
                            ),
                        }
                    }
                }
            }
            "datafusion" => {
                if let Some(t) = w.table(v, "datafusion") {
                    flatten_datafusion(&mut w, t, "datafusion", &mut settings.engine.datafusion);
                }
            }
            // Parsed strictly by nightshift-jobs from the text kept in `settings.jobs`.
            "jobs" | "scheduler" => {
                settings.jobs.get_or_insert(JobsSource {
                    file: PathBuf::new(),
                    text: String::new(),
                });
            }
            other => w.unknown(k, other, &top),
        }
    }
}

fn parse_lake(w: &mut Walker<'_>, t: &DeTable<'_>, lake: &mut LakeSpec) {
    let known = ["root", "discover", "storage"];
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "root" => {
                if let Some(s) = w.string(v, "lake.root") {
                    if s.trim().is_empty() {
                        w.issue(&v.span(), "lake.root", "must not be empty");
                    } else {
                        lake.root = s;
                    }
                }
            }
            "discover" => {
                if let Some(b) = w.boolean(v, "lake.discover") {
                    lake.discover = b;
                }
            }
            "storage" => {
                if let Some(st) = w.table(v, "lake.storage") {
                    parse_storage(w, st, &mut lake.storage);
                }
            }
            other => w.unknown(k, &format!("lake.{other}"), &known),
        }
    }
}

fn parse_storage(w: &mut Walker<'_>, t: &DeTable<'_>, s: &mut StorageOptions) {
    let known = [
        "endpoint",
        "region",
        "allow_http",
        "virtual_hosted_style",
        "skip_signature",
    ];
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("lake.storage.{name}");
        match name {
            "endpoint" => s.endpoint = w.string(v, &key),
            "region" => s.region = w.string(v, &key),
            "allow_http" => s.allow_http = w.boolean(v, &key).unwrap_or(s.allow_http),
            "virtual_hosted_style" => s.virtual_hosted_style = w.boolean(v, &key).unwrap_or(s.virtual_hosted_style),
            "skip_signature" => s.skip_signature = w.boolean(v, &key).unwrap_or(s.skip_signature),
            secret if SECRET_KEYS.contains(&secret.to_ascii_lowercase().as_str()) => w.issue(
                &k.span(),
                &key,
                "credentials are never read from the file: set them in the environment \
                 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_ACCOUNT_KEY, …) \
                 and remove this key",
            ),
            _ => w.unknown(k, &key, &known),
        }
    }
}

fn parse_table(
    w: &mut Walker<'_>,
    t: &DeTable<'_>,
    key: &str,
    span: &std::ops::Range<usize>,
) -> Option<TableSpec> {
    let known = ["name", "path", "partitions", "schema"];
    let mut name = None;
    let mut path = None;
    let mut partitions = Vec::new();
    let mut schema = None;
    let mut ok = true;
    for (k, v) in t.iter() {
        let field = k.get_ref().as_ref();
        let fkey = format!("{key}.{field}");
        match field {
            "name" => {
                name = w.string(v, &fkey);
                if let Some(n) = &name
                    && (n.is_empty() || n.contains(['.', '"', '/']))
                {
                    w.issue(&v.span(), &fkey, format!("'{n}' is not a usable table name"));
                    ok = false;
                }
            }
            "path" => path = w.string(v, &fkey),
            "partitions" => match w.array(v, &fkey) {
                Some(a) => {
                    for (i, item) in a.iter().enumerate() {
                        let ikey = format!("{fkey}[{i}]");
                        match column_pair(w, item, &ikey) {
                            Some((n, ty)) => match PartitionType::parse(&ty) {
                                Some(data_type) => partitions.push(PartitionSpec { name: n, data_type }),
                                None => {
                                    w.issue(
                                        &item.span(),
                                        &ikey,
                                        format!("unknown partition type '{ty}'; use date, int or string"),
                                    );
                                    ok = false;
                                }
                            },
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            },
            "schema" => match w.array(v, &fkey) {
                Some(a) => {
                    let mut cols = Vec::new();
                    for (i, item) in a.iter().enumerate() {
                        let ikey = format!("{fkey}[{i}]");
                        match column_pair(w, item, &ikey) {
                            Some((n, ty)) => match parse_sql_type(&ty) {
                                Some(data_type) => cols.push(ColumnSpec { name: n, data_type }),
                                None => {
                                    w.issue(&item.span(), &ikey, format!(
                                        "unknown column type '{ty}'; use boolean, tinyint, smallint, int, bigint, \
                                         real, double, varchar, date, timestamp or binary"
                                    ));
                                    ok = false;
                                }
                            },
                            None => ok = false,
                        }
                    }
                    schema = Some(cols);
                }
                None => ok = false,
            },
            other => {
                w.unknown(k, &format!("{key}.{other}"), &known);
                ok = false;
            }
        }
    }
    if name.is_none() {
        w.issue(span, key, "a table needs a 'name'");
    }
    if path.is_none() {
        w.issue(
            span,
            key,
            "a table needs a 'path' (a folder, file or glob under the lake root, or a URL)",
        );
    }
    if let Some(p) = &path
        && p.split(['/', '\\']).any(|s| s == "..")
    {
        w.issue(
            span,
            &format!("{key}.path"),
            format!("'{p}' leaves the lake root ('..' is not allowed)"),
        );
        ok = false;
    }
    let (name, path) = (name?, path?);
    ok.then_some(TableSpec {
        name,
        path,
        partitions,
        schema,
    })
}

/// `{ name = "x", type = "date" }`
fn column_pair(w: &mut Walker<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Option<(String, String)> {
    let t = w.table(v, key)?;
    let mut name = None;
    let mut ty = None;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "name" => name = w.string(v, &format!("{key}.name")),
            "type" => ty = w.string(v, &format!("{key}.type")),
            other => w.unknown(k, &format!("{key}.{other}"), &["name", "type"]),
        }
    }
    match (name, ty) {
        (Some(n), Some(t)) => Some((n, t)),
        _ => {
            w.issue(&v.span(), key, "write { name = \"…\", type = \"…\" }");
            None
        }
    }
}

fn parse_udfs(w: &mut Walker<'_>, t: &DeTable<'_>, u: &mut UdfSettings) {
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "sentiment" => {
                if let Some(st) = w.table(v, "udfs.sentiment") {
                    for (k2, v2) in st.iter() {
                        match k2.get_ref().as_ref() {
                            "lexicon" => {
                                if let Some(p) = w.string(v2, "udfs.sentiment.lexicon") {
                                    u.sentiment_lexicon = Some(PathBuf::from(p));
                                }
                            }
                            other => w.unknown(k2, &format!("udfs.sentiment.{other}"), &["lexicon"]),
                        }
                    }
                }
            }
            other => w.unknown(k, &format!("udfs.{other}"), &["sentiment"]),
        }
    }
}

fn parse_engine(w: &mut Walker<'_>, t: &DeTable<'_>, e: &mut EngineSettings) {
    let known = ["memory_limit", "spill_dir", "target_partitions", "batch_size"];
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("engine.{name}");
        match name {
            "memory_limit" => e.memory_limit = w.size(v, &key).or(e.memory_limit),
            "spill_dir" => e.spill_dir = w.string(v, &key).map(PathBuf::from).or(e.spill_dir.take()),
            "target_partitions" => e.target_partitions = w.positive(v, &key).or(e.target_partitions),
            "batch_size" => e.batch_size = w.positive(v, &key).or(e.batch_size),
            _ => w.unknown(k, &key, &known),
        }
    }
}

fn flatten_datafusion(w: &mut Walker<'_>, t: &DeTable<'_>, prefix: &str, out: &mut Vec<(String, String)>) {
    for (k, v) in t.iter() {
        let key = format!("{prefix}.{}", k.get_ref());
        let value = match v.get_ref() {
            DeValue::Table(inner) => {
                flatten_datafusion(w, inner, &key, out);
                continue;
            }
            DeValue::String(s) => s.to_string(),
            DeValue::Boolean(b) => b.to_string(),
            DeValue::Integer(i) => i.as_str().replace('_', ""),
            DeValue::Float(f) => f.as_str().to_string(),
            other => {
                w.issue(
                    &v.span(),
                    &key,
                    format!("expected a string, number or boolean, found {}", other.type_str()),
                );
                continue;
            }
        };
        // Remember where each option came from, for validation messages.
        let origin = w.at(&v.span());
        w.origins.insert(key.clone(), origin);
        out.push((key, value));
    }
}

fn validate_datafusion(options: &[(String, String)], origins: &Origins, issues: &mut Vec<ConfigIssue>) {
    let mut config = ConfigOptions::new();
    for (k, v) in options {
        if let Err(e) = config.set(k, v) {
            let origin = origins.get(k).cloned().unwrap_or_else(|| "setting".to_string());
            let msg = e.strip_backtrace();
            issues.push(ConfigIssue {
                origin,
                key: k.clone(),
                message: format!("not a valid DataFusion option: {msg}"),
            });
        }
    }
}

fn apply_env(env: &dyn Fn(&str) -> Option<String>, s: &mut Settings, issues: &mut Vec<ConfigIssue>) {
    let mut bad = |var: &str, message: String| {
        issues.push(ConfigIssue {
            origin: format!("env {var}"),
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
    if let Some(v) = env("NIGHTSHIFT_SPILL_DIR") {
        s.engine.spill_dir = Some(PathBuf::from(v));
    }
    for (var, slot) in [
        ("NIGHTSHIFT_TARGET_PARTITIONS", &mut s.engine.target_partitions),
        ("NIGHTSHIFT_BATCH_SIZE", &mut s.engine.batch_size),
    ] {
        if let Some(v) = env(var) {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => *slot = Some(n),
                _ => bad(var, format!("'{v}' is not a positive integer")),
            }
        }
    }
}

fn apply_flags(f: &Overrides, s: &mut Settings, origins: &mut Origins, issues: &mut Vec<ConfigIssue>) {
    if let Some(v) = &f.lake_root {
        s.lake.root = v.clone();
    }
    if let Some(v) = &f.memory_limit {
        match parse_size(v) {
            Ok(n) => s.engine.memory_limit = Some(n),
            Err(message) => issues.push(ConfigIssue {
                origin: "flag --memory-limit".into(),
                key: String::new(),
                message,
            }),
        }
    }
    if let Some(v) = &f.spill_dir {
        s.engine.spill_dir = Some(v.clone());
    }
    if let Some(v) = f.target_partitions {
        s.engine.target_partitions = Some(v);
    }
    if let Some(v) = f.batch_size {
        s.engine.batch_size = Some(v);
    }
    if let Some(v) = f.read_only {
        s.read_only = v;
    }
    for (k, v) in &f.datafusion {
        origins.insert(k.clone(), "flag --set".to_string());
        s.engine.datafusion.push((k.clone(), v.clone()));
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|i| (i.origin.as_str(), i.key.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("/p/nightshift.toml:2", "lake.root"),
                ("/p/nightshift.toml:3", "lake.bogus"),
                ("/p/nightshift.toml:5", "engine.memory_limit"),
                ("/p/nightshift.toml:6", "engine.target_partitions"),
                ("/p/nightshift.toml:8", "models.fraud"),
                ("/p/nightshift.toml:9", "models.spam"),
            ]
        );
    }

    #[test]
    fn refuses_secrets_in_the_file() {
        let err = parse("[lake.storage]\nsecret_access_key = \"abc\"\n").unwrap_err();
        assert!(err.to_string().contains("never read from the file"), "{err}");
        assert!(!err.to_string().contains("abc"));
    }

    #[test]
    fn layers_env_and_flags() {
        let env = |k: &str| match k {
            "NIGHTSHIFT_MEMORY_LIMIT" => Some("1GiB".to_string()),
            "NIGHTSHIFT_TARGET_PARTITIONS" => Some("3".to_string()),
            _ => None,
        };
        let flags = Overrides {
            target_partitions: Some(7),
            ..Default::default()
        };
        let s = Settings::load(Some(Path::new("/definitely/missing.toml")), &env, &flags);
        assert!(
            s.unwrap_err()
                .to_string()
                .contains("cannot read the settings file")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.toml");
        std::fs::write(&file, "[engine]\nmemory_limit = \"512MiB\"\nbatch_size = 100\n").unwrap();
        let s = Settings::load(Some(&file), &env, &flags).unwrap();
        assert_eq!(s.engine.memory_limit, Some(1 << 30));
        assert_eq!(s.engine.target_partitions, Some(7));
        assert_eq!(s.engine.batch_size, Some(100));
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
    fn sizes() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }
}
