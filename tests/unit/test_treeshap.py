"""The compiled exact TreeSHAP gives XGBoost's own ``pred_contribs`` and shap's TreeExplainer:
for every depth the training grid can choose (and deeper), with missing values, values sitting
exactly on split thresholds, features split on more than once in a path, and outputs summed
into fewer columns (one-hot levels into the column they encode)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shap
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier

from pipeline import treeshap
from pipeline.train import CANDIDATES

TOLERANCE = 1e-5


def frame(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with integer-valued columns (values land on thresholds), a one-hot block, a
    continuous column with missing values, and an outcome that depends on all of them."""
    rng = np.random.default_rng(seed)
    ints = rng.integers(0, 6, size=(rows, 3)).astype(float)
    level = rng.integers(0, 4, size=rows)
    onehot = np.eye(4)[level]
    cont = rng.normal(size=(rows, 2))
    cont[rng.random(rows) < 0.15, 0] = np.nan
    x = np.column_stack([ints, onehot, cont])
    logit = (
        0.6 * ints[:, 0]
        - 0.4 * ints[:, 1] * (level == 2)
        + np.nan_to_num(cont[:, 0]) * 1.2
        - 0.8 * (cont[:, 1] > 0.3)
        + 0.3 * ints[:, 2]
        - 2
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


# Encoded columns 3..6 are one column's one-hot levels: outputs are 3 ints, that column, 2 floats.
COLUMNS = np.array([0, 1, 2, 3, 3, 3, 3, 4, 5])


def aggregate(values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0], COLUMNS.max() + 1))
    np.add.at(out.T, COLUMNS, values.T)
    return out


def xgb_grid_depths() -> list[dict]:
    return [p for p in CANDIDATES["xgboost"].grid]


@pytest.mark.parametrize(
    "params",
    [
        *xgb_grid_depths(),
        {"max_depth": 6, "n_estimators": 120, "learning_rate": 0.1},
        {"max_depth": 8, "n_estimators": 40, "learning_rate": 0.2},
    ],
    ids=lambda p: f"depth{p['max_depth']}x{p['n_estimators']}",
)
def test_xgboost_equals_pred_contribs(params):
    x, y = frame(3000, 1)
    model = xgb.XGBClassifier(
        tree_method="hist", subsample=0.8, colsample_bytree=0.8, min_child_weight=2,
        random_state=0, n_jobs=1, **params,
    ).fit(x, y)  # fmt: skip
    test, _ = frame(2000, 2)
    booster = model.get_booster()
    expected = booster.predict(xgb.DMatrix(test), pred_contribs=True)

    identity = treeshap.compile_forest(model, "xgboost", np.arange(x.shape[1]), x.shape[1])
    assert identity is not None
    got = identity.explain(test)
    assert np.abs(got - expected[:, :-1]).max() <= TOLERANCE
    margin = booster.predict(xgb.DMatrix(test), output_margin=True)
    base = margin - got.sum(axis=1)
    assert np.abs(base - expected[:, -1]).max() <= TOLERANCE  # the same bias for every row

    summed = treeshap.compile_forest(model, "xgboost", COLUMNS, COLUMNS.max() + 1)
    assert np.abs(summed.explain(test) - aggregate(expected[:, :-1])).max() <= TOLERANCE
    # One row at a time (the serial kernel) gives the same as a batch (the parallel one).
    single = np.vstack([summed.explain(test[i : i + 1]) for i in range(50)])
    assert np.abs(single - summed.explain(test[:50])).max() <= 1e-12


def test_expected_value_is_the_mean_over_covers():
    x, y = frame(2000, 3)
    model = xgb.XGBClassifier(n_estimators=50, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    forest = treeshap.compile_forest(model, "xgboost", np.arange(x.shape[1]), x.shape[1])
    bias = model.get_booster().predict(xgb.DMatrix(x[:1]), pred_contribs=True)[0, -1]
    margin_of_nothing = bias - forest.expected_value  # the booster's base margin
    config = json.loads(model.get_booster().save_config())["learner"]["learner_model_param"]
    base_score = float(config["base_score"].strip("[]"))  # a probability, e.g. "[4.38E-1]"
    assert margin_of_nothing == pytest.approx(np.log(base_score / (1 - base_score)), abs=1e-4)


@pytest.mark.parametrize(
    "params",
    [
        *CANDIDATES["hist_gb"].grid,
        {"max_leaf_nodes": 40, "max_depth": 8, "max_iter": 30, "learning_rate": 0.2},
    ],
    ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items() if k != "learning_rate"),
)
def test_hist_gb_equals_tree_explainer(params):
    x, y = frame(3000, 4)
    model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **params).fit(x, y)
    test, _ = frame(500, 5)
    expected = np.asarray(shap.TreeExplainer(model).shap_values(test))
    forest = treeshap.compile_forest(model, "hist_gb", np.arange(x.shape[1]), x.shape[1])
    assert forest is not None
    got = forest.explain(test)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.allclose(got.sum(axis=1) + forest.expected_value + model._baseline_prediction.item(),
                       model.decision_function(test), atol=TOLERANCE)  # fmt: skip


def test_a_stump_and_a_single_leaf_tree():
    leaf = treeshap.Tree(*(np.array(v) for v in ([-1], [-1], [0], [0.0], [False], [10.0], [0.5])))
    stump = treeshap.Tree(
        left=np.array([1, -1, -1]), right=np.array([2, -1, -1]), feature=np.array([1, 0, 0]),
        threshold=np.array([0.5, 0, 0]), nan_left=np.array([True, False, False]),
        cover=np.array([10.0, 4.0, 6.0]), value=np.array([0.0, 1.0, -1.0]),
    )  # fmt: skip
    forest = treeshap.build([leaf, stump], np.arange(2), 2)
    x = np.array([[9.0, 0.0], [9.0, 1.0], [9.0, np.nan]])
    # Left (x1 < 0.5 or missing) gives 1, right −1; the mean is 0.4·1 + 0.6·(−1) = −0.2.
    np.testing.assert_allclose(forest.explain(x), [[0, 1.2], [0, -0.8], [0, 1.2]], atol=1e-12)
    assert forest.expected_value == pytest.approx(0.5 - 0.2)


def test_unsupported_models_are_left_to_the_library():
    x, y = frame(500, 6)
    multi = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(x, y + (x[:, 0] > 3))
    assert treeshap.compile_forest(multi, "xgboost", np.arange(9), 9) is None
    assert treeshap.compile_forest(object(), "random_forest", np.arange(9), 9) is None
    # A leaf deeper than MAX_LEAF_TESTS distinct tests would need too large a table.
    with pytest.raises(treeshap.TooDeep):
        treeshap.build([chain(treeshap.MAX_LEAF_TESTS + 1)], np.arange(1), 1)
    forest = treeshap.build([chain(treeshap.MAX_LEAF_TESTS)], np.arange(1), 1)
    x = np.array([[0.5], [3.5], [100.0]])
    assert np.allclose(forest.explain(x).sum(axis=1) + forest.expected_value, [0, 3, 16])


def chain(depth: int) -> treeshap.Tree:
    """A tree splitting x0 at 1, 2, …, ``depth``: leaf value = the number of splits passed."""
    n = 2 * depth + 1
    left, right = np.full(n, -1), np.full(n, -1)
    feature, threshold = np.zeros(n, dtype=int), np.zeros(n)
    value, cover = np.zeros(n), np.zeros(n)
    node = 0
    for k in range(depth):  # node 2k splits; its left child 2k+1 is a leaf, its right 2k+2
        left[2 * k], right[2 * k], threshold[2 * k] = 2 * k + 1, 2 * k + 2, k + 1
        value[2 * k + 1] = k
        node = 2 * k + 2
    value[node] = depth
    for i in range(n - 1, -1, -1):
        cover[i] = 1.0 if left[i] < 0 else cover[left[i]] + cover[right[i]]
    return treeshap.Tree(left, right, feature, threshold, np.zeros(n, dtype=bool), cover, value)
