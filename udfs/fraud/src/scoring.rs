//! What the three scoring functions share: finding the model, checking the call against its
//! features at planning time, and scoring whole batches.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

use crate::{FeatureKind, FraudError, Model, ModelRegistry};

/// The registry a function plans against; functions compare equal when they share it.
#[derive(Debug, Clone)]
pub(crate) struct RegistryRef(pub Arc<ModelRegistry>);

impl PartialEq for RegistryRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RegistryRef {}

impl Hash for RegistryRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

/// The model name of `predict('name', ...)`, which must be a constant string.
pub(crate) fn literal_model_ref(func: &str, value: Option<&ScalarValue>) -> Result<String, FraudError> {
    match value {
        Some(
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
        ) => Ok(s.clone()),
        _ => Err(FraudError::Scoring(format!(
            "the first argument of {func} must be the model name as a string literal, e.g. {func}('fraud', amount, ...)"
        ))),
    }
}

/// A scoring call as written in SQL, for messages that point at one of its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The function's name.
    pub function: &'a str,
    /// Arguments before the features: 1 for the model name of `predict`, 0 for `fraud_score`.
    pub leading_args: usize,
}

/// Checks arity and argument types against the model's features.
pub(crate) fn check_call(
    call: Call<'_>,
    model: &Model,
    model_ref: &str,
    arg_types: &[&DataType],
) -> Result<(), FraudError> {
    let features = model.features();
    let mismatch = features
        .iter()
        .zip(arg_types)
        .enumerate()
        .find(|(_, (f, t))| !f.kind.accepts(t));
    if arg_types.len() == features.len() && mismatch.is_none() {
        return Ok(());
    }
    let argument = mismatch
        .filter(|_| arg_types.len() == features.len())
        .map(|(i, (feature, data_type))| {
            let position = call.leading_args + i + 1;
            let what = format!("argument {position} (feature '{}') is {data_type}", feature.name);
            if let Some(bytes) =
                binary_as_cast_operand(data_type).filter(|_| feature.kind == FeatureKind::Categorical)
            {
                // Bytes are not text until the query says how to read them.
                format!(
                    "{what}, not text: pass CAST({bytes} AS VARCHAR), or TRY_CAST({bytes} AS VARCHAR) \
                     to score bytes that are not UTF-8 as a missing category"
                )
            } else {
                format!("{what}, not {}", feature.kind.sql_name())
            }
        });
    let given: Vec<String> = arg_types.iter().map(|t| t.to_string()).collect();
    Err(FraudError::Signature {
        function: Some(call.function.to_owned()),
        model: model_ref.to_owned(),
        expected: format!("{} arguments {}", features.len(), model.signature_text()),
        given: format!("{} arguments ({})", arg_types.len(), given.join(", ")),
        argument,
    })
}

/// For a binary type, the argument as an operand that SQL can CAST to VARCHAR (FixedSizeBinary
/// cannot be, and goes through BYTEA first); `None` for other types.
fn binary_as_cast_operand(data_type: &DataType) -> Option<&'static str> {
    match data_type {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Some("<argument>"),
        DataType::FixedSizeBinary(_) => Some("CAST(<argument> AS BYTEA)"),
        DataType::Dictionary(_, values) => binary_as_cast_operand(values),
        _ => None,
    }
}

/// The model a call names, from the registry, with a clear error when it was never loaded.
pub(crate) fn planned_model(registry: &ModelRegistry, model_ref: &str) -> Result<Arc<Model>, FraudError> {
    if let Some(m) = registry.get(model_ref) {
        return Ok(m);
    }
    let (name, _) = crate::registry::parse_reference(model_ref)?;
    Err(FraudError::NotFound {
        name: model_ref.to_owned(),
        base: name.to_owned(),
    })
}

/// Scores the feature arguments; a scalar result when every argument was a scalar.
pub(crate) fn score_args(
    call: Call<'_>,
    model: &Model,
    model_ref: &str,
    args: &[ColumnarValue],
    number_rows: usize,
) -> Result<(Float64Array, bool)> {
    let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
    check_call(call, model, model_ref, &types.iter().collect::<Vec<_>>())?;
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { number_rows };
    let columns: Vec<ArrayRef> = args.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
    Ok((model.score_batch(&columns)?, all_scalar))
}

/// The project's default fraud model (`[models] fraud`), for `fraud_score` and `fraud_reasons`.
pub(crate) fn default_model_ref(registry: &ModelRegistry) -> Result<String, FraudError> {
    registry
        .default_fraud_model()
        .map(str::to_owned)
        .ok_or(FraudError::NoDefaultFraudModel)
}

/// At execution: the default model of the client that planned the statement (shipped in the
/// options), else this process's own.
pub(crate) fn executed_default_model_ref(
    registry: &ModelRegistry,
    options: &datafusion::config::ConfigOptions,
) -> Result<String, FraudError> {
    match crate::pins::ModelPins::from_config(options).and_then(|o| o.fraud_model()) {
        Some(name) => Ok(name.to_owned()),
        None => default_model_ref(registry),
    }
}
