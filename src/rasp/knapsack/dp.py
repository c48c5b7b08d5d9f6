"""Exact dynamic programming for one integer resource (numpy-vectorised).

``best[c]`` is the largest value reachable with total cost at most ``c``. Each item (or
exclusive group, whose items are alternatives) updates the whole capacity axis at once:
``best[w:] = max(best[w:], best[:-w] + v)``. The decision of every stage is stored in an
(n_stages, capacity + 1) table of small integers (1 byte per cell for up to 254 items per
group) and read back from the full capacity to recover the kept set. Time is
O(n_items x capacity), memory O(n_stages x capacity) bytes.

Before the table is built, costs and capacity are divided by the greatest common divisor of
the costs, and the capacity is clipped to the total cost of the free items, so
large-but-coarse capacities cost nothing. Items that cost 0 and have positive value are
kept outright. Requirements (``requires``) are not supported: use ``milp``.

Ties are broken towards *not* keeping an item, so zero-value items are never kept.
"""

from __future__ import annotations

import math

import numpy as np

from rasp.knapsack.problem import KnapsackProblem, ReducedProblem

#: Default cap on the decision table (bytes). 2 GiB.
DEFAULT_DP_MEMORY_LIMIT = 2 * 1024**3


def check_dp_applicable(problem: KnapsackProblem) -> None:
    """Raise ValueError when ``problem`` cannot be solved by DP, saying what to do instead."""
    if problem.n_resources != 1:
        raise ValueError(
            f"method='dp' handles exactly one resource, this problem has "
            f"{problem.n_resources} ({', '.join(problem.resource_names)}); use method='milp' "
            "(exact) or method='greedy'"
        )
    if len(problem.requires):
        raise ValueError("method='dp' does not support requires (coupled items); use method='milp'")
    costs = problem.costs[0]
    frac = costs != np.round(costs)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise ValueError(
            f"method='dp' needs integer costs, item {i} costs {float(costs[i]):g}; scale the costs "
            "and capacity to a common integer unit (e.g. multiply by 10 and round) or use "
            "method='milp'"
        )
    cap = float(problem.capacities[0])
    if cap != math.floor(cap):
        raise ValueError(
            f"method='dp' needs an integer capacity, got {cap:g}; with integer costs "
            f"capacity {math.floor(cap)} (its floor) selects exactly the same sets, pass that"
        )


def dp_table_bytes(red: ReducedProblem) -> tuple[int, int, int]:
    """Return (bytes, n_stages, capacity cells) the DP table of ``red`` would need."""
    cap, _ = _scaled(red)
    stages = _stages(red)
    itemsize = 1 if max((len(s) for s in stages), default=1) < 255 else 2
    return len(stages) * (cap + 1) * itemsize, len(stages), cap + 1


def _scaled(red: ReducedProblem) -> tuple[int, np.ndarray]:
    """Integer capacity and costs after dividing by the gcd and clipping the capacity."""
    if red.m == 0:
        return 0, np.zeros(red.n, dtype=np.int64)
    costs = np.round(red.costs[0]).astype(np.int64)
    positive = costs[costs > 0]
    g = int(np.gcd.reduce(positive)) if positive.size else 1
    cap = int(math.floor(red.capacities[0] + 1e-9)) // g
    cap = min(cap, int(positive.sum()) // g)
    return cap, costs // g


def _stages(red: ReducedProblem) -> list[np.ndarray]:
    """Groups of alternative items: exclusive groups, then single items (positive value)."""
    in_group = np.zeros(red.n, dtype=bool)
    stages = []
    for g in red.exclusive:
        in_group[g] = True
        g_pos = g[red.values[g] > 0]
        if g_pos.size:
            stages.append(g_pos)
    singles = np.flatnonzero(~in_group & (red.values > 0))
    stages.extend(singles[:, None])
    return stages


def dp_solve(red: ReducedProblem, memory_limit: int = DEFAULT_DP_MEMORY_LIMIT) -> np.ndarray:
    """Exact optimum of a one-resource reduced problem; returns a local (n,) keep mask.

    Raises ValueError when the decision table would exceed ``memory_limit`` bytes.
    """
    keep = np.zeros(red.n, dtype=bool)
    cap, costs = _scaled(red)
    stages = _stages(red)
    # Zero-cost singles with positive value are always kept; zero-cost group members
    # compete inside their group like any other alternative.
    dp_stages = []
    for s in stages:
        if s.size == 1 and costs[s[0]] == 0:
            keep[s[0]] = True
        else:
            dp_stages.append(s)
    if not dp_stages:
        return keep
    itemsize = 1 if max(len(s) for s in dp_stages) < 255 else 2
    need = len(dp_stages) * (cap + 1) * itemsize
    if need > memory_limit:
        raise ValueError(
            f"method='dp' needs a {len(dp_stages)} stages x {cap + 1} capacity cells table = "
            f"{need / 2**20:.0f} MiB, above dp_memory_limit = {memory_limit / 2**20:.0f} MiB; "
            "raise dp_memory_limit, express costs in a coarser integer unit, or use "
            "method='milp' / 'greedy'"
        )
    dtype = np.uint8 if itemsize == 1 else np.uint16
    table = np.zeros((len(dp_stages), cap + 1), dtype=dtype)
    best = np.zeros(cap + 1, dtype=np.float64)
    values = red.values
    for k, stage in enumerate(dp_stages):
        if stage.size == 1:
            i = stage[0]
            w = int(costs[i])
            if w > cap:
                continue
            cand = best[: cap + 1 - w] + values[i]
            take = cand > best[w:]
            table[k, w:] = take
            np.maximum(best[w:], cand, out=best[w:])
            continue
        new = best.copy()
        row = table[k]
        for j, i in enumerate(stage.tolist(), start=1):
            w = int(costs[i])
            if w > cap:
                continue
            cand = best[: cap + 1 - w] + values[i]
            better = cand > new[w:]
            new[w:][better] = cand[better]
            row[w:][better] = j
        best = new
    c = cap
    for k in range(len(dp_stages) - 1, -1, -1):
        j = int(table[k, c])
        if j:
            i = dp_stages[k][j - 1]
            keep[i] = True
            c -= int(costs[i])
    return keep
