//! `sentiment(text) -> STRUCT<neg DOUBLE, neu DOUBLE, pos DOUBLE, compound DOUBLE>`

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use datafusion_macros::user_doc;

use std::sync::Arc;

use crate::LexiconOverrides;
use crate::columnar::{StructOutput, evaluate, scores_fields, string_signature};
use crate::overrides::LexiconChoice;

/// All four VADER scores of a text as a struct.
#[user_doc(
    doc_section(label = "Sentiment Functions"),
    description = "Returns all VADER polarity scores of a text as a struct: the proportions `neg`, `neu` \
and `pos` (rounded to 3 decimals) and the `compound` score (rounded to 4 decimals), identical to \
vaderSentiment 3.3.2's `polarity_scores(text)`. NULL gives NULL.",
    syntax_example = "sentiment(text)",
    sql_example = r#"```sql
> select sentiment('The book was good.')['pos'] as pos;
+-------+
| pos   |
+-------+
| 0.492 |
+-------+
```"#,
    standard_argument(name = "text", prefix = "String"),
    related_udf(name = "sentiment_score"),
    related_udf(name = "sentiment_label")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentFunc {
    signature: Signature,
    lexicon: LexiconChoice,
}

impl Default for SentimentFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentFunc {
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

impl ScalarUDFImpl for SentimentFunc {
    fn name(&self) -> &str {
        "sentiment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(scores_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_function_args(self.name(), &args.args)?;
        evaluate::<StructOutput>(self.name(), text, self.lexicon.lexicon(), &args.config_options)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.lexicon.documentation().or_else(|| self.doc())
    }
}
