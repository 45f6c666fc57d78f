//! The one list of nightshift's SQL functions: what the local session, the Ballista scheduler and
//! every executor install, so that a function is never available in one place and missing in another.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use nightshift_fraud::ModelRegistry;

use crate::error::CoreError;
use crate::settings::Settings;

/// Every nightshift function: the sentiment family (with the project's lexicon overrides) and the
/// model family (`predict`, `predict_label`, `fraud_score`, `fraud_reasons`, `explain_predict`,
/// `explain_top`) planning against `models`.
/// A new UDF family is added here and nowhere else.
pub fn functions(settings: &Settings, models: &Arc<ModelRegistry>) -> Result<Vec<Arc<ScalarUDF>>, CoreError> {
    let overrides = match &settings.udfs.sentiment_lexicon {
        Some(path) => {
            let o = nightshift_sentiment::LexiconOverrides::load(path)?;
            tracing::info!(file = %path.display(), words = o.len(), "sentiment lexicon overrides loaded");
            Some(Arc::new(o))
        }
        None => None,
    };
    let mut all = nightshift_sentiment::functions_with(overrides);
    all.extend(nightshift_fraud::functions(models.clone()));
    if std::env::var_os(FAULT_INJECTION).is_some_and(|v| v == "1") {
        all.push(Arc::new(fault_function()));
        all.push(Arc::new(sleep_function()));
    }
    Ok(all)
}

/// The environment variable that installs `nightshift_fault` and `nightshift_sleep`; the reliability suite sets it.
pub const FAULT_INJECTION: &str = "NIGHTSHIFT_FAULT_INJECTION";

/// `nightshift_fault(condition)`: panics inside the engine for a batch where `condition` is true,
/// and returns `condition` otherwise. It exists only with `NIGHTSHIFT_FAULT_INJECTION=1`, for the
/// reliability suite to provoke a panicking function for real (docs/reliability.md, R6).
fn fault_function() -> ScalarUDF {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let body = Arc::new(|args: &[ColumnarValue]| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let condition = arrays[0].as_boolean();
        if condition.iter().any(|v| v == Some(true)) {
            panic!("nightshift_fault: injected panic ({} rows)", condition.len());
        }
        Ok(ColumnarValue::Array(arrays[0].clone()))
    });
    create_udf(
        "nightshift_fault",
        vec![DataType::Boolean],
        DataType::Boolean,
        Volatility::Volatile,
        body,
    )
}

/// Registers [`functions`] in `ctx`, and the table function `feature_importance('model')`.
pub fn register_functions(
    ctx: &SessionContext,
    settings: &Settings,
    models: &Arc<ModelRegistry>,
) -> Result<(), CoreError> {
    for f in functions(settings, models)? {
        ctx.register_udf(f.as_ref().clone());
    }
    ctx.register_udtf(
        "feature_importance",
        Arc::new(nightshift_fraud::FeatureImportanceFunc::new(models.clone())),
    );
    Ok(())
}

/// `nightshift_sleep(ms)`: holds the engine for `ms` milliseconds per batch and returns `ms`, so that
/// the reliability suite can stop or race a run at a known stage (docs/reliability.md, R4). It exists
/// only with `NIGHTSHIFT_FAULT_INJECTION=1`.
fn sleep_function() -> ScalarUDF {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let body = Arc::new(|args: &[ColumnarValue]| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let ms = arrays[0].as_primitive::<Int64Type>();
        let longest = ms.iter().flatten().max().unwrap_or(0).max(0);
        std::thread::sleep(std::time::Duration::from_millis(longest as u64));
        Ok(ColumnarValue::Array(arrays[0].clone()))
    });
    create_udf(
        "nightshift_sleep",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Volatile,
        body,
    )
}
