//! `explain_predict('model', feature, ...)` and `explain_top('model', k, feature, ...)`: a score
//! with the reason of each feature (exact TreeSHAP, see the `explain` module).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, ListArray, StringArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::ModelRegistry;
use crate::scoring::{
    Call, RegistryRef, check_call, default_model_ref, executed_default_model_ref, literal_model_ref,
    planned_model,
};

/// `{feature, contribution}`.
fn reason_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("contribution", DataType::Float64, false),
    ])
}

/// A list of reasons.
fn reasons_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(reason_fields()),
        false,
    )))
}

/// `{base, score, contributions}` of `explain_predict`.
fn explanation_fields() -> Fields {
    Fields::from(vec![
        Field::new("base", DataType::Float64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("contributions", reasons_type(), false),
    ])
}

/// The exact contribution of each feature to a model's score.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Explains a row's score under a model trained with `CREATE MODEL`: a struct of `base` (the \
model's expected score over its training data), `score` (what `predict` gives) and `contributions`, one \
`{feature, contribution}` per feature, largest absolute contribution first. `base` plus the contributions \
is the score (exact TreeSHAP, in probability space). Arguments as for `predict`. Models trained before \
nightshift kept node covers must be trained again to be explained.",
    syntax_example = "explain_predict('model', feature1[, ..., featureN])",
    sql_example = r#"```sql
> SELECT transaction_id, e.score, e.contributions[1].feature AS main_reason
  FROM (SELECT transaction_id, explain_predict('fraud', amount, merchant_category, time_of_day, card_present) AS e
        FROM transactions) LIMIT 3;
```"#,
    argument(
        name = "model",
        description = "The model name as a string literal: 'name' or 'name@vN'."
    ),
    argument(name = "feature", description = "The model's features, in training order."),
    related_udf(name = "explain_top"),
    related_udf(name = "predict")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExplainPredictFunc {
    signature: Signature,
    registry: RegistryRef,
}

/// The `k` features that contributed most (by absolute contribution) to a model's score.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The `k` features that moved a row's score most under a model, largest absolute \
contribution first: a list of `{feature, contribution}` (see `explain_predict`). A positive contribution \
raised the score. Ready for a report's reasons column.",
    syntax_example = "explain_top('model', k, feature1[, ..., featureN])",
    sql_example = r#"```sql
> SELECT transaction_id,
         explain_top('fraud', 3, amount, merchant_category, time_of_day, card_present) AS reasons
  FROM transactions WHERE predict('fraud', amount, merchant_category, time_of_day, card_present) > 0.5;
```"#,
    argument(
        name = "model",
        description = "The model name as a string literal: 'name' or 'name@vN'."
    ),
    argument(name = "k", description = "How many features, a positive integer literal."),
    argument(name = "feature", description = "The model's features, in training order."),
    related_udf(name = "explain_predict")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExplainTopFunc {
    signature: Signature,
    registry: RegistryRef,
}

impl ExplainPredictFunc {
    /// The function, planning against `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }
}

impl ExplainTopFunc {
    /// The function, planning against `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }
}

/// Planning checks: the model exists and the features match it.
fn plan(func: &str, leading_args: usize, registry: &ModelRegistry, args: &ReturnFieldArgs<'_>) -> Result<()> {
    let model_ref = literal_model_ref(func, args.scalar_arguments.first().copied().flatten())?;
    if registry.is_lenient() && registry.get(&model_ref).is_none() {
        return Ok(());
    }
    let model = planned_model(registry, &model_ref)?;
    let types: Vec<&DataType> = args
        .arg_fields
        .iter()
        .skip(leading_args)
        .map(|f| f.data_type())
        .collect();
    check_call(
        Call {
            function: func,
            leading_args,
        },
        &model,
        &model_ref,
        &types,
    )?;
    Ok(())
}

/// The explanation of every row of a call whose features follow `leading_args` arguments, and
/// the feature names; `(.., true)` when every argument was a scalar (one row).
fn explain(
    func: &str,
    leading_args: usize,
    registry: &ModelRegistry,
    args: &ScalarFunctionArgs,
) -> Result<(crate::model::Explanation, Vec<String>, bool)> {
    let model_ref = match args.args.first() {
        Some(ColumnarValue::Scalar(s)) => literal_model_ref(func, Some(s))?,
        _ => literal_model_ref(func, None)?,
    };
    explain_with(func, leading_args, registry, &model_ref, args)
}

/// [`explain`] under `model_ref`.
fn explain_with(
    func: &str,
    leading_args: usize,
    registry: &ModelRegistry,
    model_ref: &str,
    args: &ScalarFunctionArgs,
) -> Result<(crate::model::Explanation, Vec<String>, bool)> {
    let model = registry.resolve(model_ref, &args.config_options)?;
    let features = &args.args[leading_args..];
    let types: Vec<DataType> = features.iter().map(|a| a.data_type()).collect();
    check_call(
        Call {
            function: func,
            leading_args,
        },
        &model,
        model_ref,
        &types.iter().collect::<Vec<_>>(),
    )?;
    let all_scalar = features.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { args.number_rows };
    let columns: Vec<ArrayRef> = features.iter().map(|a| a.to_array(rows)).collect::<Result<_>>()?;
    let names = model.features().iter().map(|f| f.name.clone()).collect();
    Ok((model.explain_batch(&columns)?, names, all_scalar))
}

/// Each row's reasons, largest absolute contribution first, at most `k` of them.
fn reasons(explanation: &crate::model::Explanation, names: &[String], k: usize) -> ListArray {
    let mut offsets = vec![0i32];
    let (mut features, mut values) = (Vec::new(), Vec::new());
    for row in &explanation.contributions {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
        for &i in order.iter().take(k) {
            features.push(names[i].as_str());
            values.push(row[i]);
        }
        offsets.push(features.len() as i32);
    }
    let items = StructArray::new(
        reason_fields(),
        vec![
            Arc::new(StringArray::from(features)) as ArrayRef,
            Arc::new(Float64Array::from(values)),
        ],
        None,
    );
    ListArray::new(
        Arc::new(Field::new("item", DataType::Struct(reason_fields()), false)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(items),
        None,
    )
}

fn result(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

impl ScalarUDFImpl for ExplainPredictFunc {
    fn name(&self) -> &str {
        "explain_predict"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(explanation_fields()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        plan(self.name(), 1, &self.registry.0, &args)?;
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Struct(explanation_fields()),
            false,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (e, names, scalar) = explain(self.name(), 1, &self.registry.0, &args)?;
        let rows = e.scores.len();
        let array = StructArray::new(
            explanation_fields(),
            vec![
                Arc::new(Float64Array::from(vec![e.base; rows])) as ArrayRef,
                Arc::new(Float64Array::from(e.scores.clone())),
                Arc::new(reasons(&e, &names, names.len())),
            ],
            None,
        );
        result(Arc::new(array), scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

impl ScalarUDFImpl for ExplainTopFunc {
    fn name(&self) -> &str {
        "explain_top"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(reasons_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        top_k(args.scalar_arguments.get(1).copied().flatten())?;
        plan(self.name(), 2, &self.registry.0, &args)?;
        Ok(Arc::new(Field::new(self.name(), reasons_type(), false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let k = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => top_k(Some(s))?,
            _ => top_k(None)?,
        };
        let (e, names, scalar) = explain(self.name(), 2, &self.registry.0, &args)?;
        result(Arc::new(reasons(&e, &names, k)), scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The `k` main reasons for a row's score under the project's default fraud model.
#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The `k` features that moved a transaction's `fraud_score` most, largest absolute \
contribution first: `explain_top(<default model>, k, ...)`, with the model `fraud_score` scores with \
(`[models] fraud` in nightshift.toml, pinned the same way in a rerun), so a report's reasons always \
belong to its scores. A positive contribution raised the score.",
    syntax_example = "fraud_reasons(k, feature1[, ..., featureN])",
    sql_example = r#"```sql
> SELECT transaction_id, fraud_reasons(3, amount, latitude, longitude, region, merchant_category,
         time_of_day, card_present) AS reasons
  FROM transactions
  WHERE fraud_score(amount, latitude, longitude, region, merchant_category, time_of_day, card_present) > 0.5;
```"#,
    argument(name = "k", description = "How many features, a positive integer literal."),
    argument(
        name = "feature",
        description = "The default fraud model's features, in training order."
    ),
    related_udf(name = "fraud_score"),
    related_udf(name = "explain_top")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FraudReasonsFunc {
    signature: Signature,
    registry: RegistryRef,
}

impl FraudReasonsFunc {
    /// The function, planning against `registry` and its default fraud model.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            registry: RegistryRef(registry),
        }
    }

    fn k(value: Option<&ScalarValue>) -> Result<usize> {
        top_k_of("fraud_reasons", "fraud_reasons(3, amount, …)", value)
    }
}

impl ScalarUDFImpl for FraudReasonsFunc {
    fn name(&self) -> &str {
        "fraud_reasons"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(reasons_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        Self::k(args.scalar_arguments.first().copied().flatten())?;
        if !self.registry.0.is_lenient() {
            let model_ref = default_model_ref(&self.registry.0)?;
            let model = planned_model(&self.registry.0, &model_ref)?;
            let types: Vec<&DataType> = args.arg_fields.iter().skip(1).map(|f| f.data_type()).collect();
            let call = Call {
                function: self.name(),
                leading_args: 1,
            };
            check_call(call, &model, &model_ref, &types)?;
        }
        Ok(Arc::new(Field::new(self.name(), reasons_type(), false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let k = match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => Self::k(Some(s))?,
            _ => Self::k(None)?,
        };
        let model_ref = executed_default_model_ref(&self.registry.0, &args.config_options)?;
        let (e, names, scalar) = explain_with(self.name(), 1, &self.registry.0, &model_ref, &args)?;
        result(Arc::new(reasons(&e, &names, k)), scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// `explain_top`'s (or `fraud_reasons`') `k`: a positive integer literal.
fn top_k(value: Option<&ScalarValue>) -> Result<usize> {
    top_k_of("explain_top", "explain_top('fraud', 3, amount, …)", value)
}

fn top_k_of(func: &str, example: &str, value: Option<&ScalarValue>) -> Result<usize> {
    let k = value.and_then(|v| match v {
        ScalarValue::Int8(Some(k)) => Some(i64::from(*k)),
        ScalarValue::Int16(Some(k)) => Some(i64::from(*k)),
        ScalarValue::Int32(Some(k)) => Some(i64::from(*k)),
        ScalarValue::Int64(Some(k)) => Some(*k),
        ScalarValue::UInt8(Some(k)) => Some(i64::from(*k)),
        ScalarValue::UInt16(Some(k)) => Some(i64::from(*k)),
        ScalarValue::UInt32(Some(k)) => Some(i64::from(*k)),
        ScalarValue::UInt64(Some(k)) => i64::try_from(*k).ok(),
        _ => None,
    });
    match k {
        Some(k) if k > 0 => Ok(k as usize),
        _ => exec_err!(
            "{func}: the argument k must be a positive integer literal (how many reasons), as in {example}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;

    use super::*;

    #[test]
    fn reasons_come_largest_first_and_k_cuts_them() {
        let e = crate::model::Explanation {
            base: 0.1,
            scores: vec![0.5],
            contributions: vec![vec![0.05, -0.3, 0.2]],
        };
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let list = reasons(&e, &names, 2);
        let row = list.value(0);
        let row = row.as_any().downcast_ref::<StructArray>().unwrap();
        let features = row.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(features.iter().flatten().collect::<Vec<_>>(), ["b", "c"]);
        assert!(top_k(Some(&ScalarValue::Int64(Some(0)))).is_err());
        assert_eq!(top_k(Some(&ScalarValue::Int64(Some(3)))).unwrap(), 3);
    }
}
