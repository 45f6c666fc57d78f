//! `sentiment_score(text) -> DOUBLE`

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use datafusion_macros::user_doc;

use std::sync::Arc;

use crate::LexiconOverrides;
use crate::columnar::{CompoundOutput, evaluate, string_signature};
use crate::overrides::LexiconChoice;

/// The VADER compound score of a text, in [-1, 1].
#[user_doc(
    doc_section(label = "Sentiment Functions"),
    description = "Returns the VADER compound sentiment score of a text: the sum of its word valences, \
adjusted for negation, boosters, capitals, 'but' and punctuation, normalized to [-1, 1] and rounded \
to 4 decimals. Identical to vaderSentiment 3.3.2's `polarity_scores(text)['compound']`. NULL gives NULL.",
    syntax_example = "sentiment_score(text)",
    sql_example = r#"```sql
> select sentiment_score('The book was good.');
+-----------------------------------------------+
| sentiment_score(Utf8("The book was good."))   |
+-----------------------------------------------+
| 0.4404                                        |
+-----------------------------------------------+
```"#,
    standard_argument(name = "text", prefix = "String"),
    related_udf(name = "sentiment_label"),
    related_udf(name = "sentiment")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentScoreFunc {
    signature: Signature,
    lexicon: LexiconChoice,
}

impl Default for SentimentScoreFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentScoreFunc {
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

impl ScalarUDFImpl for SentimentScoreFunc {
    fn name(&self) -> &str {
        "sentiment_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_function_args(self.name(), &args.args)?;
        evaluate::<CompoundOutput>(self.name(), text, self.lexicon.lexicon(), &args.config_options)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.lexicon.documentation().or_else(|| self.doc())
    }
}
