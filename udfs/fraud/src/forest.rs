//! The trained forest in a flat, cache-friendly layout, and the batch scoring kernel.
//!
//! All trees share one node array; a tree is its root's offset. A node is 16 bytes: a split
//! (`feature`, `threshold`, whether missing values go left, and the offset of its two children,
//! which are adjacent) or a leaf (`feature == LEAF`, `threshold` holds the leaf's probability).
//! This is the stored form.
//!
//! Scoring compiles it once per model into [`Scorer`]: the distinct thresholds of each feature,
//! sorted, become its *cuts*, and a value's code is the number of cuts below it. Then
//! `x <= cuts[j]` exactly when `code(x) <= j`, so splits compare one-byte codes against one-byte
//! cut ranks, with the same outcome as comparing the `f64`s. A batch is quantised once, then
//! blocks of rows walk one tree at a time over 8-byte nodes (see [`Step`]), 8 rows in lock-step.

/// `feature` of a leaf node.
pub(crate) const LEAF: u16 = u16::MAX;
/// `flags` bit: missing values (NaN) take the left branch.
pub(crate) const MISSING_LEFT: u16 = 1;

/// One node; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    /// Split value (go left when `x <= threshold`) or, for a leaf, the probability of the positive class.
    pub threshold: f64,
    /// Feature index, or [`LEAF`].
    pub feature: u16,
    /// [`MISSING_LEFT`] or 0.
    pub flags: u16,
    /// Index (within the tree) of the left child; the right child follows it.
    pub left: u32,
}

impl Node {
    pub(crate) fn leaf(p: f64) -> Self {
        Node {
            threshold: p,
            feature: LEAF,
            flags: 0,
            left: 0,
        }
    }
}

/// The deepest tree a model may hold, in levels below the root. Explanations walk a tree
/// recursively, so a loaded artifact with a deeper tree (a chain of thousands of splits) is refused
/// with an error instead of overflowing a thread's stack, and training never grows one (an
/// "unlimited" depth stops here; real trees are 20 to 60 levels deep).
pub(crate) const MAX_TREE_DEPTH: usize = 1024;

/// Rows scored through one tree before moving to the next: their codes (32 bytes a row for 15
/// features) stay in L2 while the tree stays in L1, so a tree is fetched once per block instead
/// of once per few hundred rows (8192 measured ~1.5-2x faster than 256 on the bench forest).
const BLOCK: usize = 8192;

/// Rows walked through a tree in lock-step, so their dependent loads overlap.
const LANES: usize = 8;

/// A present value's code in a missing-right column is at most 254; missing is above every rank.
const MISSING_RIGHT_CODE: u8 = u8::MAX;
/// In a missing-left column present values are shifted up by one and missing is below every rank.
const MISSING_LEFT_CODE: u8 = 0;
/// A leaf's threshold: no code exceeds it, so a walk that reached the leaf stays there.
const STAY: u8 = u8::MAX;

/// Every tree of a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Forest {
    /// Nodes of all trees, tree after tree.
    pub nodes: Vec<Node>,
    /// Start of each tree in `nodes`.
    pub roots: Vec<u32>,
    /// Each node's cover (the training weight that reached it), for explanations; empty for
    /// forests stored before covers were kept, which cannot be explained.
    pub covers: Vec<f64>,
    /// The scoring layout, built by [`Forest::prepare`]; `None` when the forest has more cuts per
    /// feature than one-byte codes hold (no forest this crate trains), which scores with
    /// [`Forest::predict_reference`].
    scorer: Option<Scorer>,
    /// `None` for a forest (the score is the mean of the trees' leaf probabilities); for boosted
    /// trees, the base log-odds `b` of `sigmoid(b + Σ leaf values)`.
    pub logit_base: Option<f64>,
    /// The explaining layout, built on the first explanation (it is larger than the trees).
    paths: std::sync::OnceLock<Option<crate::fast_shap::LeafPaths>>,
}

/// A split or leaf of the scoring layout, 8 bytes: go to `left` when the row's code in `column`
/// is at most `threshold`, else to `left + 1`. A leaf points to itself with threshold [`STAY`], so
/// rows that reach their leaf early wait there for the others without a branch.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    /// Index (within the tree) of the left child, or of the leaf itself.
    left: u32,
    /// `2 * feature`, plus one for a split that sends missing values left.
    column: u16,
    /// The rank of the split's cut (plus one in a missing-left column), or [`STAY`].
    threshold: u8,
}

/// One tree in the [`Scorer`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tree {
    /// Its root's index in [`Scorer::steps`].
    root: usize,
    /// Depth of its shallowest leaf: every row takes at least this many steps.
    shallowest: u32,
    /// Depth of its deepest leaf: no row takes more steps.
    deepest: u32,
}

/// The compiled forest; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scorer {
    /// Per feature, the distinct thresholds of its splits, ascending.
    cuts: Vec<Vec<f64>>,
    /// The trees' nodes, in the same places as [`Forest::nodes`].
    steps: Vec<Step>,
    /// Leaf values by index in `steps` (0 for splits).
    values: Vec<f64>,
    /// Every tree, in order.
    trees: Vec<Tree>,
}

impl Forest {
    pub(crate) fn push_tree(&mut self, tree: &[Node]) {
        self.roots.push(self.nodes.len() as u32);
        self.nodes.extend_from_slice(tree);
    }

    /// Builds the scoring layout from `nodes` (after decoding or growing).
    pub(crate) fn prepare(&mut self) {
        self.scorer = Scorer::build(self);
        self.paths = std::sync::OnceLock::new();
    }

    /// Checks that every child index and feature index is in range (for loaded artifacts).
    pub(crate) fn validate(&self, features: usize) -> Result<(), String> {
        if self.roots.is_empty() {
            return Err("the forest has no trees".into());
        }
        for (t, &root) in self.roots.iter().enumerate() {
            let end = self.tree_end(t);
            if root >= end {
                return Err(format!("tree {t} is empty"));
            }
            let len = (end - root) as usize;
            for (i, n) in self.nodes[root as usize..end as usize].iter().enumerate() {
                if n.feature == LEAF {
                    let valid = match self.logit_base {
                        None => (0.0..=1.0).contains(&n.threshold),
                        Some(_) => n.threshold.is_finite(),
                    };
                    if !valid {
                        return Err(format!("tree {t} node {i} has leaf value {}", n.threshold));
                    }
                    continue;
                }
                if n.feature as usize >= features {
                    return Err(format!(
                        "tree {t} node {i} splits on feature {} of {features}",
                        n.feature
                    ));
                }
                // Children come after their parent, which also rules out cycles.
                if (n.left as usize) <= i || n.left as usize + 1 >= len {
                    return Err(format!("tree {t} node {i} has child {} out of range", n.left));
                }
                if n.threshold.is_nan() {
                    return Err(format!("tree {t} node {i} has a NaN threshold"));
                }
            }
            let tree = &self.nodes[root as usize..end as usize];
            match leaf_depths(tree) {
                Some((_, deepest)) if deepest as usize <= MAX_TREE_DEPTH => {}
                Some((_, deepest)) => {
                    return Err(format!(
                        "tree {t} is {deepest} levels deep, more than the {MAX_TREE_DEPTH} a model may have"
                    ));
                }
                None => return Err(format!("tree {t} has a child outside it")),
            }
        }
        Ok(())
    }

    /// The explaining layout ([`crate::fast_shap`]), `None` when the forest cannot be explained
    /// that way (no covers, or a path too wide).
    pub(crate) fn leaf_paths(&self) -> Option<&crate::fast_shap::LeafPaths> {
        self.paths
            .get_or_init(|| crate::fast_shap::LeafPaths::build(self))
            .as_ref()
    }

    /// Each tree's share of the score before the output transform: `1 / trees` for a forest, 1
    /// for boosted trees.
    pub(crate) fn tree_scale(&self) -> f64 {
        match self.logit_base {
            None => 1.0 / self.roots.len() as f64,
            Some(_) => 1.0,
        }
    }

    /// The score from the trees' summed leaf values (the same operations as every path here
    /// takes, so that the kernel and the reference agree bit for bit).
    #[inline]
    pub(crate) fn output(&self, sum: f64) -> f64 {
        match self.logit_base {
            None => sum / self.roots.len() as f64,
            Some(base) => 1.0 / (1.0 + (-(base + sum)).exp()),
        }
    }

    fn tree_end(&self, t: usize) -> u32 {
        self.roots.get(t + 1).copied().unwrap_or(self.nodes.len() as u32)
    }

    /// Mean positive probability over the trees for each row of `columns` (one slice per feature,
    /// NaN = missing).
    pub(crate) fn predict(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        let mut out = self.leaf_sums(columns, rows);
        for v in &mut out {
            *v = self.output(*v);
        }
        out
    }

    /// What explanations add up to: the score for a forest, the log-odds `base + Σ leaf values` for
    /// boosted trees (computed directly, not as the logit of the probability, which loses digits).
    pub(crate) fn explained_scores(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        match self.logit_base {
            None => self.predict(columns, rows),
            Some(base) => self
                .leaf_sums(columns, rows)
                .into_iter()
                .map(|s| base + s)
                .collect(),
        }
    }

    /// Each row's sum of its leaf values over the trees.
    fn leaf_sums(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        match &self.scorer {
            Some(s) => s.predict(columns, rows),
            None => self.reference_sums(columns, rows),
        }
    }

    /// [`Forest::predict`] by walking the stored nodes one row at a time: the definition the
    /// scoring layout must match bit for bit (same comparisons, same order of summing).
    #[cfg(test)]
    pub(crate) fn predict_reference(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        self.reference_sums(columns, rows)
            .into_iter()
            .map(|s| self.output(s))
            .collect()
    }

    fn reference_sums(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        (0..rows)
            .map(|r| {
                let mut sum = 0.0;
                for &root in &self.roots {
                    let tree = &self.nodes[root as usize..];
                    let mut n = tree[0];
                    while n.feature != LEAF {
                        let x = columns.get(n.feature as usize).map_or(f64::NAN, |c| c[r]);
                        let left = x <= n.threshold || (x.is_nan() && n.flags & MISSING_LEFT != 0);
                        n = tree[n.left as usize + usize::from(!left)];
                    }
                    sum += n.threshold;
                }
                sum
            })
            .collect()
    }
}

/// The depths of the shallowest and the deepest leaf of `tree`, `None` if its children do not
/// lead to leaves within it (only unvalidated forests).
fn leaf_depths(tree: &[Node]) -> Option<(u32, u32)> {
    let (mut shallowest, mut deepest) = (u32::MAX, 0);
    let mut open = vec![(0usize, 0u32)];
    while let Some((i, d)) = open.pop() {
        let n = tree.get(i)?;
        if d as usize > tree.len() {
            return None;
        }
        if n.feature == LEAF {
            shallowest = shallowest.min(d);
            deepest = deepest.max(d);
        } else {
            open.push((n.left as usize, d + 1));
            open.push((n.left as usize + 1, d + 1));
        }
    }
    Some((shallowest, deepest))
}

impl Scorer {
    /// The scoring layout of `forest`, or `None` when a feature has more cuts than codes allow
    /// (at most 255 cuts, at most 254 of them below +inf: the trainer's 255 bins fit exactly).
    fn build(forest: &Forest) -> Option<Scorer> {
        let splits = || forest.nodes.iter().filter(|n| n.feature != LEAF);
        let features = splits().map(|n| n.feature as usize + 1).max().unwrap_or(0);
        let mut cuts = vec![Vec::new(); features];
        for n in splits() {
            if n.threshold.is_nan() {
                return None;
            }
            cuts[n.feature as usize].push(n.threshold);
        }
        for c in &mut cuts {
            c.sort_unstable_by(f64::total_cmp);
            // `==` also merges -0.0 and 0.0, which compare equal to every value.
            c.dedup_by(|a, b| a == b);
            let below_inf = c.iter().filter(|&&t| t < f64::INFINITY).count();
            if c.len() > usize::from(STAY) || below_inf >= usize::from(MISSING_RIGHT_CODE) {
                return None;
            }
        }
        let mut s = Scorer {
            cuts,
            ..Scorer::default()
        };
        for t in 0..forest.roots.len() {
            let tree = &forest.nodes[forest.roots[t] as usize..forest.tree_end(t) as usize];
            let (shallowest, deepest) = leaf_depths(tree)?;
            s.trees.push(Tree {
                root: s.steps.len(),
                shallowest,
                deepest,
            });
            for (i, n) in tree.iter().enumerate() {
                if n.feature == LEAF {
                    s.steps.push(Step {
                        left: i as u32,
                        column: 0,
                        threshold: STAY,
                    });
                    s.values.push(n.threshold);
                    continue;
                }
                let f = n.feature as usize;
                // The rank j of this threshold among the cuts: x <= threshold iff code(x) <= j.
                let rank = s.cuts[f].partition_point(|&t| t < n.threshold) as u8;
                let missing_left = n.flags & MISSING_LEFT != 0;
                s.steps.push(Step {
                    left: n.left,
                    column: u16::try_from(2 * f + usize::from(missing_left)).ok()?,
                    threshold: rank + u8::from(missing_left),
                });
                s.values.push(0.0);
            }
        }
        Some(s)
    }

    fn predict(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        // Codes of a block, lane-interleaved: for each group of `LANES` rows, column after column,
        // the `LANES` codes of a column side by side (`group[column * LANES + lane]`), so the lanes
        // share cache lines and a lane's offset is a constant. Columns are rounded up to a power
        // of two so that, up to 256, a group can be a fixed-size array (see [`Lanes`]). Padding
        // rows keep whatever codes they had; their leaves are never added.
        let group = (2 * self.cuts.len()).next_power_of_two() * LANES;
        // Small batches (a scalar call) need only their own rows' codes.
        let mut codes = vec![0u8; rows.min(BLOCK).div_ceil(LANES) * group];
        let mut out = vec![0.0f64; rows];
        for start in (0..rows).step_by(BLOCK) {
            let n = BLOCK.min(rows - start);
            self.quantise(columns, start, n, &mut codes, group);
            let acc = &mut out[start..start + n];
            let groups = codes.chunks_exact(group).take(n.div_ceil(LANES));
            macro_rules! by_group_size {
                ($($size:literal)*) => {
                    match group {
                        $($size => self.score_block(
                            &groups.map(|g| <&[u8; $size]>::try_from(g).expect("group size")).collect::<Vec<_>>(),
                            acc,
                        ),)*
                        _ => self.score_block(&groups.collect::<Vec<_>>(), acc),
                    }
                };
            }
            by_group_size!(8 16 32 64 128 256 512 1024 2048);
        }
        // Sums of leaf values: the forest's output transform is the caller's.
        out
    }

    /// Adds every tree's leaf value to `acc` for the rows of `groups`.
    fn score_block<L: Lanes>(&self, groups: &[L], acc: &mut [f64]) {
        for t in &self.trees {
            let tree = &self.steps[t.root..];
            let values = &self.values[t.root..];
            for (&lanes, acc) in groups.iter().zip(acc.chunks_mut(LANES)) {
                let at = walk_lanes(tree, lanes, t.shallowest, t.deepest);
                for (a, &i) in acc.iter_mut().zip(&at) {
                    *a += values[i as usize];
                }
            }
        }
    }

    /// Writes the codes of rows `start..start + n` into `codes` (laid out as in `predict`, `group`
    /// bytes per `LANES` rows), two columns per feature: missing values right (missing = 255),
    /// and missing values left (code + 1, missing = 0).
    fn quantise(&self, columns: &[Vec<f64>], start: usize, n: usize, codes: &mut [u8], group: usize) {
        for (f, cuts) in self.cuts.iter().enumerate() {
            let column = columns.get(f).map(|c| &c[start..start + n]);
            for r in 0..n {
                let x = column.map_or(f64::NAN, |c| c[r]);
                let (right, left) = if x.is_nan() {
                    (MISSING_RIGHT_CODE, MISSING_LEFT_CODE)
                } else {
                    let code = cuts.partition_point(|&t| t < x) as u8;
                    (code, code + 1)
                };
                let at = r / LANES * group + 2 * f * LANES + r % LANES;
                codes[at] = right;
                codes[at + LANES] = left;
            }
        }
    }
}

/// The codes of one group of `LANES` rows.
trait Lanes: Copy {
    /// The code of `lane` in `column`.
    fn code(self, column: usize, lane: usize) -> u8;
}

impl<const SIZE: usize> Lanes for &[u8; SIZE] {
    #[inline(always)]
    fn code(self, column: usize, lane: usize) -> u8 {
        // SIZE is a power of two above every column's codes: the mask changes nothing, but with
        // it the compiler drops the bounds check and keeps no length in a register.
        self[(column * LANES + lane) & (SIZE - 1)]
    }
}

impl Lanes for &[u8] {
    #[inline(always)]
    fn code(self, column: usize, lane: usize) -> u8 {
        self[column * LANES + lane]
    }
}

/// Steps between checks for whether every row of a deep tree stands on its leaf.
const CHECK_EVERY: u32 = 4;

/// Walks `LANES` rows through a tree: `shallowest` steps blindly, then until every row stands on
/// its leaf (checked every few steps) or `deepest` steps; returns the leaf index of each.
#[inline(always)]
fn walk_lanes<L: Lanes>(tree: &[Step], lanes: L, shallowest: u32, deepest: u32) -> [u32; LANES] {
    let mut at = [0u32; LANES];
    let step = |k: usize, i: u32| {
        let s = tree[i as usize];
        let code = lanes.code(usize::from(s.column), k);
        // Wrapping: `left` is a valid index, so `left + 1` cannot overflow; this only spares
        // the overflow check of builds that keep them.
        s.left.wrapping_add(u32::from(code > s.threshold))
    };
    for _ in 0..shallowest {
        for (k, i) in at.iter_mut().enumerate() {
            *i = step(k, *i);
        }
    }
    let mut taken = shallowest;
    while taken < deepest {
        let n = (deepest - taken).min(CHECK_EVERY);
        for _ in 1..n {
            for (k, i) in at.iter_mut().enumerate() {
                *i = step(k, *i);
            }
        }
        let mut moved = false;
        for (k, i) in at.iter_mut().enumerate() {
            let next = step(k, *i);
            // Children come after their parent: only a leaf maps to itself.
            moved |= next != *i;
            *i = next;
        }
        taken += n;
        if !moved {
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn split(feature: u16, threshold: f64, missing_left: bool, left: u32) -> Node {
        Node {
            threshold,
            feature,
            flags: if missing_left { MISSING_LEFT } else { 0 },
            left,
        }
    }

    #[test]
    fn walks_splits_and_missing_values() {
        // x0 <= 1 (missing right) ? leaf 0.25 : (x1 <= 5 (missing left) ? 0.5 : 1.0)
        let tree = [
            split(0, 1.0, false, 1),
            Node::leaf(0.25),
            split(1, 5.0, true, 3),
            Node::leaf(0.5),
            Node::leaf(1.0),
        ];
        let mut f = Forest::default();
        f.push_tree(&tree);
        f.push_tree(&[Node::leaf(0.75)]);
        f.prepare();
        assert!(f.validate(2).is_ok());
        let cols = vec![
            vec![0.0, 2.0, 2.0, f64::NAN, 1.0],
            vec![9.0, 4.0, 6.0, f64::NAN, f64::NAN],
        ];
        let p = f.predict(&cols, 5);
        assert_eq!(p, vec![0.5, 0.625, 0.875, 0.625, 0.5]);
    }

    /// A random tree over `features` features: thresholds from `pool` (ties, signed zeros and
    /// infinities included), missing values sent either way, leaves at uneven depths.
    fn random_tree(rng: &mut Rng, features: usize, pool: &[f64], max_depth: u32) -> Vec<Node> {
        let mut nodes = vec![Node::leaf(0.0)];
        let mut open = vec![(0usize, 0u32)];
        while let Some((i, d)) = open.pop() {
            if d == max_depth || rng.below(4) == 0 {
                nodes[i] = Node::leaf(rng.below(1001) as f64 / 1000.0);
                continue;
            }
            let left = nodes.len();
            nodes[i] = split(
                rng.below(features) as u16,
                pool[rng.below(pool.len())],
                rng.below(2) == 0,
                left as u32,
            );
            nodes.extend([Node::leaf(0.0), Node::leaf(0.0)]);
            open.extend([(left, d + 1), (left + 1, d + 1)]);
        }
        nodes
    }

    fn random_forest(rng: &mut Rng, features: usize, pool: &[f64]) -> Forest {
        let mut f = Forest::default();
        for _ in 0..1 + rng.below(12) {
            let depth = rng.below(18) as u32;
            f.push_tree(&random_tree(rng, features, pool, depth));
        }
        f.prepare();
        assert!(f.validate(features).is_ok());
        f
    }

    /// Inputs that hit the thresholds exactly, fall between them, or are missing.
    fn random_columns(rng: &mut Rng, features: usize, rows: usize, pool: &[f64]) -> Vec<Vec<f64>> {
        (0..features)
            .map(|_| {
                (0..rows)
                    .map(|_| match rng.below(4) {
                        0 => f64::NAN,
                        1 => pool[rng.below(pool.len())],
                        _ => (rng.below(2001) as f64 - 1000.0) / 97.0,
                    })
                    .collect()
            })
            .collect()
    }

    fn assert_same_bits(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (r, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "row {r}: {x} != {y}");
        }
    }

    #[test]
    fn kernel_equals_reference_walk_on_random_forests() {
        let mut rng = Rng::new(7);
        let mut pool: Vec<f64> = (0..40).map(|i| (i as f64 - 20.0) / 3.0).collect();
        pool.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]);
        for case in 0..200 {
            // Past 128 features, a group of codes is no longer a fixed-size array.
            let features = if case % 10 == 3 { 130 } else { 1 + rng.below(6) };
            let forest = random_forest(&mut rng, features, &pool);
            assert!(forest.scorer.is_some());
            // Row counts around the lane and block sizes.
            let rows = [0, 1, 7, 8, 9, 255, 256, 257, BLOCK + 9][case % 9];
            let cols = random_columns(&mut rng, features, rows, &pool);
            assert_same_bits(
                &forest.predict(&cols, rows),
                &forest.predict_reference(&cols, rows),
            );
        }
    }

    #[test]
    fn kernel_equals_reference_walk_on_nulls_and_unseen_categories() {
        use datafusion::arrow::array::{Float64Array, StringArray};
        use datafusion::arrow::datatypes::DataType;

        use crate::{Feature, FeatureKind};

        let category = Feature::new(
            "merchant".into(),
            FeatureKind::Categorical,
            &DataType::Utf8,
            vec!["food".into(), "fuel".into(), "travel".into()],
        );
        let amount = Feature::new("amount".into(), FeatureKind::Numeric, &DataType::Float64, vec![]);
        let mut rng = Rng::new(11);
        let names = [Some("food"), Some("fuel"), Some("travel"), Some("casino"), None];
        let rows = 1000;
        let strings: StringArray = (0..rows).map(|_| names[rng.below(names.len())]).collect();
        let amounts: Float64Array = (0..rows)
            .map(|_| (rng.below(4) != 0).then(|| rng.below(100) as f64))
            .collect();
        let mut cols = vec![Vec::new(), Vec::new()];
        category.encode_into("m", &strings, &mut cols[0]).unwrap();
        amount.encode_into("m", &amounts, &mut cols[1]).unwrap();
        // Unseen categories and NULLs are missing values.
        for (r, name) in strings.iter().enumerate() {
            assert_eq!(cols[0][r].is_nan(), matches!(name, None | Some("casino")));
        }
        let pool = [0.5, 1.5, 2.0, 10.0, 49.5, 50.0, 99.0, f64::INFINITY];
        for _ in 0..50 {
            let forest = random_forest(&mut rng, 2, &pool);
            assert_same_bits(
                &forest.predict(&cols, rows),
                &forest.predict_reference(&cols, rows),
            );
        }
    }

    #[test]
    fn too_many_cuts_for_byte_codes_scores_with_the_reference_walk() {
        let mut rng = Rng::new(3);
        let pool: Vec<f64> = (0..300).map(f64::from).collect();
        let mut f = Forest::default();
        // A chain of 300 splits on one feature, each with its own threshold.
        let mut tree = Vec::new();
        for (i, &t) in pool.iter().enumerate() {
            tree.push(split(0, t, i % 2 == 0, 2 * i as u32 + 1));
            tree.push(Node::leaf(i as f64 / 300.0));
        }
        tree.pop();
        tree.push(Node::leaf(0.5));
        tree.push(Node::leaf(1.0));
        f.push_tree(&tree);
        f.prepare();
        assert!(f.validate(1).is_ok());
        assert!(f.scorer.is_none());
        let cols = random_columns(&mut rng, 1, 500, &pool);
        assert_same_bits(&f.predict(&cols, 500), &f.predict_reference(&cols, 500));
    }

    #[test]
    fn validate_rejects_bad_children_and_features() {
        let mut f = Forest::default();
        f.push_tree(&[split(0, 1.0, false, 1), Node::leaf(0.1)]);
        assert!(f.validate(1).unwrap_err().contains("out of range"));
        let mut f = Forest::default();
        f.push_tree(&[split(3, 1.0, false, 1), Node::leaf(0.1), Node::leaf(0.2)]);
        assert!(f.validate(2).unwrap_err().contains("feature 3"));
    }

    /// A chain of splits `depth` levels deep: split `level` sits at its parent's left child
    /// (0, then 1, 3, 5, ...), its children at `2 * level + 1` (the next split, or the last leaf)
    /// and `2 * level + 2` (a leaf).
    fn chain(depth: usize) -> Vec<Node> {
        let mut out = vec![Node::leaf(0.5); 2 * depth + 1];
        for level in 0..depth {
            let at = if level == 0 { 0 } else { 2 * level - 1 };
            out[at] = split(0, level as f64, false, (2 * level + 1) as u32);
        }
        out
    }

    /// Explanations walk trees recursively: a loaded tree deeper than the cap is refused, not
    /// walked until the stack runs out.
    #[test]
    fn validate_refuses_trees_deeper_than_the_cap() {
        for (depth, ok) in [
            (MAX_TREE_DEPTH, true),
            (MAX_TREE_DEPTH + 1, false),
            (100_000, false),
        ] {
            let mut f = Forest::default();
            f.push_tree(&chain(depth));
            assert_eq!(leaf_depths(&chain(depth)).map(|d| d.1 as usize), Some(depth));
            match f.validate(1) {
                Ok(()) => assert!(ok, "depth {depth} accepted"),
                Err(e) => assert!(
                    !ok && e.contains(&format!("{depth} levels deep")),
                    "depth {depth}: {e}"
                ),
            }
        }
    }
}
