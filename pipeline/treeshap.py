"""Exact TreeSHAP for tree ensembles at memory speed: the same values as XGBoost's
``pred_contribs`` and ``shap.TreeExplainer`` (path-dependent TreeSHAP, node covers as weights),
computed from tables built once per model.

Why it is exact. Path-dependent TreeSHAP gives a leaf ``l`` with value ``v``, unique path features
``U`` (``d`` of them), cover fractions ``z_j`` (the product of child/parent covers over the path's
splits on ``j``) and indicators ``o_j(x)`` (``x`` satisfies all of the path's splits on ``j``)
the contribution, to feature ``i`` in ``U``::

    v · (o_i − z_i) · Σ_{S ⊆ U∖{i}} |S|! (d − |S| − 1)! / d! · Π_{j∈S} o_j · Π_{j∉S, j≠i} z_j

and a tree's values are the sum over its leaves. The ``o_j`` are 0/1, so a leaf's contribution
depends on ``x`` only through the outcomes of the split tests on its path. Leaves are grouped
(a whole subtree at a time) so that the tests on all their paths are at most ``MAX_GROUP_TESTS``
distinct ones; each group gets a table of its summed contributions for every combination of
those outcomes, already summed into the output columns (e.g. one-hot levels into the column
they encode). Explaining a row is then, per group, a few comparisons to form an index and a few
additions from the table: no recursion, no per-row polynomial arithmetic. The kernel is
compiled with numba and runs rows in parallel.

Supported: XGBoost boosters (binary, numeric splits) and scikit-learn's
``HistGradientBoostingClassifier`` (numeric splits). ``compile_forest`` returns None for
anything else (categorical splits, multi-class), and callers fall back to the library."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

# Distinct split tests one group's table may be indexed by (a table has 2**tests rows). 8 keeps
# a depth-6 tree at 16 tables of 128 rows; a larger value means fewer, larger tables.
MAX_GROUP_TESTS = 8
# Small groups (a shallow tree each) are joined up to this many tests (a table of 2**9 rows).
MERGE_TESTS = 9
# A leaf deeper than this (in distinct tests) would need a table too large: no compiled forest.
MAX_LEAF_TESTS = 16
# Rows below this are explained on the calling thread (parallel start-up would dominate).
PARALLEL_ROWS = 256


@dataclass(frozen=True)
class Tree:
    """One tree as arrays over its nodes; a leaf has ``left == -1``. A row goes left at an
    internal node when ``x[feature] < threshold``, or when the value is missing and
    ``nan_left``."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    cover: np.ndarray
    value: np.ndarray


@dataclass(frozen=True, eq=False)
class Forest:
    """The compiled tables. Group ``g`` tests ``test_*[test_start[g]:test_start[g+1]]`` (bit
    ``k`` of a row's index is test ``k``'s outcome, 1 = left; ``T`` tests) and adds, to its
    ``m``-th output column ``out_column[out_start[g] + m]``, the value
    ``table[table_start[g] + m * 2**T + index]``."""

    test_start: np.ndarray
    test_feature: np.ndarray
    test_threshold: np.ndarray
    test_nan_left: np.ndarray
    out_start: np.ndarray
    out_column: np.ndarray
    table_start: np.ndarray
    table: np.ndarray
    n_outputs: int
    expected_value: float  # Σ over trees of the cover-weighted mean leaf value
    float32_inputs: bool = False  # the model compares float32 values (XGBoost)

    @property
    def groups(self) -> int:
        return len(self.test_start) - 1

    def explain(self, x: np.ndarray) -> np.ndarray:
        """Contributions ``(rows, n_outputs)`` for the encoded rows ``x``."""
        # One feature's values contiguous; compared in the model's own precision (XGBoost's
        # float32: the same outcomes as the model's, at twice the values per vector).
        dtype = np.float32 if self.float32_inputs else np.float64
        columns = np.asarray(x, dtype=dtype).T.copy()
        thresholds = self.test_threshold.astype(dtype)
        out = np.zeros((self.n_outputs, columns.shape[1]))
        args = (
            columns, self.test_start, self.test_feature, thresholds, self.test_nan_left,
            self.out_start, self.out_column, self.table_start, self.table, out,
        )  # fmt: skip
        # One parallel run at a time per process (not every threading layer numba may pick
        # takes concurrent launches); a call that finds one running explains on its own thread.
        if columns.shape[1] >= PARALLEL_ROWS and _parallel.acquire(blocking=False):
            try:
                _explain_parallel(*args)
            finally:
                _parallel.release()
        else:
            _explain_serial(*args)
        return out.T


_parallel = threading.Lock()

# Rows are explained in blocks: for each group, the test outcomes of a whole block form the
# block's indices (a loop the compiler vectorises), then each output gathers its values; a
# group's table stays in cache while the block uses it.
BLOCK_ROWS = 2048


def _explain_block(x, test_start, test_feature, test_threshold, test_nan_left, out_start,
                   out_column, table_start, table, out, begin, end):  # fmt: skip
    index = np.empty(end - begin, dtype=np.int64)
    for g in range(test_start.shape[0] - 1):
        index[:] = 0
        first = test_start[g]
        for k in range(first, test_start[g + 1]):
            values = x[test_feature[k]]
            threshold, nan_left, shift = test_threshold[k], test_nan_left[k], k - first
            for r in range(begin, end):
                value = values[r]
                bit = (value < threshold) | ((value != value) & nan_left)
                index[r - begin] |= np.int64(bit) << shift
        o0, o1 = out_start[g], out_start[g + 1]
        size = 1 << (test_start[g + 1] - first)
        for m in range(o1 - o0):
            target = out[out_column[o0 + m]]
            base = table_start[g] + m * size
            for r in range(begin, end):
                target[r] += table[base + index[r - begin]]


_block_kernel = njit(cache=True, nogil=True)(_explain_block)


@njit(cache=True, nogil=True)
def _explain_serial(x, ts, tf, tt, tn, os_, oc, tab_s, tab, out):
    n = x.shape[1]
    for begin in range(0, n, BLOCK_ROWS):
        _block_kernel(
            x, ts, tf, tt, tn, os_, oc, tab_s, tab, out, begin, min(begin + BLOCK_ROWS, n)
        )


@njit(cache=True, nogil=True, parallel=True)
def _explain_parallel(x, ts, tf, tt, tn, os_, oc, tab_s, tab, out):
    n = x.shape[1]
    for block in prange((n + BLOCK_ROWS - 1) // BLOCK_ROWS):
        begin = block * BLOCK_ROWS
        _block_kernel(
            x, ts, tf, tt, tn, os_, oc, tab_s, tab, out, begin, min(begin + BLOCK_ROWS, n)
        )


# ---- building the tables -------------------------------------------------------------------


@njit(cache=True)
def _leaf_table(z: np.ndarray, value: float) -> np.ndarray:
    """A leaf's contributions ``(2**d, d)``: row ``p`` is for the indicator pattern ``p`` (bit
    ``q`` = ``o_q``) over its ``d`` unique path features with cover fractions ``z``."""
    d = z.shape[0]
    weight = np.empty(d)  # weight[s] = s! (d - s - 1)! / d!
    for s in range(d):
        weight[s] = math.exp(math.lgamma(s + 1) + math.lgamma(d - s) - math.lgamma(d + 1))
    out = np.zeros((1 << d, d))
    elementary = np.empty(d + 1)
    for p in range(1 << d):
        for i in range(d):
            o_i = (p >> i) & 1
            # Σ over S ⊆ A of w(|S|) Π_{A∖S} z, times Π_B z; A = the other features with o = 1,
            # B = those with o = 0. e_k = elementary symmetric polynomials of z over A.
            elementary[:] = 0.0
            elementary[0] = 1.0
            size = 0
            zeros = 1.0
            for j in range(d):
                if j == i:
                    continue
                if (p >> j) & 1:
                    size += 1
                    for k in range(size, 0, -1):
                        elementary[k] += elementary[k - 1] * z[j]
                else:
                    zeros *= z[j]
            total = 0.0
            for s in range(size + 1):
                total += weight[s] * elementary[size - s]
            out[p, i] = value * (o_i - z[i]) * zeros * total
    return out


@njit(cache=True)
def _group_table(n_tests, leaf_tables, leaf_offsets, slot_mask, slot_want, slot_out, slot_start,
                 width):  # fmt: skip
    """A group's table ``(2**n_tests, width)``: for every combination of test outcomes, the sum
    over its leaves of the row of each leaf's table that the combination selects."""
    table = np.zeros((1 << n_tests, width))
    for b in range(1 << n_tests):
        for leaf in range(slot_start.shape[0] - 1):
            s0, s1 = slot_start[leaf], slot_start[leaf + 1]
            pattern = 0
            for q in range(s1 - s0):
                if (b & slot_mask[s0 + q]) == slot_want[s0 + q]:
                    pattern |= 1 << q
            row = leaf_offsets[leaf] + pattern * (s1 - s0)
            for q in range(s1 - s0):
                table[b, slot_out[s0 + q]] += leaf_tables[row + q]
    return table


def _subtree(tree: Tree, node: int) -> tuple[list[int], list[int]]:
    """The internal nodes and the leaves under ``node``."""
    internal, leaves, stack = [], [], [node]
    while stack:
        n = stack.pop()
        if tree.left[n] < 0:
            leaves.append(n)
        else:
            internal.append(n)
            stack.extend((tree.right[n], tree.left[n]))
    return internal, leaves


def _test_key(tree: Tree, node: int) -> tuple[int, float, bool]:
    return int(tree.feature[node]), float(tree.threshold[node]), bool(tree.nan_left[node])


@dataclass
class _Group:
    """Leaves whose contributions are tabled together: ``table[index, m]`` adds to output
    column ``columns[m]``, ``index`` formed from the outcomes of the tests ``keys``."""

    keys: list[tuple[int, float, bool]]
    columns: list[int]
    table: np.ndarray


def _merged(groups: list[_Group]) -> list[_Group]:
    """Groups joined while their tests together stay within ``MERGE_TESTS``: one table of sums
    for, e.g., three depth-2 trees, which a row reads once instead of three times. Groups are
    taken in the order of the columns they add to and the tests they make, so joined groups
    tend to share both (a shared column is one addition, a shared test one comparison)."""
    out: list[_Group] = []
    for group in sorted(groups, key=lambda g: (sorted(g.columns), sorted(g.keys))):
        last = out[-1] if out else None
        keys = list(dict.fromkeys([*last.keys, *group.keys])) if last else []
        if last is None or len(keys) > MERGE_TESTS:
            out.append(group)
            continue
        columns = list(dict.fromkeys([*last.columns, *group.columns]))
        table = np.zeros((1 << len(keys), len(columns)))
        index = np.arange(1 << len(keys))
        for part in (last, group):
            # The part's index for each combined index: its tests' bits, in its own order.
            own = np.zeros_like(index)
            for k, key in enumerate(part.keys):
                own |= ((index >> keys.index(key)) & 1) << k
            at = [columns.index(c) for c in part.columns]
            table[:, at] += part.table[own]
        out[-1] = _Group(keys, columns, table)
    return out


class _Builder:
    def __init__(self, columns: np.ndarray):
        self.columns = columns  # output column of each encoded feature
        self.groups: list[_Group] = []

    def add_tree(self, tree: Tree) -> float:
        """Add ``tree``'s groups; returns its expected value (cover-weighted mean leaf)."""
        parents = {}
        for n in range(len(tree.left)):
            if tree.left[n] >= 0:
                parents[int(tree.left[n])] = (n, True)
                parents[int(tree.right[n])] = (n, False)
        self._split(tree, 0, [], parents)
        _, leaves = _subtree(tree, 0)
        root = float(tree.cover[0])
        return float(sum(tree.value[leaf] * tree.cover[leaf] for leaf in leaves) / root)

    def _split(self, tree: Tree, node: int, path: list[int], parents: dict) -> None:
        internal, leaves = _subtree(tree, node)
        keys = list(dict.fromkeys(_test_key(tree, n) for n in [*path, *internal]))
        if len(keys) <= MAX_GROUP_TESTS or not internal:
            if len(keys) > MAX_LEAF_TESTS:
                raise TooDeep(f"a leaf has {len(keys)} distinct tests on its path")
            self._group(tree, keys, leaves, parents)
            return
        self._split(tree, int(tree.left[node]), [*path, node], parents)
        self._split(tree, int(tree.right[node]), [*path, node], parents)

    def _group(self, tree: Tree, keys: list, leaves: list[int], parents: dict) -> None:
        bit = {key: k for k, key in enumerate(keys)}
        outs: dict[int, int] = {}
        leaf_tables, leaf_offsets, offset = [], [], 0
        slot_mask, slot_want, slot_out, slot_start = [], [], [], [0]
        for leaf in leaves:
            # The leaf's unique path features: cover fraction z and the tests (bit, want) that
            # must all come out as wanted for o = 1.
            z: dict[int, float] = {}
            masks: dict[int, tuple[int, int]] = {}
            child = leaf
            while child in parents:
                parent, went_left = parents[child]
                feature = int(tree.feature[parent])
                z[feature] = z.get(feature, 1.0) * float(tree.cover[child] / tree.cover[parent])
                k = bit[_test_key(tree, parent)]
                mask, want = masks.get(feature, (0, 0))
                masks[feature] = (mask | 1 << k, want | (int(went_left) << k))
                child = parent
            features = list(masks)
            if not features:  # a tree that is a single leaf: no contribution to any feature
                continue
            for feature in features:
                column = int(self.columns[feature])
                outs.setdefault(column, len(outs))
                slot_mask.append(masks[feature][0])
                slot_want.append(masks[feature][1])
                slot_out.append(outs[column])
            slot_start.append(len(slot_mask))
            table = _leaf_table(np.array([z[f] for f in features]), float(tree.value[leaf]))
            leaf_tables.append(table.ravel())
            leaf_offsets.append(offset)
            offset += table.size
        if not outs:
            return
        table = _group_table(
            len(keys),
            np.concatenate(leaf_tables),
            np.array(leaf_offsets, dtype=np.int64),
            np.array(slot_mask, dtype=np.int64),
            np.array(slot_want, dtype=np.int64),
            np.array(slot_out, dtype=np.int64),
            np.array(slot_start, dtype=np.int64),
            len(outs),
        )
        self.groups.append(_Group(keys, list(outs), table))

    def forest(self, n_outputs: int, expected: float, float32_inputs: bool) -> Forest:
        tests, test_start, out_column, out_start, table_start, tables = [], [0], [], [0], [], []
        size = 0
        for group in _merged(self.groups):
            tests.extend(group.keys)
            test_start.append(len(tests))
            out_column.extend(group.columns)
            out_start.append(len(out_column))
            table_start.append(size)
            tables.append(group.table.T.ravel())  # output-major: one output's values contiguous
            size += group.table.size
        tests = tests or [(0, 0.0, False)]
        return Forest(
            test_start=np.array(test_start, dtype=np.int64),
            test_feature=np.array([t[0] for t in tests], dtype=np.int64),
            test_threshold=np.array([t[1] for t in tests], dtype=np.float64),
            test_nan_left=np.array([t[2] for t in tests], dtype=np.bool_),
            out_start=np.array(out_start, dtype=np.int64),
            out_column=np.array(out_column or [0], dtype=np.int64),
            table_start=np.array(table_start or [0], dtype=np.int64),
            table=np.concatenate(tables) if tables else np.zeros(1),
            n_outputs=n_outputs,
            expected_value=expected,
            float32_inputs=float32_inputs,
        )


class TooDeep(ValueError):
    """A leaf has more distinct split tests on its path than ``MAX_LEAF_TESTS``."""


def build(
    trees: list[Tree], columns: np.ndarray, n_outputs: int, float32_inputs: bool = False
) -> Forest:
    """Compile ``trees`` (a sum of trees on the encoded features) into a ``Forest`` whose
    outputs are ``n_outputs`` columns; encoded feature ``f`` adds into ``columns[f]``."""
    builder = _Builder(np.asarray(columns))
    expected = sum(builder.add_tree(tree) for tree in trees)
    return builder.forest(n_outputs, expected, float32_inputs)


# ---- reading the models ----------------------------------------------------------------------


def xgboost_trees(booster) -> list[Tree] | None:
    """The trees of a binary XGBoost booster with numeric splits, or None."""
    model = json.loads(booster.save_raw("json"))["learner"]
    if int(model["learner_model_param"].get("num_class", "0")) > 1:
        return None
    gbm = model["gradient_booster"]
    if gbm.get("name") != "gbtree":
        return None
    trees = []
    for raw in gbm["model"]["trees"]:
        if any(raw.get("split_type", [])):  # categorical splits
            return None
        left = np.asarray(raw["left_children"], dtype=np.int64)
        conditions = np.asarray(raw["split_conditions"], dtype=np.float32).astype(np.float64)
        trees.append(
            Tree(
                left=left,
                right=np.asarray(raw["right_children"], dtype=np.int64),
                feature=np.asarray(raw["split_indices"], dtype=np.int64),
                # XGBoost compares float32 values (see ``Forest.float32_inputs``).
                threshold=conditions,
                nan_left=np.asarray(raw["default_left"], dtype=bool),
                cover=np.asarray(raw["sum_hessian"], dtype=np.float64),
                value=conditions,  # a leaf's value is kept where a split keeps its threshold
            )
        )
    return trees


def hist_gb_trees(estimator) -> list[Tree] | None:
    """The trees of a fitted binary ``HistGradientBoostingClassifier`` with numeric splits."""
    predictors = getattr(estimator, "_predictors", None)
    if not predictors or len(predictors[0]) != 1:
        return None
    trees = []
    for (predictor,) in predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            return None
        leaf = nodes["is_leaf"].astype(bool)
        left = np.where(leaf, -1, nodes["left"].astype(np.int64))
        # scikit-learn goes left when x <= t: the same as x < the next float above t.
        threshold = np.nextafter(nodes["num_threshold"].astype(np.float64), np.inf)
        trees.append(
            Tree(
                left=left,
                right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
                feature=nodes["feature_idx"].astype(np.int64),
                threshold=threshold,
                nan_left=nodes["missing_go_to_left"].astype(bool),
                cover=nodes["count"].astype(np.float64),
                value=nodes["value"].astype(np.float64),
            )
        )
    return trees


_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compile_forest(estimator, family: str, columns: np.ndarray, n_outputs: int) -> Forest | None:
    """The compiled forest of a fitted estimator (cached per estimator and output mapping), or
    None when its trees are not supported (the caller uses the library instead)."""
    key = (family, tuple(int(c) for c in columns), n_outputs)
    try:
        cached = _compiled.get(estimator)
    except TypeError:  # not weakly referable: compiled again each time
        cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    if family == "xgboost":
        trees = xgboost_trees(estimator.get_booster())
    elif family == "hist_gb":
        trees = hist_gb_trees(estimator)
    else:
        return None
    forest = None
    if trees is not None:
        try:
            forest = build(trees, columns, n_outputs, float32_inputs=family == "xgboost")
        except TooDeep:
            forest = None
    with contextlib.suppress(TypeError):
        _compiled[estimator] = (key, forest)
    return forest


__all__ = ["Forest", "TooDeep", "Tree", "build", "compile_forest", "hist_gb_trees", "xgboost_trees"]
