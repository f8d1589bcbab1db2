"""MLflow tracking of a pipeline run: a parent run, one child run per candidate (params,
metrics, search, fairness tables) and, for the selected model, the registered version and its
model card."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from data.spec import DatasetSpec, Role
from pipeline import registry, report
from pipeline.evaluate import Evaluation, Selection
from pipeline.steps import Dataset, published_spec
from pipeline.train import FittedCandidate
from sara.settings import Settings


def flat_metrics(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items() if np.isfinite(v)}


def log_runs(
    settings: Settings,
    spec: DatasetSpec,
    feature_set: str,
    dataset: Dataset,
    fp: str,
    fitted: dict[str, FittedCandidate],
    evaluations: dict[str, Evaluation],
    selection: Selection,
    promote: bool,
    register: bool,
) -> tuple[str, str | None]:
    import mlflow

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    version = None
    with mlflow.start_run(run_name=f"pipeline-{stamp}") as parent:
        mlflow.set_tags(
            {
                "fingerprint": fp,
                "spec": spec.name,
                "feature_set": feature_set,
                "data_source": dataset.source,
                "champion": selection.champion,
            }
        )
        mlflow.log_params(
            {
                "rows": len(dataset.frame),
                "quarantined": dataset.report.n_quarantined,
                "feature_set": feature_set,
                "seed": settings.seed,
                "cv_folds": settings.cv_folds,
                "test_size": settings.test_size,
            }
        )
        mlflow.log_text(selection.reason, "selection.txt")
        # The spec and catalogue the model was trained for, as the warehouse keeps them.
        published = published_spec(spec, settings)
        mlflow.set_tag("spec_hash", published["spec_hash"])
        mlflow.log_text(published["spec_yaml"], "spec.yaml")
        if published["catalogue_yaml"]:
            mlflow.log_text(published["catalogue_yaml"], "interventions.yaml")
        for name, candidate in fitted.items():
            ev = evaluations[name]
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_params(
                    {
                        "family": candidate.family,
                        "calibration": candidate.calibration_method,
                        "features": ",".join(candidate.model.features),
                        **{f"param_{k}": v for k, v in candidate.params.items()},
                    }
                )
                mlflow.log_metrics(
                    {
                        **flat_metrics("cv_", candidate.cv),
                        **flat_metrics("test_", ev.metrics),
                        "fit_seconds": candidate.seconds,
                    }
                )
                mlflow.log_text(json.dumps(candidate.search, default=str, indent=1), "search.json")
                if ev.fairness is not None:
                    mlflow.log_text(ev.fairness.by_group.to_csv(index=False), "fairness_groups.csv")
                    mlflow.log_text(ev.fairness.gaps.to_csv(index=False), "fairness_gaps.csv")
                if name == selection.champion and register:
                    version = registry.log_model_version(
                        candidate.model,
                        dataset.frame[candidate.model.features].head(50),
                        settings.model_name,
                        {
                            "fingerprint": fp,
                            "candidate": name,
                            "family": candidate.family,
                            "feature_set": feature_set,
                            "spec": spec.name,
                            "role": "champion" if promote else "challenger",
                            "test_pr_auc": f"{ev.metrics['pr_auc']:.4f}",
                        },
                    )
                    mlflow.log_text(
                        model_card_text(
                            settings, spec, feature_set, dataset, candidate, ev, selection, version
                        ),
                        "model_card.md",
                    )
        return parent.info.run_id, version


def model_card_text(settings, spec, feature_set, dataset, candidate, ev, selection, version) -> str:
    attributes = spec.protected
    fairness = report.gaps_table(ev, attributes) if ev.fairness is not None else "n/a"
    return report.model_card(
        {
            "model_name": settings.model_name,
            "version": version,
            "family": candidate.family,
            "params": candidate.params,
            "calibration": candidate.calibration_method,
            "trained_at": datetime.now(UTC).date().isoformat(),
            "rows": f"{len(dataset.frame):,}",
            "data_source": dataset.source,
            "spec": spec.name,
            "feature_set": feature_set,
            "features": ", ".join(candidate.model.features),
            "outcome": spec.outcome.rule,
            "outcome_sources": ", ".join(spec.outcome_sources) or "none",
            "protected": ", ".join(spec.protected) or "none",
            "excluded": ", ".join(spec.names_with_role(Role.EXCLUDED)) or "none",
            "selection": selection.reason,
            "metrics": report.metrics_table({candidate.name: ev}),
            "fairness": fairness,
            "high": settings.risk_high_threshold,
            "min_group": settings.min_group_size,
        }
    )
