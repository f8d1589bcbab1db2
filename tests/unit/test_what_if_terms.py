"""The interventions' per-student terms stored at publish: a cohort's comparison and a plan
read from them equal what computing every term on request gives (the model on the cohort's
rows, the outcome models refitted) — on the built-in schema and on a second one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from data.spec import Role
from pipeline import what_if
from tests.unit.tiny_warehouse import build_tiny_context, call
from tools import interventions as tool
from tools.errors import NotFound
from tools.interventions import CompareInput, request_changes, stored_changes, stored_terms

SPECS = Path(__file__).resolve().parents[2] / "data" / "specs"
TOLERANCE = 1e-9


@pytest.fixture(scope="module", params=["built-in", "higher_ed"])
def ctx(request, tiny_ctx, tmp_path_factory):
    if request.param == "built-in":
        yield tiny_ctx
        return
    other = build_tiny_context(
        tmp_path_factory.mktemp("tiny-other") / "ws", SPECS / "higher_ed.yaml"
    )
    yield other
    other.close()


def selections(ctx) -> list[CompareInput]:
    """Cohorts of every kind: everyone, a risk level, a context value, an actionable value,
    listed students (one, several, in an order of their own)."""
    spec = ctx.spec
    ids = ctx.sql(f'SELECT "{ctx.id_column}" FROM students ORDER BY 1 DESC LIMIT 7').iloc[:, 0]
    context = next(c for c in spec.columns if c.categories and c.role == Role.CONTEXT)
    actionable = next(c for c in spec.columns if c.name in spec.actionable)
    value = ctx.sql(f'SELECT "{actionable.name}" FROM students LIMIT 1').iloc[0, 0]
    return [
        CompareInput(all_students=True),
        CompareInput(filters={"risk_level": "High"}),
        CompareInput(
            filters={"risk_level": ["Medium", "High"], context.name: context.categories[0]}
        ),
        CompareInput(filters={actionable.name: value.item() if hasattr(value, "item") else value}),
        CompareInput(student_ids=[ids.iloc[0]]),
        CompareInput(student_ids=ids.tolist()),
    ]


def test_the_publish_stores_every_interventions_terms(ctx):
    described = ctx.what_if_terms
    chosen = ctx.pick_interventions(None)
    assert described is not None and stored_terms(ctx, chosen)
    columns = set(ctx.sql("SELECT * FROM what_if LIMIT 0").columns)
    for iv in chosen:
        assert what_if.column(iv.name, "after") in columns
        has_effect = what_if.column(iv.name, "effect") in columns
        assert has_effect == (described["interventions"][iv.name]["note"] is None)
    # read side by side with the students: the same student on the same row
    ids = ctx.sql(f'SELECT s."{ctx.id_column}" AS a, w.student_id AS b FROM {ctx.what_if_source}')
    assert (ids["a"].astype(str) == ids["b"].astype(str)).all() and len(ids) == 600


def test_a_cohorts_comparison_from_stored_terms_equals_the_one_computed_on_request(ctx):
    chosen = ctx.pick_interventions(None)
    estimated = 0
    for selection in selections(ctx):
        stored = stored_changes(selection, chosen, ctx)
        fresh = request_changes(selection, chosen, ctx)
        assert stored.n == fresh.n > 0 and stored.truth_available == fresh.truth_available
        for iv in chosen:
            a, b = stored.changes[iv.name], fresh.changes[iv.name]
            assert (a.n, a.out_of_high, a.evidence.note) == (b.n, b.out_of_high, b.evidence.note)
            for name in ("before", "after", "sd", "true"):
                x, y = getattr(a, name), getattr(b, name)
                assert (x is None) == (y is None), (selection, iv.name, name)
                if x is not None:
                    assert abs(x - y) <= TOLERANCE, (selection, iv.name, name, x, y)
            if b.evidence.change is not None:
                estimated += 1
                assert abs(a.evidence.change - b.evidence.change) <= TOLERANCE
                assert np.allclose(a.evidence.placebos, b.evidence.placebos, rtol=0, atol=TOLERANCE)
                assert dataclasses.replace(
                    a.evidence, change=0, placebos=[]
                ) == dataclasses.replace(b.evidence, change=0, placebos=[])
    assert estimated  # some intervention has a data estimate on each schema


def test_the_tools_answer_from_stored_terms_and_name_unknown_ids(ctx, monkeypatch):
    def refuse(*_):
        raise AssertionError("computed on request although the terms are stored")

    monkeypatch.setattr(tool, "request_changes", refuse)
    monkeypatch.setattr(tool, "model_what_if", refuse)
    out = call(ctx, "compare_interventions", filters={"risk_level": "High"})
    assert out.n_students > 0 and out.results
    assert call(ctx, "plan_interventions", budget=5000).assignments
    known = ctx.sql(f'SELECT "{ctx.id_column}" FROM students LIMIT 1').iloc[0, 0]
    with pytest.raises(NotFound, match="NOPE-1") as raised:
        call(ctx, "compare_interventions", student_ids=[known, "NOPE-1"])
    assert raised.value.field == "student_ids"


@pytest.mark.parametrize("objective", ["risk_reduction", "students_out_of_high"])
def test_a_plan_from_stored_terms_equals_the_one_computed_on_request(ctx, monkeypatch, objective):
    budget = 6000
    stored = call(ctx, "plan_interventions", budget=budget, objective=objective)
    monkeypatch.setattr("tools.planning.stored_terms", lambda *_: False)
    fresh = call(ctx, "plan_interventions", budget=budget, objective=objective)
    assert stored.model_dump(exclude={"data_timestamp", "generated_at"}) == fresh.model_dump(
        exclude={"data_timestamp", "generated_at"}
    )


def test_a_catalogue_changed_since_publish_is_computed_on_request(ctx, monkeypatch):
    catalogue = ctx.interventions()
    first = catalogue.interventions[0]
    column, move = next(iter(first.moves.items()))
    changed = first.model_copy(
        update={"moves": {**first.moves, column: move.model_copy(update={"value": move.value / 2})}}
    )
    served = catalogue.model_copy(update={"interventions": (changed, *catalogue.interventions[1:])})
    asked = []
    monkeypatch.setattr(tool, "request_changes", lambda *a: asked.append(a) or fresh(*a))
    fresh = request_changes
    monkeypatch.setattr(ctx, "catalogue", served)
    out = call(ctx, "compare_interventions", all_students=True, interventions=[first.name])
    assert asked and out.results[0].name == first.name
    asked.clear()
    call(ctx, "compare_interventions", all_students=True, interventions=[catalogue.names[1]])
    assert not asked  # the others are as published
