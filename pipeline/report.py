"""The run report (markdown + PNG charts) and the model card, written to the workspace and
logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from data.spec import DatasetSpec
from pipeline.champion import Decision
from pipeline.evaluate import Evaluation, Selection
from pipeline.fairness_gate import GateCheck
from pipeline.metrics import pr_points, roc_points
from pipeline.scoring import Scored
from pipeline.steps import Dataset, SplitData
from sara.settings import Settings

METRIC_COLUMNS = [
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "precision_top10",
    "recall_top10",
    "precision_top20",
    "recall_top20",
]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(y: np.ndarray, evaluations: dict[str, Evaluation], folder: Path) -> list[Path]:
    paths = []
    for kind, points, xs, ys in (
        ("roc", roc_points, "fpr", "tpr"),
        ("pr", pr_points, "recall", "precision"),
    ):
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        for name, ev in evaluations.items():
            table = points(y, ev.score)
            metric = ev.metrics["roc_auc" if kind == "roc" else "pr_auc"]
            ax.plot(
                table[xs],
                table[ys],
                label=f"{name} ({metric:.3f})",
                lw=2.2 if name.endswith("(champion)") else 1.2,
            )
        if kind == "roc":
            ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel(xs.upper() if kind == "roc" else "recall")
        ax.set_ylabel(ys.upper() if kind == "roc" else "precision")
        ax.set_title("ROC curve" if kind == "roc" else "Precision-recall curve")
        ax.legend(fontsize=8)
        paths.append(_save(fig, folder / f"{kind}.png"))
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, ev in evaluations.items():
        ax.plot(
            ev.calibration["mean_predicted"],
            ev.calibration["observed_rate"],
            "o-",
            label=name,
            ms=3,
        )
    top = max(float(ev.calibration["mean_predicted"].max()) for ev in evaluations.values())
    ax.plot([0, top], [0, top], ":", color="grey")
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration (deciles of risk)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, folder / "calibration.png"))
    return paths


def plot_fairness(evaluation: Evaluation, attributes: list[str], folder: Path) -> Path:
    table = evaluation.fairness.by_group
    table = table[table["attribute"].isin(attributes)]
    metrics = ["selection_rate", "tpr", "fpr", "calibration_gap"]
    fig, axes = plt.subplots(len(attributes), 1, figsize=(7, 2.6 * len(attributes)), squeeze=False)
    for ax, attribute in zip(axes[:, 0], attributes, strict=True):
        rows = table[table["attribute"] == attribute]
        x = np.arange(len(rows))
        for i, metric in enumerate(metrics):
            # Suppressed groups stay NaN: no bar is drawn, never a bar of 0.
            ax.bar(x + (i - 1.5) * 0.2, rows[metric], 0.2, label=metric)
        labels = [
            f"{g}\n(n={n}{', suppressed' if s else ''})"
            for g, n, s in zip(rows["group"], rows["n"], rows["suppressed"], strict=True)
        ]
        ax.set_xticks(x, labels, fontsize=7)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{attribute}: champion at the High threshold", fontsize=9)
    axes[0, 0].legend(fontsize=7, ncol=4)
    return _save(fig, folder / "fairness.png")


def plot_importance(features: list[str], mean_abs: np.ndarray, folder: Path) -> Path:
    order = np.argsort(mean_abs)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(features) + 1))
    ax.barh(np.asarray(features)[order], mean_abs[order], color="#4477aa")
    ax.set_xlabel("mean |contribution| (log-odds)")
    ax.set_title("What drives the champion's risk scores (SHAP)")
    return _save(fig, folder / "shap_summary.png")


def metrics_table(evaluations: dict[str, Evaluation]) -> str:
    frame = pd.DataFrame({name: ev.metrics for name, ev in evaluations.items()}).T
    columns = [c for c in METRIC_COLUMNS if c in frame.columns]
    return frame[columns].to_markdown(floatfmt=".4f")


def gaps_table(evaluation: Evaluation, attributes: list[str]) -> str:
    gaps = evaluation.fairness.gaps
    gaps = gaps[gaps["attribute"].isin(attributes)]
    return gaps.to_markdown(index=False, floatfmt=".3f")


STATUS_WORDS = {
    "checked_pass": "checked, within the limits",
    "checked_fail": "checked, OUTSIDE the limits",
    "not_checked": "NOT CHECKED",
}


def _gate_value(check: GateCheck) -> str:
    """A measured gap; marked as information only when the limit was not checked."""
    if check.value is None:
        return "n/a"
    text = f"{check.value:.3f}"
    if check.status == "not_checked":
        text += " (info only" + (", above the limit)" if check.over_limit else ")")
    return text


def gate_table(selection: Selection) -> str:
    """Every candidate's fairness gate: per protected attribute, its status, the group sizes
    and the measured gaps (those of attributes not checked are for information only)."""
    rows = []
    for name, result in selection.gates.items():
        for attribute in result.attributes:
            checks = {c.metric: c for c in attribute.checks}
            rows.append(
                {
                    "candidate": name,
                    "verdict": result.words(),
                    "attribute": attribute.attribute,
                    "status": STATUS_WORDS[attribute.status],
                    "groups (test students)": attribute.sizes(),
                    "calibration gap": _gate_value(checks["calibration_gap"]),
                    "ROC-AUC spread": _gate_value(checks["roc_auc_spread"]),
                }
            )
        if not result.attributes:
            rows.append({"candidate": name, "verdict": result.words()})
    return pd.DataFrame(rows).to_markdown(index=False) if rows else "No candidates."


def gate_section(selection: Selection, decision: Decision, settings: Settings) -> str:
    """The fairness gate in plain words: the rule, the selected model's verdict, what
    happened when no candidate met the limits, and every candidate's table."""
    head = (
        f"Limits: calibration gap ≤ {settings.fairness_max_calibration_gap} and ROC-AUC "
        f"spread ≤ {settings.fairness_max_auc_gap} across the groups of each protected "
        f"attribute that have ≥ {settings.fairness_gate_min_group} test students. An "
        "attribute without such groups is NOT CHECKED: its gaps are shown for information "
        "only and it never counts as within the limits."
    )
    selected = selection.gate
    lines = [head, ""]
    if selected is not None:
        lines.append(f"**{selection.champion}**: {selected.summary()}.")
    if decision.fairness_fallback != "none":
        lines += ["", f"**{decision.reason}.**"]
    if decision.served_gate is not None and decision.served_gate is not selected:
        lines += ["", f"Model in service: {decision.served_gate.summary()}."]
    return "\n".join([*lines, "", gate_table(selection)])


def write_report(folder: Path, sections: list[tuple[str, str]], images: list[Path]) -> Path:
    lines = []
    for title, body in sections:
        lines += [f"## {title}", "", body, ""]
    lines += ["## Charts", ""] + [f"![{p.stem}]({p.name})" for p in images]
    path = folder / "report.md"
    path.write_text("# SARA pipeline run\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_run_report(
    settings: Settings,
    run_id: str,
    split: SplitData,
    evaluations: dict[str, Evaluation],
    selection: Selection,
    decision: Decision,
    scored: Scored,
    spec: DatasetSpec,
    dataset: Dataset,
    timings: dict[str, float],
) -> Path:
    """The run's report (data, candidates, selection, fairness, timings and charts) in the
    workspace's reports folder, also logged to the run in MLflow; returns the markdown file."""
    import mlflow

    folder = settings.reports_dir / f"pipeline-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    named = {
        (f"{k} (champion)" if k == selection.champion else k): v for k, v in evaluations.items()
    }
    images = plot_curves(split.y_test, named, folder)
    champion_eval = evaluations[selection.champion]
    if champion_eval.fairness is not None and spec.protected:
        images.append(plot_fairness(champion_eval, spec.protected, folder))
    mean_abs = np.abs(scored.contribs.values).mean(axis=0)
    images.append(plot_importance(scored.contribs.features, mean_abs, folder))
    sections = [
        (
            "Data",
            f"{dataset.source}: {dataset.report.n_rows:,} rows read, "
            f"{dataset.report.n_valid:,} valid, {dataset.report.n_quarantined:,} "
            f"quarantined; outcome rate {dataset.y.mean():.1%}.",
        ),
        ("Candidates and baselines (held-out test set)", metrics_table(evaluations)),
        ("Selection", f"{selection.describe(with_fallback=False)}.\n\n{decision.reason}."),
        ("Fairness gate", gate_section(selection, decision, settings)),
        (
            "Fairness of the selected model",
            gaps_table(champion_eval, spec.protected)
            if champion_eval.fairness is not None
            else "No protected attributes in the spec.",
        ),
        ("Timings (s)", "\n".join(f"- {k}: {v:.1f}" for k, v in timings.items())),
    ]
    path = write_report(folder, sections, images)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifacts(str(folder), artifact_path="report")
    return path


def model_card(facts: dict[str, str]) -> str:
    """The model card logged with every registered version."""
    return f"""# Model card: {facts["model_name"]} v{facts["version"]}

**Risk is not destiny.** This model estimates the chance that a student ends the year below
the outcome line ({facts["outcome"]}) so staff can offer support early. A high score is a
reason to look closer and to help, never a verdict about a student, and never grounds for
exclusion, discipline or lowered expectations.

## Model
- Family: {facts["family"]} (parameters {facts["params"]}), calibrated with {facts["calibration"]}.
- Trained {facts["trained_at"]} on {facts["rows"]} students ({facts["data_source"]}),
  spec `{facts["spec"]}`, feature set `{facts["feature_set"]}`.
- Inputs: {facts["features"]}.
- Never inputs: outcome-source columns ({facts["outcome_sources"]}), protected attributes
  ({facts["protected"]}), excluded columns ({facts["excluded"]}).
- Selection: {facts["selection"]}.

## Performance on the held-out test set
{facts["metrics"]}

## Fairness (by protected attribute, at the High threshold {facts["high"]})
{facts["fairness"]}

Groups with fewer than {facts["min_group"]} students are suppressed, never shown as 0.

## Intended use
Early identification of students who may need academic support, explanation of the factors
behind each score, and equity monitoring across groups — by school staff who know the students.

## Limits
- Scores describe association in historical data, not causes; what-if changes of a factor are
  not promises that changing it will change the outcome.
- The model only knows the columns in the spec; it cannot see a family crisis, a diagnosis or a
  strength that the data does not record.
- Performance and calibration hold for populations like the training data; re-validate after a
  change of school, grade span, policy or data definitions.
"""
