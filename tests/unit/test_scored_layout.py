"""The one-table layout (students with their scores, ``scored_students``) answers every query
over students and scores exactly as the join of ``students`` and ``scores`` does: the same
equity tables, cohorts and listings, on a warehouse with the table and on a copy without it."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipeline import warehouse
from tools.context import ToolContext
from tools.equity import EquityQueryInput, query_equity
from tools.students import FindStudentsInput, find_students


@pytest.fixture(scope="module")
def both(tiny_ctx, tmp_path_factory):
    """The tiny published warehouse (with the table) and a context on a copy without it."""
    folder = tmp_path_factory.mktemp("joined")
    settings = tiny_ctx.settings.model_copy(update={"home": folder})
    shutil.copyfile(tiny_ctx.settings.warehouse_path, settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"DROP TABLE {warehouse.SCORED}")
    without = ToolContext(
        settings, tiny_ctx.spec, tiny_ctx.model, tiny_ctx.model_version, tiny_ctx.meta,
        tiny_ctx.model_source, tiny_ctx.catalogue,
    )  # fmt: skip
    yield tiny_ctx, without
    without.close()


def test_the_published_warehouse_has_the_one_table_layout(both):
    with_table, without = both
    assert "POSITIONAL JOIN" in with_table.scored_source
    assert "JOIN scores c" in without.scored_source
    text = [c.name for c in with_table.spec.columns if c.dtype == "category"]
    types = {r[0]: r[1] for r in with_table.connection().execute(
        f"DESCRIBE {warehouse.SCORED}").fetchall()}  # fmt: skip
    assert text and all(types[name].startswith("ENUM") for name in text), types
    n = with_table.sql(f"SELECT count(*) AS n FROM {warehouse.SCORED}")["n"].iloc[0]
    assert n == with_table.sql("SELECT count(*) AS n FROM students")["n"].iloc[0]


def test_equity_cohorts_and_listings_are_the_same_either_way(both):
    with_table, without = both
    spec = with_table.spec
    group = next(c.name for c in spec.columns if c.role.value == "context")
    level_filter = {"risk_level": ["High"]}
    for metric in ("mean_risk", "share_high", "outcome_rate"):
        for filters in ({}, level_filter):
            request = EquityQueryInput(metric=metric, group_by=[group], filters=filters)
            assert query_equity(request, with_table) == query_equity(request, without)
    listing = FindStudentsInput(filters=level_filter, limit=25)
    assert find_students(listing, with_table) == find_students(listing, without)
    query = "SELECT s.*, c.risk_score, c.risk_level FROM {} ORDER BY c.student_id"
    one = with_table.sql(query.format(with_table.scored_source))
    joined = without.sql(query.format(without.scored_source))
    assert list(one.columns) == list(joined.columns)
    assert one.equals(joined)


def test_a_spec_column_with_a_reserved_name_leaves_the_table_out(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        reserved = warehouse.SCORED_SCORE_COLUMNS["risk_score"]
        con.execute(f"CREATE TABLE students AS SELECT 'a' AS id, 1 AS \"{reserved}\"")
        con.execute("CREATE TABLE scores AS SELECT 'a' AS student_id, 0.5 AS risk_score, "
                    "'Low' AS risk_level")  # fmt: skip
        assert not warehouse.add_scored(con, "id")
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                           [warehouse.SCORED]).fetchone()[0] == 0  # fmt: skip
