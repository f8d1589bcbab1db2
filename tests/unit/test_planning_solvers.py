"""The planner's solvers on small problems whose optimum the MILP proves: the closed form for
options of one price agrees with it, and problems of another kind are left to the search."""

from __future__ import annotations

import numpy as np
import pytest

from tools.planning_solvers import Problem, solve_counted, solve_exact, solve_uniform


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


@pytest.mark.parametrize(
    ("cost", "budget", "capacity"),
    [
        ([20.0, 150.0, 300.0, 1000.0, 1200.0], 6_000.0, None),
        ([20.0, 150.0, 300.0, 1000.0, 1200.0], 6_000.0, [3, 10, 4, np.inf, 2]),  # capacities bind
        ([150.0, 300.0, 1200.0], 2_000.0, [1, 1, np.inf]),
        ([300.0, 1200.0], 100_000.0, None),  # money for every student an option moves
        ([500.0, 800.0], 400.0, None),  # nothing affordable
    ],
)
def test_the_most_students_moved_out_of_high_equals_the_milp_optimum(cost, budget, capacity):
    """The count a min-cost flow proves is the count the MILP proves, on problems where the
    options move different students, at different prices, against capacities."""
    k = len(cost)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        counted = rng.random((80, k)) < rng.uniform(0.05, 0.4, size=k)
        tie = rng.uniform(0, 0.3, size=(80, k)) / 81
        caps = np.full(k, np.inf) if capacity is None else np.asarray(capacity, dtype=float)
        problem = Problem(counted + tie, np.asarray(cost), budget, caps, counted=counted)
        fast = solve_counted(problem)
        only_count = Problem(counted.astype(float), np.asarray(cost), budget, caps)
        proven = solve_exact(only_count)
        assert proven.gap == 0.0
        taken = fast.choice >= 0
        moved = int(counted[np.flatnonzero(taken), fast.choice[taken]].sum())
        assert moved == round(only_count.value(proven.choice))
        assert float(problem.cost[fast.choice[taken]].sum()) <= budget + 1e-9
        for j in range(k):
            assert (fast.choice == j).sum() <= caps[j]
        assert fast.method == "exact" and fast.gap == 0.0


def test_a_count_with_an_equity_rule_is_left_to_the_search():
    counted = np.eye(4, 2, dtype=bool)
    mask = np.arange(4) % 2 == 0
    problem = Problem(counted + 0.0, np.array([10.0, 20.0]), 30.0, np.full(2, np.inf),
                      [(mask, 0.5)], counted=counted)  # fmt: skip
    assert solve_counted(problem) is None


@pytest.mark.parametrize("kind", ["plain", "capacities", "shares"])
def test_the_search_from_a_greedy_plan_finds_the_same_optimum(kind):
    """Fixing pairs by their Lagrangian reduced cost against the greedy plan never cuts off
    the optimum: the search over what is left finds the value the full search proves."""
    from tools.planning_solvers import solve_greedy

    for seed in range(6):
        rng = np.random.default_rng(seed)
        capacity = [6, np.inf, 4] if kind == "capacities" else None
        groups = [(rng.random(60) < 0.3, 0.4)] if kind == "shares" else ()
        problem = _problem(seed, 3, [150.0, 300.0, 1200.0], 4_000.0, capacity, groups)
        greedy = solve_greedy(problem)
        started, full = solve_exact(problem, start=greedy), solve_exact(problem)
        assert full.gap == 0.0 and started.gap == 0.0
        assert problem.value(started.choice) == pytest.approx(problem.value(full.choice), abs=1e-9)
