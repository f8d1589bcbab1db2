"""find_students: the highest-risk students, optionally within a group (school type, locale,
grade, …)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from data.spec import DatasetSpec, Role
from tools.base import ToolInput, ToolOutput, stamp
from tools.cohort import FILTERS_HELP, cohort_sql
from tools.context import ToolContext
from tools.errors import InvalidInput
from tools.policy import check_selection

# DuckDB binds OFFSET as a 64-bit integer; far beyond any warehouse, far below that bound.
MAX_OFFSET = 1_000_000_000


class FindStudentsInput(ToolInput):
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Which students: {FILTERS_HELP}.",
    )
    limit: int = Field(default=10, ge=1, le=500, description="How many students to return.")
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_OFFSET,
        description="Skip this many (for paging).",
    )


class StudentRow(BaseModel):
    student_id: str
    risk_score: float
    risk_level: str
    top_risk_factors: list[str]
    details: dict[str, Any]


class FindStudentsOutput(ToolOutput):
    total: int = Field(description="Students matching the filters.")
    first_rank: int = Field(
        default=1, description="Rank of the first student listed (1: riskiest)."
    )
    last_rank: int = Field(default=0, description="Rank of the last student listed.")
    students: list[StudentRow]

    def students_read(self, id_column: str) -> list[str]:
        return [s.student_id for s in self.students]


MAX_DETAILS = 4


def detail_columns(spec: DatasetSpec, filters: dict[str, Any]) -> list[str]:
    """What a listed student shows beside the risk: the columns the filters name, then those the
    spec marks for equity summaries (at most MAX_DETAILS; never a protected column)."""
    named = [c for c in filters if c in spec.column_names]
    wanted = [*named, *(c.name for c in spec.columns if c.equity)]
    allowed = [c for c in dict.fromkeys(wanted) if spec.column(c).role != Role.PROTECTED]
    return allowed[:MAX_DETAILS]


def find_students(request: FindStudentsInput, ctx: ToolContext) -> FindStudentsOutput:
    """List students by descending risk, optionally filtered by group (e.g. school type, locale,
    grade, risk level). Returns each student's id, risk score, level and top risk factors.
    Never by a protected column: listing students by one is refused (compare groups with
    query_equity instead)."""
    select, params = cohort_sql(
        ctx,
        request.filters,
        columns=f's."{ctx.id_column}" AS student_id, c.risk_score, c.risk_level, s.*',
    )
    check_selection(ctx.spec, request.filters)  # after the filters are known to be valid
    total = int(ctx.sql(f"SELECT count(*) AS n FROM ({select})", params)["n"].iloc[0])
    if total == 0:
        raise InvalidInput(
            "no students match these filters", field="filters", value=request.filters
        )
    page = ctx.sql(
        f"{select} ORDER BY c.risk_score DESC, student_id LIMIT ? OFFSET ?",
        [*params, request.limit, request.offset],
    )
    factors = (
        ctx.sql(
            "SELECT student_id, list(phrase ORDER BY rank) AS phrases FROM risk_factors "
            "WHERE student_id IN (SELECT unnest(?)) GROUP BY student_id",
            [page["student_id"].tolist()],
        )
        .set_index("student_id")["phrases"]
        .to_dict()
    )
    details = [c for c in detail_columns(ctx.spec, request.filters) if c in page.columns]
    return FindStudentsOutput(
        total=total,
        first_rank=request.offset + 1,
        last_rank=request.offset + len(page),
        students=[
            StudentRow(
                student_id=row["student_id"],
                risk_score=round(row["risk_score"], 4),
                risk_level=row["risk_level"],
                top_risk_factors=list(factors.get(row["student_id"], [])),
                details={c: row[c].item() if hasattr(row[c], "item") else row[c] for c in details},
            )
            for _, row in page.iterrows()
        ],
        **stamp(ctx),
    )
