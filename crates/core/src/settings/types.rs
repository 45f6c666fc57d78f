//! The resolved settings of one nightshift process and their defaults.

use std::path::PathBuf;

use nightshift_lake::LakeSpec;

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
    /// Most bytes of spill files at once; beyond it a query fails with a resources error naming
    /// `engine.max_spill_size` (default DataFusion's 100 GiB).
    pub max_spill_size: Option<u64>,
    /// Partitions (threads) per query; default the number of cores.
    pub target_partitions: Option<usize>,
    /// Rows per record batch.
    pub batch_size: Option<usize>,
    /// DataFusion options by full name (`datafusion.optimizer.prefer_hash_join`), in order.
    pub datafusion: Vec<(String, String)>,
}

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
