//! `sentiment_label(text) -> VARCHAR`

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use datafusion_macros::user_doc;

use std::sync::Arc;

use crate::LexiconOverrides;
use crate::columnar::{LabelOutput, evaluate, string_signature};
use crate::overrides::LexiconChoice;

/// The VADER sentiment class of a text: 'positive', 'negative' or 'neutral'.
#[user_doc(
    doc_section(label = "Sentiment Functions"),
    description = "Returns 'positive' when the VADER compound score of the text is at least 0.05, \
'negative' when it is at most -0.05 and 'neutral' otherwise (the thresholds of the VADER authors). \
NULL gives NULL.",
    syntax_example = "sentiment_label(text)",
    sql_example = r#"```sql
> select sentiment_label('The plot was dull.');
+-----------------------------------------------+
| sentiment_label(Utf8("The plot was dull."))   |
+-----------------------------------------------+
| negative                                      |
+-----------------------------------------------+
```"#,
    standard_argument(name = "text", prefix = "String"),
    related_udf(name = "sentiment_score"),
    related_udf(name = "sentiment")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentLabelFunc {
    signature: Signature,
    lexicon: LexiconChoice,
}

impl Default for SentimentLabelFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentLabelFunc {
    /// The function with its signature: one string argument of any string type.
    pub fn new() -> Self {
        Self::with_overrides(None)
    }

    /// The function scoring with `overrides` applied to VADER's lexicon; its documentation says so.
    pub fn with_overrides(overrides: Option<Arc<LexiconOverrides>>) -> Self {
        let mut f = Self {
            signature: string_signature(),
            lexicon: LexiconChoice::default(),
        };
        if let Some(base) = f.doc() {
            f.lexicon = LexiconChoice::new(overrides, base);
        }
        f
    }
}

impl ScalarUDFImpl for SentimentLabelFunc {
    fn name(&self) -> &str {
        "sentiment_label"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_function_args(self.name(), &args.args)?;
        evaluate::<LabelOutput>(self.name(), text, self.lexicon.lexicon(), &args.config_options)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.lexicon.documentation().or_else(|| self.doc())
    }
}
