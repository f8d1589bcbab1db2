"""Disclosure control of what a viewer key reads, attacked as a hostile viewer would: the
differencing attack that recovers one student's exact values from exact aggregates
(inclusion–exclusion over complementary filters), the same over overlapping ranges, and the
limits around them — on the built-in schema and the higher-ed example.

Each attack is first run with a staff key, which reads exact numbers: there it recovers the
students exactly, so the attack is real and the test could fail. With a viewer key it must not
recover any of them within a useful precision."""

from __future__ import annotations

import itertools
import math
import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

import tools
from api.keys import KeyStore
from api.main import create_app
from data.spec import Role
from tests.integration.conftest import auth
from tools.context import ToolContext, load_context
from tools.errors import Forbidden, InvalidInput
from tools.session import Caller, ToolSession

pytestmark = pytest.mark.integration

SCHEMAS = ["student_performance", "higher_ed"]
GROUPABLE = (Role.PROTECTED, Role.CONTEXT, Role.ACTIONABLE)
MAX_VALUES = 12
TARGETS = 12


@pytest.fixture(scope="module", params=SCHEMAS)
def served(request, schema_workspaces):
    ctx = load_context(schema_workspaces(request.param))
    yield ctx
    ctx.close()


def session(ctx: ToolContext, role: str) -> ToolSession:
    return ToolSession(lambda: ctx, Caller(f"attack-{role}", f"attacker ({role})", role))


@dataclass(frozen=True)
class Attack:
    """What the attacker works with: attributes with few values and no gaps, a numeric column
    to steal (not one the outcome is defined from), and the students."""

    attributes: list[str]
    values: dict[str, list]
    metric: str
    column: str
    span: float


def plan_attack(ctx: ToolContext) -> Attack:
    spec = ctx.spec
    attributes, values = [], {}
    for column in spec.columns:
        if column.role not in GROUPABLE or column.dtype == "float":
            continue
        found = ctx.sql(f'SELECT DISTINCT "{column.name}" AS v FROM students')["v"].tolist()
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in found):
            continue
        if 2 <= len(found) <= MAX_VALUES:
            attributes.append(column.name)
            values[column.name] = sorted(v.item() if hasattr(v, "item") else v for v in found)
    numeric = [
        c
        for c in spec.columns
        if c.dtype == "float" and c.role in GROUPABLE and c.name not in spec.outcome_sources
    ]
    assert len(attributes) >= 4 and numeric, "the schema has too little to attack"
    column = numeric[0]
    low, high = ctx.sql(f'SELECT min("{column.name}") AS lo, max("{column.name}") AS hi '
                        "FROM students").iloc[0]  # fmt: skip
    low = column.min if column.min is not None else float(low)
    high = column.max if column.max is not None else float(high)
    return Attack(attributes, values, f"mean:{column.name}", column.name, float(high - low))


def total(run: Callable[[dict], object], filters: dict) -> tuple[float, float] | None:
    """(students, sum of the column) over the filters, as the answer gives them; None when the
    answer hides them."""
    try:
        out = run(filters)
    except InvalidInput:  # no student matches: an empty cell
        return 0.0, 0.0
    row = out.overall
    if row.suppressed or row.n is None or row.value is None:
        return None
    return float(row.denominator), float(row.value) * row.denominator


def inclusion_exclusion(run, attack: Attack, target: dict, attributes: list[str]):
    """Recover the cell 'every attribute equals the target's' from cells that each exclude the
    target's value on a subset of attributes: sum over subsets of (-1)^|S| x cell(S)."""
    count = summed = 0.0
    for size in range(len(attributes) + 1):
        for subset in itertools.combinations(attributes, size):
            filters = {a: [v for v in attack.values[a] if v != target[a]] for a in subset}
            found = total(run, filters)
            if found is None:
                return None
            sign = -1 if size % 2 else 1
            count += sign * found[0]
            summed += sign * found[1]
    return count, summed


def runner(ctx: ToolContext, role: str, metric: str):
    s = session(ctx, role)
    return lambda filters: s.run(tools.query_equity, {"metric": metric, "filters": filters})


def unique_targets(ctx: ToolContext, attack: Attack, attributes: list[str]) -> list[dict]:
    """Students alone in their cell of these attributes, with the stolen column's value."""
    cols = ", ".join(f'"{a}"' for a in attributes)
    found = ctx.sql(
        f'SELECT {cols}, any_value("{attack.column}") AS secret FROM students '
        f'WHERE "{attack.column}" IS NOT NULL GROUP BY {cols} HAVING count(*) = 1 '
        f"ORDER BY {cols} LIMIT {TARGETS}"
    )
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in found.to_dict("records")
    ]


def test_the_full_attack_recovers_a_student_exactly_from_exact_numbers_and_is_refused_to_a_viewer(
    served,
):
    attack = plan_attack(served)
    staff = runner(served, "staff", attack.metric)
    recovered = None
    for size in range(min(8, len(attack.attributes)), 3, -1):  # the most columns that work
        attributes = attack.attributes[:size]
        for target in unique_targets(served, attack, attributes):
            # A cell of fewer than 20 on the way is hidden even from staff: try another student.
            recovered = inclusion_exclusion(staff, attack, target, attributes)
            if recovered is not None:
                break
        if recovered is not None:
            break
    assert recovered is not None, "no student could be isolated even with exact numbers"
    count, summed = recovered
    assert round(count) == 1 and summed == pytest.approx(target["secret"], abs=1e-6)

    with pytest.raises(Forbidden, match="at most 3 columns"):
        inclusion_exclusion(runner(served, "viewer", attack.metric), attack, target, attributes)


def three_way_targets(ctx: ToolContext, attack: Attack) -> list[tuple[list[str], dict]]:
    """Students alone in a cell of three attributes (a table a viewer may read)."""
    found: list[tuple[list[str], dict]] = []
    for triple in itertools.combinations(attack.attributes, 3):
        for target in unique_targets(ctx, attack, list(triple)):
            found.append((list(triple), target))
            if len(found) >= TARGETS:
                return found
    return found


def test_within_the_tables_a_viewer_may_read_the_attack_recovers_nothing(served):
    attack = plan_attack(served)
    cases = three_way_targets(served, attack)
    assert len(cases) >= 5, "too few students alone in a three-way cell to attack"
    staff, viewer = runner(served, "staff", attack.metric), runner(served, "viewer", attack.metric)
    exact_errors, count_errors, value_errors, hidden = [], [], [], 0
    for attributes, target in cases:
        count, summed = inclusion_exclusion(staff, attack, target, attributes)
        exact_errors.append(abs(summed - target["secret"]) + abs(count - 1))
        recovered = inclusion_exclusion(viewer, attack, target, attributes)
        if recovered is None:  # a cell on the way was hidden: nothing recovered
            hidden += 1
            continue
        count_errors.append(abs(recovered[0] - 1))
        value_errors.append(abs(recovered[1] - target["secret"]) / attack.span)
    assert max(exact_errors) < 1e-6  # exact numbers give every student away
    assert len(count_errors) + hidden == len(cases)
    if value_errors:
        # 8 cells of noise: the recovered sum is off by about 4 times the column's range and
        # the recovered count by about 11 students (standard deviations).
        assert statistics.median(value_errors) > 0.5, value_errors
        assert statistics.median(count_errors) > 2, count_errors


def ranges_around(levels: list, value) -> list[list]:
    """The runs of levels that end just below ``value`` or start just above it."""
    at = levels.index(value)
    below = [levels[i:at] for i in range(at)]
    above = [levels[at + 1 : j + 1] for j in range(at + 1, len(levels))]
    return below + above


def range_difference(run, column: str, target: dict, fixed: dict, cells: list) -> float | None:
    """cell(fixed, column in cells + the target's value) minus cell(fixed, column in cells)."""
    with_target = total(run, {**fixed, column: [*cells, target[column]]})
    without = total(run, {**fixed, column: cells})
    if with_target is None or without is None:
        return None
    return with_target[1] - without[1]


def range_cases(ctx: ToolContext, attack: Attack):
    """(column, fixed filter, target) with the target alone in its cell of the two columns."""
    for column in (a for a in attack.attributes if len(attack.values[a]) >= 4):
        for other in (a for a in attack.attributes if a != column):
            for target in unique_targets(ctx, attack, [column, other]):
                yield column, {other: [target[other]]}, target


def test_averaging_differences_of_overlapping_ranges_stays_far_from_the_truth(served):
    """The range variant: 'values lo..v' minus 'values lo..v-1' (with the target's value of a
    second attribute) leaves one student; the attacker averages that difference over every
    range around v. Exact numbers give the student away; protected ones stay noise."""
    attack = plan_attack(served)
    staff, viewer = runner(served, "staff", attack.metric), runner(served, "viewer", attack.metric)
    exact, protected = [], []
    for column, fixed, target in itertools.islice(range_cases(served, attack), 4 * TARGETS):
        ranges = ranges_around(attack.values[column], target[column])
        found = [range_difference(staff, column, target, fixed, r) for r in ranges]
        found = [d for d in found if d is not None]  # cells of fewer than 20 stay hidden
        if not found:
            continue
        exact.append(max(abs(d - target["secret"]) for d in found) / attack.span)
        seen = [range_difference(viewer, column, target, fixed, r) for r in ranges]
        seen = [d for d in seen if d is not None]
        if seen:
            protected.append((statistics.fmean(seen) - target["secret"]) / attack.span)
    assert exact and max(exact) < 1e-6
    assert len(protected) >= 3, "too few protected differences to judge"
    rmse = math.sqrt(statistics.fmean(e * e for e in protected))
    # Each difference carries noise of about twice the range; averaging a handful leaves more
    # than the range itself. A useful precision would be a tenth of it.
    assert rmse > 0.1, protected


def test_the_same_table_asked_twice_or_phrased_another_way_gives_the_same_noise(served):
    attack = plan_attack(served)
    viewer = session(served, "viewer")
    column = attack.attributes[0]
    values = attack.values[column]
    first = viewer.run(tools.query_equity, {"metric": attack.metric, "group_by": [column]})
    again = viewer.run(tools.query_equity, {"metric": attack.metric, "group_by": [column]})
    assert first.rows == again.rows and first.overall == again.overall
    # The whole cohort, asked as 'every value of one column': the same students, the same cell.
    everyone = viewer.run(tools.query_equity, {"metric": attack.metric})
    listed = viewer.run(
        tools.query_equity, {"metric": attack.metric, "filters": {column: list(values)}}
    )
    assert everyone.overall.value == listed.overall.value
    assert everyone.overall.n == listed.overall.n
    assert first.disclosure and "noise" in first.disclosure


def test_a_viewer_cannot_average_the_outcome_source_and_hidden_cells_show_no_size(served):
    spec = served.spec
    viewer, staff = session(served, "viewer"), session(served, "staff")
    numeric_sources = [c for c in spec.outcome_sources if spec.column(c).is_numeric]
    for source in numeric_sources[:1]:
        with pytest.raises(Forbidden, match="outcome is defined from"):
            viewer.run(tools.query_equity, {"metric": f"mean:{source}"})
        assert staff.run(tools.query_equity, {"metric": f"mean:{source}"}).overall.value is not None
    attack = plan_attack(served)
    # Crossed with a second attribute, the smallest groups fall below the minimum size.
    pair = attack.attributes[:2]
    out = viewer.run(tools.query_equity, {"metric": "outcome_rate", "group_by": pair})
    exact = staff.run(tools.query_equity, {"metric": "outcome_rate", "group_by": pair})
    hidden = [r for r in out.rows if r.suppressed]
    for row in hidden:
        assert row.n is None and row.value is None and row.denominator is None
    shown = [r for r in exact.rows if not r.suppressed]
    assert all(r.n is not None for r in shown)


def nearly_whole_group(ctx: ToolContext, attack: Attack) -> tuple[str, dict] | None:
    """(column, filters) where one group of the column holds all but 1 to 19 of the scope's
    students, for a scope of no filter or one attribute's value."""
    min_size = ctx.settings.min_group_size
    scopes = [(None, None)] + [(b, x) for b in attack.attributes for x in attack.values[b]]
    for other, value in scopes:
        where = f'WHERE "{other}" = ?' if other else ""
        params = [value] if other else []
        for column in (a for a in attack.attributes if a != other):
            sizes = ctx.sql(
                f'SELECT count(*) AS n FROM students {where} GROUP BY "{column}"', params
            )["n"].tolist()
            scope = sum(sizes)
            if any(n >= min_size and 0 < scope - n < min_size for n in sizes):
                return column, ({other: [value]} if other else {})
    return None


def test_a_group_that_is_all_but_a_few_of_its_scope_is_hidden_from_a_viewer(served):
    """Its complement (the scope less the group) would be those few students, by difference
    with the scope's overall value."""
    attack = plan_attack(served)
    case = nearly_whole_group(served, attack)
    assert case is not None, "no group of all but a few students in any scope"
    column, filters = case
    asked = {"metric": attack.metric, "group_by": [column], "filters": filters}
    exact = session(served, "staff").run(tools.query_equity, asked)
    protected = session(served, "viewer").run(tools.query_equity, asked)
    scope, min_size = exact.overall.n, served.settings.min_group_size
    big = [i for i, r in enumerate(exact.rows) if r.n >= min_size and 0 < scope - r.n < min_size]
    assert big
    for i in big:
        row = protected.rows[i]
        assert row.suppressed and row.n is None and row.value is None


# ---- over REST: the daily limit, the audit, the charts -------------------------------------


@pytest.fixture(scope="module")
def limited(published):
    """An app on the published workspace whose viewer keys may read 3 distinct tables a day."""
    settings = published.model_copy(update={"disclosure_daily_tables": 3})
    store = KeyStore(settings.keys_path)
    viewer = store.create("limited-viewer", "viewer")[1]
    staff = store.create("limited-staff", "staff")[1]
    with TestClient(create_app(settings)) as client:
        yield client, viewer, staff, settings


def test_a_viewer_key_reads_a_limited_number_of_distinct_tables_a_day(limited, ctx):
    client, viewer, staff, _ = limited
    column = plan_attack(ctx).attributes[0]
    bodies = [{"metric": m, "group_by": [column]} for m in ("outcome_rate", "mean_risk",
                                                            "share_high", "tpr")]  # fmt: skip
    for body in bodies[:3]:
        assert client.post("/v1/equity/query", json=body, headers=auth(viewer)).status_code == 200
    # A table already read is free again; a fourth new one is over the limit.
    assert client.post("/v1/equity/query", json=bodies[0], headers=auth(viewer)).status_code == 200
    over = client.post("/v1/equity/query", json=bodies[3], headers=auth(viewer))
    assert over.status_code == 429, over.text
    error = over.json()["error"]
    assert error["code"] == "limit_reached" and "24 hours" in error["message"]
    # Staff read exact numbers with no such limit.
    for body in bodies:
        got = client.post("/v1/equity/query", json=body, headers=auth(staff))
        assert got.status_code == 200 and got.json()["disclosure"] is None


def test_every_viewer_query_is_audited(limited, ctx):
    client, viewer, _, settings = limited
    column = plan_attack(ctx).attributes[1]
    body = {"metric": "outcome_rate", "group_by": [column]}
    client.post("/v1/equity/query", json=body, headers=auth(viewer))
    with sqlite3.connect(settings.audit_path) as con:
        rows = con.execute(
            "SELECT role, tool, n_students, detail FROM audit WHERE key_name = 'limited-viewer'"
        ).fetchall()
    assert rows and all(r[0] == "viewer" and r[2] == 0 for r in rows)
    assert any(r[1] == "query_equity" and column in (r[3] or "") for r in rows)


def test_a_viewer_fetches_only_charts_drawn_from_protected_numbers(api, role_keys):
    exact = api.get("/v1/equity/summary", headers=auth(role_keys["staff"])).json()
    protected = api.get("/v1/equity/summary", headers=auth(role_keys["viewer"])).json()
    assert exact["disclosure"] is None and protected["disclosure"]
    exact_chart = exact["charts"][0].rsplit("/", 1)[-1]
    protected_chart = protected["charts"][0].rsplit("/", 1)[-1]
    assert exact_chart != protected_chart
    viewer = auth(role_keys["viewer"])
    assert api.get(f"/v1/equity/charts/{exact_chart}", headers=viewer).status_code == 404
    assert api.get(f"/v1/equity/charts/{protected_chart}", headers=viewer).status_code == 200
    staff = auth(role_keys["staff"])
    assert api.get(f"/v1/equity/charts/{exact_chart}", headers=staff).status_code == 200
