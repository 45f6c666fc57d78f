//! The core of nightshift: settings, the session builder, statement splitting and parameters.
#![deny(missing_docs)]

mod config_error;
mod engine;
mod error;
mod functions;
mod logging;
mod model_sql;
mod models;
pub mod optimizer;
mod params;
mod session;
mod settings;
mod statements;
mod toml_reader;

pub use config_error::IssueOrigin;
pub use engine::{Engine, EngineError, LocalEngine};
pub use error::{CoreError, panic_message, resource_hint};
pub use functions::{functions, register_functions};
pub use logging::{LogFormat, init_logging};
pub use model_sql::referenced_tables;
pub use nightshift_fraud::{ModelPins, ModelRegistry};
pub use nightshift_lake::{TableFormat, TableInfo};
pub use nightshift_udf_common::{OnRecordError, RecordError, RecordErrors};
pub use params::Params;
pub use session::{
    Session, StateUpgrade, default_target_partitions, hash_join_out_of_memory, model_registry, runtime_env,
    runtime_threads, session_config, session_config_with, with_sort_merge_joins, with_sort_merge_joins_df,
};
pub use settings::{
    ClusterSettings, ConfigError, ConfigIssue, DEFAULT_CONFIG_FILE, DEFAULT_LAKE_ROOT, EngineSettings,
    JobsSource, ModelSettings, Overrides, Settings, UdfSettings, parse_size, parse_sql_type,
};
pub use statements::{SplitError, Statement, split_statements};
pub use toml_reader::TomlReader;
