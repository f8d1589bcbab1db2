"""Draws an answer's `Chart` as a matplotlib bar chart: the numbers come from the answer as
they are; only the look (orientation, colours, axis format) is decided here."""

from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from assistant.render import pct
from assistant.types import Chart

BAR = "#4f6fb0"
RAISES = "#c0392b"
LOWERS = "#2e8b57"
INK = "#333333"
MUTED = "#777777"
MAX_VERTICAL_BARS = 6
MAX_VERTICAL_LABEL = 12
TITLE_WIDTH = 60
BAR_THICKNESS = 0.62
WIDTH_IN = 5.4
SIGNED = ("signed", "points")  # red raises risk, green lowers it


def draw(chart: Chart) -> Figure:
    """A bar chart of ``chart``: horizontal when the labels are long or many, with 95 % interval
    whiskers where ``ci_low``/``ci_high`` are given. A plain ``Figure`` (Agg canvas, not in
    pyplot's registry), so drawing is thread-safe and nothing needs closing."""
    horizontal = len(chart.labels) > MAX_VERTICAL_BARS or any(
        len(label) > MAX_VERTICAL_LABEL for label in chart.labels
    )
    height = 1.2 + 0.38 * len(chart.labels) if horizontal else 3.6
    fig = Figure(figsize=(WIDTH_IN, max(height, 2.6)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(chart.values)))
    (ax.barh if horizontal else ax.bar)(
        positions, chart.values, BAR_THICKNESS, color=_colours(chart)
    )
    _whiskers(ax, chart, horizontal)
    _value_labels(ax, chart, horizontal)
    _axes(ax, chart, horizontal)
    if chart.value_format in SIGNED:
        ax.legend(
            handles=[
                Patch(color=RAISES, label="raises risk"),
                Patch(color=LOWERS, label="lowers risk"),
            ],
            loc="lower right",
            frameon=False,
            fontsize=8,
        )
    fig.suptitle(textwrap.fill(chart.title, TITLE_WIDTH), x=0.02, ha="left", fontsize=10, color=INK)
    return fig


def format_value(value: float, value_format: str) -> str:
    if value_format == "percent":
        return pct(value)
    if value_format == "signed":
        return f"{value:+.2f}"
    if value_format == "points":
        return f"{value * 100:+.1f} pts"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _colours(chart: Chart) -> list[str]:
    if chart.value_format not in SIGNED:
        return [BAR] * len(chart.values)
    return [RAISES if value > 0 else LOWERS for value in chart.values]


def _interval(chart: Chart, index: int) -> tuple[float, float] | None:
    if chart.ci_low is None or chart.ci_high is None:
        return None
    low, high = chart.ci_low[index], chart.ci_high[index]
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return None
    return low, high


def _whiskers(ax, chart: Chart, horizontal: bool) -> None:
    for index, value in enumerate(chart.values):
        interval = _interval(chart, index)
        if interval is None:
            continue
        error = [[value - interval[0]], [interval[1] - value]]
        ax.errorbar(
            value if horizontal else index,
            index if horizontal else value,
            xerr=error if horizontal else None,
            yerr=None if horizontal else error,
            fmt="none",
            ecolor=INK,
            elinewidth=1,
            capsize=3,
        )


def _value_labels(ax, chart: Chart, horizontal: bool) -> None:
    """Each bar's value just past the end of its bar (or of its whisker)."""
    for index, value in enumerate(chart.values):
        interval = _interval(chart, index)
        end = value if interval is None else (interval[1] if value >= 0 else interval[0])
        outward = 1 if value >= 0 else -1
        ax.annotate(
            format_value(value, chart.value_format),
            xy=(end, index) if horizontal else (index, end),
            xytext=(4 * outward, 0) if horizontal else (0, 3 * outward),
            textcoords="offset points",
            ha=("left" if outward > 0 else "right") if horizontal else "center",
            va="center" if horizontal else ("bottom" if outward > 0 else "top"),
            fontsize=8,
            color=INK,
        )


def _axes(ax, chart: Chart, horizontal: bool) -> None:
    category, value_axis = (ax.yaxis, ax.xaxis) if horizontal else (ax.xaxis, ax.yaxis)
    positions = list(range(len(chart.labels)))
    category.set_ticks(positions, [textwrap.fill(label, 34) for label in chart.labels])
    if horizontal:
        ax.invert_yaxis()  # first item on top, as the answer lists them
    if chart.x_label:
        (ax.set_ylabel if horizontal else ax.set_xlabel)(chart.x_label, color=MUTED)
    if chart.value_format == "percent":
        value_axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:.4g} %"))
    elif chart.value_format == "signed":
        value_axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.1f}" if v else "0"))
    elif chart.value_format == "points":
        value_axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:+.4g}" if v else "0"))
        (ax.set_ylabel if not horizontal else ax.set_xlabel)("percentage points", color=MUTED)
    low, high = _value_span(chart)
    if low == high:  # nothing to show but zero
        high = 1.0
    pad = (high - low) * 0.18  # room for the value labels past the bars
    (ax.set_xlim if horizontal else ax.set_ylim)(
        low - pad if low < 0 else 0, high + pad if high > 0 else 0
    )
    if low < 0:
        (ax.axvline if horizontal else ax.axhline)(0, color=MUTED, linewidth=0.8)
    ax.tick_params(labelsize=8, colors=INK)
    ax.grid(axis="x" if horizontal else "y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _value_span(chart: Chart) -> tuple[float, float]:
    ends = list(chart.values)
    for index in range(len(chart.values)):
        interval = _interval(chart, index)
        if interval is not None:
            ends.extend(interval)
    return min([*ends, 0.0]), max([*ends, 0.0])
