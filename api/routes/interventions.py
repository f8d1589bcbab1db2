"""Intervention what-ifs and budgeted plans."""

from __future__ import annotations

from fastapi import APIRouter

import tools
from api.deps import Analyst, Staff
from api.errors import documented
from tools.interventions import CompareInput, CompareOutput
from tools.planning import PlanInput, PlanOutput

router = APIRouter(
    prefix="/v1/interventions",
    tags=["interventions"],
    responses=documented(401, 403, 404, 409, 422, 503),
)


@router.post("/compare", response_model=CompareOutput)
def compare(request: CompareInput, session: Staff):
    """How each intervention would change the risk of a cohort of students."""
    return session.run(tools.compare_interventions, request)


@router.post("/plan", response_model=PlanOutput)
def plan(request: PlanInput, session: Analyst):
    """Which students should get which intervention within a budget (and capacities)."""
    return session.run(tools.plan_interventions, request)
