//! `predict_label('model', feature, ...) -> BOOLEAN`

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::ModelRegistry;
use crate::predict::{invoke_model_call, plan_model_call};
use crate::scoring::RegistryRef;

/// The class a trained model predicts: whether the positive class's probability is above 0.5.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Returns the class the model predicts for the row: true when `predict` is above 0.5 \
(a tie at exactly 0.5 is false, as scikit-learn's `predict`). Arguments as for `predict`.",
    syntax_example = "predict_label('model', feature1[, ..., featureN])",
    sql_example = r#"```sql
> SELECT count(*) FROM transactions
  WHERE predict_label('fraud', amount, merchant_category, time_of_day, card_present);
```"#,
    argument(
        name = "model",
        description = "The model name as a string literal: 'name' or 'name@vN'."
    ),
    argument(name = "feature", description = "The model's features, in training order."),
    related_udf(name = "predict")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PredictLabelFunc {
    signature: Signature,
    registry: RegistryRef,
}

impl PredictLabelFunc {
    /// The function, planning against `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }
}

impl ScalarUDFImpl for PredictLabelFunc {
    fn name(&self) -> &str {
        "predict_label"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        plan_model_call(self.name(), &self.registry.0, &args)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Boolean, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (scores, scalar) = invoke_model_call(self.name(), &self.registry.0, &args)?;
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(scores.value(0) > 0.5)))
        } else {
            let labels: BooleanArray = scores.values().iter().map(|&p| Some(p > 0.5)).collect();
            ColumnarValue::Array(Arc::new(labels))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
