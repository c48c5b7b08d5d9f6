"""Valid upper bounds on the knapsack optimum: Dantzig and Lagrangian (LP-strength).

Lagrangian bound. Relax the capacity rows with prices ``y >= 0`` (value per unit of each
resource). For any such ``y``

    L(y) = y . b + max_{x in X} sum_i (v_i - y . c_i) x_i  >=  optimum,

where ``b`` are the residual capacities and ``X`` is the set of 0/1 vectors that satisfy the
structural constraints (requirements, exclusive groups). The inner maximum is solved exactly
and fast: independent items take ``x_i = 1`` when their reduced value is positive, an
exclusive group takes its best item, and a requirement forest is solved bottom-up (a
subtree is kept when its total reduced value is positive). When the requirements are not a
forest (an item with several parents) only the first parent of each item is kept in the
inner problem, and exclusive groups are applied only to items outside requirement pairs:
dropping constraints from the inner problem can only raise ``L``, so the bound stays valid
(``KnapsackBound.relaxed`` records it). Without such relaxation ``min_y L(y)`` equals the LP
relaxation optimum, because the inner problem's polytope is integral.

``min_y L(y)`` is found with Kelley's cutting-plane method (a small LP over ``M`` prices per
iteration). This avoids solving the full LP relaxation, which HiGHS' simplex takes ~20 s
for 200,000 items; every evaluated ``L(y)`` is a valid bound, so stopping early only
weakens the bound, never invalidates it.

Dantzig bound (one resource, no structure): fill items by value/cost ratio and take the
first item that does not fit fractionally; this equals the LP optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from rasp.knapsack.problem import (
    ReducedProblem,
    ancestors_closure,
    capacity_slack,
    descendants_closure,
    split_parents,
)

#: Relative safety margin added to computed bounds to absorb floating-point summation error.
BOUND_MARGIN = 1e-12


@dataclass
class KnapsackBound:
    """A proven upper bound on the objective of the free items of a reduced problem.

    ``value`` excludes ``ReducedProblem.base_value``; ``prices`` are the resource prices
    ``y`` (value per unit of each active resource) at which it was attained.
    """

    value: float
    prices: np.ndarray
    source: str
    relaxed: bool = False


class InnerProblem:
    """Exact maximiser of ``sum_i w_i x_i`` over the structural constraints (see module)."""

    def __init__(self, red: ReducedProblem):
        n = red.n
        self.n = n
        # Keep the first parent of each child; extra parents are dropped (relaxation).
        parent, extra = split_parents(red.requires, n)
        self.relaxed = len(extra) > 0
        self.parent = parent
        in_tree = parent >= 0
        in_tree[parent[parent >= 0]] = True
        # Depth of each tree node (roots 0), by repeated relaxation (the graph is acyclic).
        depth = np.zeros(n, dtype=np.int64)
        child = np.flatnonzero(parent >= 0)
        while child.size:  # relax until every child sits one below its parent
            depth[child] = depth[parent[child]] + 1
            child = child[depth[child] <= depth[parent[child]]]
        self.levels = [
            np.flatnonzero((depth == d) & in_tree) for d in range(1, int(depth.max(initial=0)) + 1)
        ]
        self.roots = np.flatnonzero(in_tree & (parent < 0))
        # Exclusive groups restricted to items outside the forest.
        group_of = np.full(n, -1, dtype=np.int64)
        members = []
        for g in red.exclusive:
            g_free = g[~in_tree[g]]
            if g_free.size < g.size:
                self.relaxed = True
            if g_free.size >= 2:
                group_of[g_free] = len(members)
                members.append(g_free)
        if members:
            self.g_order = np.concatenate(members)
            sizes = np.array([len(m) for m in members])
            self.g_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            self.g_sizes = sizes
        else:
            self.g_order = np.zeros(0, dtype=np.int64)
        self.single = ~in_tree & (group_of < 0)

    def solve(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Return ``(max value, maximiser x as bool (n,))`` for reduced values ``w``."""
        x = np.zeros(self.n, dtype=bool)
        x[self.single] = w[self.single] > 0
        if self.g_order.size:
            gw = w[self.g_order]
            gmax = np.maximum.reduceat(gw, self.g_starts)
            is_max = gw == np.repeat(gmax, self.g_sizes)
            gid = np.repeat(np.arange(len(self.g_sizes)), self.g_sizes)
            pos = np.flatnonzero(is_max)
            _, first = np.unique(gid[pos], return_index=True)
            chosen = self.g_order[pos[first]]
            x[chosen[w[chosen] > 0]] = True
        if self.roots.size:
            best = w.astype(np.float64, copy=True)
            for nodes in reversed(self.levels):
                best += np.bincount(
                    self.parent[nodes], weights=np.maximum(best[nodes], 0.0), minlength=self.n
                )
            x[self.roots] = best[self.roots] > 0
            for nodes in self.levels:
                x[nodes] = x[self.parent[nodes]] & (best[nodes] > 0)
        return float(w[x].sum()), x


def dantzig_bound(red: ReducedProblem) -> KnapsackBound:
    """LP bound for one resource without requirements or exclusive groups (exact LP value)."""
    if red.m != 1 or not red.plain:
        raise ValueError("dantzig_bound needs one active resource and no structure")
    v, c, b = red.values, red.costs[0], float(red.capacities[0])
    pos = v > 0
    v, c = v[pos], c[pos]
    ratio = np.where(c > 0, v / np.where(c > 0, c, 1.0), np.inf)
    order = np.lexsort((-v, -ratio))
    cum = np.cumsum(c[order])
    k = int(np.searchsorted(cum, b + capacity_slack(red.capacities)[0], side="right"))
    value = float(v[order[:k]].sum())
    price = 0.0
    if k < order.size:
        crit = order[k]
        room = b - (cum[k - 1] if k else 0.0)
        value += max(room, 0.0) * ratio[crit]
        price = float(ratio[crit])
    return KnapsackBound(
        value=value * (1 + BOUND_MARGIN), prices=np.array([price]), source="Dantzig (LP) bound"
    )


def lagrangian_bound(
    red: ReducedProblem, *, max_iter: int = 150, rtol: float = 1e-9
) -> KnapsackBound:
    """Minimise the Lagrangian bound over resource prices by Kelley's cutting planes.

    Args:
        red: reduced problem.
        max_iter: most evaluations of ``L`` (each one O(N)).
        rtol: stop when the cutting-plane model proves the best ``L`` found is within
            ``rtol`` (relative) of ``min_y L(y)``.
    """
    inner = InnerProblem(red)
    v, C, b = red.values, red.costs, red.capacities
    m = red.m
    phi0, x0 = inner.solve(v)
    src = "Lagrangian bound (Kelley cutting planes)"
    if inner.relaxed:
        src += ", structure relaxed"
    if m == 0 or phi0 <= 0:
        # Nothing binds: the inner maximiser is optimal unless the structure was relaxed.
        src0 = "structure-relaxed bound (no capacity binds)" if inner.relaxed else "exact"
        return KnapsackBound(phi0 * (1 + BOUND_MARGIN), np.zeros(m), src0, inner.relaxed)
    upper = np.minimum(phi0 / np.maximum(b, 1e-300), 1e300)  # y . b <= L(0) at the minimiser
    ys, ls, gs = [np.zeros(m)], [phi0], [b - C[:, x0].sum(axis=1)]
    best = 0
    while len(ls) < max_iter:
        # Cutting-plane model: min t  s.t.  t >= L_k + g_k . (y - y_k),  0 <= y <= upper.
        G = np.array(gs)
        rhs = np.einsum("km,km->k", G, np.array(ys)) - np.array(ls)
        res = linprog(
            c=np.r_[np.zeros(m), 1.0],
            A_ub=np.c_[G, -np.ones(len(gs))],
            b_ub=rhs,
            bounds=[(0.0, float(u)) for u in upper] + [(None, None)],
            method="highs",
        )
        if res.status != 0:
            break
        if ls[best] - float(res.fun) <= rtol * max(1.0, abs(ls[best])):
            break
        y = np.clip(res.x[:m], 0.0, upper)
        phi, x = inner.solve(v - y @ C)
        ys.append(y)
        ls.append(float(y @ b) + phi)
        gs.append(b - C[:, x].sum(axis=1))
        if ls[-1] < ls[best]:
            best = len(ls) - 1
    return KnapsackBound(
        value=ls[best] * (1 + BOUND_MARGIN) + BOUND_MARGIN,
        prices=ys[best],
        source=src,
        relaxed=inner.relaxed,
    )


def best_bound(red: ReducedProblem) -> KnapsackBound:
    """Dantzig bound when it applies, else the Lagrangian bound."""
    if red.m == 1 and red.plain:
        return dantzig_bound(red)
    return lagrangian_bound(red)


@dataclass
class FixingData:
    """Per-item bound drops at fixed prices (see :func:`fixing_data`).

    ``upper``: ``L(y)`` (value units, free items only); ``drop``: ``D_i`` (value units),
    ``-inf`` where not computed; ``choice``: the inner-problem choice of every item.
    """

    upper: float
    drop: np.ndarray
    choice: np.ndarray


def fixing_data(red: ReducedProblem, prices: np.ndarray) -> FixingData:
    """Bound drops ``D_i`` for reduced-cost fixing at resource prices ``prices``.

    With prices ``y`` the Lagrangian bound ``L(y)`` also bounds every answer in which item
    ``i`` takes the opposite of its inner-problem choice, by ``L(y) - D_i`` where ``D_i`` is
    the exact drop of the inner optimum under that restriction. ``D_i`` is computed for
    independent items (``|v_i - y . c_i|``) and for one-level requirement trees (a parent
    with leaf children, e.g. a BRAM column and its DSP patterns); other items get ``-inf``.
    """
    n = red.n
    if n == 0 or red.m == 0:
        return FixingData(0.0, np.full(n, -np.inf), np.zeros(n, dtype=bool))
    inner = InnerProblem(red)
    w = red.values - prices @ red.costs
    phi, x = inner.solve(w)
    upper = (float(prices @ red.capacities) + phi) * (1 + BOUND_MARGIN) + BOUND_MARGIN
    drop = np.full(n, -np.inf)
    single = inner.single
    drop[single] = np.abs(w[single])
    if inner.roots.size and len(inner.levels) == 1 and not inner.relaxed:
        children = inner.levels[0]
        parent = inner.parent[children]
        sub = w.copy()
        sub += np.bincount(parent, weights=np.maximum(w[children], 0.0), minlength=n)
        drop[inner.roots] = np.abs(sub[inner.roots])
        s_p = sub[parent]
        wc = w[children]
        drop[children] = np.where(
            s_p > 0,
            np.where(wc > 0, np.minimum(s_p, wc), -wc),
            np.where(wc > 0, -s_p, -(s_p + wc)),
        )
    return FixingData(upper=upper, drop=drop, choice=x)


def fix_items(
    red: ReducedProblem, data: FixingData, threshold: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Fix every item with ``upper - D_i < threshold`` at its inner-problem choice.

    The fixings are closed under the requirements and exclusive groups. Returns
    ``(fix_keep, fix_drop, outside)`` where ``outside`` (value units, free items only)
    bounds every answer that disagrees with a fixing (``-inf`` when nothing is fixed).
    With ``threshold`` = the value of a known answer, every answer at least as good agrees
    with the fixings (reduced-cost fixing). Inconsistent fixings give empty masks.
    """
    n = red.n
    empty = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), -np.inf)
    fixable = data.upper - data.drop < threshold
    if not fixable.any():
        return empty
    outside = float(data.upper - data.drop[fixable].min())
    fix_keep = ancestors_closure(fixable & data.choice, red.requires)
    fix_drop = fixable & ~data.choice
    for members in red.exclusive:  # a kept member excludes the rest of its group
        kept = fix_keep[members]
        if kept.sum() > 1:
            return empty
        if kept.any():
            fix_drop[members[~kept]] = True
    fix_drop = descendants_closure(fix_drop, red.requires)
    if (fix_keep & fix_drop).any():
        return empty
    return fix_keep, fix_drop, outside


def reduced_cost_fixing(
    red: ReducedProblem, prices: np.ndarray, lower: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Items on which every answer worth at least ``lower`` agrees (local masks).

    ``lower`` is the value of a known feasible answer (free items only). Returns
    ``(fix_keep, fix_drop, n_fixed)``; see :func:`fixing_data` and :func:`fix_items`.
    """
    data = fixing_data(red, prices)
    fix_keep, fix_drop, _ = fix_items(red, data, lower - 1e-9 * max(1.0, abs(lower)))
    return fix_keep, fix_drop, int(fix_keep.sum() + fix_drop.sum())
