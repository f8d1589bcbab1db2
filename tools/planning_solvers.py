"""The planner's optimisation: a multiple-choice knapsack (each student gets at most one
intervention) with a budget, optional per-intervention capacities and optional minimum shares
of treated students from given groups.

Solved greedily, and exactly with ``scipy.optimize.milp`` (HiGHS, with a time limit) when the
cohort is small and the greedy plan's proven gap is above a tolerance (tools/planning.py). The
greedy: the Lagrangian dual of the LP relaxation is minimised first (it is the upper bound the
reported gap is measured against, and its multipliers price capacities and group shares into
each student's gains); then Sinha–Zoltners increments on each student's cost/gain hull by gain
per dollar, a fill pass for the money left, and a repair of any group share still short."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp, minimize

EPS = 1e-12


@dataclass
class Problem:
    weight: np.ndarray  # students × options: objective gain of giving option j to student i
    cost: np.ndarray  # options: cost per student
    budget: float
    capacity: np.ndarray  # options: max students (inf = no limit)
    groups: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (member mask, share)
    # students × options: the whole part of ``weight`` (a student moved out of High), when the
    # objective counts students and the rest of ``weight`` only breaks ties (sums below 1)
    counted: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.weight.shape[0]

    def value(self, choice: np.ndarray) -> float:
        taken = choice >= 0
        return float(self.weight[np.flatnonzero(taken), choice[taken]].sum())


@dataclass(frozen=True)
class Solution:
    choice: np.ndarray  # per student: option index, or -1 for none
    method: str  # "exact" or "greedy"
    bound: float  # upper bound on the optimal objective
    gap: float  # (bound − value) / bound, 0 when proven optimal
    theta: np.ndarray | None = None  # the dual prices the bound was found at (greedy)


def _variables(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(student, option) of every pair worth considering: positive gain, affordable."""
    ok = (problem.weight > EPS) & (problem.cost[None, :] <= problem.budget)
    ok &= problem.capacity[None, :] > 0
    return np.nonzero(ok)


def _constraints(
    problem: Problem, rows: np.ndarray, cols: np.ndarray, forced: np.ndarray | None = None
):
    """A, lower, upper for: one option per student (exactly one for the ``forced`` students),
    budget, capacities, group shares."""
    m = len(rows)
    student_rows, inverse = np.unique(rows, return_inverse=True)
    blocks = [
        sparse.csr_matrix((np.ones(m), (inverse, np.arange(m))), shape=(len(student_rows), m))
    ]
    lower = [np.zeros(len(student_rows)) if forced is None else np.isin(student_rows, forced)]
    upper = [np.ones(len(student_rows))]
    blocks.append(sparse.csr_matrix(problem.cost[cols][None, :]))
    lower.append([0.0])
    upper.append([problem.budget])
    for j in np.flatnonzero(np.isfinite(problem.capacity)):
        blocks.append(sparse.csr_matrix((cols == j).astype(float)[None, :]))
        lower.append([0.0])
        upper.append([problem.capacity[j]])
    for mask, share in problem.groups:
        blocks.append(sparse.csr_matrix((mask[rows].astype(float) - share)[None, :]))
        lower.append([0.0])
        upper.append([np.inf])
    return sparse.vstack(blocks, format="csr"), np.concatenate(lower), np.concatenate(upper)


class _Lagrangian:
    """L(θ) = λ·budget + Σ μ_j·cap_j + Σ_i max(0, max_j w_ij − λ c_j − μ_j + Σ_g ν_g a_ig),
    a_ig = [i in g] − share_g: for every θ = (λ, μ, ν) ≥ 0 an upper bound on the objective of
    any feasible plan (weak duality); its minimum is the LP-relaxation bound."""

    def __init__(self, problem: Problem):
        ok = (problem.weight > EPS) & (problem.cost[None, :] <= problem.budget)
        ok &= problem.capacity[None, :] > 0
        self.p, self.w = problem, np.where(ok, problem.weight, -np.inf)
        self.caps = np.flatnonzero(np.isfinite(problem.capacity))
        self.a = (
            np.column_stack([m - s for m, s in problem.groups]).astype(float)
            if problem.groups
            else np.zeros((problem.n, 0))
        )
        self.dims = 1 + len(self.caps) + self.a.shape[1]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, k = self.p, len(self.p.cost)
        lam, mu, nu = theta[0], theta[1 : 1 + len(self.caps)], theta[1 + len(self.caps) :]
        price = lam * p.cost
        price[self.caps] += mu
        adj = self.w - price[None, :] + (self.a @ nu)[:, None]
        best = adj.argmax(axis=1)
        gain = adj[np.arange(p.n), best]
        on = gain > 0
        count = np.bincount(best[on], minlength=k)
        value = lam * p.budget + float(mu @ p.capacity[self.caps]) + float(gain[on].sum())
        grad = np.concatenate(
            [
                [p.budget - float(count @ p.cost)],
                p.capacity[self.caps] - count[self.caps],
                self.a[on].sum(axis=0),
            ]
        )
        return value, grad


def _minimise_dual(lagrangian: _Lagrangian, iterations: int = 60) -> tuple[np.ndarray, float]:
    """Minimise L over θ ≥ 0: L-BFGS-B on its subgradient (L is a sum over many students, so
    nearly smooth), then Kelley's cutting planes seeded with every point evaluated so far.
    Returns the best θ found and L(θ), a valid bound however early it stops."""
    dims, scale = lagrangian.dims, np.ones(lagrangian.dims)
    scale[0] = 1 / float(lagrangian.p.cost.min())  # λ is per dollar: search λ·(cheapest cost)
    seen: list[tuple[np.ndarray, float, np.ndarray]] = []

    def scaled(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = lagrangian(z * scale)
        seen.append((z.copy(), value, grad * scale))
        return value, grad * scale

    minimize(
        scaled,
        np.zeros(dims),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * dims,
        options={"maxiter": 100},
    )
    finite = lagrangian.w[np.isfinite(lagrangian.w)]
    box = [(0.0, 4 * float(finite.max()))] * dims + [(None, None)]
    for _ in range(iterations):
        z, value, _ = min(seen, key=lambda item: item[1])
        a_ub = np.array([[*g, -1.0] for _, _, g in seen])
        b_ub = np.array([float(g @ x) - v for x, v, g in seen])
        res = linprog(np.r_[np.zeros(dims), 1.0], A_ub=a_ub, b_ub=b_ub, bounds=box, method="highs")
        if res.status != 0 or value - res.fun <= 1e-7 * max(1.0, abs(value)):
            break
        scaled(res.x[:-1])
    z, value, _ = min(seen, key=lambda item: item[1])
    return z * scale, value


def solve_uniform(problem: Problem) -> Solution | None:
    """The optimum in closed form when every option costs the same and nothing couples the
    students beyond the budget (no group shares; one option, or no capacities): each student's
    best option, the students with the largest gains first, as many as the money (and the one
    option's capacity) allows. None when the problem is not of that kind. A branch-and-bound
    search on this knapsack of equal weights is slow (over a minute for 14,000 students)."""
    n, k = problem.weight.shape
    if problem.groups or k == 0 or not np.all(problem.cost == problem.cost[0]):
        return None
    capped = np.isfinite(problem.capacity)
    if k > 1 and capped.any():
        return None
    cost = float(problem.cost[0])
    room = int(np.floor(problem.budget / cost + 1e-9)) if cost > 0 else n
    if capped.any():
        room = min(room, int(problem.capacity[0]))
    best = problem.weight.argmax(axis=1)
    gain = problem.weight[np.arange(n), best]
    order = np.argsort(-gain, kind="stable")[: max(room, 0)]
    order = order[gain[order] > EPS]
    choice = np.full(n, -1)
    choice[order] = best[order]
    value = problem.value(choice)
    return Solution(choice, "exact", value, 0.0)


def solve_counted(problem: Problem) -> Solution | None:
    """The most students counted (moved out of High) the budget and capacities allow, exactly,
    when nothing else couples the students (no group shares); None otherwise. Students are
    alike when the same options count them, so the count is a min-cost flow from those kinds of
    student to the options (successive shortest paths: each more student costs at least as
    much as the one before, until the money runs out). Within a kind, the students an option
    gains most on are chosen; the money left then goes greedily to the tie-break gains (risk
    drop per dollar), unless the greedy plan moves as many and gains more on them. The
    reported gap is on the count: 0, proven optimal."""
    if problem.counted is None or problem.groups:
        return None
    n, k = problem.weight.shape
    usable = (problem.cost <= problem.budget) & (problem.capacity > 0)
    counted = problem.counted.astype(bool) & usable[None, :]
    movable = np.flatnonzero(counted.any(axis=1))
    kinds, kind_of = np.unique(counted[movable], axis=0, return_inverse=True)
    kind_of = kind_of.ravel()
    sizes = np.bincount(kind_of, minlength=len(kinds))
    flow = _budgeted_flow(kinds, sizes, problem.cost, problem.capacity, problem.budget, n)
    choice = np.full(n, -1)
    spent, used = 0.0, np.zeros(k)
    for t in range(len(kinds)):
        members = movable[kind_of == t]
        for j in np.argsort(problem.cost, kind="stable"):
            take = int(flow[t, j])
            if take <= 0:
                continue
            free = members[choice[members] < 0]
            best = free[np.argsort(-problem.weight[free, j], kind="stable")[:take]]
            choice[best] = j
            spent += take * problem.cost[j]
            used[j] += take
    _fill(problem, choice, problem.budget - spent, problem.capacity - used)
    # the greedy plan often moves as many and spends the rest better on the tie-break
    greedy = solve_greedy(problem).choice
    as_many = _moved(problem, greedy) >= _moved(problem, choice)
    if as_many and problem.value(greedy) > problem.value(choice):
        choice = greedy
    return Solution(choice, "exact", problem.value(choice), 0.0)


def _moved(problem: Problem, choice: np.ndarray) -> int:
    """How many students ``choice`` counts (moves out of High)."""
    taken = np.flatnonzero(choice >= 0)
    return int(problem.counted[taken, choice[taken]].sum())


def _budgeted_flow(
    kinds: np.ndarray,
    sizes: np.ndarray,
    cost: np.ndarray,
    capacity: np.ndarray,
    budget: float,
    n: int,
) -> np.ndarray:
    """Students of each kind sent to each option: the largest number the budget buys, at the
    least cost (successive shortest paths with Bellman–Ford on the small residual graph:
    source → kinds → options → sink)."""
    t_count, k = kinds.shape
    source, sink = 0, 1 + t_count + k
    size = sink + 1
    cap = np.zeros((size, size))
    price = np.zeros((size, size))
    for t in range(t_count):
        cap[source, 1 + t] = sizes[t]
        for j in np.flatnonzero(kinds[t]):
            cap[1 + t, 1 + t_count + j] = sizes[t]
            price[1 + t, 1 + t_count + j] = cost[j]
            price[1 + t_count + j, 1 + t] = -cost[j]
    for j in range(k):
        cap[1 + t_count + j, sink] = min(float(capacity[j]), float(n))
    money = budget
    while True:
        distance = np.full(size, np.inf)
        before = np.full(size, -1)
        distance[source] = 0.0
        for _ in range(size - 1):  # Bellman–Ford: residual edges may cost less than nothing
            changed = False
            for u in np.flatnonzero(np.isfinite(distance)):
                for v in np.flatnonzero(cap[u] > 1e-9):
                    through = distance[u] + price[u, v]
                    if through < distance[v] - 1e-9:
                        distance[v], before[v], changed = through, u, True
            if not changed:
                break
        if not np.isfinite(distance[sink]):
            break
        path, v = [], sink
        while v != source:
            path.append((before[v], v))
            v = before[v]
        amount = min(cap[u, v] for u, v in path)
        unit = distance[sink]
        if unit > 1e-9:
            amount = min(amount, np.floor(money / unit + 1e-9))
        if amount < 1:
            break
        for u, v in path:
            cap[u, v] -= amount
            cap[v, u] += amount
        money -= amount * unit
    sent = np.zeros((t_count, k))
    for t in range(t_count):
        for j in np.flatnonzero(kinds[t]):
            sent[t, j] = cap[1 + t_count + j, 1 + t]  # the reverse edge holds the flow
    return sent


def _fill(problem: Problem, choice: np.ndarray, money: float, room: np.ndarray) -> None:
    """Give the students still without an option the pairs with the most gain per dollar,
    while the money and the options' room last."""
    free = np.flatnonzero(choice < 0)
    if len(free) == 0:
        return
    gain = problem.weight[free]
    ok = (gain > EPS) & (problem.cost[None, :] <= money)
    rows, cols = np.nonzero(ok)
    order = np.argsort(-(gain[rows, cols] / problem.cost[cols]), kind="stable")
    for r, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        i = free[r]
        if choice[i] >= 0 or room[j] < 1 or problem.cost[j] > money + 1e-9:
            continue
        choice[i] = j
        money -= problem.cost[j]
        room[j] -= 1


def _reduced(
    problem: Problem, rows: np.ndarray, cols: np.ndarray, start: Solution
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Lagrangian reduced-cost fixing against a known plan. At the greedy's dual prices θ,
    any feasible plan's objective is at most L(θ) less, for each student, how much worse its
    pair is than that student's best adjusted gain (0 for no option). So a plan better than
    ``start`` never uses a pair worse than its student's best by more than L(θ) − value(start),
    and gives an option to every student whose best beats "none" by more than that. Returns
    the pairs left and the students that must be given one; None when no plan can beat
    ``start`` (a forced student has no pair left)."""
    lagrangian = _Lagrangian(problem)
    theta = start.theta
    caps = lagrangian.caps
    price = theta[0] * problem.cost
    price[caps] += theta[1 : 1 + len(caps)]
    bonus = lagrangian.a @ theta[1 + len(caps) :]
    adjusted = problem.weight[rows, cols] - price[cols] + bonus[rows]
    best = np.zeros(problem.n)
    np.maximum.at(best, rows, adjusted)
    room = start.bound - problem.value(start.choice)  # the greedy's bound is L(θ)
    room += 1e-9 * max(1.0, abs(start.bound))  # rounding never fixes a pair it should not
    keep = best[rows] - adjusted <= room
    forced = np.flatnonzero(best > room)
    if not np.isin(forced, rows[keep]).all():
        return None
    return rows[keep], cols[keep], forced


def solve_exact(
    problem: Problem, time_limit: float = 10.0, start: Solution | None = None
) -> Solution:
    """Mixed-integer optimum (HiGHS branch and bound). Given a ``start`` plan with its dual
    prices (the greedy's), the search runs only over the pairs that could improve on it
    (``_reduced``); when none can, ``start`` is proven optimal. If the time limit stops the
    search before optimality is proven, the better of its best plan and the greedy plan is
    returned, with the gap to the tighter of the two upper bounds."""
    rows, cols = _variables(problem)
    choice = np.full(problem.n, -1)
    if len(rows) == 0:
        return Solution(choice, "exact", 0.0, 0.0)
    forced = None
    searched = start is not None and start.theta is not None
    start_value = problem.value(start.choice) if start is not None else 0.0
    if searched:
        reduced = _reduced(problem, rows, cols, start)
        if reduced is None or len(reduced[0]) == 0:
            return Solution(start.choice, "exact", start_value, 0.0)  # nothing can beat it
        rows, cols, forced = reduced
    a, lower, upper = _constraints(problem, rows, cols, forced)
    res = milp(
        -problem.weight[rows, cols],
        constraints=LinearConstraint(a, lower, upper),
        integrality=np.ones(len(rows)),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "mip_rel_gap": 1e-7},
    )
    if res.x is not None:
        taken = res.x > 0.5
        choice[rows[taken]] = cols[taken]
    value = problem.value(choice)
    if searched and (res.status == 2 or (res.status == 0 and value <= start_value)):
        return Solution(start.choice, "exact", start_value, 0.0)  # nothing better exists
    if res.status == 0:
        return Solution(choice, "exact", value, 0.0)
    greedy = start or solve_greedy(problem)
    bound = greedy.bound
    if res.mip_dual_bound is not None and np.isfinite(res.mip_dual_bound):
        bound = min(bound, -float(res.mip_dual_bound))
    if res.x is None or problem.value(greedy.choice) > value:
        return Solution(greedy.choice, "greedy", bound, _gap(bound, problem.value(greedy.choice)))
    return Solution(choice, "exact", bound, _gap(bound, value))


def _gap(bound: float, value: float) -> float:
    return max(0.0, (bound - value) / bound) if bound > EPS else 0.0


def _hull_increments(problem: Problem) -> tuple[np.ndarray, ...]:
    """Each student's upper concave hull of (cost, gain) from (0, 0), as increments
    (student, from option, to option, extra cost, extra gain), vectorised over students."""
    n, k = problem.weight.shape
    order = np.argsort(problem.cost, kind="stable")
    idx = np.full((n, k + 1), -1)
    hc, hw = np.zeros((n, k + 1)), np.zeros((n, k + 1))
    size = np.ones(n, dtype=int)
    every = np.arange(n)
    for j in order:
        c, w = problem.cost[j], problem.weight[:, j]
        cand = (w > hw[every, size - 1] + EPS) & (c <= problem.budget) & (problem.capacity[j] > 0)
        while True:
            top, prev = size - 1, np.maximum(size - 2, 0)
            cross = (hc[every, top] - hc[every, prev]) * (w - hw[every, prev]) - (
                hw[every, top] - hw[every, prev]
            ) * (c - hc[every, prev])
            pop = cand & (size >= 2) & (cross >= 0)
            if not pop.any():
                break
            size[pop] -= 1
        at = size[cand]
        idx[cand, at], hc[cand, at], hw[cand, at] = j, c, w[cand]
        size[cand] += 1
    level = np.arange(1, k + 1)[None, :]
    valid = level < size[:, None]
    student = np.broadcast_to(every[:, None], (n, k))[valid]
    src, dst = idx[:, :-1][valid], idx[:, 1:][valid]
    d_cost = (hc[:, 1:] - hc[:, :-1])[valid]
    d_gain = (hw[:, 1:] - hw[:, :-1])[valid]
    return student, src, dst, d_cost, d_gain


def _increments_pass(problem: Problem, choice: np.ndarray) -> float:
    """Take hull increments by gain per dollar while they fit; returns the budget left."""
    student, src, dst, d_cost, d_gain = _hull_increments(problem)
    order = np.lexsort((student, -d_gain / d_cost))
    remaining, used = problem.budget, np.zeros(len(problem.cost))
    frozen = np.zeros(problem.n, dtype=bool)
    cheapest = float(d_cost.min()) if len(d_cost) else np.inf
    for i, a, b, dc in zip(
        student[order].tolist(),
        src[order].tolist(),
        dst[order].tolist(),
        d_cost[order].tolist(),
        strict=True,
    ):
        if frozen[i] or choice[i] != a:
            continue
        if dc > remaining or used[b] >= problem.capacity[b]:
            frozen[i] = True
            continue
        choice[i], remaining = b, remaining - dc
        used[b] += 1
        if a >= 0:
            used[a] -= 1
        if remaining < cheapest:
            break
    return remaining


def _fill_pass(problem: Problem, choice: np.ndarray, remaining: float) -> float:
    """Spend what is left on the best single changes per extra dollar (one per student)."""
    current_w = np.where(choice >= 0, problem.weight[np.arange(problem.n), choice], 0.0)
    current_c = np.where(choice >= 0, problem.cost[np.maximum(choice, 0)], 0.0)
    extra_w = problem.weight - current_w[:, None]
    extra_c = problem.cost[None, :] - current_c[:, None]
    ok = (extra_w > EPS) & (extra_c > 0) & (extra_c <= remaining)
    student, option = np.nonzero(ok)
    if len(student) == 0:
        return remaining
    order = np.argsort(-(extra_w[student, option] / extra_c[student, option]), kind="stable")
    used = np.bincount(choice[choice >= 0], minlength=len(problem.cost)).astype(float)
    changed = np.zeros(problem.n, dtype=bool)
    for i, j in zip(student[order].tolist(), option[order].tolist(), strict=True):
        dc = float(extra_c[i, j])
        if changed[i] or dc > remaining or used[j] >= problem.capacity[j]:
            continue
        if choice[i] >= 0:
            used[choice[i]] -= 1
        choice[i], remaining, changed[i] = j, remaining - dc, True
        used[j] += 1
    return remaining


def _add_queues(problem: Problem) -> list[list[tuple[int, int]]]:
    """Per group: its members' (student, option) pairs by gain per dollar, best first."""
    queues = []
    for mask, _ in problem.groups:
        student, option = np.nonzero(mask[:, None] & (problem.weight > EPS))
        order = np.argsort(-(problem.weight[student, option] / problem.cost[option]), kind="stable")
        queues.append(list(zip(student[order].tolist(), option[order].tolist(), strict=True)))
    return queues


def _equity_repair(problem: Problem, choice: np.ndarray, remaining: float) -> None:
    """Until every group's share is met: treat the next-best untreated member of a short group
    (by gain per dollar); when the money is short, untreat the treated non-member with the least
    gain per dollar (students in no constrained group first)."""
    member = np.full(problem.n, -1)
    for g, (mask, _) in enumerate(problem.groups):
        member[mask] = g
    shares = [share for _, share in problem.groups]
    treated = np.flatnonzero(choice >= 0)
    counts = np.bincount(member[treated] + 1, minlength=len(shares) + 1)[1:].tolist()
    total, used = len(treated), np.bincount(choice[treated], minlength=len(problem.cost))
    ratio = problem.weight[treated, choice[treated]] / problem.cost[choice[treated]]
    drops = treated[np.lexsort((ratio, member[treated] >= 0))].tolist()
    queues, heads, cost = _add_queues(problem), [0] * len(shares), problem.cost.tolist()
    dropped = 0  # drops[:dropped] are all untreated already
    for _ in range(problem.n * (len(cost) + 1) + 1):
        short = [g for g in range(len(shares)) if counts[g] < shares[g] * total - 1e-9]
        if not short:
            return
        g, queue = short[0], queues[short[0]]
        while heads[g] < len(queue) and (
            choice[queue[heads[g]][0]] >= 0
            or used[queue[heads[g]][1]] >= problem.capacity[queue[heads[g]][1]]
        ):
            heads[g] += 1
        if heads[g] < len(queue) and cost[queue[heads[g]][1]] <= remaining:
            i, j = queue[heads[g]]
            choice[i], remaining, total = j, remaining - cost[j], total + 1
            counts[g], used[j] = counts[g] + 1, used[j] + 1
            continue
        while dropped < len(drops) and choice[drops[dropped]] < 0:
            dropped += 1
        victim = next(
            (d for d in islice(drops, dropped, None) if choice[d] >= 0 and member[d] != g), None
        )
        if victim is None:
            return
        j, h = choice[victim], member[victim]
        choice[victim], remaining, total, used[j] = -1, remaining + cost[j], total - 1, used[j] - 1
        if h >= 0:
            counts[h] -= 1


def _priced_greedy(problem: Problem, choice: np.ndarray, price: np.ndarray) -> float:
    """Increments then fill on gains plus prices (equity, capacity); returns money left."""
    work = replace(problem, weight=np.where(problem.weight > EPS, problem.weight + price, -1.0))
    choice[:] = -1
    return _fill_pass(work, choice, _increments_pass(work, choice))


def solve_greedy(problem: Problem, rounds: int = 12) -> Solution:
    """Greedy plan with a proven gap. With group shares, each student's gains are priced by the
    dual multipliers of the share constraints (a Lagrangian heuristic); the price of a group
    still short after the greedy rises 5 % a round, and what remains short is repaired."""
    choice = np.full(problem.n, -1)
    lagrangian = _Lagrangian(problem)
    if not np.isfinite(lagrangian.w).any():
        return Solution(choice, "greedy", 0.0, 0.0)
    theta, bound = _minimise_dual(lagrangian)
    nu, mu = theta[1 + len(lagrangian.caps) :], np.zeros(len(problem.cost))
    mu[lagrangian.caps] = theta[1 : 1 + len(lagrangian.caps)]
    for _ in range(rounds if problem.groups else 1):
        remaining = _priced_greedy(problem, choice, (lagrangian.a @ nu)[:, None] - mu)
        short = _short_groups(problem, choice)
        if not short.any():
            break
        nu = np.where(short, np.maximum(nu * 1.05, 1e-6), nu)
    if problem.groups:
        _equity_repair(problem, choice, remaining)
    return Solution(choice, "greedy", bound, _gap(bound, problem.value(choice)), theta)


def _short_groups(problem: Problem, choice: np.ndarray) -> np.ndarray:
    treated = choice >= 0
    return np.array(
        [(treated & mask).sum() < share * treated.sum() - 1e-9 for mask, share in problem.groups],
        dtype=bool,
    )


def naive_plan(problem: Problem, gain: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Highest priority first, each student gets the affordable option with the largest
    ``gain`` (capacities respected, group shares ignored) until the budget runs out."""
    choice = np.full(problem.n, -1)
    remaining, cheapest = problem.budget, float(problem.cost.min())
    used = np.zeros(len(problem.cost))
    by_gain = np.argsort(-gain, axis=1, kind="stable")
    cost = problem.cost.tolist()
    for i in np.argsort(-priority, kind="stable").tolist():
        for j in by_gain[i].tolist():
            if gain[i, j] <= EPS:
                break
            if cost[j] <= remaining and used[j] < problem.capacity[j]:
                choice[i], remaining = j, remaining - cost[j]
                used[j] += 1
                break
        if remaining < cheapest:
            break
    return choice
