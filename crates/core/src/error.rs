//! The core's error type: settings, the lake, engine set-up, parameters, read-only refusals, models.

use std::path::PathBuf;

use datafusion::error::DataFusionError;
use nightshift_lake::LakeError;

use crate::settings::ConfigError;

/// Errors of the nightshift core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The lake could not be loaded.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The sentiment lexicon overrides file is unreadable or has a bad line.
    #[error("bad sentiment lexicon (udfs.sentiment.lexicon): {0}")]
    Lexicon(#[from] nightshift_sentiment::LexiconError),
    /// A parameter is missing or malformed.
    #[error("parameter '{name}': {message}")]
    Parameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A statement was refused in read-only mode.
    #[error("read-only mode: {what} is not allowed (drop --read-only / read_only = true to allow it)")]
    ReadOnly {
        /// What was refused.
        what: String,
    },
    /// A `datafusion.*` option of the settings could not be applied (a usage error: exit code 2).
    #[error("engine setup failed: {key} = {value}: {}", .source.strip_backtrace())]
    EngineOption {
        /// The option.
        key: String,
        /// The value it was given.
        value: String,
        /// DataFusion's reason.
        #[source]
        source: DataFusionError,
    },
    /// The spill folder (`[engine] spill_dir`) cannot be created.
    #[error("engine setup failed: cannot create spill folder '{}': {source}", .path.display())]
    SpillDir {
        /// The folder.
        path: PathBuf,
        /// The file system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The runtime (memory pool, disk manager) could not be built.
    #[error("engine setup failed: {}", .0.strip_backtrace())]
    Runtime(#[source] DataFusionError),
    /// A model statement needs the lake's model store, and this session has none.
    #[error("this session has no model store")]
    NoModelStore,
    /// A model statement could not be parsed.
    #[error("model statement: {0}")]
    ModelSyntax(String),
    /// Training, storing, loading or scoring a model failed.
    #[error(transparent)]
    Model(#[from] nightshift_fraud::FraudError),
    /// A query failed.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<CoreError> for DataFusionError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for CoreError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        CoreError::DataFusion(DataFusionError::from(e))
    }
}
