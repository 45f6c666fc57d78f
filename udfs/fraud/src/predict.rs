//! `predict('model', feature, ...) -> DOUBLE`

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::ModelRegistry;
use crate::scoring::{Call, RegistryRef, check_call, literal_model_ref, planned_model, score_args};

/// The probability of the positive class under a trained model.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Returns the probability (0 to 1) of the positive class that the model trained with \
`CREATE MODEL` gives the row: the mean over its trees. The arguments after the model name are its features, \
in the order of the training query's columns. `'name@v2'` pins a version; otherwise the latest is used. \
NULL features and categories the model never saw are missing values, which follow each split's learned \
direction.",
    syntax_example = "predict('model', feature1[, ..., featureN])",
    sql_example = r#"```sql
> CREATE MODEL fraud OPTIONS (type = 'random_forest', target = 'is_fraudulent', holdout_fraction = 0.2)
  AS SELECT amount, merchant_category, time_of_day, card_present, is_fraudulent FROM transactions;
> SELECT transaction_id, predict('fraud', amount, merchant_category, time_of_day, card_present) AS p
  FROM transactions ORDER BY p DESC LIMIT 3;
```"#,
    argument(
        name = "model",
        description = "The model name as a string literal: 'name' or 'name@vN'."
    ),
    argument(name = "feature", description = "The model's features, in training order."),
    related_udf(name = "predict_label"),
    related_udf(name = "fraud_score")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PredictFunc {
    signature: Signature,
    registry: RegistryRef,
}

impl PredictFunc {
    /// The function, planning against `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }
}

impl ScalarUDFImpl for PredictFunc {
    fn name(&self) -> &str {
        "predict"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        plan_model_call(self.name(), &self.registry.0, &args)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scores, scalar) = invoke_model_call(self.name(), &self.registry.0, &args)?;
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::Float64(Some(scores.value(0))))
        } else {
            ColumnarValue::Array(Arc::new(scores))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The planning-time checks of `predict` and `predict_label`.
pub(crate) fn plan_model_call(
    func: &str,
    registry: &ModelRegistry,
    args: &ReturnFieldArgs<'_>,
) -> Result<()> {
    let model_ref = literal_model_ref(func, args.scalar_arguments.first().copied().flatten())?;
    if registry.is_lenient() && registry.get(&model_ref).is_none() {
        return Ok(());
    }
    let model = planned_model(registry, &model_ref)?;
    let types: Vec<&DataType> = args.arg_fields.iter().skip(1).map(|f| f.data_type()).collect();
    check_call(model_call(func), &model, &model_ref, &types)?;
    Ok(())
}

/// A call of `predict` or `predict_label`, whose features follow the model name.
fn model_call(function: &str) -> Call<'_> {
    Call {
        function,
        leading_args: 1,
    }
}

/// Scores a `predict` / `predict_label` call.
pub(crate) fn invoke_model_call(
    func: &str,
    registry: &ModelRegistry,
    args: &ScalarFunctionArgs,
) -> Result<(datafusion::arrow::array::Float64Array, bool)> {
    let model_ref = match args.args.first() {
        Some(ColumnarValue::Scalar(s)) => literal_model_ref(func, Some(s))?,
        _ => literal_model_ref(func, None)?,
    };
    let model = registry.resolve(&model_ref, &args.config_options)?;
    score_args(
        model_call(func),
        &model,
        &model_ref,
        &args.args[1..],
        args.number_rows,
    )
}
