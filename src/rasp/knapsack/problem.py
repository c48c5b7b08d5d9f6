"""Validated knapsack problem data and the reduction every solver starts from.

A problem has N items and M resources:

- ``values``: (N,) float, importance of keeping each item (any non-negative unit; the
  objective is the sum of the values of the kept items, in the same unit).
- ``costs``: (M, N) float, resource use of each item (e.g. DSP blocks, BRAM_18K blocks),
  non-negative.
- ``capacities``: (M,) float, budget per resource in the unit of the matching cost row.
- ``requires``: (K, 2) int pairs ``(child, parent)``: keeping ``child`` requires keeping
  ``parent`` (a DSP pattern requires the BRAM column that stores it).
- ``forced``: (N,) bool, items that must be kept (together with everything they require).
- ``exclusive``: disjoint groups of item indices; at most one item of a group is kept.

:func:`reduce_problem` fixes what is decided before any search: forced items and their
required ancestors are kept; items that conflict with a forced item, items whose own cost
exceeds the capacity left after the forced set, and every item requiring such an item are
dropped. Solvers then work on the remaining free items with the residual capacities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Absolute slack (times max(1, capacity)) allowed when checking that kept costs fit a
#: capacity; it only absorbs floating-point rounding of sums of costs.
FEASIBILITY_RTOL = 1e-9


def capacity_slack(capacities: np.ndarray) -> np.ndarray:
    """Rounding slack per resource (same unit as the capacities)."""
    return FEASIBILITY_RTOL * np.maximum(1.0, np.abs(capacities))


def _as_float_array(name: str, x: Any, ndim_options: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to float ({exc})") from exc
    if arr.ndim not in ndim_options:
        raise ValueError(
            f"{name} must have {' or '.join(str(d) for d in ndim_options)} dimension(s), "
            f"got shape {arr.shape}"
        )
    if np.isnan(arr).any():
        bad = np.argwhere(np.isnan(arr))[:5].tolist()
        raise ValueError(
            f"{name} contains NaN at index {bad} (first 5 shown); replace NaN by a number "
            "(for importance scores, 0 means 'worthless')"
        )
    if np.isinf(arr).any():
        bad = np.argwhere(np.isinf(arr))[:5].tolist()
        raise ValueError(
            f"{name} contains +/-inf at index {bad} (first 5 shown); use finite numbers "
            "(for an unconstrained resource, drop its row from costs and capacities)"
        )
    return arr


def _int_index_array(name: str, x: Any, n_items: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == bool:
        raise ValueError(f"{name} must hold integer item indices, got a bool array")
    if not np.issubdtype(arr.dtype, np.integer):
        as_float = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(as_float)) or not np.all(as_float == np.round(as_float)):
            raise ValueError(f"{name} must hold integer item indices, got {arr.dtype} values")
        arr = as_float.astype(np.int64)
    arr = arr.astype(np.int64).ravel()
    if arr.min() < 0 or arr.max() >= n_items:
        raise ValueError(
            f"{name} holds item indices outside [0, {n_items - 1}] "
            f"(min {arr.min()}, max {arr.max()})"
        )
    return arr


def _parse_requires(requires: Any, n_items: int) -> np.ndarray:
    """Return a (K, 2) int64 array of (child, parent) pairs."""
    if requires is None:
        return np.zeros((0, 2), dtype=np.int64)
    if isinstance(requires, np.ndarray) and requires.ndim == 2 and requires.shape[1] == 2:
        children, parents = requires[:, 0], requires[:, 1]
    elif isinstance(requires, (tuple, list)) and len(requires) == 2:
        children, parents = requires
    else:
        raise ValueError(
            "requires must be a pair (children, parents) of equal-length index arrays or a "
            f"(K, 2) array of (child, parent) rows; got {type(requires).__name__}"
        )
    children = _int_index_array("requires children", children, n_items)
    parents = _int_index_array("requires parents", parents, n_items)
    if children.shape != parents.shape:
        raise ValueError(
            f"requires: {children.size} children but {parents.size} parents; each child "
            "index needs exactly one parent index at the same position"
        )
    pairs = np.stack([children, parents], axis=1) if children.size else np.zeros((0, 2), np.int64)
    self_loops = pairs[:, 0] == pairs[:, 1]
    if self_loops.any():
        raise ValueError(
            f"requires has item(s) {pairs[self_loops, 0][:5].tolist()} requiring themselves; "
            "remove those pairs"
        )
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _check_acyclic(pairs: np.ndarray, n_items: int) -> None:
    """Raise ValueError if the child -> parent graph has a cycle (Kahn's algorithm)."""
    # Peel off items that are nobody's parent among the remaining pairs, repeatedly.
    remaining = pairs
    while len(remaining):
        is_parent = np.zeros(n_items, dtype=bool)
        is_parent[remaining[:, 1]] = True
        keep = is_parent[remaining[:, 0]]  # pairs whose child is itself still a parent
        if keep.all():
            items = np.unique(remaining[:, 0])[:10].tolist()
            raise ValueError(
                f"requires contains a cycle (involving items among {items}); items in a cycle "
                "would all be kept or all dropped, so merge them into one item instead"
            )
        remaining = remaining[keep]


def _parse_exclusive(exclusive: Any, n_items: int) -> tuple[np.ndarray, ...]:
    if exclusive is None:
        return ()
    groups = []
    seen = np.full(n_items, -1, dtype=np.int64)
    for g, members in enumerate(exclusive):
        idx = _int_index_array(f"exclusive[{g}]", members, n_items)
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"exclusive[{g}] lists an item twice; list each item once")
        clash = idx[seen[idx] >= 0]
        if clash.size:
            raise ValueError(
                f"item {int(clash[0])} is in exclusive groups {int(seen[clash[0]])} and {g}; "
                "groups must be disjoint (merge overlapping groups if all of their items "
                "are mutually exclusive)"
            )
        seen[idx] = g
        if len(idx) >= 2:  # a group of one constrains nothing
            groups.append(np.sort(idx))
    return tuple(groups)


@dataclass(frozen=True)
class KnapsackProblem:
    """A validated 0-1 multi-resource knapsack problem (see the module docstring).

    Build it with :meth:`create`, which checks every input and explains how to fix it.
    """

    values: np.ndarray
    costs: np.ndarray
    capacities: np.ndarray
    requires: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    forced: np.ndarray | None = None
    exclusive: tuple[np.ndarray, ...] = ()
    resource_names: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_resources(self) -> int:
        return int(self.costs.shape[0])

    @classmethod
    def create(
        cls,
        values: Any,
        costs: Any,
        capacities: Any,
        *,
        requires: Any = None,
        forced: Any = None,
        exclusive: Any = None,
        resource_names: Any = None,
    ) -> KnapsackProblem:
        """Validate inputs and return a problem; raises ValueError naming problem and fix.

        ``costs`` may be (N,) for a single resource; ``capacities`` may be a scalar then.
        """
        v = _as_float_array("values", values, (1,))
        n = v.shape[0]
        c = _as_float_array("costs", costs, (1, 2))
        if c.ndim == 1:
            c = c[None, :]
        if c.shape[1] != n:
            hint = ""
            if c.shape[0] == n:
                hint = " (it looks transposed: pass costs.T, shape (M resources, N items))"
            raise ValueError(
                f"costs has shape {c.shape} but there are {n} values; costs must be "
                f"(M resources, N items) = (M, {n}){hint}"
            )
        m = c.shape[0]
        if m == 0:
            raise ValueError("costs has no resource rows; give at least one resource budget")
        cap = _as_float_array("capacities", capacities, (0, 1)).reshape(-1)
        if cap.shape[0] != m:
            raise ValueError(
                f"capacities has {cap.shape[0]} entries but costs has {m} resource rows; "
                "give one capacity per row of costs"
            )
        if (v < 0).any():
            bad = np.flatnonzero(v < 0)[:5].tolist()
            raise ValueError(
                f"values must be >= 0, items {bad} are negative (first 5); an item with "
                "negative value is never worth keeping: set its value to 0 or leave it out"
            )
        if (c < 0).any():
            r, i = np.argwhere(c < 0)[0]
            raise ValueError(
                f"costs must be >= 0, item {i} has cost {c[r, i]} in resource {r}; a "
                "resource an item frees should be added to that resource's capacity instead"
            )
        if (cap < 0).any():
            r = int(np.flatnonzero(cap < 0)[0])
            raise ValueError(f"capacity of resource {r} is {cap[r]} < 0; budgets must be >= 0")
        names = (tuple(f"resource{r}" for r in range(m)) if resource_names is None
                 else tuple(str(s) for s in resource_names))
        if len(names) != m:
            raise ValueError(
                f"resource_names has {len(names)} names for {m} resources; give one each"
            )
        pairs = _parse_requires(requires, n)
        _check_acyclic(pairs, n)
        forced_mask = None
        if forced is not None:
            f = np.asarray(forced)
            if f.dtype != bool:
                raise ValueError(
                    f"forced must be a bool mask of shape ({n},), got dtype {f.dtype}; build "
                    "one with mask = np.zeros(N, bool); mask[indices] = True"
                )
            if f.shape != (n,):
                raise ValueError(f"forced has shape {f.shape}, expected ({n},)")
            forced_mask = f.copy() if f.any() else None
        groups = _parse_exclusive(exclusive, n)
        for a in (v, c, cap, pairs, forced_mask):
            if a is not None:
                a.setflags(write=False)
        return cls(v, c, cap, pairs, forced_mask, groups, names)

    def used(self, keep: np.ndarray) -> np.ndarray:
        """Resource use (M,) of the items selected by the bool mask ``keep``."""
        return self.costs[:, keep].sum(axis=1) if keep.any() else np.zeros(self.n_resources)

    def violations(self, keep: np.ndarray) -> list[str]:
        """Human-readable list of constraints the mask ``keep`` breaks (empty if feasible)."""
        out = []
        used = self.used(keep)
        over = used - self.capacities
        for r in np.flatnonzero(over > capacity_slack(self.capacities)):
            out.append(
                f"{self.resource_names[r]}: uses {used[r]:g} > capacity {self.capacities[r]:g}"
            )
        if len(self.requires):
            bad = keep[self.requires[:, 0]] & ~keep[self.requires[:, 1]]
            if bad.any():
                child, parent = self.requires[np.flatnonzero(bad)[0]]
                out.append(f"item {child} kept without its required item {parent}")
        if self.forced is not None and (self.forced & ~keep).any():
            out.append(f"forced item {int(np.flatnonzero(self.forced & ~keep)[0])} not kept")
        for g, members in enumerate(self.exclusive):
            if keep[members].sum() > 1:
                out.append(f"exclusive group {g} has {int(keep[members].sum())} kept items")
        return out

def ancestors_closure(mask: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Return ``mask`` plus every item required (transitively) by an item in ``mask``."""
    out = mask.copy()
    while True:
        add = pairs[out[pairs[:, 0]], 1]
        new = add[~out[add]]
        if new.size == 0:
            return out
        out[new] = True


def descendants_closure(mask: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Return ``mask`` plus every item that (transitively) requires an item in ``mask``."""
    return ancestors_closure(mask, pairs[:, ::-1])


def split_parents(pairs: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's first (smallest-index) parent, -1 for none, and the other (child,
    parent) pairs, sorted by child then parent."""
    parent = np.full(n_items, -1, dtype=np.int64)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = pairs[1:, 0] != pairs[:-1, 0]
    parent[pairs[first, 0]] = pairs[first, 1]
    return parent, pairs[~first]


def _free_part(
    free_mask: np.ndarray, pairs: np.ndarray, exclusive: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Indices of the free items, and the requirement pairs and exclusive groups (of size
    >= 2) among them in local indices."""
    free = np.flatnonzero(free_mask)
    local = np.full(free_mask.size, -1, dtype=np.int64)
    local[free] = np.arange(free.size)
    lpairs = local[pairs[free_mask[pairs[:, 0]] & free_mask[pairs[:, 1]]]]
    groups = tuple(lm for m in exclusive if (lm := local[m[free_mask[m]]]).size >= 2)
    return free, lpairs, groups


@dataclass
class ReducedProblem:
    """The free part of a problem after :func:`reduce_problem` (local indices 0..n-1).

    ``resources`` lists the original resource rows that can still bind; ``costs`` and
    ``capacities`` hold only those rows (capacities are what the fixed items leave).
    """

    problem: KnapsackProblem
    free: np.ndarray  # (n,) original indices of the free items
    values: np.ndarray  # (n,)
    costs: np.ndarray  # (M', n)
    capacities: np.ndarray  # (M',) residual
    resources: np.ndarray  # (M',) original resource row indices
    requires: np.ndarray  # (K', 2) local (child, parent)
    exclusive: tuple[np.ndarray, ...]  # local, disjoint, each of size >= 2
    fixed_keep: np.ndarray  # (N,) bool, kept before any search
    base_value: float  # value of the fixed kept items

    @property
    def n(self) -> int:
        return int(self.free.shape[0])

    @property
    def m(self) -> int:
        return int(self.resources.shape[0])

    @property
    def plain(self) -> bool:
        """True when only the capacity rows constrain the free items."""
        return len(self.requires) == 0 and len(self.exclusive) == 0

    def expand(self, local_keep: np.ndarray) -> np.ndarray:
        """Map a local (n,) keep mask to the full (N,) mask including fixed items."""
        keep = self.fixed_keep.copy()
        keep[self.free[local_keep]] = True
        return keep


def reduce_problem(problem: KnapsackProblem) -> ReducedProblem:
    """Fix forced items and drop items that cannot be kept; see the module docstring.

    Raises ValueError when the forced items (with what they require) break a capacity or
    an exclusive group, stating by how much per resource.
    """
    n = problem.n_items
    pairs = problem.requires
    forced = problem.forced if problem.forced is not None else np.zeros(n, dtype=bool)
    keep = ancestors_closure(forced, pairs)
    names = problem.resource_names
    used = problem.used(keep)
    excess = used - problem.capacities
    slack = capacity_slack(problem.capacities)
    if (excess > slack).any():
        detail = "; ".join(
            f"{names[r]}: forced use {used[r]:g} > capacity {problem.capacities[r]:g} "
            f"(over by {excess[r]:g})"
            for r in np.flatnonzero(excess > slack)
        )
        extra = int(keep.sum() - forced.sum())
        also = f" (including {extra} item(s) the forced items require)" if extra else ""
        raise ValueError(
            f"infeasible forced set: the {int(keep.sum())} forced item(s){also} exceed "
            f"the budget: {detail}. Raise those capacities or force fewer items."
        )
    drop = np.zeros(n, dtype=bool)
    for g, members in enumerate(problem.exclusive):
        k = keep[members]
        if k.sum() > 1:
            raise ValueError(
                f"infeasible forced set: exclusive group {g} contains {int(k.sum())} forced "
                f"(or required-by-forced) items {members[k].tolist()}; at most one may be kept"
            )
        if k.any():
            drop[members[~k]] = True
    residual = np.maximum(problem.capacities - used, 0.0)
    too_big = (problem.costs > (residual + slack)[:, None]).any(axis=0)
    drop |= too_big & ~keep
    drop = descendants_closure(drop, pairs)
    if (drop & keep).any():  # a forced item requires a dropped one: an exclusive clash
        item = int(np.flatnonzero(drop & keep)[0])
        raise ValueError(
            f"infeasible forced set: item {item} must be kept (forced or required) but it "
            "requires an item excluded by another forced item's exclusive group"
        )
    # Requirement pairs among free items; pairs whose parent is fixed-kept are satisfied.
    free, lpairs, groups = _free_part(~(keep | drop), pairs, problem.exclusive)
    costs = problem.costs[:, free]
    # A resource binds only if the free items together could exceed what is left.
    could_bind = costs.sum(axis=1) > residual + slack
    resources = np.flatnonzero(could_bind)
    return ReducedProblem(
        problem=problem,
        free=free,
        values=problem.values[free],
        costs=costs[resources],
        capacities=residual[resources],
        resources=resources,
        requires=lpairs,
        exclusive=groups,
        fixed_keep=keep,
        base_value=float(problem.values[keep].sum()),
    )


def restrict(red: ReducedProblem, fix_keep: np.ndarray, fix_drop: np.ndarray) -> ReducedProblem:
    """Fix more items of ``red`` (local masks): keep ``fix_keep``, drop ``fix_drop``.

    The masks must be consistent (no overlap, ``fix_keep`` closed under requirements,
    ``fix_drop`` closed under being required, a group with a kept item has no free item),
    as :func:`rasp.knapsack.bounds.fix_items` returns them, and ``fix_keep`` must fit the
    capacities.
    """
    free_local, lpairs, groups = _free_part(~(fix_keep | fix_drop), red.requires, red.exclusive)
    used = red.costs[:, fix_keep].sum(axis=1) if fix_keep.any() else np.zeros(red.m)
    fixed_keep = red.fixed_keep.copy()
    fixed_keep[red.free[fix_keep]] = True
    return ReducedProblem(
        problem=red.problem,
        free=red.free[free_local],
        values=red.values[free_local],
        costs=red.costs[:, free_local],
        capacities=np.maximum(red.capacities - used, 0.0),
        resources=red.resources,
        requires=lpairs,
        exclusive=groups,
        fixed_keep=fixed_keep,
        base_value=red.base_value + float(red.values[fix_keep].sum()),
    )
