"""Greedy knapsack heuristic with a proven bound.

Items are visited in decreasing order of value per unit of *priced* cost and kept whenever
they (together with the items they require that are not yet kept) still fit; the scan
does not stop at the first item that does not fit. Several orders are tried and the best
answer is returned (``KnapsackResult.solver`` names the winner):

- ``ratio``: each resource priced at 1 / (its residual capacity), i.e. value divided by the
  sum of the item's fractions of each budget ("normalised cost");
- ``dual-ratio``: resources priced at the Lagrangian multipliers ``y`` from
  :func:`rasp.knapsack.bounds.lagrangian_bound` (an LP-relaxation rounding followed by a
  fill);
- ``dual-bundle`` (only with requirements): the Lagrangian inner problem at ``y`` picks, per
  requirement tree, the subtree worth keeping (e.g. a BRAM column with those of its DSP
  patterns whose value exceeds their DSP price). Whole bundles are filled in order of
  value per priced cost, then single items fill what is left (``dual-ratio`` order).

For instances of up to ``PERTURB_MAX_ITEMS`` items the dual variants are repeated with one
price scaled by 1 +/- 0.1 and 1 +/- 0.2: the optimal prices are degenerate near ties and a
nearby price often rounds better; without requirements or exclusive groups the best fill is
then improved by 1-swaps (``+swap``: replace a kept item by a more valuable unkept one when
that fits). Large instances have a tiny integrality gap anyway.

In the item orders, an item that requires others (a DSP pattern requiring its BRAM column)
is charged an equal share of the required item's cost and value. Item scans run twice, so
items whose required items were kept later in the first pass get a second chance at their
smaller marginal cost. Exclusive groups: once an item of a group is kept, the group's
other items are skipped. The result is always feasible; its quality is stated by the bound.
"""

from __future__ import annotations

import numpy as np

from rasp.knapsack.bounds import InnerProblem
from rasp.knapsack.problem import ReducedProblem, capacity_slack, split_parents

#: Up to this many free items, the dual-price variants are also run at perturbed prices.
PERTURB_MAX_ITEMS = 5_000


def _ratio_order(red: ReducedProblem, prices: np.ndarray) -> np.ndarray:
    """Local item indices with positive value, best (shared) priced ratio first."""
    n = red.n
    value = red.values.astype(np.float64, copy=True)
    cost = prices @ red.costs if red.m else np.zeros(n)
    pairs = red.requires
    if len(pairs):
        n_children = np.bincount(pairs[:, 1], minlength=n).astype(np.float64)
        share = 1.0 / n_children[pairs[:, 1]]
        value += np.bincount(pairs[:, 0], weights=red.values[pairs[:, 1]] * share, minlength=n)
        cost = cost + np.bincount(pairs[:, 0], weights=cost[pairs[:, 1]] * share, minlength=n)
    ratio = np.where(cost > 0, value / np.where(cost > 0, cost, 1.0), np.inf)
    candidates = np.flatnonzero(red.values > 0)
    key = np.lexsort((candidates, -red.values[candidates], -ratio[candidates]))
    return candidates[key]


def _plain_fill(red: ReducedProblem, order: np.ndarray, max_rounds: int = 64) -> np.ndarray:
    """Sequential fill of ``order`` for problems without structure, vectorised.

    Same answer as visiting ``order`` one item at a time: each round drops the items that
    no longer fit on their own (residuals only shrink), keeps the longest prefix that fits
    together and rejects the item after it, then continues behind that item. After
    ``max_rounds`` rounds the rest is scanned item by item.
    """
    keep = np.zeros(red.n, dtype=bool)
    costs = red.costs
    res = red.capacities + capacity_slack(red.capacities)
    rest = order
    for _ in range(max_rounds):
        if rest.size == 0:
            return keep
        fit = (costs[:, rest] <= res[:, None]).all(axis=0)
        rest = rest[fit]
        if rest.size == 0:
            return keep
        cum = np.cumsum(costs[:, rest], axis=1)
        ok = (cum <= res[:, None]).all(axis=0)
        k = rest.size if ok.all() else int(np.argmin(ok))
        keep[rest[:k]] = True
        res = res - costs[:, rest[:k]].sum(axis=1)
        rest = rest[k + 1 :]
    res_l = res.tolist()
    rows = [costs[r, rest].tolist() for r in range(red.m)]
    for pos, i in enumerate(rest.tolist()):
        if all(rows[r][pos] <= res_l[r] for r in range(red.m)):
            for r in range(red.m):
                res_l[r] -= rows[r][pos]
            keep[i] = True
    return keep


class _Static:
    """Per-problem data shared by the structured greedy fills (Python lists: fast scalars)."""

    def __init__(self, red: ReducedProblem):
        n = red.n
        self.n, self.m = n, red.m
        self.capacity = (red.capacities + capacity_slack(red.capacities)).tolist()
        self.cost_rows = [red.costs[r].tolist() for r in range(red.m)]
        parent1, extra = split_parents(red.requires, n)
        self.more_parents: dict[int, list[int]] = {}
        for child, parent in extra.tolist():
            self.more_parents.setdefault(child, []).append(parent)
        self.parent1 = parent1.tolist()
        group_of = np.full(n, -1, dtype=np.int64)
        for g, members in enumerate(red.exclusive):
            group_of[members] = g
        self.group_of = group_of.tolist()
        self.n_groups = len(red.exclusive)

    def parents(self, j: int) -> list[int]:
        p = self.parent1[j]
        if p < 0:
            return []
        return [p, *self.more_parents.get(j, ())]


class _Filler:
    """Keeps items while they fit; tracks residual capacity and used exclusive groups."""

    def __init__(self, static: _Static):
        self.s = static
        self.residual = list(static.capacity)
        self.group_used = [False] * static.n_groups
        self.kept = [False] * static.n
        # An item whose own cost exceeds the residual can never be kept later (residuals
        # only shrink), so neither can anything requiring it.
        self.dead = [False] * static.n

    def _exceeds(self, j: int) -> bool:
        rows, residual = self.s.cost_rows, self.residual
        return any(rows[r][j] > residual[r] for r in range(self.s.m))

    def try_add(self, unit: list[int]) -> bool:
        """Keep ``unit`` plus its unkept ancestors if all fit; return whether it did."""
        s, kept, residual, m = self.s, self.kept, self.residual, self.s.m
        need, stack, seen = [], [i for i in unit if not kept[i]], set(unit)
        while stack:
            j = stack.pop()
            need.append(j)
            for p in s.parents(j):
                if not kept[p] and p not in seen:
                    seen.add(p)
                    stack.append(p)
        if not need:
            return False
        groups = [s.group_of[j] for j in need if s.group_of[j] >= 0]
        if groups and (len(set(groups)) < len(groups) or any(self.group_used[g] for g in groups)):
            return False
        total = [sum(row[j] for j in need) for row in s.cost_rows]
        if any(total[r] > residual[r] for r in range(m)):
            for j in need:  # remember items that no longer fit even alone
                if self._exceeds(j):
                    self.dead[j] = True
            return False
        for r in range(m):
            residual[r] -= total[r]
        for j in need:
            kept[j] = True
        for g in groups:
            self.group_used[g] = True
        return True

    def scan(self, order: np.ndarray, passes: int) -> None:
        """Visit ``order`` (``passes`` times) keeping every item that still fits.

        Later passes only retry items whose required items are all kept by then (their
        marginal cost shrank); an item still needing an unkept item would fail again.
        """
        s = self.s
        kept, dead, residual, group_used = self.kept, self.dead, self.residual, self.group_used
        parent1, more, rows, group_of, m = s.parent1, s.more_parents, s.cost_rows, s.group_of, s.m
        order_l = order.tolist()
        for pass_no in range(passes):
            added = False
            for i in order_l:
                if kept[i] or dead[i]:
                    continue
                p = parent1[i]
                if p >= 0:
                    if i in more:
                        unkept = [q for q in s.parents(i) if not kept[q]]
                        if unkept:
                            if not (pass_no or any(dead[q] for q in unkept)):
                                added |= self.try_add([i])
                            continue
                    elif not kept[p]:
                        if pass_no or dead[p]:
                            continue
                        if parent1[p] < 0 and group_of[p] < 0 and group_of[i] < 0:
                            # Common case (a pattern and its column): try_add inlined.
                            if all(rows[r][i] + rows[r][p] <= residual[r] for r in range(m)):
                                for r in range(m):
                                    residual[r] -= rows[r][i] + rows[r][p]
                                kept[i] = kept[p] = True
                                added = True
                            else:
                                dead[p] = self._exceeds(p)
                                dead[i] = self._exceeds(i)
                        else:
                            added |= self.try_add([i])
                        continue
                g = group_of[i]
                if g >= 0 and group_used[g]:
                    continue
                if any(rows[r][i] > residual[r] for r in range(m)):
                    dead[i] = True
                    continue
                for r in range(m):
                    residual[r] -= rows[r][i]
                kept[i] = True
                added = True
                if g >= 0:
                    group_used[g] = True
            if not added:
                break

    def mask(self) -> np.ndarray:
        return np.array(self.kept, dtype=bool)


def _bundles(red: ReducedProblem, prices: np.ndarray) -> list[list[int]]:
    """Per requirement tree, the subtree the Lagrangian inner problem keeps at ``prices``."""
    inner = InnerProblem(red)
    priced = prices @ red.costs
    _, x = inner.solve(red.values - priced)
    root = np.arange(red.n)
    while True:
        up = inner.parent[root]
        move = up >= 0
        if not move.any():
            break
        root = np.where(move, up, root)
    chosen = np.flatnonzero(x)
    if chosen.size == 0:
        return []
    chosen = chosen[np.argsort(root[chosen], kind="stable")]
    _, starts = np.unique(root[chosen], return_index=True)
    ends = np.r_[starts[1:], chosen.size]
    value = np.add.reduceat(red.values[chosen], starts)
    cost = np.add.reduceat(priced[chosen], starts)
    ratio = np.where(cost > 0, value / np.where(cost > 0, cost, 1.0), np.inf)
    rank = np.lexsort((-value, -ratio))
    chosen_l = chosen.tolist()
    return [chosen_l[starts[k] : ends[k]] for k in rank.tolist()]


def _swap_improve(red: ReducedProblem, keep: np.ndarray, max_rounds: int = 3) -> np.ndarray:
    """1-swap local search for problems without structure (up to PERTURB_MAX_ITEMS items).

    For each unkept item, most valuable first: keep it if it fits; otherwise swap out the
    least valuable kept item whose removal makes it fit, when that raises the objective.
    """
    keep = keep.copy()
    v, C = red.values, red.costs
    res = red.capacities + capacity_slack(red.capacities) - C[:, keep].sum(axis=1)
    for _ in range(max_rounds):
        changed = False
        for j in np.flatnonzero(~keep & (v > 0))[np.argsort(-v[~keep & (v > 0)], kind="stable")]:
            if keep[j]:
                continue
            short = C[:, j] - res
            if (short <= 0).all():
                keep[j] = True
                res -= C[:, j]
                changed = True
                continue
            cand = keep & (v < v[j]) & (C >= short[:, None]).all(axis=0)
            if cand.any():
                i = np.flatnonzero(cand)[np.argmin(v[cand])]
                keep[i], keep[j] = False, True
                res += C[:, i] - C[:, j]
                changed = True
        if not changed:
            break
    return keep


def _price_variants(y: np.ndarray, n: int) -> list[np.ndarray]:
    """``y`` and, up to :data:`PERTURB_MAX_ITEMS` items, its perturbations (module docstring)."""
    out = [y]
    if n <= PERTURB_MAX_ITEMS:
        for delta in (0.1, 0.2):
            for r in np.flatnonzero(y > 0):
                for sign in (1.0, -1.0):
                    z = y.copy()
                    z[r] *= 1.0 + sign * delta
                    out.append(z)
    return out


def greedy_solve(red: ReducedProblem, dual_prices: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Best of the greedy variants (see module docstring); returns (local keep, name)."""
    norm_prices = 1.0 / np.maximum(red.capacities, 1e-300) if red.m else np.zeros(0)
    prices = [("ratio", norm_prices)]
    if red.m and dual_prices is not None and np.any(dual_prices > 0):
        y = np.asarray(dual_prices, dtype=np.float64)
        prices += [("dual-ratio", z) for z in _price_variants(y, red.n)]
    results: list[tuple[str, np.ndarray]] = []
    if red.plain:
        for name, z in prices:
            results.append((name, _plain_fill(red, _ratio_order(red, z))))
        if red.n <= PERTURB_MAX_ITEMS and red.m:
            best = max(results, key=lambda r: float(red.values[r[1]].sum()))
            results.append((f"{best[0]}+swap", _swap_improve(red, best[1])))
    else:
        static = _Static(red)
        passes = 2 if len(red.requires) else 1
        for name, z in prices:
            order = _ratio_order(red, z)
            filler = _Filler(static)
            filler.scan(order, passes)
            results.append((name, filler.mask()))
            if name == "dual-ratio" and len(red.requires):
                filler = _Filler(static)
                for unit in _bundles(red, z):
                    filler.try_add(unit)
                filler.scan(order, passes)
                results.append(("dual-bundle", filler.mask()))
    values = [float(red.values[k].sum()) for _, k in results]
    best = int(np.argmax(values))  # first of equals: the simplest variant wins ties
    return results[best][1], f"greedy({results[best][0]})"
