//! `fraud_score(feature, ...) -> DOUBLE`

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::ModelRegistry;
use crate::scoring::{
    Call, RegistryRef, check_call, default_model_ref, executed_default_model_ref, planned_model, score_args,
};

/// The fraud probability under the project's default fraud model.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Returns the probability that a transaction is fraudulent under the project's default \
fraud model (`[models] fraud = \"name\"` in nightshift.toml): `predict(<default model>, ...)`. The model \
decides the features; the demo model takes amount, location, time of day and merchant category. Without a \
default model it is an error that says how to train one.",
    syntax_example = "fraud_score(feature1[, ..., featureN])",
    sql_example = r#"```sql
> SELECT transaction_id, fraud_score(amount, region, time_of_day, merchant_category) AS score
  FROM transactions ORDER BY score DESC LIMIT 10;
```"#,
    argument(
        name = "feature",
        description = "The default fraud model's features, in training order."
    ),
    related_udf(name = "predict")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FraudScoreFunc {
    signature: Signature,
    registry: RegistryRef,
}

impl FraudScoreFunc {
    /// The function, planning against `registry` and its default fraud model.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }

    fn call(&self) -> Call<'_> {
        Call {
            function: self.name(),
            leading_args: 0,
        }
    }
}

impl ScalarUDFImpl for FraudScoreFunc {
    fn name(&self) -> &str {
        "fraud_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if self.registry.0.is_lenient() {
            // A scheduler: the client checked the call against its default model.
            return Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)));
        }
        let model_ref = default_model_ref(&self.registry.0)?;
        let model = planned_model(&self.registry.0, &model_ref)?;
        let types: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        check_call(self.call(), &model, &model_ref, &types)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let model_ref = executed_default_model_ref(&self.registry.0, &args.config_options)?;
        let model = self.registry.0.resolve(&model_ref, &args.config_options)?;
        let (scores, scalar) = score_args(self.call(), &model, &model_ref, &args.args, args.number_rows)?;
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
