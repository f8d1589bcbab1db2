"""Student-level resources: one student's risk and explanation, scoring, and listing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

import tools
from api.deps import Staff, query_filters
from api.errors import documented
from tools.explain import ExplainInput, ExplainOutput
from tools.scoring import MAX_BATCH, ScoreInput, ScoreOutput
from tools.students import MAX_OFFSET, FindStudentsInput, FindStudentsOutput

router = APIRouter(prefix="/v1", tags=["students"], responses=documented(401, 403, 404, 422, 503))


class StudentRisk(BaseModel):
    """One student's risk, in the shape district systems already consume."""

    student_id: str
    risk_score: float = Field(description="Calibrated probability of the outcome (0–1).")
    risk_level: Literal["Low", "Medium", "High"]
    top_risk_factors: list[str] = Field(description="The main reasons, in plain words.")
    model_version: str
    data_timestamp: str


class ScoreRequest(BaseModel):
    """Exactly one of: ``record`` (one raw student), ``records`` (a batch) or ``student_ids``."""

    model_config = ConfigDict(extra="forbid")
    record: dict[str, Any] | None = Field(default=None, description="One raw student record.")
    records: list[dict[str, Any]] | None = Field(
        default=None, description=f"A batch of raw records (at most {MAX_BATCH:,})."
    )
    student_ids: list[str] | None = Field(default=None, description="Students in the warehouse.")

    @model_validator(mode="after")
    def _one(self) -> ScoreRequest:
        given = [n for n in ("record", "records", "student_ids") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of record, records or student_ids (non-empty)")
        return self


@router.get("/students/{student_id}/risk", response_model=StudentRisk)
async def student_risk(student_id: str, session: Staff) -> StudentRisk:
    """The student's risk score, level and top risk factors."""
    # On the event loop: a published score is an in-memory lookup, cheaper than a thread hop.
    out = session.run(tools.score_students, ScoreInput.parse({"student_ids": [student_id]}))
    student = out.students[0]
    return StudentRisk(
        student_id=student_id,
        risk_score=student.risk_score,
        risk_level=student.risk_level,
        top_risk_factors=student.top_risk_factors,
        model_version=out.model_version,
        data_timestamp=out.data_timestamp,
    )


@router.get("/students/{student_id}/explanation", response_model=ExplainOutput)
def student_explanation(student_id: str, session: Staff):
    """Why the student has this score: every factor's contribution and what would change it."""
    return session.run(tools.explain_student, ExplainInput.parse({"student_id": student_id}))


@router.post("/score", response_model=ScoreOutput)
def score(request: ScoreRequest, session: Staff):
    """Score one raw record, a batch of records, or students in the warehouse by id."""
    records = [request.record] if request.record else request.records
    asked = ScoreInput.parse(
        {"records": records} if records else {"student_ids": request.student_ids}
    )
    return session.run(tools.score_students, asked)


@router.get("/students", response_model=FindStudentsOutput)
def list_students(
    request: Request,
    session: Staff,
    limit: Annotated[int, Query(ge=1, le=500, description="Students per page.")] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Skip this many (for paging).")
    ] = 0,
):
    """Students by descending risk. Any other query parameter filters on a column, e.g.
    `level=High`, `<column>=<value>`, `<column>=<value>,<value>`, or a range on a number column
    `<column>=lt:0.85`, `<column>=gte:9,lte:10` (bounds lt, lte, gt, gte; column names ignore
    case and underscores)."""
    filters = query_filters(request, session, {"limit", "offset"})
    asked = FindStudentsInput.parse({"filters": filters, "limit": limit, "offset": offset})
    return session.run(tools.find_students, asked)
