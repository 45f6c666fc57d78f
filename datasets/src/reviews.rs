//! The `reviews` table: product reviews whose text is composed from templates and vocabularies,
//! with a star rating that follows the text's sentiment, noisily.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::DatasetError;
use crate::rng::{Rng, cumulative, derive_seed};

pub(crate) const TABLE: &str = "reviews";
pub(crate) const PARTITION_COLUMN: &str = "review_date";
const STREAM: u64 = 1;
const PRODUCT_STREAM: u64 = 3;

pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("review_id", DataType::Int64, false),
        Field::new("product_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("rating", DataType::Int32, false),
        Field::new("review_text", DataType::Utf8, false),
    ]))
}

const PRODUCTS: &[&str] = &[
    "phone",
    "laptop",
    "blender",
    "jacket",
    "headset",
    "lamp",
    "coffee maker",
    "backpack",
    "keyboard",
    "vacuum",
    "watch",
    "tent",
    "kettle",
    "speaker",
    "mattress",
    "charger",
    "camera",
    "desk chair",
    "toaster",
    "monitor",
];
const ASPECTS: &[&str] = &[
    "battery",
    "screen",
    "price",
    "delivery",
    "packaging",
    "sound",
    "build quality",
    "customer service",
    "design",
    "fit",
    "material",
    "manual",
    "app",
    "camera",
    "charger",
    "color",
    "size",
    "setup",
    "warranty",
    "noise level",
];
const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "amazing",
    "fantastic",
    "solid",
    "nice",
    "perfect",
    "wonderful",
    "reliable",
    "impressive",
    "awesome",
    "superb",
    "lovely",
];
const NEGATIVE: &[&str] = &[
    "bad",
    "terrible",
    "awful",
    "poor",
    "horrible",
    "disappointing",
    "flimsy",
    "useless",
    "cheap",
    "broken",
    "slow",
    "noisy",
    "mediocre",
    "annoying",
];
const NEUTRAL: &[&str] = &[
    "okay",
    "fine",
    "average",
    "decent",
    "standard",
    "acceptable",
    "ordinary",
    "adequate",
];
const INTENSIFIERS: &[&str] = &[
    "very",
    "extremely",
    "really",
    "incredibly",
    "absolutely",
    "so",
    "super",
    "totally",
];
const NEGATED_IS: &[&str] = &["is not", "isn't", "wasn't", "was not", "is never"];
const POSITIVE_VERBS: &[&str] = &["love", "really like", "adore", "am happy with", "recommend"];
const NEGATIVE_VERBS: &[&str] = &[
    "hate",
    "regret buying",
    "am disappointed with",
    "can't stand",
    "dislike",
];
const NEUTRAL_VERBS: &[&str] = &["bought", "received", "ordered", "got", "picked up"];
const POSITIVE_CLOSERS: &[&str] = &[
    "Would buy again",
    "Highly recommend",
    "Five stars",
    "Worth every penny",
    "Love it",
    "Best purchase this year",
    "Great value",
];
const NEGATIVE_CLOSERS: &[&str] = &[
    "Returning it",
    "Do not buy",
    "Waste of money",
    "Never again",
    "Total waste",
    "One star",
    "Stay away",
];
const NEUTRAL_CLOSERS: &[&str] = &[
    "It does the job",
    "Nothing special",
    "As described",
    "Arrived on time",
    "Meh",
    "Used it for a week so far",
    "Time will tell",
];
const PEOPLE: &[&str] = &[
    "wife", "husband", "son", "daughter", "mom", "dad", "office", "kitchen",
];
const POSITIVE_EMOJI: &[&str] = &["😀", "😍", "👍", "❤️", "🎉", "😊", "⭐⭐⭐⭐⭐", "🙌"];
const NEGATIVE_EMOJI: &[&str] = &["😡", "👎", "😞", "💔", "🤬", "😤", "😠"];
const NEUTRAL_EMOJI: &[&str] = &["🤷", "😐", "🤔"];

/// Words of one polarity: +1, 0 or -1.
fn adjectives(polarity: i8) -> &'static [&'static str] {
    match polarity {
        1 => POSITIVE,
        -1 => NEGATIVE,
        _ => NEUTRAL,
    }
}

/// Builds review texts into a reused buffer and keeps the running sentiment score of the text:
/// +1 for a positive clause, -1 for a negative one, boosted by intensifiers, caps and "!",
/// flipped and damped by negation, and weighted towards the clause after "but" (as VADER does).
struct Composer<'a> {
    rng: &'a mut Rng,
    text: String,
    score: f64,
}

impl Composer<'_> {
    fn word(&mut self, word: &str, caps: bool) {
        if caps {
            self.text.extend(word.chars().map(|c| c.to_ascii_uppercase()));
        } else {
            self.text.push_str(word);
        }
    }

    /// "very great", "AWFUL", "okay"; returns the clause's score.
    fn adjective(&mut self, polarity: i8) -> f64 {
        let mut weight = f64::from(polarity);
        if polarity != 0 && self.rng.chance(0.25) {
            let intensifier = *self.rng.pick(INTENSIFIERS);
            self.text.push_str(intensifier);
            self.text.push(' ');
            weight *= 1.4;
        }
        let caps = polarity != 0 && self.rng.chance(0.07);
        if caps {
            weight *= 1.3;
        }
        let adjective = *self.rng.pick(adjectives(polarity));
        self.word(adjective, caps);
        weight
    }

    fn aspect_clause(&mut self, polarity: i8, product: &str) -> f64 {
        if self.rng.chance(0.2) {
            let _ = write!(self.text, "the {product} is ");
        } else {
            let aspect = *self.rng.pick(ASPECTS);
            let _ = write!(self.text, "the {aspect} is ");
        }
        self.adjective(polarity)
    }

    fn sentence_start(&mut self) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
    }

    /// Uppercases the first letter of the sentence that starts at `start` (all templates are ASCII).
    fn capitalize_from(&mut self, start: usize) {
        if let Some(first) = self.text.get_mut(start..start + 1) {
            first.make_ascii_uppercase();
        }
    }

    fn end(&mut self, polarity: i8) {
        let excited = polarity != 0 && self.rng.chance(0.2);
        if excited {
            self.text.push_str(if self.rng.chance(0.3) { "!!!" } else { "!" });
            self.score += 0.2 * f64::from(polarity);
        } else {
            self.text.push('.');
        }
        if self.rng.chance(0.1) {
            let emoji = match polarity {
                1 => *self.rng.pick(POSITIVE_EMOJI),
                -1 => *self.rng.pick(NEGATIVE_EMOJI),
                _ => *self.rng.pick(NEUTRAL_EMOJI),
            };
            self.text.push(' ');
            self.text.push_str(emoji);
            self.score += 0.5 * f64::from(polarity);
        }
    }

    /// Writes one sentence. A sentence against the review's mood (`contrary`) is always a plain
    /// aspect remark, so a review never ends up both recommending and warning off.
    fn sentence(&mut self, polarity: i8, product: &str, contrary: bool) {
        self.sentence_start();
        let start = self.text.len();
        let kind = if contrary { 99 } else { self.rng.below(100) };
        match kind {
            // "The screen is great but the battery is awful."
            0..12 if polarity != 0 => {
                let first = self.aspect_clause(-polarity, product);
                self.text.push_str(" but ");
                let second = self.aspect_clause(polarity, product);
                self.score += 0.5 * first + 1.5 * second;
            }
            // "The battery isn't great." reads negative: negation flips and damps.
            12..30 if polarity != 0 => {
                let aspect = *self.rng.pick(ASPECTS);
                let negated = *self.rng.pick(NEGATED_IS);
                let _ = write!(self.text, "the {aspect} {negated} ");
                let weight = self.adjective(-polarity);
                self.score -= 0.74 * weight;
            }
            30..45 => {
                let verb = match polarity {
                    1 => *self.rng.pick(POSITIVE_VERBS),
                    -1 => *self.rng.pick(NEGATIVE_VERBS),
                    _ => *self.rng.pick(NEUTRAL_VERBS),
                };
                let _ = write!(self.text, "I {verb} this {product}");
                if polarity == 0 && self.rng.chance(0.5) {
                    let person = *self.rng.pick(PEOPLE);
                    let _ = write!(self.text, " for my {person}");
                }
                self.score += f64::from(polarity);
            }
            45..62 => {
                let closer = match polarity {
                    1 => *self.rng.pick(POSITIVE_CLOSERS),
                    -1 => *self.rng.pick(NEGATIVE_CLOSERS),
                    _ => *self.rng.pick(NEUTRAL_CLOSERS),
                };
                let shout = polarity != 0 && self.rng.chance(0.15);
                self.word(closer, shout);
                self.score += f64::from(polarity) * if shout { 1.3 } else { 1.0 };
            }
            62..70 => {
                let _ = write!(self.text, "honestly, it is ");
                let weight = self.adjective(polarity);
                self.score += weight;
            }
            _ => {
                let weight = self.aspect_clause(polarity, product);
                self.score += weight;
            }
        }
        self.capitalize_from(start);
        self.end(polarity);
    }
}

/// Per-product traits derived from the seed, so a product keeps its kind and its quality on every day.
fn product_traits(seed: u64, product: usize) -> (&'static str, f64) {
    let mut rng = Rng::new(derive_seed(seed, &[PRODUCT_STREAM, product as u64]));
    let kind = *rng.pick(PRODUCTS);
    let quality = rng.uniform(-1.0, 1.0);
    (kind, quality)
}

/// Number of distinct products and customers for a table of `reviews` rows.
fn population(reviews: usize) -> (usize, usize) {
    ((reviews / 25).clamp(20, 200_000), (reviews / 3).max(10))
}

/// Generates day `day` of the reviews table: `rows` reviews with ids following `first_id`.
pub(crate) fn day_batch(
    seed: u64,
    total: usize,
    day: usize,
    rows: usize,
    first_id: usize,
) -> Result<RecordBatch, DatasetError> {
    let mut rng = Rng::new(derive_seed(seed, &[STREAM, day as u64]));
    let (products, customers) = population(total);
    let sentence_counts = cumulative(&[30, 30, 24, 11, 5]);

    let mut review_ids = Vec::with_capacity(rows);
    let mut product_ids = Vec::with_capacity(rows);
    let mut customer_ids = Vec::with_capacity(rows);
    let mut ratings = Vec::with_capacity(rows);
    let mut texts = StringBuilder::with_capacity(rows, rows * 110);
    let mut text = String::with_capacity(512);

    for i in 0..rows {
        // Squaring a uniform skews reviews towards the popular (low-numbered) products.
        let u = rng.unit();
        let product = ((u * u * products as f64) as usize).min(products - 1);
        let (kind, quality) = product_traits(seed, product);
        let customer = rng.below(customers);

        // The reviewer's overall mood; better products get more positive reviews.
        let mood = rng.unit() + 0.15 * quality;
        let polarity: i8 = if mood < 0.25 {
            -1
        } else if mood < 0.37 {
            0
        } else {
            1
        };
        let sentences = rng.weighted(&sentence_counts) + 1;

        text.clear();
        let mut composer = Composer {
            rng: &mut rng,
            text,
            score: 0.0,
        };
        for _ in 0..sentences {
            let roll = composer.rng.below(100);
            let (sentence_polarity, contrary) = match roll {
                0..72 => (polarity, false),
                72..90 => (0, false),
                _ => (-polarity, polarity != 0),
            };
            composer.sentence(sentence_polarity, kind, contrary);
        }
        let score = composer.score;
        text = composer.text;

        let rating = if rng.chance(0.06) {
            rng.range_inclusive(1, 5) as f64
        } else {
            let compound = score / (score * score + 3.0).sqrt();
            3.0 + 2.2 * compound + 0.6 * rng.normal()
        };

        review_ids.push((first_id + i + 1) as i64);
        product_ids.push(product as i64 + 1);
        customer_ids.push(customer as i64 + 1);
        ratings.push(rating.round().clamp(1.0, 5.0) as i32);
        texts.append_value(&text);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(review_ids)),
        Arc::new(Int64Array::from(product_ids)),
        Arc::new(Int64Array::from(customer_ids)),
        Arc::new(Int32Array::from(ratings)),
        Arc::new(texts.finish()),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|source| DatasetError::Arrow { table: TABLE, source })
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    fn sample(rows: usize) -> RecordBatch {
        day_batch(42, rows, 0, rows, 0).unwrap()
    }

    #[test]
    fn texts_have_the_advertised_variety() {
        let batch = sample(5_000);
        let texts = batch.column(4).as_string::<i32>();
        let count = |pred: &dyn Fn(&str) -> bool| texts.iter().flatten().filter(|t| pred(t)).count();
        assert!(count(&|t| t.contains(" but ")) > 100);
        assert!(count(&|t| t.contains("n't ") || t.contains(" not ")) > 100);
        assert!(
            count(&|t| t
                .split(' ')
                .any(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase())))
                > 100
        );
        assert!(count(&|t| !t.is_ascii()) > 100);
        assert!(count(&|t| t.contains("extremely") || t.contains("very ")) > 50);
        let lengths: Vec<usize> = texts.iter().flatten().map(|t| t.split(' ').count()).collect();
        assert!(lengths.iter().any(|&n| n <= 3));
        assert!(lengths.iter().any(|&n| n >= 30));
        assert_eq!(texts.null_count(), 0);
    }

    #[test]
    fn ratings_follow_sentiment() {
        let batch = sample(5_000);
        let texts = batch.column(4).as_string::<i32>();
        let ratings = batch.column(3).as_primitive::<Int32Type>();
        let mean_for = |word: &str| {
            let picked: Vec<i32> = texts
                .iter()
                .zip(ratings.iter())
                .filter_map(|(t, r)| t.filter(|t| t.contains(word)).and(r))
                .collect();
            picked.iter().sum::<i32>() as f64 / picked.len() as f64
        };
        assert!(ratings.iter().flatten().all(|r| (1..=5).contains(&r)));
        assert!(
            mean_for("Highly recommend") > 3.8,
            "{}",
            mean_for("Highly recommend")
        );
        assert!(mean_for("Waste of money") < 2.2, "{}", mean_for("Waste of money"));
        for star in 1..=5 {
            assert!(ratings.iter().flatten().any(|r| r == star));
        }
    }

    #[test]
    fn ids_continue_across_days() {
        let batch = day_batch(1, 100, 3, 10, 40).unwrap();
        let ids = batch.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(ids.value(0), 41);
        assert_eq!(ids.value(9), 50);
    }
}
