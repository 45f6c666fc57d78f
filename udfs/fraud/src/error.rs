//! The crate's one error type.

use datafusion::error::DataFusionError;

/// Everything that can go wrong while training, storing, loading or scoring a model.
///
/// Messages are lowercase, name the model, option or column at fault and, where there is one, say
/// what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FraudError {
    /// An `OPTIONS (...)` entry of `CREATE MODEL` is unknown or has a bad value.
    #[error("invalid model option '{option}': {message}")]
    InvalidOption {
        /// The option's key, lowercased.
        option: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The training query's result cannot be trained on (no rows, one class, NULL labels, ...).
    #[error("cannot train model: {0}")]
    Training(String),
    /// A column of the training query has a type that cannot be a feature or target.
    #[error("column '{column}' has type {data_type}, which {message}")]
    UnsupportedColumn {
        /// The column name.
        column: String,
        /// Its Arrow type.
        data_type: String,
        /// Why it is refused and what is accepted.
        message: String,
    },
    /// No model of that name (or version) exists in the store or the session.
    #[error(
        "model '{name}' does not exist; train it with CREATE MODEL {base} OPTIONS (type = 'random_forest', target = '<label column>') AS SELECT ..."
    )]
    NotFound {
        /// The model reference as written (`name` or `name@v2`).
        name: String,
        /// The model name without a version.
        base: String,
    },
    /// A scoring call whose arguments do not match the model's features.
    #[error(
        "{}model '{model}' expects {expected} but was called with {given}{}",
        prefix(.function),
        suffix(.argument)
    )]
    Signature {
        /// The SQL function called (`predict`), when the call came from SQL.
        function: Option<String>,
        /// The model reference.
        model: String,
        /// The features the model was trained on, as `(name TYPE, ...)`.
        expected: String,
        /// The argument types of the call.
        given: String,
        /// When the count is right, the first argument that does not fit: its position, feature and
        /// type, and what to do about it.
        argument: Option<String>,
    },
    /// `fraud_score` without `[models] fraud = "..."` in nightshift.toml.
    #[error(
        "fraud_score and fraud_reasons need a default fraud model: train one with CREATE MODEL fraud OPTIONS (type = 'random_forest', target = 'is_fraudulent') AS SELECT amount, location, time_of_day, merchant_category, is_fraudulent FROM ...; then set [models] fraud = \"fraud\" in nightshift.toml"
    )]
    NoDefaultFraudModel,
    /// A stored model artifact that cannot be read: truncated, tampered with or of another format.
    #[error(
        "model artifact '{path}' is corrupt or incompatible: {message}; drop the model and train it again"
    )]
    CorruptArtifact {
        /// The object path of the artifact.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A model reference that is neither `name` nor `name@vN`.
    #[error("invalid model reference '{0}': expected 'name' or 'name@v2'")]
    InvalidReference(String),
    /// The object store failed.
    #[error("model store error at '{path}': {source}")]
    Store {
        /// The object path involved.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Reading the training query's stream failed.
    #[error("training query failed: {0}")]
    Query(#[source] DataFusionError),
    /// Anything else a scoring call can trip over (a non-literal model name, ...).
    #[error("{0}")]
    Scoring(String),
}

impl From<FraudError> for DataFusionError {
    fn from(e: FraudError) -> Self {
        match e {
            FraudError::Query(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<DataFusionError> for FraudError {
    fn from(e: DataFusionError) -> Self {
        FraudError::Query(e)
    }
}

fn prefix(function: &Option<String>) -> String {
    function.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

fn suffix(argument: &Option<String>) -> String {
    argument.as_ref().map(|a| format!("; {a}")).unwrap_or_default()
}

pub(crate) fn invalid_option(option: &str, message: impl Into<String>) -> FraudError {
    FraudError::InvalidOption {
        option: option.to_owned(),
        message: message.into(),
    }
}
