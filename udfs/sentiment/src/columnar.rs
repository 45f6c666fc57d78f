//! The analyzer over whole Arrow arrays and DataFusion values: one [`Analyzer`] (and its scratch
//! buffers) per array, dictionaries scored once per distinct value.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, NullBufferBuilder, StringArrayType, StringBuilder, StructArray,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::types::logical_string;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{
    Coercion, ColumnarValue, EncodingPreservation, Signature, TypeSignature, TypeSignatureClass, Volatility,
};
use nightshift_udf_common::RecordErrors;

use crate::analyzer::{Analyzer, Scores};
use crate::lexicon::Lexicon;

/// How a function turns [`Scores`] into an output column.
pub(crate) trait ScoresOutput {
    /// An empty output with room for `capacity` rows.
    fn with_capacity(capacity: usize) -> Self;
    /// Appends one row; `None` for a NULL input.
    fn push(&mut self, scores: Option<Scores>);
    /// The finished column.
    fn finish(self) -> ArrayRef;
}

/// Evaluates a string function over a DataFusion argument, keeping scalars scalar. Texts that are not
/// UTF-8 (binary arguments) follow the session's `nightshift.on_record_error` policy.
pub(crate) fn evaluate<O: ScoresOutput>(
    name: &str,
    arg: &ColumnarValue,
    lexicon: &'static Lexicon,
    config: &ConfigOptions,
) -> Result<ColumnarValue> {
    let errors = RecordErrors::from_config(config);
    match arg {
        ColumnarValue::Array(array) => {
            if let Some(e) = errors {
                // Logical nulls: a dictionary's NULL values and a NULL-typed column are not evaluated.
                e.sink().add_evaluated(array.len() - array.logical_null_count());
            }
            Ok(ColumnarValue::Array(evaluate_array::<O>(
                name, array, lexicon, errors,
            )?))
        }
        ColumnarValue::Scalar(scalar) => {
            let array = scalar.to_array_of_size(1)?;
            let out = evaluate_array::<O>(name, &array, lexicon, errors)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        }
    }
}

/// Scores every row of a Utf8, LargeUtf8, Utf8View, binary or dictionary-of-those array.
pub(crate) fn evaluate_array<O: ScoresOutput>(
    name: &str,
    array: &dyn Array,
    lexicon: &'static Lexicon,
    errors: Option<&RecordErrors>,
) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Utf8 => Ok(score_strings::<O, _>(array.as_string::<i32>(), lexicon)),
        DataType::LargeUtf8 => Ok(score_strings::<O, _>(array.as_string::<i64>(), lexicon)),
        DataType::Utf8View => Ok(score_strings::<O, _>(array.as_string_view(), lexicon)),
        DataType::Binary => score_bytes::<O>(
            name,
            array.as_binary::<i32>().iter(),
            array.len(),
            lexicon,
            errors,
        ),
        DataType::LargeBinary => score_bytes::<O>(
            name,
            array.as_binary::<i64>().iter(),
            array.len(),
            lexicon,
            errors,
        ),
        DataType::BinaryView => {
            score_bytes::<O>(name, array.as_binary_view().iter(), array.len(), lexicon, errors)
        }
        DataType::FixedSizeBinary(_) => score_bytes::<O>(
            name,
            array.as_fixed_size_binary().iter(),
            array.len(),
            lexicon,
            errors,
        ),
        DataType::Null => {
            let mut out = O::with_capacity(array.len());
            (0..array.len()).for_each(|_| out.push(None));
            Ok(out.finish())
        }
        DataType::Dictionary(_, _) => match array.as_any_dictionary_opt() {
            Some(dictionary) if is_binary(dictionary.values().data_type()) => {
                // A binary value may not be UTF-8: score row by row, so that the policy fails on, counts
                // and keeps each record that uses a bad value, and never on a value no row uses.
                let rows = take(dictionary.values().as_ref(), dictionary.keys(), None)?;
                evaluate_array::<O>(name, rows.as_ref(), lexicon, errors)
            }
            Some(dictionary) => {
                let values = evaluate_array::<O>(name, dictionary.values().as_ref(), lexicon, errors)?;
                Ok(take(values.as_ref(), dictionary.keys(), None)?)
            }
            None => exec_err!("{name}: unsupported dictionary array {}", array.data_type()),
        },
        other => exec_err!("{name} expects a string argument, got {other}"),
    }
}

fn is_binary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
    )
}

fn score_strings<'a, O: ScoresOutput, V: StringArrayType<'a>>(
    array: V,
    lexicon: &'static Lexicon,
) -> ArrayRef {
    let mut analyzer = Analyzer::with_lexicon(lexicon);
    let mut out = O::with_capacity(array.len());
    if array.null_count() == 0 {
        for i in 0..array.len() {
            out.push(Some(analyzer.polarity_scores(array.value(i))));
        }
    } else {
        for i in 0..array.len() {
            out.push(
                array
                    .is_valid(i)
                    .then(|| analyzer.polarity_scores(array.value(i))),
            );
        }
    }
    out.finish()
}

/// Binary texts (Parquet byte arrays without a string annotation): each is checked for UTF-8, and one
/// that is not is a record error handled by the policy (NULL out, or the query fails).
fn score_bytes<'a, O: ScoresOutput>(
    name: &str,
    values: impl Iterator<Item = Option<&'a [u8]>>,
    len: usize,
    lexicon: &'static Lexicon,
    errors: Option<&RecordErrors>,
) -> Result<ArrayRef> {
    let mut analyzer = Analyzer::with_lexicon(lexicon);
    let mut out = O::with_capacity(len);
    for value in values {
        let Some(bytes) = value else {
            out.push(None);
            continue;
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => out.push(Some(analyzer.polarity_scores(text))),
            Err(e) => {
                let message = not_utf8(bytes, &e);
                match errors {
                    Some(errors) => errors.fail_record(name, bytes, message)?,
                    None => RecordErrors::default().fail_record(name, bytes, message)?,
                }
                out.push(None);
            }
        }
    }
    Ok(out.finish())
}

/// "a text is not valid UTF-8: byte 0xFF at offset 12 of 40 ("Great pro\u{FFFD}…")"
fn not_utf8(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    let at = e.valid_up_to();
    let preview: String = String::from_utf8_lossy(&bytes[..bytes.len().min(at + 8).min(64)])
        .chars()
        .take(40)
        .collect();
    format!(
        "a text is not valid UTF-8: byte 0x{:02X} at offset {at} of {} (\"{preview}…\")",
        bytes[at],
        bytes.len()
    )
}

/// `sentiment_score`: the compound score as Float64.
pub(crate) struct CompoundOutput {
    values: Vec<f64>,
    nulls: NullBufferBuilder,
}

impl ScoresOutput for CompoundOutput {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    #[inline]
    fn push(&mut self, scores: Option<Scores>) {
        self.values.push(scores.map_or(0.0, |s| s.compound));
        self.nulls.append(scores.is_some());
    }

    fn finish(mut self) -> ArrayRef {
        Arc::new(Float64Array::new(self.values.into(), self.nulls.finish()))
    }
}

/// `sentiment_label`: 'positive', 'negative' or 'neutral' as Utf8.
pub(crate) struct LabelOutput {
    builder: StringBuilder,
}

impl ScoresOutput for LabelOutput {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            builder: StringBuilder::with_capacity(capacity, capacity * 8),
        }
    }

    #[inline]
    fn push(&mut self, scores: Option<Scores>) {
        self.builder.append_option(scores.map(|s| s.label()));
    }

    fn finish(mut self) -> ArrayRef {
        Arc::new(self.builder.finish())
    }
}

/// The fields of `sentiment`'s struct result, in the reference's order.
pub(crate) fn scores_fields() -> Fields {
    ["neg", "neu", "pos", "compound"]
        .into_iter()
        .map(|name| Field::new(name, DataType::Float64, true))
        .collect()
}

/// `sentiment`: STRUCT<neg, neu, pos, compound>.
pub(crate) struct StructOutput {
    columns: [Vec<f64>; 4],
    nulls: NullBufferBuilder,
}

impl ScoresOutput for StructOutput {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            columns: std::array::from_fn(|_| Vec::with_capacity(capacity)),
            nulls: NullBufferBuilder::new(capacity),
        }
    }

    #[inline]
    fn push(&mut self, scores: Option<Scores>) {
        let s = scores.unwrap_or_default();
        let [neg, neu, pos, compound] = &mut self.columns;
        neg.push(s.neg);
        neu.push(s.neu);
        pos.push(s.pos);
        compound.push(s.compound);
        self.nulls.append(scores.is_some());
    }

    fn finish(mut self) -> ArrayRef {
        let nulls = self.nulls.finish();
        let columns: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|values| Arc::new(Float64Array::new(values.into(), nulls.clone())) as ArrayRef)
            .collect();
        Arc::new(StructArray::new(scores_fields(), columns, nulls))
    }
}

/// One argument of any string type, or binary (checked for UTF-8 row by row); dictionaries keep their
/// encoding so each distinct value is scored once.
pub(crate) fn string_signature() -> Signature {
    let text = |class| {
        TypeSignature::Coercible(vec![
            Coercion::new_exact(class).with_encoding_preservation(EncodingPreservation::dictionary()),
        ])
    };
    Signature::one_of(
        vec![
            text(TypeSignatureClass::Native(logical_string())),
            text(TypeSignatureClass::Binary),
        ],
        Volatility::Immutable,
    )
}
