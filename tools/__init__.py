"""The tools: typed, pure functions that every surface of SARA calls (agent, API, evals, UI),
always through a ``tools.session.ToolSession``.

``TOOLS`` is the one registry; each tool is also importable by its name
(``from tools import score_students``). Adding a tool is one new module plus one line here."""

from __future__ import annotations

from tools import (
    equity,
    equity_gaps,
    explain,
    interventions,
    model_card,
    planning,
    scoring,
    sql_guard,
    students,
)
from tools.base import Tool

score_students = Tool(
    "score_students", scoring.score_students, scoring.ScoreInput, scoring.ScoreOutput, "staff",
    student_level=True,
)  # fmt: skip
explain_student = Tool(
    "explain_student", explain.explain_student, explain.ExplainInput, explain.ExplainOutput,
    "staff", student_level=True,
)  # fmt: skip
find_students = Tool(
    "find_students", students.find_students, students.FindStudentsInput,
    students.FindStudentsOutput, "staff", student_level=True,
)  # fmt: skip
query_equity = Tool(
    "query_equity", equity.query_equity, equity.EquityQueryInput, equity.EquityQueryOutput,
    "viewer", aggregate=True,
)  # fmt: skip
equity_summary = Tool(
    "equity_summary", equity_gaps.equity_summary, equity_gaps.EquitySummaryInput,
    equity_gaps.EquitySummaryOutput, "viewer", aggregate=True,
)  # fmt: skip
compare_interventions = Tool(
    "compare_interventions", interventions.compare_interventions, interventions.CompareInput,
    interventions.CompareOutput, "staff", student_level=True,
)  # fmt: skip
plan_interventions = Tool(
    "plan_interventions", planning.plan_interventions, planning.PlanInput, planning.PlanOutput,
    "analyst", student_level=True,
)  # fmt: skip
run_sql = Tool(
    "run_sql", sql_guard.run_sql, sql_guard.SqlInput, sql_guard.SqlOutput, "analyst",
    student_level=True,
)  # fmt: skip
model_info = Tool(
    "model_info",
    model_card.model_info,
    model_card.ModelInfoInput,
    model_card.ModelInfoOutput,
    "viewer",
)

TOOLS: list[Tool] = [
    score_students, explain_student, find_students, query_equity, equity_summary,
    compare_interventions, plan_interventions, run_sql, model_info,
]  # fmt: skip
TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}
