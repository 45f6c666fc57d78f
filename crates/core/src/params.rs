//! Typed query parameters (`--param run_date=2024-06-01` → `$run_date`).

use datafusion::common::ScalarValue;

use crate::error::CoreError;

/// Named parameters bound through DataFusion's placeholder binding, never spliced into SQL text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    values: Vec<(String, ScalarValue)>,
}

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `name=value` items. The value's type is inferred: `YYYY-MM-DD` is a DATE, an integer a
    /// BIGINT, a decimal number a DOUBLE, `true`/`false` a BOOLEAN, anything else a VARCHAR
    /// (write `name=str:value` to force text).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, CoreError> {
        let mut p = Self::new();
        for item in items {
            let item = item.as_ref();
            let Some((name, value)) = item.split_once('=') else {
                return Err(CoreError::Parameter {
                    name: item.to_string(),
                    message: "write it as NAME=VALUE, e.g. --param run_date=2024-06-01".into(),
                });
            };
            let name = name.trim().trim_start_matches('$');
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(CoreError::Parameter {
                    name: name.to_string(),
                    message: "a parameter name is letters, digits and '_'".into(),
                });
            }
            p.set(name, infer_value(value));
        }
        Ok(p)
    }

    /// Sets (or replaces) one parameter.
    pub fn set(&mut self, name: &str, value: ScalarValue) {
        self.values.retain(|(n, _)| n != name);
        self.values.push((name.to_string(), value));
    }

    /// Looks a parameter up.
    pub fn get(&self, name: &str) -> Option<&ScalarValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// All parameters in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ScalarValue)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v))
    }
}

fn infer_value(v: &str) -> ScalarValue {
    if let Some(text) = v.strip_prefix("str:") {
        return ScalarValue::Utf8(Some(text.to_string()));
    }
    if let Ok(d) = chrono_date(v) {
        return ScalarValue::Date32(Some(d));
    }
    if let Ok(i) = v.parse::<i64>() {
        return ScalarValue::Int64(Some(i));
    }
    if v.contains('.')
        && let Ok(f) = v.parse::<f64>()
        && f.is_finite()
    {
        return ScalarValue::Float64(Some(f));
    }
    match v {
        "true" | "TRUE" => ScalarValue::Boolean(Some(true)),
        "false" | "FALSE" => ScalarValue::Boolean(Some(false)),
        _ => ScalarValue::Utf8(Some(v.to_string())),
    }
}

/// Days since the epoch for a valid `YYYY-MM-DD`.
fn chrono_date(v: &str) -> Result<i32, ()> {
    if v.len() != 10 {
        return Err(());
    }
    let s = ScalarValue::Utf8(Some(v.to_string()));
    match s.cast_to(&datafusion::arrow::datatypes::DataType::Date32) {
        Ok(ScalarValue::Date32(Some(d))) => Ok(d),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types() {
        let p = Params::parse(&["d=2024-06-01", "n=42", "x=1.5", "b=true", "s=hello", "t=str:42"]).unwrap();
        assert!(matches!(p.get("d"), Some(ScalarValue::Date32(Some(19875)))));
        assert_eq!(p.get("n"), Some(&ScalarValue::Int64(Some(42))));
        assert_eq!(p.get("x"), Some(&ScalarValue::Float64(Some(1.5))));
        assert_eq!(p.get("b"), Some(&ScalarValue::Boolean(Some(true))));
        assert_eq!(p.get("s"), Some(&ScalarValue::Utf8(Some("hello".into()))));
        assert_eq!(p.get("t"), Some(&ScalarValue::Utf8(Some("42".into()))));
        assert!(p.get("nope").is_none());
    }

    #[test]
    fn rejects_malformed() {
        assert!(
            Params::parse(&["novalue"])
                .unwrap_err()
                .to_string()
                .contains("novalue")
        );
        assert!(Params::parse(&["bad name=1"]).is_err());
        assert_eq!(
            Params::parse(&["d=2024-02-30"]).unwrap().get("d"),
            Some(&ScalarValue::Utf8(Some("2024-02-30".into())))
        );
    }
}
