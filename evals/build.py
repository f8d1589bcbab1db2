"""Rebuild ``evals/gold/<set>.jsonl`` from the templates and the hand-written items (with the
held-out and blind batches in ``evals/hand/``): ``python -m evals.build``. The gold files are
committed; rebuild after changing either."""

from __future__ import annotations

from evals.gold import GOLD_DIR, HAND_DIR, SETS, load_items, write_items
from evals.templates import template_items


def build() -> dict[str, int]:
    counts = {}
    for name in SETS:
        folders = [HAND_DIR, HAND_DIR / "holdout", *sorted(HAND_DIR.glob("blind-*"))]
        hand = [
            item
            for path in (folder / f"{name}.jsonl" for folder in folders)
            if path.is_file()
            for item in load_items(path)
        ]
        for number, item in enumerate(hand):
            # A blind batch measures questions nobody tuned on: it is in the full evaluation,
            # not in the gate `make test` runs, until the assistant answers it.
            blind = item.source.startswith("blind")
            item.gate = not blind and (item.gate or number % 3 == 0)
        items = template_items(name) + hand
        ids = [i.id for i in items]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"{name}: duplicate ids {sorted(duplicates)}")
        write_items(GOLD_DIR / f"{name}.jsonl", items)
        counts[name] = len(items)
    return counts


if __name__ == "__main__":
    for name, n in build().items():
        print(f"{name}: {n} items")
