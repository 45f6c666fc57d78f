//! Exact TreeSHAP for whole batches, leaf by leaf: the same values as the path algorithm of
//! `explain` (its port of shap's C++ stays as the reference the tests compare with), computed
//! about an order of magnitude faster.
//!
//! Path-dependent TreeSHAP explains each leaf's share of a tree's output separately: for a leaf
//! `l` with value `v`, and the distinct features `F` (|F| = k) of the splits on its path, the
//! game is `g(S) = v · Π_{j ∈ F} (j ∈ S ? o_j : z_j)`, where `z_j` is the share of training
//! weight that the path's splits on `j` let through (the product of their child/parent cover
//! ratios) and `o_j` is 1 when the row satisfies all of them, else 0. Writing `p` for the features
//! the row satisfies (m = |p|), `Q = F \ p`, `Z_Q = Π_{j ∈ Q} z_j`, `w(s) = s!(k-s-1)!/k!` and
//! `A(p) = Σ_{S ⊆ p} w(|S|) Π_{j ∈ p \ S} z_j`, the Shapley values of that game are
//!
//! - `φ_i = -v · Z_Q · A(p)` for every `i ∈ Q` (the same for each), and
//! - `φ_i = v · (1 - z_i) · Z_Q · A(p \ {i})` for every `i ∈ p`.
//!
//! `A` is the weighted sum of the coefficients of `P(t) = Π_{j ∈ p} (z_j + t)`, and
//! `A(p \ {i})` that of `P(t) / (z_i + t)`. A row's pattern at a leaf is which of the leaf's
//! distinct path features it satisfies every split of, and many rows of a batch share it, so a
//! leaf's contributions are kept in a table by pattern:
//!
//! - Patterns are built split by split: the trees are walked in preorder with each row's pattern
//!   at every depth of the current path (one comparison per row and split), and a leaf reads its
//!   rows' patterns from the depth above it instead of checking its `k` bounds again.
//! - When a block has at least as many rows as a leaf has patterns (`2^k`), most patterns occur,
//!   and the whole table is filled in O(2^k · k) from every sub-pattern's `A`; otherwise each
//!   pattern that occurs is computed on its own, in O(k + m³), with the same arithmetic, so that a
//!   row's explanation is the same to the last bit whatever rows share its batch.
//! - A row then costs a leaf `k` table look-ups and additions, two path features a pass.
//!
//! Measured on `benches/forest.rs` (see docs/benchmarks.md): the reason this module exists.

use crate::forest::{Forest, LEAF, MISSING_LEFT};

/// One distinct feature on a leaf's path, and the share of training weight that the path's splits
/// on it let through (the product of their cover ratios).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    feature: usize,
    z: f64,
}

/// A leaf: its value's share of the forest's score and its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    value: f64,
    start: usize,
    len: usize,
}

/// Paths with more distinct features than this are explained row by row, without a table. Trees
/// of unlimited depth on 15 features have paths of 13 to 15 of them: under 2% of the leaves, but
/// row by row they took a quarter of the time when this was 12.
const MAX_TABLE_BITS: usize = 16;

/// Patterns a table holds: each path feature's contributions take a fixed-size column of the
/// table, so that a pattern masked to it indexes the column without a bounds check.
const TABLE_PATTERNS: usize = 1 << MAX_TABLE_BITS;

/// Patterns are bit sets of a path's distinct features: a forest with a wider path is explained
/// by the path algorithm.
const MAX_PATH: usize = 64;

/// Rows explained together, leaf after leaf: their contributions (8 bytes × features each) stay in
/// L2, and each leaf's pattern table is reused by all of them.
const BLOCK: usize = 8192;

/// A forest's leaves as paths of bounds, built once per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LeafPaths {
    leaves: Vec<Leaf>,
    bounds: Vec<Bound>,
    /// `w(s)` for a path of `k` features at `weights[k * (k - 1) / 2 + s]`, `s < k`.
    weights: Vec<f64>,
    /// Most distinct features on one path.
    widest: usize,
    /// Each tree's nodes that lead to a leaf in `leaves`, in preorder.
    steps: Vec<Step>,
    /// Most splits above a leaf in `leaves`.
    deepest: usize,
}

/// What [`LeafPaths::explain`] does at a node, walking the trees in preorder with each row's
/// pattern at every depth of the current path: a pattern is built split by split, shared by the
/// leaves below, instead of checked bound by bound at every leaf.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// The patterns at `depth + 1`, for one side of a split at `depth`: bit `slot` (a path
    /// feature's position among the distinct features of the path, in order of first split) is
    /// set when the row goes that way, and when `new` is false, it also had to be set above.
    Child {
        depth: u16,
        feature: u16,
        threshold: f64,
        slot: u8,
        new: bool,
        left: bool,
        missing_left: bool,
    },
    /// A leaf of `leaves`, whose rows' patterns are those at `depth`.
    Leaf { depth: u16, leaf: u32 },
}

impl LeafPaths {
    /// The paths of `forest`; `None` without covers, or with a path of more than [`MAX_PATH`]
    /// distinct features.
    pub(crate) fn build(forest: &Forest) -> Option<Self> {
        if !forest.explainable() {
            return None;
        }
        let mut out = LeafPaths::default();
        let scale = forest.tree_scale();
        for (t, &root) in forest.roots.iter().enumerate() {
            let end = forest
                .roots
                .get(t + 1)
                .map_or(forest.nodes.len(), |&r| r as usize);
            let tree = TreeWalk {
                nodes: &forest.nodes[root as usize..end],
                covers: &forest.covers[root as usize..end],
                common: most_common_leaf_value(&forest.nodes[root as usize..end]),
                scale,
            };
            tree.walk(&mut out, 0, &mut Vec::new(), 0);
        }
        if out.widest > MAX_PATH {
            return None;
        }
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        for k in 1..=out.widest {
            for s in 0..k {
                out.weights.push(fact(s) * fact(k - s - 1) / fact(k));
            }
        }
        Some(out)
    }

    /// Adds each row's contributions to `phi` (`features × rows`, feature-major: the contribution
    /// of feature `f` to row `r` at `f * rows + r`): `columns` holds one slice of encoded values per
    /// feature (NaN = missing).
    pub(crate) fn explain(&self, columns: &[Vec<f64>], rows: usize, phi: &mut [f64]) {
        let mut scratch = Scratch::new(self.widest);
        // Each row's pattern at every depth of the path being walked; the root's is empty.
        let mut patterns = vec![vec![0u64; BLOCK.min(rows)]; self.deepest + 1];
        for start in (0..rows).step_by(BLOCK) {
            let n = BLOCK.min(rows - start);
            for step in &self.steps {
                match *step {
                    Step::Child {
                        depth,
                        feature,
                        threshold,
                        slot,
                        new,
                        left,
                        missing_left,
                    } => {
                        let (above, below) = patterns.split_at_mut(usize::from(depth) + 1);
                        let parent = &above[usize::from(depth)][..n];
                        let child = &mut below[0][..n];
                        let column = &columns[usize::from(feature)][start..start + n];
                        let slot = u32::from(slot);
                        // Whether the row goes this way: NaN compares false.
                        let goes = |x: f64| ((x <= threshold) | (missing_left & x.is_nan())) == left;
                        if new {
                            for ((c, &p), &x) in child.iter_mut().zip(parent).zip(column) {
                                *c = p | u64::from(goes(x)) << slot;
                            }
                        } else {
                            for ((c, &p), &x) in child.iter_mut().zip(parent).zip(column) {
                                *c = p & !(u64::from(!goes(x)) << slot);
                            }
                        }
                    }
                    Step::Leaf { depth, leaf } => {
                        let pattern = &patterns[usize::from(depth)][..n];
                        self.add_leaf(
                            &self.leaves[leaf as usize],
                            pattern,
                            start,
                            rows,
                            phi,
                            &mut scratch,
                        );
                    }
                }
            }
        }
    }

    /// Adds one leaf's contributions for the rows of a block (`pattern` holds theirs at the leaf).
    fn add_leaf(
        &self,
        leaf: &Leaf,
        pattern: &[u64],
        start: usize,
        rows: usize,
        phi: &mut [f64],
        scratch: &mut Scratch,
    ) {
        let n = pattern.len();
        let bounds = &self.bounds[leaf.start..leaf.start + leaf.len];
        let k = bounds.len();
        if k == 0 {
            return; // a single-leaf tree: no feature moves it
        }
        let weights = &self.weights[k * (k - 1) / 2..k * (k + 1) / 2];
        if k > MAX_TABLE_BITS {
            let mut out = std::mem::take(&mut scratch.entry);
            for (r, &p) in pattern.iter().enumerate() {
                scratch.contributions(bounds, weights, leaf.value, p, &mut out[..k]);
                for (b, c) in bounds.iter().zip(&out) {
                    phi[b.feature * rows + start + r] += c;
                }
            }
            scratch.entry = out;
            return;
        }
        // Fill the table for the block's patterns, then add feature by feature: the adds then
        // run along a feature's contributions without a dependency between rows.
        if n >= 1 << k {
            scratch.fill_all(bounds, weights, leaf.value);
        } else {
            scratch.next_leaf(k);
            for &p in pattern {
                scratch.fill(bounds, weights, leaf.value, p);
            }
        }
        // Two path features a pass: each row's pattern is loaded once for both.
        let mut j = 0;
        while j + 1 < k {
            let (f, g) = (bounds[j].feature, bounds[j + 1].feature);
            let (a, c) = (scratch.column(j), scratch.column(j + 1));
            let (low, high) = phi.split_at_mut(f.max(g) * rows);
            let first = &mut low[f.min(g) * rows + start..f.min(g) * rows + start + n];
            let second = &mut high[start..start + n];
            let (ta, tc) = if f < g { (a, c) } else { (c, a) };
            for ((x, y), &p) in first.iter_mut().zip(second.iter_mut()).zip(pattern) {
                let p = p as usize & (TABLE_PATTERNS - 1);
                *x += ta[p];
                *y += tc[p];
            }
            j += 2;
        }
        if j < k {
            let f = bounds[j].feature;
            let target = &mut phi[f * rows + start..f * rows + start + n];
            let column = scratch.column(j);
            for (t, &p) in target.iter_mut().zip(pattern) {
                *t += column[p as usize & (TABLE_PATTERNS - 1)];
            }
        }
    }
}

/// One tree while [`LeafPaths::build`] walks it.
struct TreeWalk<'a> {
    nodes: &'a [crate::forest::Node],
    covers: &'a [f64],
    /// The leaf value taken off every leaf (see [`most_common_leaf_value`]).
    common: f64,
    scale: f64,
}

impl TreeWalk<'_> {
    /// Adds node `i`'s subtree at `depth`, below a path with `path`'s bounds: its steps in
    /// preorder, and its leaves that do not hold the common value. Returns whether it added a
    /// leaf; a subtree without one adds no step either.
    fn walk(&self, out: &mut LeafPaths, i: usize, path: &mut Vec<Bound>, depth: usize) -> bool {
        let n = self.nodes[i];
        if n.feature == LEAF {
            if n.threshold == self.common {
                return false; // moves no feature (see `most_common_leaf_value`)
            }
            out.widest = out.widest.max(path.len());
            out.deepest = out.deepest.max(depth);
            out.steps.push(Step::Leaf {
                depth: depth as u16,
                leaf: out.leaves.len() as u32,
            });
            out.leaves.push(Leaf {
                value: (n.threshold - self.common) * self.scale,
                start: out.bounds.len(),
                len: path.len(),
            });
            out.bounds.extend_from_slice(path);
            return true;
        }
        let w = self.covers[i].max(f64::MIN_POSITIVE);
        let f = usize::from(n.feature);
        let missing_left = n.flags & MISSING_LEFT != 0;
        let mut any = false;
        for (child, left) in [(n.left as usize, true), (n.left as usize + 1, false)] {
            let existing = path.iter().position(|b| b.feature == f);
            let saved = existing.map(|at| path[at]);
            let slot = existing.unwrap_or_else(|| {
                path.push(Bound { feature: f, z: 1.0 });
                path.len() - 1
            });
            path[slot].z *= self.covers[child] / w;
            let mark = out.steps.len();
            out.steps.push(Step::Child {
                depth: depth as u16,
                feature: n.feature,
                threshold: n.threshold,
                // Wider paths fail `build` before any step runs.
                slot: slot.min(MAX_PATH) as u8,
                new: existing.is_none(),
                left,
                missing_left,
            });
            if self.walk(out, child, path, depth + 1) {
                any = true;
            } else {
                out.steps.truncate(mark);
            }
            match saved {
                Some(b) => path[slot] = b,
                None => {
                    path.pop();
                }
            }
        }
        any
    }
}

/// The value most of a tree's leaves hold (of equally common ones, the one with the lowest bits).
///
/// Contributions are linear in the leaf values, and a constant added to every leaf of a tree
/// changes its output for every row alike, which moves the base value but no contribution. So a
/// tree is explained with that value taken off its leaves, and its leaves that then hold zero
/// are left out: in a fraud model's trees, most leaves are pure (probability 0), and they cost
/// nothing.
fn most_common_leaf_value(nodes: &[crate::forest::Node]) -> f64 {
    let mut values: Vec<u64> = nodes
        .iter()
        .filter(|n| n.feature == LEAF)
        .map(|n| n.threshold.to_bits())
        .collect();
    values.sort_unstable();
    let (mut best, mut best_count) = (0u64, 0usize);
    for run in values.chunk_by(|a, b| a == b) {
        if run.len() > best_count {
            (best, best_count) = (run[0], run.len());
        }
    }
    f64::from_bits(best)
}

/// The per-leaf pattern table and the polynomial buffers.
struct Scratch {
    /// The contribution to path feature `j` for pattern `p` at `j * TABLE_PATTERNS + p`.
    table: Vec<f64>,
    /// One pattern's contributions, before they go to their columns.
    entry: Vec<f64>,
    /// The generation that filled each pattern's entry.
    filled: Vec<u32>,
    generation: u32,
    k: usize,
    poly: Vec<f64>,
    /// [`Scratch::contributions`]'s polynomials of a pattern's first features, `k + 1` apart.
    prefixes: Vec<f64>,
    /// The path features a pattern holds, for [`Scratch::contributions`].
    members: Vec<usize>,
    /// [`Scratch::fill_all`]'s polynomials, `MAX_TABLE_BITS + 1` coefficients per pattern.
    polys: Vec<f64>,
    /// `A(q)` by pattern `q`.
    sums: Vec<f64>,
    /// `Z` over the features a pattern leaves out, by pattern (then times the leaf value).
    left_out: Vec<f64>,
    /// The contribution each left-out feature of a pattern gets, by pattern.
    shared: Vec<f64>,
}

impl Scratch {
    fn new(widest: usize) -> Self {
        let bits = widest.min(MAX_TABLE_BITS);
        Scratch {
            table: vec![0.0; TABLE_PATTERNS * bits.max(1)],
            entry: vec![0.0; widest],
            filled: vec![0; 1 << bits],
            generation: 0,
            k: 0,
            poly: vec![0.0; widest + 1],
            prefixes: Vec::new(),
            members: Vec::new(),
            polys: Vec::new(),
            sums: Vec::new(),
            left_out: Vec::new(),
            shared: Vec::new(),
        }
    }

    /// Fills the whole table of a leaf with `k = bounds.len() ≤ MAX_TABLE_BITS` path features, in
    /// O(2^k · k): cheaper than [`Scratch::fill`] pattern by pattern (O(k · m) each) once a block
    /// holds about as many rows as the leaf has patterns, since then most patterns occur.
    ///
    /// `A(q)` (module docs) comes from `P_q(t) = P_{q'}(t) · (z_top + t)`, where `q'` is `q` without
    /// its highest feature, and the contribution of a feature `j ∈ p` is `A(p \ {j})`, another
    /// pattern's sum, instead of a polynomial division per feature and pattern.
    fn fill_all(&mut self, bounds: &[Bound], weights: &[f64], value: f64) {
        let k = bounds.len();
        let patterns = 1usize << k;
        const WIDTH: usize = MAX_TABLE_BITS + 1;
        self.polys.resize(patterns * WIDTH, 0.0);
        self.sums.resize(patterns, 0.0);
        self.left_out.resize(patterns, 0.0);
        self.shared.clear();
        self.polys[0] = 1.0;
        self.sums[0] = weighted(&[1.0], weights);
        for q in 1..patterns {
            let top = usize::BITS as usize - 1 - q.leading_zeros() as usize;
            let base = q ^ (1 << top);
            let m = base.count_ones() as usize;
            let z = bounds[top].z;
            let (done, rest) = self.polys.split_at_mut(q * WIDTH);
            let from = &done[base * WIDTH..base * WIDTH + m + 1];
            let to = &mut rest[..m + 2];
            times_factor(from, z, to);
            self.sums[q] = weighted(to, weights);
        }
        // Z over the left-out features: from the pattern with the lowest left-out one added.
        self.left_out[patterns - 1] = 1.0;
        for p in (0..patterns - 1).rev() {
            let low = (!p).trailing_zeros() as usize;
            self.left_out[p] = self.left_out[p | 1 << low] * bounds[low].z;
        }
        // The scale of each pattern's contributions, and the one its left-out features share.
        for (l, s) in self.left_out.iter_mut().zip(&self.sums) {
            *l *= value;
            self.shared.push(-*l * s);
        }
        // Runs of patterns without and with feature j, so that no element takes a branch.
        for (j, b) in bounds.iter().enumerate() {
            let column = &mut self.table[j * TABLE_PATTERNS..j * TABLE_PATTERNS + patterns];
            let bit = 1 << j;
            let kept = 1.0 - b.z;
            for (at, run) in column.chunks_exact_mut(2 * bit).enumerate() {
                let base = at * 2 * bit;
                let (without, with) = run.split_at_mut(bit);
                without.copy_from_slice(&self.shared[base..base + bit]);
                let scales = &self.left_out[base + bit..base + 2 * bit];
                for ((c, l), s) in with.iter_mut().zip(scales).zip(&self.sums[base..base + bit]) {
                    *c = l * kept * s;
                }
            }
        }
    }

    /// Forgets the previous leaf's table.
    fn next_leaf(&mut self, k: usize) {
        self.k = k;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.filled.fill(0);
            self.generation = 1;
        }
    }

    /// Computes the contributions of pattern `p` at the current leaf unless they are in the table.
    #[inline(always)]
    fn fill(&mut self, bounds: &[Bound], weights: &[f64], value: f64, p: u64) {
        if self.filled[p as usize] == self.generation {
            return;
        }
        self.filled[p as usize] = self.generation;
        let k = self.k;
        let mut entry = std::mem::take(&mut self.entry);
        self.contributions(bounds, weights, value, p, &mut entry[..k]);
        for (j, c) in entry[..k].iter().enumerate() {
            self.table[j * TABLE_PATTERNS + p as usize] = *c;
        }
        self.entry = entry;
    }

    /// Path feature `j`'s contributions by pattern.
    #[inline(always)]
    fn column(&self, j: usize) -> &[f64; TABLE_PATTERNS] {
        self.table[j * TABLE_PATTERNS..(j + 1) * TABLE_PATTERNS]
            .try_into()
            .expect("a table column holds every pattern")
    }

    /// The leaf's contribution to each of its bounds' features for pattern `p` (module docs), with
    /// the same arithmetic, operation for operation, as [`Scratch::fill_all`]: which of the two
    /// fills a leaf's table depends on how many rows share the block, and a row's explanation
    /// must not depend on which other rows are in its batch (a report's reasons and `explain_top`
    /// asked for the same transaction alone agree to the last bit). O(m³) for `m` features in `p`.
    fn contributions(&mut self, bounds: &[Bound], weights: &[f64], value: f64, p: u64, out: &mut [f64]) {
        let k = bounds.len();
        let width = k + 1;
        // Z over the left-out features, multiplied in from the highest, as `fill_all` builds them.
        let mut z_q = 1.0;
        for j in (0..k).rev() {
            if p & (1 << j) == 0 {
                z_q *= bounds[j].z;
            }
        }
        let scale = z_q * value;
        let mut members = std::mem::take(&mut self.members);
        members.clear();
        members.extend((0..k).filter(|&j| p & (1 << j) != 0));
        let m = members.len();
        // Prefix i: P over the first i features of `p`, multiplied in from the lowest feature.
        self.prefixes.resize(width * width, 0.0);
        self.prefixes[0] = 1.0;
        for (i, &j) in members.iter().enumerate() {
            let (done, rest) = self.prefixes.split_at_mut((i + 1) * width);
            times_factor(
                &done[i * width..i * width + i + 1],
                bounds[j].z,
                &mut rest[..i + 2],
            );
        }
        let a = weighted(&self.prefixes[m * width..m * width + m + 1], weights);
        // P over p \ {j}: the prefix before j, then the features after it, in the same order.
        for (i, &j) in members.iter().enumerate() {
            let poly = &mut self.poly;
            poly[..=i].copy_from_slice(&self.prefixes[i * width..i * width + i + 1]);
            let mut degree = i;
            for &later in &members[i + 1..] {
                let z = bounds[later].z;
                poly[degree + 1] = poly[degree];
                for r in (1..=degree).rev() {
                    poly[r] = poly[r] * z + poly[r - 1];
                }
                poly[0] *= z;
                degree += 1;
            }
            out[j] = weighted(&poly[..=degree], weights);
        }
        self.members = members;
        for (j, b) in bounds.iter().enumerate() {
            out[j] = if p & (1 << j) == 0 {
                -scale * a
            } else {
                scale * (1.0 - b.z) * out[j]
            };
        }
    }
}

/// `to` = `from` · (z + t), coefficients by power of t (`to` is one longer).
#[inline(always)]
fn times_factor(from: &[f64], z: f64, to: &mut [f64]) {
    let m = from.len() - 1;
    to[0] = from[0] * z;
    for r in 1..=m {
        to[r] = from[r] * z + from[r - 1];
    }
    to[m + 1] = from[m];
}

/// `Σ_s w(s) · c_s`, in order of `s`; a polynomial of all `k` features has one coefficient more
/// than there are weights, and no sum of its own is ever used.
#[inline(always)]
fn weighted(poly: &[f64], weights: &[f64]) -> f64 {
    poly.iter().zip(weights).map(|(c, w)| c * w).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::Node;
    use crate::rng::Rng;

    /// A random tree with covers (each split's the sum of its children's), repeated features,
    /// missing values sent either way, and thresholds from a small pool so rows hit them exactly.
    fn random_tree(rng: &mut Rng, features: usize, depth: u32) -> (Vec<Node>, Vec<f64>) {
        let mut nodes = vec![Node::leaf(0.0)];
        let mut covers = vec![0.0];
        let mut order = Vec::new();
        let mut open = vec![(0usize, depth)];
        while let Some((at, d)) = open.pop() {
            order.push(at);
            if d == 0 || rng.below(5) == 0 {
                nodes[at] = Node::leaf(rng.below(1000) as f64 / 1000.0);
                covers[at] = 1.0 + rng.below(50) as f64;
                continue;
            }
            let left = nodes.len();
            nodes.extend([Node::leaf(0.0), Node::leaf(0.0)]);
            covers.extend([0.0, 0.0]);
            nodes[at] = Node {
                threshold: rng.below(10) as f64,
                feature: rng.below(features) as u16,
                flags: if rng.below(2) == 0 { MISSING_LEFT } else { 0 },
                left: left as u32,
            };
            open.extend([(left, d - 1), (left + 1, d - 1)]);
        }
        // Children were pushed after their parents: sum covers bottom-up.
        for &at in order.iter().rev() {
            let n = nodes[at];
            if n.feature != LEAF {
                covers[at] = covers[n.left as usize] + covers[n.left as usize + 1];
            }
        }
        (nodes, covers)
    }

    /// A forest of 1 to `max_trees` random trees, each 1 to `max_depth` deep.
    fn random_forest(rng: &mut Rng, features: usize, max_trees: usize, max_depth: usize) -> Forest {
        let mut forest = Forest::default();
        for _ in 0..1 + rng.below(max_trees) {
            let depth = 1 + rng.below(max_depth) as u32;
            let (nodes, covers) = random_tree(rng, features, depth);
            forest.push_tree(&nodes);
            forest.covers.extend(covers);
        }
        forest
    }

    /// `features` columns of `rows` values each, feature after feature, each value from `draw`.
    fn random_columns(
        rng: &mut Rng,
        features: usize,
        rows: usize,
        mut draw: impl FnMut(&mut Rng) -> f64,
    ) -> Vec<Vec<f64>> {
        (0..features)
            .map(|_| (0..rows).map(|_| draw(rng)).collect())
            .collect()
    }

    #[test]
    fn leaf_patterns_give_the_path_algorithms_values() {
        let mut rng = Rng::new(19);
        for case in 0..60 {
            let features = 1 + rng.below(if case % 5 == 0 { 20 } else { 6 });
            // Some paths deeper than the table allows.
            let forest = random_forest(&mut rng, features, 5, if case % 7 == 0 { 18 } else { 8 });
            let rows = [1, 3, 40, BLOCK + 5][case % 4];
            let columns = random_columns(&mut rng, features, rows, |rng| match rng.below(7) {
                0 => f64::NAN,
                1 => rng.below(10) as f64 + 0.5,
                _ => rng.below(12) as f64 - 1.0,
            });
            let paths = LeafPaths::build(&forest).unwrap();
            let mut fast = vec![0.0; rows * features];
            paths.explain(&columns, rows, &mut fast);
            let mut buf = forest.path_buffer();
            for r in 0..rows {
                let x: Vec<f64> = columns.iter().map(|c| c[r]).collect();
                let mut phi = vec![0.0; features];
                assert!(forest.shap_row_with(&x, &mut phi, &mut buf));
                for (f, b) in phi.iter().enumerate() {
                    let a = fast[f * rows + r];
                    assert!(
                        (a - b).abs() < 1e-12,
                        "case {case} row {r} feature {f}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_rows_explanation_does_not_depend_on_the_rows_beside_it() {
        // Large blocks fill whole tables, a row alone fills its own patterns: bit for bit the same.
        let mut rng = Rng::new(23);
        for _ in 0..20 {
            let features = 2 + rng.below(6);
            let forest = random_forest(&mut rng, features, 4, 9);
            let rows = 700;
            let columns = random_columns(&mut rng, features, rows, |rng| match rng.below(9) {
                0 => f64::NAN,
                _ => rng.below(12) as f64 - 1.0,
            });
            let paths = LeafPaths::build(&forest).unwrap();
            let mut together = vec![0.0; rows * features];
            paths.explain(&columns, rows, &mut together);
            for r in 0..rows {
                let alone: Vec<Vec<f64>> = columns.iter().map(|c| vec![c[r]]).collect();
                let mut phi = vec![0.0; features];
                paths.explain(&alone, 1, &mut phi);
                for (f, v) in phi.iter().enumerate() {
                    assert_eq!(
                        v.to_bits(),
                        together[f * rows + r].to_bits(),
                        "row {r} feature {f}"
                    );
                }
            }
        }
    }
}
