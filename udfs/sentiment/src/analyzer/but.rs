//! VADER's "but" rule: sentiments before the first "but" halved, after it scaled by 1.5, with the
//! reference's quirk of rewriting the first equal value.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// `_but_check` exactly as written: it walks the list by position but rewrites the *first* element
/// equal to the current value (`list.index`), halving before the first "but" and multiplying by 1.5
/// after it.
pub(super) fn but_check_naive(sentiments: &mut [f64], bi: usize) {
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let j = sentiments.iter().position(|&x| x == value).unwrap_or(k);
        if j < bi {
            sentiments[j] = value * 0.5;
        } else if j > bi {
            sentiments[j] = value * 1.5;
        }
    }
}

/// Key of a value under Python float equality (0.0 == -0.0; valences are never NaN).
fn equality_key(value: f64) -> u64 {
    if value == 0.0 { 0 } else { value.to_bits() }
}

/// The same rewrite as [`but_check_naive`] with, per value, a min-heap of the positions holding it.
/// Position `k` is untouched until visited (rewrites only hit positions at or before the visited one),
/// and the rewritten position is always the smallest holding the value, so a pop-min suffices.
pub(super) fn but_check_indexed(
    sentiments: &mut [f64],
    bi: usize,
    index: &mut HashMap<u64, BinaryHeap<Reverse<usize>>>,
) {
    index.clear();
    for (position, &value) in sentiments.iter().enumerate() {
        index
            .entry(equality_key(value))
            .or_default()
            .push(Reverse(position));
    }
    for k in 0..sentiments.len() {
        let value = sentiments[k];
        let key = equality_key(value);
        let Some(&Reverse(j)) = index.get(&key).and_then(BinaryHeap::peek) else {
            continue;
        };
        let new_value = if j < bi {
            value * 0.5
        } else if j > bi {
            value * 1.5
        } else {
            continue;
        };
        let new_key = equality_key(new_value);
        if new_key == key {
            sentiments[j] = new_value;
            continue;
        }
        if let Some(heap) = index.get_mut(&key) {
            heap.pop();
        }
        index.entry(new_key).or_default().push(Reverse(j));
        sentiments[j] = new_value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::next;

    #[test]
    fn indexed_but_check_equals_the_reference_loop() {
        let palette = [
            0.0, -0.0, 1.9, 0.95, 2.85, -1.2, -0.6, 1.425, 3.0, 0.5, 0.75, 1.125,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = 1 + (next(&mut state) % 40) as usize;
            let values: Vec<f64> = (0..len)
                .map(|_| palette[(next(&mut state) % palette.len() as u64) as usize])
                .collect();
            let bi = (next(&mut state) % len as u64) as usize;
            let mut naive = values.clone();
            but_check_naive(&mut naive, bi);
            let mut indexed = values.clone();
            but_check_indexed(&mut indexed, bi, &mut HashMap::new());
            assert_eq!(naive, indexed, "round {round}: {values:?} but at {bi}");
        }
    }

    #[test]
    fn but_check_rewrites_first_equal_value() {
        // [1.9, but, 1.9]: the first 1.9 is halved, so the second one finds itself.
        let mut s = vec![1.9, 0.0, 1.9];
        but_check_naive(&mut s, 1);
        assert_eq!(s, vec![0.95, 0.0, 1.9 * 1.5]);
        // [0.95, 1.9, but]: 0.95 -> 0.475, then 1.9 -> 0.95.
        let mut s = vec![0.95, 1.9, 0.0];
        but_check_naive(&mut s, 2);
        assert_eq!(s, vec![0.475, 0.95, 0.0]);
        // [1.9, 0.95, but]: 1.9 -> 0.95 at 0; then 0.95 at 1 finds position 0 -> 0.475; position 1 stays.
        let mut s = vec![1.9, 0.95, 0.0];
        but_check_naive(&mut s, 2);
        assert_eq!(s, vec![0.475, 0.95, 0.0]);
    }
}
