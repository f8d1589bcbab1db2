"""The planner's solvers on small problems whose optimum the MILP proves: the closed form for
options of one price agrees with it, and problems of another kind are left to the search."""

from __future__ import annotations

import numpy as np
import pytest

from tools.planning_solvers import Problem, solve_exact, solve_uniform


def _problem(seed: int, k: int, cost: list[float], budget: float, capacity=None, groups=()):
    rng = np.random.default_rng(seed)
    weight = rng.uniform(-0.05, 0.3, size=(60, k))
    caps = np.full(k, np.inf) if capacity is None else np.asarray(capacity, dtype=float)
    return Problem(weight, np.asarray(cost, dtype=float), budget, caps, list(groups))


@pytest.mark.parametrize(
    ("k", "cost", "budget", "capacity"),
    [
        (1, [1200.0], 40_000.0, None),  # one intervention: the top gains the money buys
        (1, [1200.0], 40_000.0, [12]),  # its capacity binds first
        (3, [150.0, 150.0, 150.0], 3_000.0, None),  # one price: each student's best option
        (2, [300.0, 300.0], 100_000.0, None),  # money for everyone with a positive gain
        (1, [500.0], 400.0, None),  # nothing affordable
    ],
)
def test_one_price_is_solved_in_closed_form_to_the_milp_optimum(k, cost, budget, capacity):
    for seed in range(5):
        problem = _problem(seed, k, cost, budget, capacity)
        fast, proven = solve_uniform(problem), solve_exact(problem)
        assert fast is not None and fast.method == "exact" and fast.gap == 0.0
        assert problem.value(fast.choice) == pytest.approx(problem.value(proven.choice), abs=1e-9)
        spent = float((fast.choice >= 0).sum()) * cost[0]
        assert spent <= budget + 1e-9
        if capacity is not None:
            assert (fast.choice >= 0).sum() <= capacity[0]
        taken = fast.choice >= 0
        assert (problem.weight[np.flatnonzero(taken), fast.choice[taken]] > 0).all()


def test_other_problems_are_left_to_the_search():
    assert solve_uniform(_problem(0, 2, [150.0, 1200.0], 5_000.0)) is None  # two prices
    assert solve_uniform(_problem(0, 2, [150.0, 150.0], 5_000.0, capacity=[5, np.inf])) is None
    mask = np.arange(60) % 2 == 0
    assert solve_uniform(_problem(0, 1, [150.0], 5_000.0, groups=[(mask, 0.5)])) is None
