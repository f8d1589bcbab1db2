"""Gold items: a question (with earlier turns), the expected behaviour, the exact tool calls a
correct assistant makes, and the facts a correct answer states.

Facts are SQL on the warehouse, not values, and student ids are placeholders
(``{student:high:1}``), so the expected answers are recomputed from the current warehouse at
every run — independently of the tools under test — and the sets stay true when data changes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.context import ToolContext

GOLD_DIR = Path(__file__).parent / "gold"
HAND_DIR = Path(__file__).parent / "hand"
SETS = ("in_distribution", "paraphrase", "compositional", "follow_up", "refusal")
_PLACEHOLDER = re.compile(r"\{student:(high|medium|low):(\d+)(:digits)?\}")


class Fact(BaseModel):
    """``text`` must appear; every value ``sql`` returns (× scale, rounded) must appear as a
    number; every value ``sql_text`` returns must appear as text."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    sql: str | None = None
    sql_text: str | None = None
    scale: float = 1.0
    decimals: int = 0


class GoldCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class GoldItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    set: Literal["in_distribution", "paraphrase", "compositional", "follow_up", "refusal"]
    source: str = Field(description="'template', 'hand', 'holdout' or a blind batch's name.")
    turns: list[str] = Field(default_factory=list)
    question: str
    expect: Literal["answer", "clarify", "refuse"]
    tools: list[GoldCall] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    gate: bool = Field(default=False, description="Part of the fast subset run by `make test`.")
    note: str | None = Field(default=None, description="Why this behaviour is expected.")


def load_items(path: Path) -> list[GoldItem]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(GoldItem.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path.name} line {number}: {exc}") from None
    return items


def load_sets(names: list[str] | None = None, folder: Path = GOLD_DIR) -> dict[str, list[GoldItem]]:
    """The gold sets (``<folder>/<set>.jsonl``; the committed ones by default). In another
    folder, such as a fresh blind batch, sets without a file are left out."""
    wanted = names or SETS
    if folder != GOLD_DIR:
        wanted = [name for name in wanted if (folder / f"{name}.jsonl").is_file()]
    return {name: load_items(folder / f"{name}.jsonl") for name in wanted}


class Resolver:
    """Fills placeholders with real ids and runs fact queries on the warehouse."""

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx
        self._ids: dict[tuple[str, int], str] = {}

    def student(self, kind: str, rank: int) -> str:
        key = (kind, rank)
        if key not in self._ids:
            where, order = {
                "high": ("TRUE", "risk_score DESC"),
                "medium": ("risk_level = 'Medium'", "risk_score DESC"),
                "low": ("TRUE", "risk_score ASC"),
            }[kind]
            rows = self.ctx.sql(
                f"SELECT student_id FROM scores WHERE {where} ORDER BY {order}, student_id "
                "LIMIT 1 OFFSET ?",
                [rank - 1],
            )
            self._ids[key] = rows["student_id"].iloc[0]
        return self._ids[key]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return _PLACEHOLDER.sub(self._replace, value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def _replace(self, match: re.Match[str]) -> str:
        student = self.student(match.group(1), int(match.group(2)))
        if match.group(3):
            return student[len(self.ctx.spec.id_prefix) :].lstrip("0")
        return student

    def values(self, sql: str) -> list[Any]:
        frame = self.ctx.sql(self.fill(sql))
        return [v for row in frame.itertuples(index=False) for v in row]


def resolved(item: GoldItem, resolver: Resolver) -> GoldItem:
    return GoldItem.model_validate(resolver.fill(item.model_dump()))


def write_items(path: Path, items: list[GoldItem]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(i.model_dump(exclude_defaults=True, mode="json")) for i in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
