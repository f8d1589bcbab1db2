"""The served model, reloading it, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

import tools
from api.audit import AuditEntry
from api.deps import Admin, RuntimeDep, Viewer
from api.errors import documented
from api.runtime import Readiness
from tools.model_card import ModelInfoInput, ModelInfoOutput

# Above SQLite's 64-bit integers an offset crashed the query; no audit log is this long.
MAX_OFFSET = 1_000_000_000
router = APIRouter(prefix="/v1", tags=["model and audit"], responses=documented(401, 403))


@router.get("/model", response_model=ModelInfoOutput, responses=documented(503))
def model(session: Viewer):
    """The served model: version, family, features, test metrics, thresholds."""
    return session.run(tools.model_info, ModelInfoInput())


@router.post("/model/reload", response_model=Readiness)
def reload_model(session: Admin, runtime: RuntimeDep):
    """Load the champion and warehouse again now (they also reload when the pipeline
    republishes)."""
    return runtime.reload()


@router.get("/audit", response_model=list[AuditEntry], responses=documented(422))
def audit(
    session: Admin,
    runtime: RuntimeDep,
    student_id: Annotated[str | None, Query(description="Only reads of this student.")] = None,
    key_id: Annotated[str | None, Query(description="Only reads made with this key.")] = None,
    since: Annotated[str | None, Query(description="Only reads at or after (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """Who read which students' data, when, through which route and tool (newest first)."""
    return runtime.audit.entries(
        student_id=student_id, key_id=key_id, since=since, limit=limit, offset=offset
    )
