//! Exact TreeSHAP: each feature's contribution to a row's score, so that the base value (the
//! forest's expected score over its training data) plus the contributions is the score.
//!
//! The algorithm is Lundberg, Erion and Lee's path-dependent TreeSHAP ("Consistent
//! Individualized Feature Attribution for Tree Ensembles", 2018, Algorithm 2), ported from the
//! `shap` package's C++ (`tree_shap_recursive`, `extend_path`, `unwind_path`,
//! `unwound_path_sum`). It needs each node's cover, the training weight that reached it, which
//! forests trained since covers were stored keep. Contributions are in probability space: a
//! forest's score is the mean of its trees' leaf probabilities, and so are its contributions.

use crate::forest::{Forest, LEAF, MISSING_LEFT, Node};

/// One feature on the path from the root, with the fractions of the zero (feature unknown) and
/// one (feature known) paths that flow through, and the path's permutation weight.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

impl Forest {
    /// Whether the forest keeps its nodes' covers, which explaining needs.
    pub(crate) fn explainable(&self) -> bool {
        !self.nodes.is_empty() && self.covers.len() == self.nodes.len()
    }

    /// The forest's base value: the mean over trees of each tree's expected leaf value under its
    /// training covers. `None` without covers.
    pub(crate) fn base_value(&self) -> Option<f64> {
        if !self.explainable() {
            return None;
        }
        let sum: f64 = self
            .roots
            .iter()
            .map(|&r| {
                let r = r as usize;
                expected(&self.nodes[r..], &self.covers[r..], 0)
            })
            .sum();
        Some(self.logit_base.unwrap_or(0.0) + sum * self.tree_scale())
    }

    /// Adds each feature's contribution to the score of row `x` (encoded features) into `phi`
    /// (one entry per feature). `false` without covers.
    #[cfg(test)]
    pub(crate) fn shap_row(&self, x: &[f64], phi: &mut [f64]) -> bool {
        let mut buf = self.path_buffer();
        self.shap_row_with(x, phi, &mut buf)
    }

    /// A scratch buffer for [`Forest::shap_row_with`]: room for the path of every level of the
    /// deepest tree, as shap lays it out (level `d` after level `d - 1`).
    pub(crate) fn path_buffer(&self) -> Vec<PathElement> {
        let depth = self.deepest() + 3;
        vec![PathElement::default(); depth * (depth + 1) / 2]
    }

    /// [`Forest::shap_row`] with a buffer from [`Forest::path_buffer`], reused between rows.
    pub(crate) fn shap_row_with(&self, x: &[f64], phi: &mut [f64], buf: &mut [PathElement]) -> bool {
        if !self.explainable() {
            return false;
        }
        let scale = self.tree_scale();
        for &r in &self.roots {
            let r = r as usize;
            let tree = Tree {
                nodes: &self.nodes[r..],
                covers: &self.covers[r..],
                x,
                scale,
            };
            tree.recurse(phi, 0, buf, 0, 0, 1.0, 1.0, -1);
        }
        true
    }

    /// See [`crate::Model::to_shap_json`]; the forest must be [`explainable`](Forest::explainable).
    pub(crate) fn to_shap_json(&self) -> serde_json::Value {
        let scale = self.tree_scale();
        let trees: Vec<serde_json::Value> = (0..self.roots.len())
            .map(|t| {
                let start = self.roots[t] as usize;
                let end = self.roots.get(t + 1).map_or(self.nodes.len(), |&r| r as usize);
                let (nodes, covers) = (&self.nodes[start..end], &self.covers[start..end]);
                let child = |i: usize, right: bool| -> i64 {
                    let n = nodes[i];
                    if n.feature == LEAF {
                        -1
                    } else {
                        i64::from(n.left) + i64::from(right)
                    }
                };
                let (mut left, mut right, mut default) = (vec![], vec![], vec![]);
                let (mut features, mut thresholds, mut values) = (vec![], vec![], vec![]);
                for (i, n) in nodes.iter().enumerate() {
                    left.push(child(i, false));
                    right.push(child(i, true));
                    default.push(child(i, n.flags & MISSING_LEFT == 0));
                    let leaf = n.feature == LEAF;
                    features.push(if leaf { -2 } else { i64::from(n.feature) });
                    // JSON has no infinities (a split that only separates missing values has
                    // threshold +inf): they are written as strings, which Python's float() reads.
                    thresholds.push(match n.threshold {
                        _ if leaf => serde_json::json!(0.0),
                        t if t.is_infinite() => serde_json::json!(if t > 0.0 { "inf" } else { "-inf" }),
                        t => serde_json::json!(t),
                    });
                    values.push(vec![expected(nodes, covers, i) * scale]);
                }
                serde_json::json!({
                    "children_left": left,
                    "children_right": right,
                    "children_default": default,
                    "features": features,
                    "thresholds": thresholds,
                    "values": values,
                    "node_sample_weight": covers,
                })
            })
            .collect();
        serde_json::json!({
            "trees": trees,
            "base_offset": self.logit_base.unwrap_or(0.0),
            "tree_output": "raw_value",
        })
    }

    /// Each row's contribution of each feature, feature-major (feature `f` of row `r` at
    /// `f * rows + r`), for `columns` of encoded features: by the batch algorithm of
    /// [`crate::fast_shap`] when `batch` is set and the forest allows it, else by the path
    /// algorithm row by row. The forest must be [`explainable`](Forest::explainable).
    pub(crate) fn contributions(&self, columns: &[Vec<f64>], rows: usize, batch: bool) -> Vec<f64> {
        let features = columns.len();
        let mut phi = vec![0.0; rows * features];
        if let Some(paths) = self.leaf_paths().filter(|_| batch) {
            paths.explain(columns, rows, &mut phi);
            return phi;
        }
        let mut x = vec![0.0; features];
        let mut row = vec![0.0; features];
        let mut buf = self.path_buffer();
        for r in 0..rows {
            for (v, column) in x.iter_mut().zip(columns) {
                *v = column[r];
            }
            row.fill(0.0);
            self.shap_row_with(&x, &mut row, &mut buf);
            for (f, v) in row.iter().enumerate() {
                phi[f * rows + r] = *v;
            }
        }
        phi
    }

    /// The most splits on any root-to-leaf path.
    fn deepest(&self) -> usize {
        let mut deepest = 0;
        for &r in &self.roots {
            let tree = &self.nodes[r as usize..];
            let mut open = vec![(0usize, 0usize)];
            while let Some((node, depth)) = open.pop() {
                let n = tree[node];
                if n.feature == LEAF {
                    deepest = deepest.max(depth);
                } else {
                    open.push((n.left as usize, depth + 1));
                    open.push((n.left as usize + 1, depth + 1));
                }
            }
        }
        deepest
    }
}

/// One tree being explained for one row.
struct Tree<'a> {
    nodes: &'a [Node],
    covers: &'a [f64],
    x: &'a [f64],
    /// Each tree's share of the forest's score.
    scale: f64,
}

impl Tree<'_> {
    /// shap's `tree_shap_recursive`: the parent's path is `buf[parent..parent + depth + 1]`; this
    /// node's path goes right after it, extended by the split that led here.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        phi: &mut [f64],
        node: usize,
        buf: &mut [PathElement],
        parent: usize,
        depth: usize,
        zero: f64,
        one: f64,
        feature: i64,
    ) {
        let at = parent + depth + 1;
        buf.copy_within(parent..parent + depth + 1, at);
        extend(&mut buf[at..], depth, zero, one, feature);
        let n = self.nodes[node];
        if n.feature == LEAF {
            let path = &buf[at..=at + depth];
            for i in 1..=depth {
                let w = unwound_sum(path, depth, i);
                let el = path[i];
                phi[el.feature as usize] += w * (el.one - el.zero) * n.threshold * self.scale;
            }
            return;
        }
        let value = self.x.get(n.feature as usize).copied().unwrap_or(f64::NAN);
        let go_left = value <= n.threshold || (value.is_nan() && n.flags & MISSING_LEFT != 0);
        let (l, r) = (n.left as usize, n.left as usize + 1);
        let (hot, cold) = if go_left { (l, r) } else { (r, l) };
        let w = self.covers[node].max(f64::MIN_POSITIVE);
        let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
        let split = i64::from(n.feature);
        let mut depth = depth;
        if let Some(k) = buf[at..=at + depth].iter().position(|e| e.feature == split) {
            incoming_zero = buf[at + k].zero;
            incoming_one = buf[at + k].one;
            unwind(&mut buf[at..], depth, k);
            depth -= 1;
        }
        let hot_zero = self.covers[hot] / w * incoming_zero;
        let cold_zero = self.covers[cold] / w * incoming_zero;
        self.recurse(phi, hot, buf, at, depth + 1, hot_zero, incoming_one, split);
        self.recurse(phi, cold, buf, at, depth + 1, cold_zero, 0.0, split);
    }
}

/// The expected leaf value of the subtree at `node`, weighted by covers.
fn expected(tree: &[Node], covers: &[f64], node: usize) -> f64 {
    let n = tree[node];
    if n.feature == LEAF {
        return n.threshold;
    }
    let (l, r) = (n.left as usize, n.left as usize + 1);
    let w = covers[node].max(f64::MIN_POSITIVE);
    (covers[l] * expected(tree, covers, l) + covers[r] * expected(tree, covers, r)) / w
}

/// shap's `extend_path`: the path `path[..depth]` gets element `depth`.
fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let denom = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / denom;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / denom;
    }
}

/// shap's `unwind_path`: the path `path[..=depth]` without element `index` (its last slot is then
/// unused).
fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let d = depth;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut next = path[d].weight;
    let denom = (d + 1) as f64;
    for i in (0..d).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * denom / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (d - i) as f64 / denom;
        } else {
            path[i].weight = path[i].weight * denom / (zero * (d - i) as f64);
        }
    }
    for i in index..d {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// shap's `unwound_path_sum`: the total weight of the path `path[..=depth]` without element `index`.
fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let d = depth;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[d].weight;
        for i in (0..d).rev() {
            let tmp = next / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i) as f64;
        }
    } else {
        for i in (0..d).rev() {
            total += path[i].weight / (zero * (d - i) as f64);
        }
    }
    total * (d + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A random tree over `features` features, `depth` deep at most, with random leaf covers and
    /// each split's cover the sum of its children's.
    fn random_tree(rng: &mut Rng, features: usize, depth: u32) -> (Vec<Node>, Vec<f64>) {
        fn grow(
            rng: &mut Rng,
            features: usize,
            depth: u32,
            nodes: &mut Vec<Node>,
            covers: &mut Vec<f64>,
            at: usize,
        ) {
            if depth == 0 || rng.below(4) == 0 {
                nodes[at] = Node::leaf(rng.below(1000) as f64 / 1000.0);
                covers[at] = 1.0 + rng.below(50) as f64;
                return;
            }
            let left = nodes.len();
            nodes.push(Node::leaf(0.0));
            nodes.push(Node::leaf(0.0));
            covers.push(0.0);
            covers.push(0.0);
            nodes[at] = Node {
                threshold: rng.below(10) as f64,
                feature: rng.below(features) as u16,
                flags: if rng.below(2) == 0 { MISSING_LEFT } else { 0 },
                left: left as u32,
            };
            grow(rng, features, depth - 1, nodes, covers, left);
            grow(rng, features, depth - 1, nodes, covers, left + 1);
            covers[at] = covers[left] + covers[left + 1];
        }
        let mut nodes = vec![Node::leaf(0.0)];
        let mut covers = vec![0.0];
        grow(rng, features, depth, &mut nodes, &mut covers, 0);
        (nodes, covers)
    }

    /// The tree's expected value given only the features in `known` (a bit set) of `x`: splits on
    /// other features average their children by cover (the path-dependent definition).
    fn conditional(tree: &[Node], covers: &[f64], x: &[f64], known: u32, node: usize) -> f64 {
        let n = tree[node];
        if n.feature == LEAF {
            return n.threshold;
        }
        let (l, r) = (n.left as usize, n.left as usize + 1);
        if known & (1 << n.feature) != 0 {
            let v = x[n.feature as usize];
            let left = v <= n.threshold || (v.is_nan() && n.flags & MISSING_LEFT != 0);
            conditional(tree, covers, x, known, if left { l } else { r })
        } else {
            (covers[l] * conditional(tree, covers, x, known, l)
                + covers[r] * conditional(tree, covers, x, known, r))
                / covers[node]
        }
    }

    /// Shapley values by enumerating every subset of the features.
    fn brute_force(forest: &Forest, x: &[f64]) -> Vec<f64> {
        let m = x.len();
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let mut phi = vec![0.0; m];
        for &root in &forest.roots {
            let r = root as usize;
            let (tree, covers) = (&forest.nodes[r..], &forest.covers[r..]);
            for (i, p) in phi.iter_mut().enumerate() {
                for s in 0u32..(1 << m) {
                    if s & (1 << i) != 0 {
                        continue;
                    }
                    let size = s.count_ones() as usize;
                    let weight = fact(size) * fact(m - size - 1) / fact(m);
                    let with = conditional(tree, covers, x, s | (1 << i), 0);
                    let without = conditional(tree, covers, x, s, 0);
                    *p += weight * (with - without) / forest.roots.len() as f64;
                }
            }
        }
        phi
    }

    #[test]
    fn contributions_are_the_shapley_values_and_add_up_to_the_score() {
        let mut rng = Rng::new(7);
        for case in 0..40 {
            let features = 1 + rng.below(5);
            let mut forest = Forest::default();
            for _ in 0..1 + rng.below(4) {
                let depth = 1 + rng.below(6) as u32;
                let (nodes, covers) = random_tree(&mut rng, features, depth);
                forest.push_tree(&nodes);
                forest.covers.extend(covers);
            }
            let x: Vec<f64> = (0..features)
                .map(|_| {
                    if rng.below(6) == 0 {
                        f64::NAN
                    } else {
                        rng.below(12) as f64 - 1.0
                    }
                })
                .collect();
            let mut phi = vec![0.0; features];
            assert!(forest.shap_row(&x, &mut phi));
            let exact = brute_force(&forest, &x);
            for (a, b) in phi.iter().zip(&exact) {
                assert!((a - b).abs() < 1e-12, "case {case}: {phi:?} vs {exact:?}");
            }
            let columns: Vec<Vec<f64>> = x.iter().map(|v| vec![*v]).collect();
            let score = forest.predict_reference(&columns, 1)[0];
            let total = forest.base_value().unwrap() + phi.iter().sum::<f64>();
            assert!((total - score).abs() < 1e-12, "case {case}: {total} vs {score}");
        }
    }

    #[test]
    fn a_forest_without_covers_is_not_explained() {
        let mut forest = Forest::default();
        forest.push_tree(&[Node::leaf(0.5)]);
        assert!(!forest.explainable());
        assert_eq!(forest.base_value(), None);
        assert!(!forest.shap_row(&[1.0], &mut [0.0]));
    }
}
