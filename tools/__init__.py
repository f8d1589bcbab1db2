"""The tools: typed, pure functions that every surface of SARA calls (agent, API, evals, UI).

``TOOLS`` is the one registry. Adding a tool is one new module plus one line here."""

from __future__ import annotations

from tools.base import Tool
from tools.equity import EquityQueryInput, EquityQueryOutput, query_equity
from tools.equity_summary import EquitySummaryInput, EquitySummaryOutput, equity_summary
from tools.explain import ExplainInput, ExplainOutput, explain_student
from tools.interventions import CompareInput, CompareOutput, compare_interventions
from tools.model_info import ModelInfoInput, ModelInfoOutput, model_info
from tools.planning import PlanInput, PlanOutput, plan_interventions
from tools.scoring import ScoreInput, ScoreOutput, score_students
from tools.sql_guard import SqlInput, SqlOutput, run_sql
from tools.students import FindStudentsInput, FindStudentsOutput, find_students

TOOLS: list[Tool] = [
    Tool("score_students", score_students, ScoreInput, ScoreOutput, "staff", student_level=True),
    Tool(
        "explain_student", explain_student, ExplainInput, ExplainOutput, "staff", student_level=True
    ),
    Tool(
        "find_students",
        find_students,
        FindStudentsInput,
        FindStudentsOutput,
        "staff",
        student_level=True,
    ),
    Tool("query_equity", query_equity, EquityQueryInput, EquityQueryOutput, "viewer"),
    Tool("equity_summary", equity_summary, EquitySummaryInput, EquitySummaryOutput, "viewer"),
    Tool(
        "compare_interventions",
        compare_interventions,
        CompareInput,
        CompareOutput,
        "staff",
        student_level=True,
    ),
    Tool(
        "plan_interventions",
        plan_interventions,
        PlanInput,
        PlanOutput,
        "analyst",
        student_level=True,
    ),
    Tool("run_sql", run_sql, SqlInput, SqlOutput, "analyst", student_level=True),
    Tool("model_info", model_info, ModelInfoInput, ModelInfoOutput, "viewer"),
]
TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}


def get_tool(name: str) -> Tool:
    return TOOLS_BY_NAME[name]
