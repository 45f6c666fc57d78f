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
    /// An engine setting could not be applied.
    #[error("engine setup failed: {0}")]
    Engine(String),
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
