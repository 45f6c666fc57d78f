//! The one list of nightshift's SQL functions: what the local session, the Ballista scheduler and
//! every executor install, so that a function is never available in one place and missing in another.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use nightshift_fraud::ModelRegistry;

use crate::error::CoreError;
use crate::settings::Settings;

/// Every nightshift function: the sentiment family (with the project's lexicon overrides) and the
/// model-scoring family (`predict`, `predict_label`, `fraud_score`) planning against `models`.
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
    Ok(all)
}

/// Registers [`functions`] in `ctx`.
pub fn register_functions(
    ctx: &SessionContext,
    settings: &Settings,
    models: &Arc<ModelRegistry>,
) -> Result<(), CoreError> {
    for f in functions(settings, models)? {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(())
}
