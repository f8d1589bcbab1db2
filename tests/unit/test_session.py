"""The one call path: a ToolSession checks the role once, takes the context once, runs the
tool on a typed input and tells every observer what was read, successful or not."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import tools
from api.audit import AuditLog, audit_observer
from api.errors import status_of
from tools.base import Tool, ToolInput, ToolOutput
from tools.errors import Forbidden, InvalidInput, NotFound
from tools.scoring import RiskFactor, ScoreInput, ScoreOutput, StudentScore
from tools.session import Caller, ToolEvent, ToolSession
from tools.sql_guard import SqlInput, SqlOutput

STAMP = {"model_version": "7", "data_timestamp": "2026-01-01T00:00:00+00:00"}


class EchoInput(ToolInput):
    student_ids: list[str]

    def students_asked(self, id_column: str) -> list[str]:
        return self.student_ids


class EchoOutput(ToolOutput):
    shown: list[str]

    def students_read(self, id_column: str) -> list[str]:
        return self.shown


def echo(request: EchoInput, ctx) -> EchoOutput:
    if "missing" in request.student_ids:
        raise NotFound("no student with id missing", field="student_ids", value=["missing"])
    return EchoOutput(shown=[*request.student_ids, "S9"], **STAMP)


ECHO = Tool("echo", echo, EchoInput, EchoOutput, "staff", student_level=True)


def make_session(role="staff", observers=(), contexts=None):
    contexts = contexts if contexts is not None else []

    def provider():
        contexts.append(SimpleNamespace(id_column="StudentKey"))
        return contexts[-1]

    return ToolSession(provider, Caller("k1", "counselor", role), observers, "/v1/x", "api")


def test_a_call_reports_its_students_and_the_context_is_taken_once():
    events: list[ToolEvent] = []
    contexts: list = []
    session = make_session(observers=[events.append], contexts=contexts)
    out = session.run(ECHO, {"student_ids": ["S1"]})
    session.run(ECHO, EchoInput(student_ids=["S2"]))
    assert out.shown == ["S1", "S9"]
    assert len(contexts) == 1, "one context per session"
    assert [e.students() for e in events] == [["S1", "S9"], ["S2", "S9"]]
    assert events[0].outcome == "ok" and events[0].route == "/v1/x" and not events[0].failed


def test_a_role_too_low_is_forbidden_before_anything_runs():
    events: list[ToolEvent] = []
    session = make_session(role="viewer", observers=[events.append])
    with pytest.raises(Forbidden, match="needs the staff role") as info:
        session.run(ECHO, {"student_ids": ["S1"]})
    assert info.value.field == "role" and info.value.value == "viewer"
    assert events == [] and status_of(info.value) == 403


def test_bad_input_and_tool_errors_are_observed_with_their_code():
    events: list[ToolEvent] = []
    session = make_session(observers=[events.append])
    with pytest.raises(InvalidInput, match="student_ids"):
        session.run(ECHO, {"student_ids": "S1", "extra": 1})
    with pytest.raises(NotFound):
        session.run(ECHO, {"student_ids": ["missing"]})
    assert [e.outcome for e in events] == ["invalid_input", "not_found"]
    assert events[0].request is None and events[1].students() == ["missing"]


def test_a_tool_refuses_another_tools_input():
    with pytest.raises(InvalidInput, match="takes a EchoInput"):
        make_session().run(ECHO, SqlInput(sql="SELECT 1"))


def test_an_unexpected_fault_is_observed_as_failed_and_raised():
    def broken(request, ctx):
        raise RuntimeError("disk on fire")

    events: list[ToolEvent] = []
    tool = Tool("broken", broken, EchoInput, EchoOutput, "staff", student_level=True)
    with pytest.raises(RuntimeError):
        make_session(observers=[events.append]).run(tool, {"student_ids": ["S1"]})
    assert events[0].failed and events[0].students() == ["S1"]


def test_via_surface_keeps_the_caller_and_the_context():
    contexts: list = []
    session = make_session(contexts=contexts)
    session.run(ECHO, {"student_ids": ["S1"]})
    chat = session.via_surface("assistant")
    chat.run(ECHO, {"student_ids": ["S1"]})
    assert chat.via == "assistant" and chat.caller == session.caller and len(contexts) == 1


def test_tools_declare_the_students_they_touch():
    score = ScoreOutput(
        students=[StudentScore(student_id="S1", risk_score=0.5, risk_level="High",
                               top_risk_factors=[], factors=[RiskFactor(
                                   feature="f", phrase="p", contribution=0.1)])],
        thresholds={}, **STAMP,
    )  # fmt: skip
    records = ScoreInput(records=[{"StudentKey": "R1", "x": 1}, {"x": 2}])
    assert tools.score_students.students(records, score, "StudentKey") == ["R1", "S1"]
    assert records.served_records() == [{"StudentKey": "R1", "x": 1}, {"x": 2}]
    assert score.served_scores() == [(0.5, "High")]
    table = SqlOutput(columns=["StudentKey", "student_id", "v"],
                      rows=[["A", "A", 1], ["B", None, 2]], row_count=2, truncated=False,
                      **STAMP)  # fmt: skip
    sql = SqlInput(sql="SELECT 1")
    assert tools.run_sql.students(sql, table, "StudentKey") == ["A", "B"]
    assert sql.audit_detail() == "SELECT 1"
    assert tools.model_info.students(None, None, "StudentKey") == []


def test_the_audit_observer_writes_student_level_calls_with_their_status(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    session = make_session(observers=[audit_observer(log, status_of)])
    session.run(ECHO, {"student_ids": ["S1"]})
    with pytest.raises(NotFound):
        session.run(ECHO, {"student_ids": ["missing"]})
    entries = log.entries()
    assert [(e.status, e.student_ids) for e in entries] == [(404, ["missing"]), (200, ["S1", "S9"])]
    assert {(e.key_id, e.role, e.route, e.tool) for e in entries} == {
        ("k1", "staff", "/v1/x", "echo")
    }
    assert json.dumps([e.model_dump() for e in entries])  # serialisable
