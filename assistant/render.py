"""Answers written from tool outputs (the tools' own typed models): one template per tool, and
the chart and student card.

Every number in a sentence is a tool output (or argument) formatted for people — a share as a
percentage, money with separators — never computed here; the grounding guard checks that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.grounding import ABOVE, BELOW
from assistant.types import Chart, StudentCard, ToolCall
from tools.equity import EquityQueryOutput
from tools.equity_gaps import EquitySummaryOutput
from tools.explain import Counterfactual, ExplainOutput
from tools.interventions import CompareOutput
from tools.model_card import ModelInfoOutput
from tools.planning import PlanOutput
from tools.scoring import ScoreOutput
from tools.sql_guard import SqlOutput
from tools.students import FindStudentsOutput

FAIRNESS_NAMES = {"calibration_gap": "calibration", "roc_auc": "ROC-AUC",
                  "tpr": "true positive rate", "fpr": "false positive rate"}  # fmt: skip


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f} %"


def risk_pct(value: float | None) -> str:
    """A student's probability: no model is that sure, so the extremes read "above 99 %" and
    "below 1 %" rather than "100.0 %" or "0.0 %"."""
    if value is not None and value > 0.99:
        return ABOVE
    if value is not None and value < 0.01:
        return BELOW
    return pct(value)


def money(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


def change_text(change: float, ci: tuple[float, float] | list[float] | None) -> str:
    """A change in risk in words, its sign made explicit and its interval ordered: 'down 2.1
    points, interval 1.8 to 2.4', 'up 4.4 points, interval 3.9 to 4.9' or 'no change'. A
    reduction's interval is of the reduction, so both ends read the same way as the value
    (an interval that crosses zero shows a negative end)."""
    points = change * 100
    if round(points, 1) == 0:
        return "no change"
    word = "down" if points < 0 else "up"
    text = f"{word} {abs(points):.1f} points"
    if ci is None or abs(ci[0] - ci[1]) < 5e-4:  # a single student: no interval
        return text
    low, high = sorted((-ci[1] * 100, -ci[0] * 100) if points < 0 else (ci[0] * 100, ci[1] * 100))
    return f"{text}, interval {low:.1f} to {high:.1f}"


def p_text(p: float | None) -> str:
    if p is None:
        return "not tested"
    return "adjusted p < 0.001" if p < 0.001 else f"adjusted p = {p:.3f}"


def count(value: int | float) -> str:
    return f"{value:,.0f}"


def students(n: int) -> str:
    return f"{count(n)} student" + ("" if n == 1 else "s")


RANGE_WORDS = {"lt": "below", "lte": "at most", "gt": "above", "gte": "at least"}


def declared_format(labels: Callable[[str], str], column: str) -> str | None:
    """The spec's display format of ``column`` (percent, hours, number), when the labels
    are the lexicon and know the spec."""
    spec = getattr(labels, "spec", None)
    return spec.column(column).format if spec is not None and column in spec.column_names else None


def scope_text(arguments: dict[str, Any], labels: Callable[[str], str]) -> str:
    """'all students' or 'students with locale Rural and risk level High' from the arguments."""
    if arguments.get("student_ids"):
        return ", ".join(arguments["student_ids"])
    filters = arguments.get("filters") or {}
    if not filters:
        return "all students"
    spec = getattr(labels, "spec", None)  # the lexicon: its spec's value labels too
    parts = []
    for column, values in filters.items():
        if isinstance(values, list) and len(values) == 1 and isinstance(values[0], dict):
            values = values[0]
        if isinstance(values, dict):  # a range: "attendance below 85 %"
            unit = declared_format(labels, column)
            shown = {"percent": lambda b: f"{b * 100:g} %", "hours": lambda b: f"{b:g} h"}
            bounds = [
                f"{RANGE_WORDS.get(op, op)} {shown.get(unit, lambda b: f'{b:g}')(b)}"
                for op, b in values.items()
            ]
            parts.append(f"{labels(column)} {' and '.join(bounds)}")
            continue
        values = values if isinstance(values, list) else [values]
        declared = spec.column(column) if spec is not None and column in spec.column_names else None
        words = [(declared.words_for(v) if declared else None) or str(v) for v in values]
        if declared is not None and declared.dtype == "bool":  # "internet access at home: no"
            words = [{"1": "yes", "0": "no", "True": "yes", "False": "no"}.get(w, w) for w in words]
        said = words != [str(v) for v in values]  # value labels: "deprivation band: the most …"
        parts.append(f"{labels(column)}{':' if said else ''} {' or '.join(words)}")
    return "students with " + " and ".join(parts)


def _score(call: ToolCall, out: ScoreOutput, labels) -> str:
    lines = []
    for s in out.students:
        factors = "; ".join(s.top_risk_factors) or "no single factor stands out"
        lines.append(
            f"**{s.student_id}** has an estimated risk of {risk_pct(s.risk_score)} "
            f"(**{s.risk_level}**). Main risk factors: {factors}."
        )
    return "\n".join(lines)


def _explain(call: ToolCall, out: ExplainOutput, labels, focus: list[str] | None = None) -> str:
    sid, contributions = out.student_id, out.contributions
    if focus:
        picked = [c for c in contributions if c.feature in focus]
        if picked:
            return "\n".join(
                f"**{sid}**: {c.label} is {c.value}; it {c.direction} "
                f"(contribution {c.contribution:+.2f} on the log-odds scale)."
                for c in picked
            )
    raising = [c for c in contributions if c.contribution > 0][:3]
    lowering = [c for c in contributions if c.contribution < 0][:2]
    lines = [
        f"**{sid}** is at **{out.risk_level}** risk (estimated {risk_pct(out.risk_score)}).",
        "Why: " + ("; ".join(out.top_risk_factors) or "no single factor stands out") + ".",
    ]
    if raising:
        lines.append(
            "Largest pushes up (exact SHAP, log-odds): "
            + "; ".join(f"{c.label} {c.value} ({c.contribution:+.2f})" for c in raising)
            + "."
        )
    if lowering:
        lines.append(
            "Working in their favour: "
            + "; ".join(f"{c.label} {c.value} ({c.contribution:+.2f})" for c in lowering)
            + "."
        )
    lines.append(counterfactual_text(out.counterfactual))
    return "\n\n".join(lines)


def counterfactual_text(cf: Counterfactual) -> str:
    if not cf.found:
        return cf.note or "No small change of the actionable factors lowers the level."
    changes = ", ".join(f"{c.label} from {c.current} to {c.proposed}" for c in cf.changes)
    return (
        f"Smallest change that would lower the level: {changes} (risk would be "
        f"{risk_pct(cf.new_risk_score)}, {cf.new_risk_level}). {cf.note or ''}"
    ).strip()


def _find(call: ToolCall, out: FindStudentsOutput, labels) -> str:
    scope = scope_text(call.arguments, labels)
    if not out.students and out.first_rank > 1:
        return f"That is the whole list: {count(out.total)} students match {scope}."
    if not out.students:
        return f"No students match {scope}."
    ranks = f"; ranks {out.first_rank}–{out.last_rank}" if out.first_rank > 1 else ""
    rows = [
        f"| {s.student_id} | {risk_pct(s.risk_score)} | {s.risk_level} | "
        f"{'; '.join(s.top_risk_factors)} |"
        for s in out.students
    ]
    return "\n".join(
        [
            f"Highest-risk {'students' if scope == 'all students' else scope} "
            f"({count(out.total)} in all, highest first{ranks}):",
            "",
            "| student | risk | level | main factors |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def _size(row, unit: str = "") -> str:
    """A share says how many it is of how many ("472 of 9,897"); a mean, its group size."""
    if row.count is not None and row.denominator is not None:
        return f"{count(row.count)} of {count(row.denominator)}{unit}"
    return f"n = {count(row.n)}"


def _equity(call: ToolCall, out: EquityQueryOutput, labels) -> str:
    column = out.metric.removeprefix("mean:")
    share = column == out.metric or column in getattr(labels, "percent_columns", ())
    show = pct if share else (lambda v: "n/a" if v is None else f"{v:.2f}")
    by = " and ".join(labels(c) for c in out.group_by)
    scope = scope_text({"filters": out.filters}, labels)
    level = pct(out.confidence, 0)
    if not out.group_by:  # the rate of one scope: "what fraction of 9th graders are High"
        overall = out.overall
        interval = ""
        if overall.ci_low is not None and overall.ci_high is not None:
            interval = f"; {level} interval {show(overall.ci_low)} to {show(overall.ci_high)}"
        return (
            f"{out.metric_description} For {scope}: {show(overall.value)} "
            f"({_size(overall, ' students')}{interval})."
        )
    lines = [f"{out.metric_description} By {by}, {scope} ({level} intervals):"]
    for row in out.rows:
        if row.suppressed:
            size = "" if row.n is None else f" (n = {row.n})"
            lines.append(f"- {row.label}: too few students to show{size}.")
        else:
            lines.append(
                f"- {row.label}: {show(row.value)} "
                f"({show(row.ci_low)} to {show(row.ci_high)}; {_size(row)})"
            )
    overall = out.overall
    lines.append("")
    lines.append(f"Overall: {show(overall.value)} ({_size(overall)}).")
    shown = [r for r in out.rows if not r.suppressed and r.value is not None]
    if len(shown) > 1:
        top = max(shown, key=lambda r: r.value)
        low = min(shown, key=lambda r: r.value)
        lines.append(f"Highest: {top.label}; lowest: {low.label}.")
    return "\n".join(lines)


def _summary(call: ToolCall, out: EquitySummaryOutput, labels) -> str:
    scope = scope_text({"filters": out.filters}, labels)
    lines = [
        f"Equity summary for {scope} ({count(out.n_students)} students; outcome "
        f"{out.outcome}, overall rate {pct(out.overall_outcome_rate)}):"
    ]
    for a in out.attributes:
        if a.gap is None:
            lines.append(f"- {a.label}: {a.note or 'not enough students to compare'}.")
            continue
        verdict = "a significant gap" if a.significant else "no significant gap"
        lines.append(
            f"- {a.label}: {verdict}; highest {a.highest_group}, lowest "
            f"{a.lowest_group}, {a.gap * 100:.1f} percentage points apart "
            f"({p_text(a.p_adjusted)})."
        )
    lines += ["", "The full report with charts is ready to download."]
    return "\n".join(lines)


def _compare(call: ToolCall, out: CompareOutput, labels) -> str:
    lines = [
        f"Interventions for {scope_text(call.arguments, labels)} "
        f"({students(out.n_students)}), "
        "best first by the model's what-if:"
    ]
    by_name = {r.name: r for r in out.results}
    for name in out.ranking:
        r = by_name[name]
        moved = r.cost_per_student_out_of_high
        # The model's risk rises: never presented as help, whatever its place in the list.
        warning = " — would not help: the model's risk rises" if r.expected_change > 5e-4 else ""
        lines.append(
            f"- **{r.title}**{warning}: mean risk {pct(r.mean_risk_before)} → "
            f"{pct(r.mean_risk_after)} ({change_text(r.expected_change, r.change_ci95)}); "
            f"{count(r.students_out_of_high)} leave High; "
            f"cost {money(r.cost_total)}"
            + (f", {money(moved)} per student moved out of High." if moved else ".")
        )
    if out.results:
        lines.append("")
        lines.append(f"Caveat: {out.results[0].caveat}. {by_name[out.ranking[0]].evidence}")
    return "\n".join(lines)


def _plan(call: ToolCall, out: PlanOutput, labels) -> str:
    t, naive = out.totals, out.naive
    chosen = call.arguments.get("filters") or call.arguments.get("student_ids")
    scope = scope_text(call.arguments, labels) if chosen else "the students at High or Medium risk"
    parts = ", ".join(
        f"{b.intervention.replace('_', ' ')} for {count(b.students)} ({money(b.cost)})"
        for b in out.by_intervention
    )
    return "\n".join(
        [
            f"Plan for {scope} "
            f"({count(out.n_students)} students) within "
            f"{money(out.budget)} a year: treat {count(t.students_treated)} students for "
            f"{money(t.cost)}: {parts or 'nobody can be treated within this budget'}.",
            f"Expected: risk reduction {t.expected_risk_reduction:.1f} (sum of risk drops), "
            f"{count(t.expected_students_out_of_high)} students out of High.",
            f"Highest-risk-first instead: {count(naive.students_treated)} students, risk "
            f"reduction {naive.expected_risk_reduction:.1f}, "
            f"{count(naive.expected_students_out_of_high)} out of High.",
            f"Method: {out.method} (optimality gap {pct(out.optimality_gap)}).",
            *_equity_rule(call, out, labels),
        ]
    ).replace("\n", "\n\n")


def _equity_rule(call: ToolCall, out: PlanOutput, labels) -> list[str]:
    """The plan's equity rule and how the plan meets it, in words."""
    rule = call.arguments.get("equity") or {}
    attribute = rule.get("attribute")
    if not out.equity or not attribute:
        return []
    spec = getattr(labels, "spec", None)
    column = spec.column(attribute) if spec is not None and attribute in spec.column_names else None

    def words(group: str) -> str:  # a bool group comes back as "0"/"1"
        value = int(group) if column is not None and column.dtype == "bool" else group
        return (column.words_for(value) if column is not None else None) or group

    kept = [
        f"at least {pct(g.min_share)} of the students treated from {labels(attribute)} "
        f"{words(g.group)} (in this plan: {pct(g.share)})"
        for g in out.equity
    ]
    return [f"Equity rule: {'; '.join(kept)}."]


def _model(call: ToolCall, out: ModelInfoOutput, labels) -> str:
    m = out.metrics.get("champion", {})
    baselines = [
        f"{name}: ROC-AUC {v['roc_auc']:.3f}"
        for name, v in out.metrics.items()
        if name != "champion"
    ]
    fairness = [
        f"{f['attribute']} {FAIRNESS_NAMES.get(f['metric'], f['metric'])} gap "
        f"{f['max_gap']:.3f} (worst {f['worst_group']})"
        for f in out.fairness
    ]
    lines = [
        f"The model in service is **{out.model_name}** version {out.model_version} "
        f"({out.candidate}, loaded from the {out.loaded_from}), trained on "
        f"{count(out.students)} students to predict {out.outcome} "
        f"(rate {pct(out.outcome_rate)}) from the {out.feature_set} feature set.",
        f"Accuracy on held-out students: ROC-AUC {m.get('roc_auc', 0):.3f}, PR-AUC "
        f"{m.get('pr_auc', 0):.3f}, Brier {m.get('brier', 0):.3f}"
        + (f"; beside {'; '.join(baselines)}." if baselines else "."),
        f"Never used as inputs: {', '.join(out.never_inputs)}.",
        ("Fairness across groups: " + "; ".join(fairness) + ".") if fairness else "",
        "Limits: " + " ".join(out.limits),
    ]
    return "\n\n".join(line for line in lines if line)


def _sql(call: ToolCall, out: SqlOutput, labels) -> str:
    columns = out.columns or []
    rows = out.rows or []
    head = f"The query returned {count(out.row_count)} rows."
    if not columns:
        return head
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows[:20]]
    return "\n".join([head, "", *table])


TEMPLATES: dict[str, Callable[..., str]] = {
    "score_students": _score,
    "explain_student": _explain,
    "find_students": _find,
    "query_equity": _equity,
    "equity_summary": _summary,
    "compare_interventions": _compare,
    "plan_interventions": _plan,
    "model_info": _model,
    "run_sql": _sql,
}


def _key(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def composition_text(call: ToolCall, values: dict[str, list[Any]], labels) -> str:
    """The make-up of a scope by one column, the values asked about first: "Of the 2,409
    students with risk level High, 1,093 (45.4 %) have gender Female." (a grouped
    ``query_equity``'s row sizes and shares)."""
    out = call.output
    if not isinstance(out, EquityQueryOutput) or call.error or not out.group_by:
        return render_call(call, labels)
    if out.overall.n is None:  # a scope too small to show: the table says so as it is
        return render_call(call, labels)
    column = out.group_by[0]
    asked = {_key(v) for v in values.get(column, [])}
    scope = scope_text({"filters": out.filters}, labels)
    whole = f"all {count(out.overall.n)} students" if scope == "all students" else (
        f"the {count(out.overall.n)} {scope}"
    )
    lines, rest = [], []
    for row in out.rows:
        value = row.group.get(column)
        said = (
            "too few students to show"
            if row.suppressed or row.share is None
            else f"{count(row.n)} ({pct(row.share)})"
        )
        what = scope_text({"filters": {column: [value]}}, labels).removeprefix("students with ")
        if _key(value) not in asked:
            rest.append(f"- {what.removeprefix(labels(column)).lstrip(': ')}: {said}")
        elif row.suppressed or row.share is None:
            lines.append(f"Of {whole}, those with {what} are too few to show.")
        else:
            lines.append(f"Of {whole}, {said} have {what}.")
    if rest:
        lines += ["", f"The others by {labels(column)}:", *rest]
    return "\n".join(lines)


def matches_nobody(call: ToolCall) -> bool:
    """Whether the call failed only because no student matches its filters (a valid question
    the data answers with none, not an error)."""
    return bool(call.error and call.error.startswith("no students match"))


def render_call(
    call: ToolCall, labels: Callable[[str], str], focus: list[str] | None = None
) -> str:
    if matches_nobody(call):  # an answer: the data holds no such students
        return f"The data holds no {scope_text(call.arguments, labels)}."
    if call.error:
        return f"I couldn't answer that: {call.error}."
    if call.output is None:
        return f"I couldn't answer that: {call.name} returned nothing."
    if call.name == "explain_student":
        return _explain(call, call.output, labels, focus)
    return TEMPLATES[call.name](call, call.output, labels)


def render_calls(
    calls: list[ToolCall], labels: Callable[[str], str], focus: list[str] | None = None
) -> str:
    """The grounded template answer for a turn's tool calls."""
    return "\n\n".join(render_call(c, labels, focus) for c in calls)


def chart_for(calls: list[ToolCall], labels: Callable[[str], str]) -> Chart | None:
    """The chart that best shows this turn's answer (the first call that has one)."""
    for call in calls:
        out = call.output
        if not out:
            continue
        if call.name == "query_equity":
            rows = [r for r in out.rows if not r.suppressed and r.value is not None]
            column = out.metric.removeprefix("mean:")
            share = column == out.metric or column in getattr(labels, "percent_columns", ())
            return Chart(
                title=out.metric_description,
                x_label=" × ".join(labels(c) for c in out.group_by),
                labels=[" · ".join(str(v) for v in r.group.values()) for r in rows],
                values=[r.value for r in rows],
                ci_low=[r.ci_low for r in rows],
                ci_high=[r.ci_high for r in rows],
                value_format="percent" if share else "number",
            )
        if call.name == "explain_student":
            top = out.contributions[:8]
            return Chart(
                title=f"Why {out.student_id} is at {out.risk_level} risk (SHAP, log-odds)",
                labels=[f"{c.label} = {c.value}" for c in top],
                values=[c.contribution for c in top],
                value_format="signed",
            )
        if call.name == "compare_interventions":
            results = out.results
            return Chart(
                title=f"Change in mean risk: {scope_text(call.arguments, labels)}",
                labels=[r.title for r in results],
                values=[r.expected_change for r in results],
                ci_low=[r.change_ci95[0] for r in results],
                ci_high=[r.change_ci95[1] for r in results],
                value_format="points",
            )
        if call.name == "find_students":
            return Chart(
                title="Estimated risk, highest first",
                labels=[s.student_id for s in out.students],
                values=[s.risk_score for s in out.students],
                value_format="percent",
            )
        if call.name == "equity_summary" and out.attributes:
            with_gap = [a for a in out.attributes if a.gap is not None]
            if with_gap:
                a = max(with_gap, key=lambda a: a.gap)
                groups = [g for g in a.groups if not g.suppressed]
                return Chart(
                    title=f"Outcome rate by {a.label} (largest gap)",
                    x_label=a.label,
                    labels=[g.label for g in groups],
                    values=[g.outcome_rate for g in groups],
                    ci_low=[g.outcome_ci[0] for g in groups],
                    ci_high=[g.outcome_ci[1] for g in groups],
                    value_format="percent",
                )
        if call.name == "plan_interventions" and out.by_intervention:
            return Chart(
                title="Students per intervention in the plan",
                labels=[b.intervention.replace("_", " ") for b in out.by_intervention],
                values=[b.students for b in out.by_intervention],
            )
    return None


def student_card(calls: list[ToolCall]) -> StudentCard | None:
    for call in calls:
        if call.name == "explain_student" and call.output:
            out = call.output
            return StudentCard(
                student_id=out.student_id,
                risk_score=out.risk_score,
                risk_level=out.risk_level,
                top_risk_factors=out.top_risk_factors,
                counterfactual=counterfactual_text(out.counterfactual),
            )
    return None
