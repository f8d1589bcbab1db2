"""A tiny published workspace for unit tests of the tools: a few hundred generated students,
one candidate fitted in memory, the warehouse written by the pipeline's own steps and publish,
and a ``ToolContext`` built straight from them: no MLflow store, no server, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data.spec import load_spec
from pipeline import warehouse
from pipeline.levels import with_levels
from pipeline.scoring import score_step
from pipeline.steps import (
    evaluate_step,
    fingerprint,
    read_step,
    resolve_source,
    split_step,
    train_step,
    validate_step,
    warehouse_tables,
)
from sara.settings import Settings
from tools import TOOLS
from tools.base import ToolOutput
from tools.context import ToolContext, served_catalogue

ROWS = 600
CANDIDATE = "logreg"  # the cheapest family; what the tools do does not depend on it
FEATURE_SET = "early"
MODEL_VERSION = "1"


def tiny_settings(home: Path) -> Settings:
    """Settings of the tiny workspace, whatever SARA_* variables the shell has."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SARA_"):
                patch.delenv(name)
        return Settings(
            _env_file=None,
            home=home,
            generate_rows=ROWS,
            candidates=(CANDIDATE,),
            cv_folds=2,
        )


def build_tiny_context(home: Path) -> ToolContext:
    """Generate ``ROWS`` students, validate, split, fit one candidate, evaluate it, score and
    explain everyone and publish the warehouse under ``home``; the context serves that model."""
    settings = tiny_settings(home)
    settings.ensure_workspace()
    spec = load_spec(settings.spec_path)
    source = resolve_source(settings, None, ROWS)
    dataset = validate_step(read_step(source, spec), source, spec, settings)
    settings = with_levels(settings, float(dataset.y.mean()))
    split = split_step(dataset, settings)
    fitted = train_step(split, spec, FEATURE_SET, settings)
    evaluations = evaluate_step(split, fitted, spec, settings)
    model = fitted[CANDIDATE].model
    scored = score_step(model, dataset.frame, spec, settings)
    meta = {
        "model_name": settings.model_name,
        "model_version": MODEL_VERSION,
        "candidate": CANDIDATE,
        "fingerprint": fingerprint(dataset, spec, FEATURE_SET, settings),
        "spec": spec.name,
        "feature_set": FEATURE_SET,
        "data_source": dataset.source,
        "pipeline_run_id": "tiny",
        "risk_medium_threshold": settings.risk_medium_threshold,
        "risk_high_threshold": settings.risk_high_threshold,
    }
    tables = warehouse_tables(
        dataset, scored, spec, settings, evaluations, evaluations[CANDIDATE], meta
    )
    warehouse.publish(settings.warehouse_path, tables, id_column=spec.id_column)
    meta = warehouse.read_meta(settings.warehouse_path)
    catalogue = served_catalogue(spec, settings, meta)
    return ToolContext(settings, spec, model, MODEL_VERSION, meta, "memory", catalogue)


def call(ctx: ToolContext, name: str, **arguments) -> ToolOutput:
    """Run the registry's tool ``name`` on raw arguments, validated as every surface does."""
    tool = next(t for t in TOOLS if t.name == name)
    return tool.func(tool.parse(arguments), ctx)


def published_thresholds(ctx: ToolContext) -> dict[str, float]:
    """The risk thresholds the tiny warehouse was published with: set from its base rate."""
    base = float(ctx.sql("SELECT avg(at_risk) AS r FROM students")["r"].iloc[0])
    levelled = with_levels(ctx.settings.model_copy(update=dict.fromkeys(THRESHOLDS)), base)
    return {
        "medium": levelled.risk_medium_threshold,
        "high": levelled.risk_high_threshold,
    }


THRESHOLDS = ("risk_medium_threshold", "risk_high_threshold")
