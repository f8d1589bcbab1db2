"""The fairness gate at selection: attributes whose groups are too small are "not checked" (never
"within the limits"), a checked limit that is broken excludes a candidate, and when no candidate
meets the limits the fallback setting decides, saying which happened everywhere it is shown."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline import champion
from pipeline.champion import decide, fairness_record, fallback_words
from pipeline.evaluate import Evaluation, evaluate, select_champion
from pipeline.fairness import fairness_report
from pipeline.fairness_gate import fairness_gate
from pipeline.registry import ChampionInfo
from pipeline.report import gate_section, gate_table
from pipeline.steps import SplitData
from pipeline.train import FittedCandidate
from sara.cli.pipeline import fairness_rows
from sara.settings import Settings
from tools.model_card import gate_info

LIMITS = {"max_calibration_gap": 0.05, "max_auc_gap": 0.10, "min_group": 200}
SPEC = SimpleNamespace(protected=["Sex"])


def cohort(sizes: dict[str, int], noisy: frozenset[str] = frozenset(), seed: int = 0):
    """Labels, scores and a one-column group frame: every group has a 20 % outcome rate and
    calibrated scores; groups in ``noisy`` are scored at random (their ROC-AUC is ~0.5)."""
    rng = np.random.default_rng(seed)
    ys, scores, labels = [], [], []
    for group, n in sizes.items():
        y = (rng.random(n) < 0.2).astype(int)
        if group in noisy:
            score = rng.uniform(0.0, 0.4, n)
        else:
            score = np.where(y == 1, rng.uniform(0.1, 0.5, n), rng.uniform(0.0, 0.3, n))
            score = score * (y.mean() / score.mean())  # mean risk = outcome rate
        ys.append(y)
        scores.append(score)
        labels += [group] * n
    return np.concatenate(ys), np.concatenate(scores), pd.DataFrame({"Sex": labels})


def evaluation(sizes: dict[str, int], noisy: frozenset[str] = frozenset(), seed: int = 0):
    y, score, groups = cohort(sizes, noisy, seed)
    return evaluate("m", y, score, groups, threshold=0.4, min_group_size=20)


def gate_of(ev: Evaluation):
    return fairness_gate(ev.fairness, ["Sex"], **LIMITS)


def fitted(name: str, family: str, pr_auc: float) -> FittedCandidate:
    return FittedCandidate(
        name=name,
        family=family,
        params={},
        model=SimpleNamespace(features=["x"]),
        cv={"pr_auc": pr_auc, "roc_auc": 0.8},
        calibration_method="sigmoid",
        calibration_cv_brier={},
    )


# --- The gate on one model ----------------------------------------------------------------


def test_all_groups_small_is_not_checked_never_within_the_limits():
    # A ROC-AUC spread far above the limit, on groups of 120 and 80 test students.
    result = gate_of(evaluation({"F": 120, "M": 80}, noisy=frozenset({"M"})))
    assert result.verdict == "not_checked"
    assert not result.failed
    (sex,) = result.attributes
    assert sex.status == "not_checked"
    assert {(g.group, g.n, g.gated) for g in sex.groups} == {("F", 120, False), ("M", 80, False)}
    checks = {c.metric: c for c in sex.checks}
    assert {c.status for c in checks.values()} == {"not_checked"}
    spread = checks["roc_auc_spread"]
    assert spread.value is not None and spread.value > 0.10 and spread.over_limit
    summary = result.summary()
    assert "within the fairness limits" not in summary
    assert "NOT CHECKED" in summary and "too small to check: F n=120, M n=80" in summary
    assert f"measured {spread.value:.3f}, ABOVE the 0.1 limit" in summary


def test_a_checked_limit_that_is_broken_fails():
    result = gate_of(evaluation({"F": 400, "M": 400}, noisy=frozenset({"M"})))
    assert result.verdict == "outside_limits" and result.failed
    assert result.attributes[0].status == "checked_fail"
    assert [v.split(" 0.")[0] for v in result.violations()] == ["Sex: ROC-AUC spread"]
    assert "OUTSIDE the fairness limits" in result.summary()


def test_large_fair_groups_are_within_the_limits():
    result = gate_of(evaluation({"F": 400, "M": 400}))
    assert result.verdict == "within_limits"
    assert result.attributes[0].status == "checked_pass"
    assert result.summary().startswith("within the fairness limits on Sex")


def test_one_large_group_checks_calibration_but_not_the_spread():
    result = gate_of(evaluation({"F": 400, "M": 80}, noisy=frozenset({"M"})))
    (sex,) = result.attributes
    checks = {c.metric: c.status for c in sex.checks}
    assert checks == {"calibration_gap": "checked_pass", "roc_auc_spread": "not_checked"}
    # Not every limit could be checked, so the attribute is not reported as passing.
    assert sex.status == "not_checked" and result.verdict == "not_checked"


def test_one_attribute_checked_and_another_not_is_partly_checked():
    y, score, groups = cohort({"F": 400, "M": 400})
    groups["Race"] = np.where(np.arange(len(y)) % 10 == 0, "small", "large")  # 80 vs 720
    report = fairness_report(y, score, groups, 0.4, 20, pairs=False)
    result = fairness_gate(report, ["Sex", "Race"], **LIMITS)
    assert {a.attribute: a.status for a in result.attributes} == {
        "Sex": "checked_pass",
        "Race": "not_checked",
    }
    assert result.verdict == "partly_checked"
    assert "NOT CHECKED on Race" in result.summary()


def test_no_protected_attributes_is_not_checked():
    result = fairness_gate(None, [], **LIMITS)
    assert result.verdict == "not_checked" and result.attributes == []
    assert "no protected attributes" in result.summary()


# --- Selection ------------------------------------------------------------------------------


def select(evaluations: dict[str, Evaluation], candidates: dict[str, FittedCandidate]):
    return select_champion(candidates, evaluations, ["Sex"], 0.05, 0.10, 200)


def test_selection_on_small_groups_never_says_within_the_limits():
    candidates = {"logreg": fitted("logreg", "linear", 0.40)}
    ev = {"logreg": evaluation({"F": 120, "M": 80}, noisy=frozenset({"M"}))}
    selection = select(ev, candidates)
    assert selection.champion == "logreg" and selection.fairness_met
    assert "within the fairness limits" not in selection.reason
    assert "fairness NOT CHECKED" in selection.reason


def test_a_candidate_breaking_a_checked_limit_is_excluded():
    candidates = {
        "xgboost": fitted("xgboost", "xgboost", 0.45),
        "logreg": fitted("logreg", "linear", 0.40),
    }
    ev = {
        "xgboost": evaluation({"F": 400, "M": 400}, noisy=frozenset({"M"})),
        "logreg": evaluation({"F": 400, "M": 400}),
    }
    selection = select(ev, candidates)
    assert selection.champion == "logreg" and selection.fairness_met
    assert selection.violations["xgboost"] and not selection.violations["logreg"]
    assert "among candidates within the fairness limits" in selection.reason
    assert "excluded for fairness: xgboost" in selection.reason


def test_when_no_candidate_meets_the_limits_the_best_is_flagged():
    candidates = {"logreg": fitted("logreg", "linear", 0.40)}
    ev = {"logreg": evaluation({"F": 400, "M": 400}, noisy=frozenset({"M"}))}
    selection = select(ev, candidates)
    assert selection.champion == "logreg" and not selection.fairness_met
    assert "NO candidate met the fairness limits" in selection.reason
    assert "within the fairness limits" not in selection.reason


# --- The fallback ---------------------------------------------------------------------------


class Incumbent:
    """A registered champion stand-in: fair, calibrated scores from the test frame."""

    def __init__(self) -> None:
        self.features = ["x"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        risk = frame["fair_score"].to_numpy()
        return np.column_stack([1 - risk, risk])


@pytest.fixture
def unfair_run(monkeypatch):
    """A test set of 800 students where the selected model's ROC-AUC spread by sex breaks
    the limit (the champion's does not), its selection, and a registered champion v3."""
    y, unfair, groups = cohort({"F": 400, "M": 400}, noisy=frozenset({"M"}))
    _, fair, _ = cohort({"F": 400, "M": 400})
    test = groups.assign(x=0.0, fair_score=fair)
    split = SplitData(test.iloc[:0], test, y[:0], y, None)
    best_eval = evaluate("logreg", y, unfair, groups, 0.4, 20)
    best = fitted("logreg", "linear", 0.40)
    selection = select({"logreg": best_eval}, {"logreg": best})
    assert not selection.fairness_met
    monkeypatch.setattr(champion.registry, "load_version", lambda name, version: Incumbent())
    current = ChampionInfo("sara-risk", "3", "run", {"candidate": "xgboost"})
    return SimpleNamespace(
        split=split, best=best, best_eval=best_eval, selection=selection, current=current
    )


def settings_with(fallback: str, tmp_path) -> Settings:
    return Settings(
        home=tmp_path,
        fairness_fallback=fallback,
        champion_tolerance=1.0,
        risk_medium_threshold=0.15,
        risk_high_threshold=0.4,
    )


def run_decide(run, settings: Settings, current: ChampionInfo | None):
    return decide(
        settings,
        current,
        False,
        run.best,
        run.best_eval,
        run.split,
        SPEC,
        run.selection.gate,
    )


def test_the_default_fallback_keeps_the_champion(unfair_run, tmp_path):
    assert Settings(home=tmp_path).fairness_fallback == "keep_champion"
    settings = settings_with("keep_champion", tmp_path)
    decision = run_decide(unfair_run, settings, unfair_run.current)
    assert not decision.promote and decision.fairness_fallback == "kept_champion"
    assert isinstance(decision.served_model, Incumbent) and decision.served_candidate == "xgboost"
    assert decision.reason.startswith("NO candidate met the fairness limits")
    assert "champion v3 stays in service" in decision.reason
    # The gate of the model in service is the champion's, judged on the same test students.
    assert decision.served_gate.verdict == "within_limits"
    record = json.loads(json.dumps(fairness_record(decision, settings)))
    assert record["fallback"] == "kept_champion" and record["verdict"] == "within_limits"
    assert "current champion stays in service" in record["fallback_words"]


def test_keep_champion_without_a_champion_promotes_with_a_warning(unfair_run, tmp_path):
    settings = settings_with("keep_champion", tmp_path)
    decision = run_decide(unfair_run, settings, None)
    assert decision.promote and decision.fairness_fallback == "promoted_with_warning"
    assert decision.reason.startswith("WARNING: NO candidate met the fairness limits")
    assert "no champion to keep" in decision.reason
    assert decision.served_gate.verdict == "outside_limits"


def test_promote_with_warning_promotes_the_selected_model(unfair_run, tmp_path):
    settings = settings_with("promote_with_warning", tmp_path)
    decision = run_decide(unfair_run, settings, unfair_run.current)
    assert decision.promote and decision.fairness_fallback == "promoted_with_warning"
    assert "SARA_FAIRNESS_FALLBACK=promote_with_warning" in decision.reason
    assert decision.reason.startswith("WARNING")
    unfair_run.selection.fallback = fallback_words(decision, settings)
    assert unfair_run.selection.reason.endswith(
        "so the selected model was promoted WITH A WARNING "
        "(SARA_FAIRNESS_FALLBACK=promote_with_warning)"
    )


def test_no_fallback_when_a_candidate_meets_the_limits(tmp_path):
    y, score, groups = cohort({"F": 400, "M": 400})
    best_eval = evaluate("logreg", y, score, groups, 0.4, 20)
    best = fitted("logreg", "linear", 0.40)
    selection = select({"logreg": best_eval}, {"logreg": best})
    split = SplitData(groups.iloc[:0], groups, y[:0], y, None)
    settings = settings_with("keep_champion", tmp_path)
    decision = decide(settings, None, False, best, best_eval, split, SPEC, selection.gate)
    assert decision.promote and decision.fairness_fallback == "none"
    assert fallback_words(decision, settings) is None
    assert not decision.reason.startswith(("WARNING", "NO candidate"))


# --- Where it is shown ----------------------------------------------------------------------


def test_status_rows_report_and_model_info_say_what_happened(unfair_run, tmp_path):
    settings = settings_with("keep_champion", tmp_path)
    decision = run_decide(unfair_run, settings, unfair_run.current)
    unfair_run.selection.fallback = fallback_words(decision, settings)
    record = json.dumps(fairness_record(decision, settings))

    rows = dict(fairness_rows(record))
    assert rows["fairness gate"].startswith("within the fairness limits on Sex")
    assert rows["  Sex"].startswith("checked, within the limits (F n=400, M n=400)")
    assert rows["fairness fallback"].startswith("no candidate met the limits, so the current")
    assert fairness_rows(None) == [
        ("fairness gate", "not recorded in this warehouse (built by an older SARA)")
    ]

    info = gate_info(record)
    assert info.verdict == "within_limits" and info.fallback == "kept_champion"
    assert info.attributes[0].groups == {"F": 400, "M": 400}
    assert {c.status for c in info.attributes[0].checks} == {"checked_pass"}
    assert gate_info(None) is None

    section = gate_section(unfair_run.selection, decision, settings)
    assert "OUTSIDE the fairness limits" in section
    assert "champion v3 stays in service" in section
    assert "| logreg" in gate_table(unfair_run.selection)


def test_small_groups_show_as_not_checked_in_status_and_model_info(tmp_path):
    small = evaluation({"F": 120, "M": 80}, noisy=frozenset({"M"}))
    selection = select({"logreg": small}, {"logreg": fitted("logreg", "linear", 0.4)})
    split = SplitData(pd.DataFrame(), pd.DataFrame(), np.array([]), np.array([]), None)
    settings = settings_with("keep_champion", tmp_path)
    decision = decide(settings, None, False, None, small, split, SPEC, selection.gate)
    record = json.dumps(fairness_record(decision, settings))
    rows = dict(fairness_rows(record))
    assert rows["fairness gate"].startswith("fairness NOT CHECKED")
    assert rows["  Sex"].startswith("NOT CHECKED (too small to check: F n=120, M n=80)")
    assert "fairness fallback" not in rows
    info = gate_info(record)
    assert info.verdict == "not_checked"
    assert info.attributes[0].status == "not_checked"
    spread = next(c for c in info.attributes[0].checks if c.metric == "roc_auc_spread")
    assert spread.value > 0.10  # measured and reported, for information only
    table = gate_table(selection)
    assert "NOT CHECKED" in table and "(info only, above the limit)" in table
