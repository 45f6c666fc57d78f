//! Features: what kind each column is, and how an Arrow array becomes the numbers the trees compare.
//!
//! Every feature value becomes an `f64`; a missing value is `NaN`:
//! - numbers (any integer, float or decimal type) as themselves,
//! - booleans as 0 and 1,
//! - dates as days since 1970-01-01, timestamps as seconds since the epoch (any unit, time zone
//!   ignored: the instant), times of day as seconds since midnight,
//! - strings (categorical) as the position of the category in the model's dictionary, the training
//!   categories in sorted order; a category the model never saw is missing.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float64Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit,
};
use serde::{Deserialize, Serialize};

use crate::FraudError;

/// What kind of values a feature holds, which decides the argument types scoring accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Any integer, float or decimal type.
    Numeric,
    /// BOOLEAN.
    Boolean,
    /// DATE (Date32 or Date64).
    Date,
    /// TIMESTAMP of any unit and time zone.
    Timestamp,
    /// TIME of any unit.
    Time,
    /// Strings (Utf8, LargeUtf8, Utf8View or a dictionary of them), handled as categories.
    Categorical,
}

impl FeatureKind {
    /// The kind of a training column, or `None` for types that cannot be features.
    pub fn of(data_type: &DataType) -> Option<Self> {
        use DataType::*;
        Some(match data_type {
            Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal32(_, _)
            | Decimal64(_, _)
            | Decimal128(_, _)
            | Decimal256(_, _) => FeatureKind::Numeric,
            Boolean => FeatureKind::Boolean,
            Date32 | Date64 => FeatureKind::Date,
            Timestamp(_, _) => FeatureKind::Timestamp,
            Time32(_) | Time64(_) => FeatureKind::Time,
            Utf8 | LargeUtf8 | Utf8View => FeatureKind::Categorical,
            Dictionary(_, v) if matches!(v.as_ref(), Utf8 | LargeUtf8 | Utf8View) => FeatureKind::Categorical,
            _ => return None,
        })
    }

    /// Whether a scoring argument of `data_type` is accepted for a feature of this kind.
    pub fn accepts(&self, data_type: &DataType) -> bool {
        // NULL literals are accepted everywhere: they are missing values.
        data_type == &DataType::Null || FeatureKind::of(data_type) == Some(*self)
    }

    /// The SQL-ish name used in error messages.
    pub fn sql_name(&self) -> &'static str {
        match self {
            FeatureKind::Numeric => "NUMERIC",
            FeatureKind::Boolean => "BOOLEAN",
            FeatureKind::Date => "DATE",
            FeatureKind::Timestamp => "TIMESTAMP",
            FeatureKind::Time => "TIME",
            FeatureKind::Categorical => "VARCHAR",
        }
    }
}

/// One input column of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Feature {
    /// The column name in the training query.
    pub name: String,
    /// Its kind.
    pub kind: FeatureKind,
    /// The Arrow type it had in the training query, for messages.
    pub data_type: String,
    /// For categorical features, the training categories in rank order (the value a category
    /// encodes to is its index); empty for other kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(skip)]
    pub(crate) index: CategoryIndex,
}

/// Category → rank lookup, built once when a model is created or loaded.
#[derive(Debug, Clone, Default)]
pub(crate) struct CategoryIndex(Option<Arc<HashMap<String, u32>>>);

impl Feature {
    pub(crate) fn new(
        name: String,
        kind: FeatureKind,
        data_type: &DataType,
        categories: Vec<String>,
    ) -> Self {
        let mut f = Feature {
            name,
            kind,
            data_type: data_type.to_string(),
            categories,
            index: CategoryIndex::default(),
        };
        f.build_index();
        f
    }

    pub(crate) fn build_index(&mut self) {
        if self.kind == FeatureKind::Categorical {
            let map = self
                .categories
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i as u32))
                .collect();
            self.index = CategoryIndex(Some(Arc::new(map)));
        }
    }

    fn rank(&self, category: &str) -> f64 {
        match self.index.0.as_ref().and_then(|m| m.get(category)) {
            Some(&r) => r as f64,
            None => f64::NAN,
        }
    }

    /// Appends the encoded values of `array` to `out` (NaN for NULL and unseen categories).
    pub(crate) fn encode_into(
        &self,
        model: &str,
        array: &dyn Array,
        out: &mut Vec<f64>,
    ) -> Result<(), FraudError> {
        let dt = array.data_type();
        if dt == &DataType::Null {
            out.extend(std::iter::repeat_n(f64::NAN, array.len()));
            return Ok(());
        }
        if !self.kind.accepts(dt) {
            return Err(FraudError::Signature {
                function: None,
                model: model.to_owned(),
                expected: format!(
                    "{} {} for feature '{}'",
                    self.kind.sql_name(),
                    self.data_type,
                    self.name
                ),
                given: dt.to_string(),
                argument: None,
            });
        }
        if self.kind == FeatureKind::Categorical {
            return self.encode_categorical(array, out);
        }
        encode_number(self.kind, array, out)
            .map_err(|e| FraudError::Scoring(format!("feature '{}': {e}", self.name)))
    }

    fn encode_categorical(&self, array: &dyn Array, out: &mut Vec<f64>) -> Result<(), FraudError> {
        if let DataType::Dictionary(_, _) = array.data_type() {
            // Look each dictionary value up once, then map the keys.
            let dict = array.as_any_dictionary();
            let mut values = Vec::with_capacity(dict.values().len());
            self.encode_categorical(dict.values().as_ref(), &mut values)?;
            let keys = cast(dict.keys(), &DataType::Int64).map_err(|e| FraudError::Scoring(e.to_string()))?;
            let keys = keys.as_primitive::<Int64Type>();
            out.extend((0..keys.len()).map(|i| {
                if keys.is_null(i) {
                    f64::NAN
                } else {
                    values.get(keys.value(i) as usize).copied().unwrap_or(f64::NAN)
                }
            }));
            return Ok(());
        }
        let push = |out: &mut Vec<f64>, v: Option<&str>| out.push(v.map_or(f64::NAN, |s| self.rank(s)));
        match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().iter().for_each(|v| push(out, v)),
            DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(|v| push(out, v)),
            DataType::Utf8View => array.as_string_view().iter().for_each(|v| push(out, v)),
            other => {
                return Err(FraudError::Scoring(format!(
                    "unexpected categorical type {other}"
                )));
            }
        }
        Ok(())
    }
}

/// Appends a non-categorical array as f64 (NaN for NULL).
pub(crate) fn encode_number(kind: FeatureKind, array: &dyn Array, out: &mut Vec<f64>) -> Result<(), String> {
    let nan_or = |out: &mut Vec<f64>, v: Option<f64>| out.push(v.unwrap_or(f64::NAN));
    match (kind, array.data_type()) {
        (FeatureKind::Boolean, _) => array
            .as_boolean()
            .iter()
            .for_each(|v| nan_or(out, v.map(|b| b as u8 as f64))),
        (FeatureKind::Date, DataType::Date32) => array
            .as_primitive::<Date32Type>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|d| d as f64))),
        (FeatureKind::Date, DataType::Date64) => array
            .as_primitive::<Date64Type>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|ms| (ms.div_euclid(86_400_000)) as f64))),
        (FeatureKind::Timestamp, DataType::Timestamp(unit, _)) => {
            let per_second = match unit {
                TimeUnit::Second => 1.0,
                TimeUnit::Millisecond => 1e3,
                TimeUnit::Microsecond => 1e6,
                TimeUnit::Nanosecond => 1e9,
            };
            let ints = cast(array, &DataType::Int64).map_err(|e| e.to_string())?;
            ints.as_primitive::<Int64Type>()
                .iter()
                .for_each(|v| nan_or(out, v.map(|t| t as f64 / per_second)));
        }
        (FeatureKind::Time, DataType::Time32(TimeUnit::Second)) => array
            .as_primitive::<Time32SecondType>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|t| t as f64))),
        (FeatureKind::Time, DataType::Time32(_)) => array
            .as_primitive::<Time32MillisecondType>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|t| t as f64 / 1e3))),
        (FeatureKind::Time, DataType::Time64(TimeUnit::Microsecond)) => array
            .as_primitive::<Time64MicrosecondType>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|t| t as f64 / 1e6))),
        (FeatureKind::Time, DataType::Time64(_)) => array
            .as_primitive::<Time64NanosecondType>()
            .iter()
            .for_each(|v| nan_or(out, v.map(|t| t as f64 / 1e9))),
        (FeatureKind::Numeric, DataType::Float64) => array
            .as_primitive::<Float64Type>()
            .iter()
            .for_each(|v| nan_or(out, v)),
        (FeatureKind::Numeric, _) => {
            let floats = cast(array, &DataType::Float64).map_err(|e| e.to_string())?;
            floats
                .as_primitive::<Float64Type>()
                .iter()
                .for_each(|v| nan_or(out, v));
        }
        (kind, dt) => return Err(format!("cannot read {dt} as a {} feature", kind.sql_name())),
    }
    Ok(())
}

/// Encodes whole columns for scoring (one per feature, in order).
pub(crate) fn encode_columns(
    model: &str,
    features: &[Feature],
    columns: &[ArrayRef],
) -> Result<Vec<Vec<f64>>, FraudError> {
    features
        .iter()
        .zip(columns)
        .map(|(f, c)| {
            let mut v = Vec::with_capacity(c.len());
            f.encode_into(model, c.as_ref(), &mut v)?;
            Ok(v)
        })
        .collect()
}
