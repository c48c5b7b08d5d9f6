"""Which structures to keep: one knapsack over every prunable layer, per objective.

Items are hardware structures from :mod:`rasp.hardware.structures`, all layers in one
problem, with one budget per resource:

- ``dsp``: DSP patterns (RF consecutive weights sharing one multiplier) in
  Resource/Resource_Unrolled layers; in Latency layers the shared constant products
  (weights of one input with the same quantised ``|w|``), which cost a DSP only when
  ``|w|`` has >= 3 CSD digits (rule D4): cost = the DSPs a structure really frees. These
  items depend on the weights and are rebuilt at every step (``ItemSet.weight_dependent``).
- ``bram``: BRAM columns (the patterns sharing one BRAM bit slice); cost = BRAM_18K.
  Layers whose weights are not in BRAM have no items (nothing to gain there).
- ``dsp+bram``: pattern items (value, DSP cost) and column items (no value, BRAM cost)
  with "pattern requires its column(s)": a column is paid for as soon as any of its
  patterns is kept, so DSPs and BRAMs are traded exactly (not by coarsening the
  structure to whole columns, as the reference does).
- ``lut_da``: single weights of a chain of RF-1 Linear layers, each costing its CSD digits
  at the weight type (:func:`rasp.hardware.da_cost.digit_structures`); the pruner scales
  them to the da4ml cost of the current design (:func:`calibrate_costs`) and checks every
  answer against a re-trace (not additive: da4ml shares adders between outputs).
- ``neurons``: neurons of Linear layers / filters of Conv2d layers (not the output
  layer). Removing one zeroes its row and the matching input column(s) of the next
  weight layer; the cost is the neuron's own resources (the next layer's savings are not
  additive: :func:`select_knapsack` re-solves against the estimate). At least one neuron
  per layer is forced kept.
- ``unstructured``: not a knapsack: global ranking of single weights, the number kept
  found by bisection on the estimated resource (:func:`select_unstructured`).

Forced items: the output layer (``keep_output_layer``), or at least the most important
structure of each output neuron when the output layer may be pruned; and the most
important structure of every layer (so no layer is cut off; for ``neurons`` at least one
neuron per layer). Structures with no kept weight left (pruned at an earlier step) are
fixed as removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rasp.hardware.da_cost import LUT_DA, check_da_layers, digit_structures
from rasp.hardware.fixed import quantize_to_int, round_to_csd2
from rasp.hardware.layers import LayerHardware
from rasp.hardware.structures import Structures, default_kind, layer_structures
from rasp.knapsack.solve import solve_knapsack
from rasp.prune.masks import Masks, Membership, masks_from_removed

#: Resource name in the budget -> column of the hardware structures' cost vectors.
RESOURCE_COLUMNS = {"dsp": "dsp", "bram_18k": "bram_18k", LUT_DA: LUT_DA}


@dataclass
class ItemSet:
    """The knapsack items of one objective (see module docstring).

    ``members``: weights removed when an item is not kept; ``value_members``: weights whose
    scores sum to an item's value (empty for BRAM column items); both
    :data:`~rasp.prune.masks.Membership`. ``costs``: (M, N) per budgeted resource;
    ``requires``: (K, 2) rows (child, parent); ``layer`` / ``kind``: per item;
    ``output``: item belongs to the output layer; ``lasso``: item is a group-lasso group
    (weights in at most one such item); ``valued``: item carries importance (False for the
    BRAM column items of ``dsp+bram``).
    """

    n: int
    members: Membership
    value_members: Membership
    costs: np.ndarray
    resources: tuple[str, ...]
    requires: np.ndarray
    layer: np.ndarray
    kind: np.ndarray
    output: np.ndarray
    lasso: np.ndarray
    valued: np.ndarray
    output_param: str | None = None
    output_row_size: int = 1
    notes: list[str] = field(default_factory=list)
    weight_dependent: bool = False
    round_pair: np.ndarray | None = None
    round_values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def round_items(self) -> np.ndarray:
        """Ids of the ``csd`` rounding items (empty for other objectives)."""
        if self.round_pair is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.round_pair >= 0)

    def exclusive_pairs(self, alive: np.ndarray) -> list[np.ndarray]:
        """(keep item, round item) pairs, at most one of which is chosen (alive ones only)."""
        out = []
        for r in self.round_items:
            k = int(self.round_pair[r])
            if alive[r] and alive[k]:
                out.append(np.array([k, r], dtype=np.int64))
        return out

    def rounding_factors(self, model_weights: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """Per weight, ``max(0, 1 - |w - w_round| / |w|)``: the share of a weight's value a
        first-order (Taylor or magnitude) score keeps when it is rounded onto the CSD grid."""
        out = {}
        for name, target in self.round_values.items():
            w = model_weights[name].detach().to("cpu", torch.float64).reshape(-1).numpy()
            err = np.abs(w - np.where(np.isnan(target), w, target))
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = np.where(np.abs(w) > 0, np.clip(1 - err / np.abs(w), 0, 1), 0.0)
        return out

    def alive(self, masks: Mapping[str, torch.Tensor]) -> np.ndarray:
        """True for items with at least one weight still kept in ``masks``."""
        out = np.zeros(self.n, dtype=bool)
        for name, (flat, ids) in self.members.items():
            kept = masks[name].reshape(-1).cpu().numpy()[flat]
            out |= np.bincount(ids[kept], minlength=self.n) > 0
        return out


#: Per-item fields of an :class:`ItemSet` and their dtypes.
_ITEM_FIELDS = {"layer": object, "kind": object, "output": bool, "lasso": bool, "valued": bool}


class _Builder:
    def __init__(self, resources: Sequence[str]):
        self.resources = tuple(resources)
        self.n = 0
        self.members: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self.value_members: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self.costs: list[np.ndarray] = []
        self.requires: list[np.ndarray] = []
        self.fields: dict[str, list[np.ndarray]] = {k: [] for k in _ITEM_FIELDS}
        self.round_pair: dict[int, int] = {}  # csd rounding item -> the keep item it replaces

    @staticmethod
    def _add(target, param: str, flat: np.ndarray, ids: np.ndarray) -> None:
        lists = target.setdefault(param, ([], []))
        lists[0].append(np.asarray(flat, dtype=np.int64))
        lists[1].append(np.asarray(ids, dtype=np.int64))

    def add_structures(self, s, *, output: bool, valued: bool = True, lasso: bool = True) -> int:
        """Add every structure of ``s`` (a hardware Structures); returns the first item id."""
        first = self.n
        count = len(s)
        ids = first + np.repeat(np.arange(count), s.sizes)
        self._add(self.members, s.layer.param_name, s.flat_index, ids)
        if valued:
            self._add(self.value_members, s.layer.param_name, s.flat_index, ids)
        cols = [list(s.resources).index(RESOURCE_COLUMNS[r]) for r in self.resources]
        self.costs.append(np.asarray(s.costs, dtype=float)[:, cols].T.reshape(len(cols), count))
        values = {"layer": s.layer.name, "kind": s.kind, "output": output, "lasso": lasso,
                  "valued": valued}
        for k, v in values.items():
            self.fields[k].append(np.full(count, v, dtype=_ITEM_FIELDS[k]))
        self.n += count
        return first

    def add_extra_members(self, param: str, flat: np.ndarray, ids: np.ndarray) -> None:
        """Weights of another parameter removed (and valued) with existing items."""
        self._add(self.members, param, flat, ids)
        self._add(self.value_members, param, flat, ids)

    def mark_rounding(self, first_round: int, keep_ids: np.ndarray) -> None:
        """Items ``first_round ...`` round the weights of ``keep_ids`` (same order)."""
        for j, k in enumerate(keep_ids):
            self.round_pair[first_round + j] = int(k)

    def finish(self, **extra) -> ItemSet:
        def cat(target):
            return {p: (np.concatenate(a), np.concatenate(b)) for p, (a, b) in target.items()}

        m = len(self.resources)
        if self.round_pair:
            arr = np.full(self.n, -1, dtype=np.int64)
            arr[list(self.round_pair)] = list(self.round_pair.values())
            extra["round_pair"] = arr
        return ItemSet(
            n=self.n,
            members=cat(self.members),
            value_members=cat(self.value_members),
            costs=np.concatenate(self.costs, axis=1) if self.costs else np.zeros((m, 0)),
            resources=self.resources,
            requires=np.concatenate(self.requires) if self.requires else np.zeros((0, 2), int),
            **{k: np.concatenate(v) if v else np.zeros(0, _ITEM_FIELDS[k])
               for k, v in self.fields.items()},
            **extra,
        )


def calibrate_costs(items: ItemSet, resource: str, total: float) -> ItemSet:
    """Scale the ``resource`` costs of ``items`` so that they sum to ``total`` (the measured
    cost of the current design; dead items cost 0). Used for ``lut_da``, whose per-weight
    costs are in CSD digits and whose measure is da4ml's trace."""
    j = list(items.resources).index(resource)
    current = float(items.costs[j].sum())
    if current > 0:
        items.costs = items.costs.copy()
        items.costs[j] *= float(total) / current
    return items


def _next_layer_columns(layer: LayerHardware, nxt: LayerHardware) -> list[np.ndarray]:
    """For each output of ``layer``: flat indices into ``nxt``'s weight of the inputs it feeds.

    Linear -> Linear: column ``o``. Conv2d -> Conv2d: input channel ``o`` (all taps).
    Conv2d -> Linear through a flatten of (C, H, W): the H*W features of channel ``o``.
    """
    shape = nxt.weight_shape
    n_out = layer.n_out
    idx = np.arange(int(np.prod(shape))).reshape(shape[0], shape[1], -1)
    if nxt.kind == "conv2d":
        if shape[1] != n_out:
            raise ValueError(f"{nxt.name} has {shape[1]} input channels, {layer.name} {n_out} outputs")
        return [idx[:, o, :].ravel() for o in range(n_out)]
    n_in = shape[1]
    if n_in % n_out:
        raise ValueError(
            f"cannot map the {n_out} outputs of {layer.name} onto the {n_in} inputs of "
            f"{nxt.name}: neuron pruning needs a plain chain of layers"
        )
    per = n_in // n_out  # features per channel after a (C, H, W) flatten
    w = idx.reshape(shape[0], n_in)
    return [w[:, o * per:(o + 1) * per].ravel() for o in range(n_out)]


def build_items(
    layers: Sequence[LayerHardware], objective: str, resources: Sequence[str],
    weights: Mapping[str, torch.Tensor | np.ndarray] | None = None,
) -> ItemSet:
    """Knapsack items of ``objective`` over ``layers`` (forward order; last = output).

    ``weights``: parameter name -> the weights hls4ml will see
    (:func:`rasp.hardware.estimate.effective_weights`); required when a Latency layer is
    pruned by ``dsp``, ``dsp+bram`` or ``neurons`` (its costs depend on the values).
    """
    if not layers:
        raise ValueError("the model has no Linear/Conv2d layer to prune")
    b = _Builder(resources)
    last = len(layers) - 1
    notes: list[str] = []
    dependent = False
    round_values: dict[str, np.ndarray] = {}

    def weight_of(layer: LayerHardware):
        nonlocal dependent
        if layer.strategy != "Latency":
            return None
        if weights is None or layer.param_name not in weights:
            raise ValueError(
                f"{layer.name} is a Latency layer: its DSP cost depends on the weight values "
                "(constant folding); pass weights= to build_items"
            )
        dependent = True
        return weights[layer.param_name]

    for i, layer in enumerate(layers):
        out = i == last
        if objective == "dsp":
            b.add_structures(layer_structures(layer, default_kind(layer), weight_of(layer)),
                             output=out)
        elif objective == "csd":
            if layer.strategy != "Latency":
                raise ValueError(
                    f"objective 'csd' rounds constants that HLS folds into shifts/adds, which "
                    f"only Latency layers have (RF 1); {layer.name} is {layer.strategy} at RF "
                    f"{layer.reuse_factor}: use objective 'dsp' there"
                )
            w = weight_of(layer)
            prods = layer_structures(layer, "products", w)
            first = b.add_structures(prods, output=out)
            wide = np.flatnonzero(prods.costs[:, 0] > 0)
            if wide.size:
                sub = _subset(prods, wide, "csd_round")
                first_round = b.add_structures(sub, output=out, lasso=False)
                b.mark_rounding(first_round, first + wide)
                round_values[layer.param_name] = _rounded_weights(layer, w, sub)
        elif objective == "bram":
            cols = layer_structures(layer, "bram_columns")
            if len(cols) == 0:
                notes.append(f"{layer.name}: weights not in BRAM ({layer.strategy}), not pruned")
                continue
            b.add_structures(cols, output=out)
        elif objective == "dsp+bram":
            kind = default_kind(layer)
            pats = layer_structures(layer, kind, weight_of(layer))
            first = b.add_structures(pats, output=out)
            if kind != "patterns":
                continue
            cols = layer_structures(layer, "bram_columns")
            if len(cols) == 0:
                continue
            col_first = b.add_structures(cols, output=out, valued=False, lasso=False)
            pc = np.asarray(pats.pattern_columns)
            child, slot = np.nonzero(pc >= 0)
            b.requires.append(np.stack([first + child, col_first + pc[child, slot]], axis=1))
        elif objective == LUT_DA:
            if i == 0:
                check_da_layers(layers)
            if weights is None or layer.param_name not in weights:
                raise ValueError(f"objective 'lut_da' prices weights by their value; pass "
                                 f"weights= to build_items ({layer.name})")
            dependent = True
            b.add_structures(digit_structures(layer, weights[layer.param_name]), output=out)
        elif objective == "neurons":
            if out:
                continue
            first = b.add_structures(layer_structures(layer, "neurons", weight_of(layer)),
                                     output=False)
            cols = _next_layer_columns(layer, layers[i + 1])
            flat = np.concatenate(cols)
            ids = first + np.repeat(np.arange(len(cols)), [c.size for c in cols])
            b.add_extra_members(layers[i + 1].param_name, flat, ids)
        else:
            raise ValueError(
                f"objective {objective!r} has no knapsack items; expected dsp, csd, bram, "
                "dsp+bram, lut_da or neurons (unstructured uses select_unstructured)"
            )
    out_layer = layers[last]
    return b.finish(
        output_param=out_layer.param_name,
        output_row_size=int(out_layer.n_weights // out_layer.n_out),
        notes=notes,
        weight_dependent=dependent,
        round_values=round_values,
    )


def _subset(s: Structures, ids: np.ndarray, kind: str) -> Structures:
    """The structures ``ids`` of ``s`` as a new set of kind ``kind`` with zero costs."""
    groups = [s.index_set(int(i)) for i in ids]
    sizes = np.array([g.size for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64)
    costs = np.zeros((len(groups), s.costs.shape[1]))
    return Structures(s.layer, kind, flat, offsets, costs, np.zeros(s.costs.shape[1]))


def _rounded_weights(layer: LayerHardware, weights: torch.Tensor | np.ndarray,
                     sub: Structures) -> np.ndarray:
    """Flat (PyTorch order) float weights rounded to the nearest value with at most two
    CSD digits in the layer's weight type, for the weights of ``sub``; NaN elsewhere."""
    w = weights.detach().to("cpu", torch.float64).reshape(-1).numpy() \
        if isinstance(weights, torch.Tensor) else np.asarray(weights, np.float64).reshape(-1)
    wt = layer.weight_type
    idx = sub.flat_index
    q = quantize_to_int(w[idx], wt)
    limit = (1 << (wt.width - 1)) - 1 if wt.signed else (1 << wt.width) - 1
    out = np.full(w.size, np.nan)
    out[idx] = round_to_csd2(q, limit) * 2.0 ** -wt.fractional
    return out


def forced_items(
    items: ItemSet, values: np.ndarray, alive: np.ndarray, keep_output_layer: bool
) -> np.ndarray:
    """Items that must be kept: the output layer's (``keep_output_layer``) or the most
    valuable alive item of every output neuron, and the most valuable structure of every
    layer (for neurons: at least one neuron per layer). Only alive items are forced."""
    forced = np.zeros(items.n, dtype=bool)
    if keep_output_layer:
        forced |= items.output & alive
    elif items.output.any() and items.output_param in items.members:
        flat, ids = items.members[items.output_param]
        sel = items.output[ids] & alive[ids]
        rows = flat[sel] // items.output_row_size
        ids = ids[sel]
        for r in np.unique(rows):
            cand = np.unique(ids[rows == r])
            forced[cand[np.argmax(values[cand])]] = True
    # every layer keeps its most valuable structure (a layer with no weight left would cut
    # the network; for neurons this is "at least one neuron per layer")
    rounding = np.zeros(items.n, dtype=bool)
    rounding[items.round_items] = True
    forced &= ~rounding  # a forced csd group is kept exactly, never rounded
    for name in np.unique(items.layer):
        cand = np.flatnonzero((items.layer == name) & alive & items.valued & ~rounding)
        if cand.size:
            forced[cand[np.argmax(values[cand])]] = True
    return forced


@dataclass
class Selection:
    """Outcome of one selection step (units: resources in blocks, times in seconds).

    ``masks``: new masks (previous masks intersected with the kept structures);
    ``achieved``: estimated totals per budgeted resource after masking; ``budget``: the
    absolute budget per resource; ``meets_budget``: achieved <= budget for all of them;
    ``solves``: knapsack solves (1 + repairs); ``solve_seconds``: their total wall time;
    ``gap`` / ``status`` / ``method``: of the solve whose answer was used.
    """

    masks: Masks
    achieved: dict[str, float]
    budget: dict[str, float]
    meets_budget: bool
    solves: int
    solve_seconds: float
    gap: float
    status: str
    method: str
    n_items: int
    n_kept: int
    rounded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def within_budget(achieved: Mapping[str, float], budget: Mapping[str, float]) -> bool:
    """True when every budgeted resource of ``achieved`` is at most its ``budget``."""
    return all(achieved[r] <= budget[r] * (1 + 1e-9) + 1e-9 for r in budget)


def select_knapsack(
    items: ItemSet,
    values: np.ndarray,
    alive: np.ndarray,
    forced: np.ndarray,
    *,
    budget: Mapping[str, float],
    fixed: Mapping[str, float],
    estimate: Callable[[Masks], Mapping[str, float]],
    model: torch.nn.Module,
    params: Sequence[str],
    previous: Masks,
    method: str = "milp",
    time_limit: float = 20.0,
    gap: float = 1e-3,
    repair_iterations: int = 10,
    additive: bool = True,
    seed: int = 0,
    logger: logging.Logger | None = None,
    on_rounding: Callable[[np.ndarray], None] | None = None,
) -> Selection:
    """Solve the knapsack for ``budget`` and return masks that meet it by the estimate.

    ``csd`` items (``items.round_pair``): each rounding item and the keep item of the same
    weights are mutually exclusive (a multiple-choice knapsack: keep exactly, round, or
    neither = prune); ``on_rounding(ids)`` is called with the chosen rounding items before
    every estimate and for the answer returned, so the model's weights hold the rounded
    values the estimate must see.

    The capacity of resource r is ``budget[r] - fixed[r]`` where ``fixed`` is what the
    model uses outside the items (baseline total minus the baseline cost of all items).
    Items not ``alive`` are removed without being offered. When the estimated resources
    of the answer exceed the budget (costs that are not additive), the capacities are
    scaled down and the knapsack solved again, up to ``repair_iterations`` times (a
    proportional step, bisection once a feasible and an infeasible scale bracket the
    budget); for ``additive=False`` (neurons, whose removal also frees the next layer's
    inputs) the scale is also raised while the answer leaves more than 1% of a budget
    unused. The feasible answer of highest value is returned; without any, only forced
    items are kept.
    """
    log = logger or logging.getLogger(__name__)
    names = list(items.resources)
    idx = np.flatnonzero(alive)
    local = -np.ones(items.n, dtype=np.int64)
    local[idx] = np.arange(idx.size)
    req = items.requires
    if len(req):
        req = req[alive[req[:, 0]] & alive[req[:, 1]]]
        req = local[req]
    costs = items.costs[:, idx]
    vals = np.maximum(np.asarray(values, dtype=float)[idx], 0.0)
    frc = forced[idx]
    target = np.array([budget[r] - fixed[r] for r in names], dtype=float)
    # forced items and what they require must fit, whatever the budget
    forced_cost = _closure_cost(frc, req, costs)
    if (target < forced_cost - 1e-9).any():
        r = names[int(np.argmax(forced_cost - target))]
        log.warning(f"budget for {r} is below what the forced structures need; keeping only "
                    "those")
    target = np.maximum(target, forced_cost)

    exclusive = [local[p] for p in items.exclusive_pairs(alive)]
    round_ids = items.round_items

    def solve(scale: float):
        """Solve at ``scale`` x the capacities: (result, kept items, masks, their estimate,
        chosen rounding items)."""
        nonlocal solves, seconds
        cap = np.maximum(target * scale, forced_cost)
        res = solve_knapsack(
            vals, costs, cap, method=method, time_limit=time_limit, gap=gap,
            requires=req if len(req) else None, forced=frc, resource_names=names, seed=seed,
            exclusive=exclusive or None,
        )
        keep = np.zeros(items.n, dtype=bool)
        keep[idx] = res.keep
        effective = keep.copy()
        rounded = round_ids[keep[round_ids]]
        if round_ids.size:
            effective[round_ids] = True  # a rounding item never removes weights itself
            effective[items.round_pair[rounded]] = True  # its group is kept, rounded
        if on_rounding is not None:
            on_rounding(rounded)
        masks = masks_from_removed(model, params, items.members, ~effective, previous=previous)
        solves += 1
        seconds += res.wall_seconds
        return res, keep, masks, {r: float(v) for r, v in estimate(masks).items()}, rounded

    def slack_of(est: Mapping[str, float]) -> float:
        return min((budget[r] - est[r]) / budget[r] if budget[r] > 0 else 0.0 for r in names)

    scale, lo_ok, hi_bad = 1.0, None, None
    best = None
    seconds = 0.0
    solves = 0
    for it in range(repair_iterations + 1):
        answer = solve(scale)
        res, keep, _, est, _ = answer
        ok = within_budget(est, budget)
        log.debug("solve %d: capacity scale %.4f, achieved %s, budget %s, %s", it, scale, est,
                  dict(budget), "ok" if ok else "over")
        if ok and (best is None or res.objective > best[0].objective):
            best = answer
        if ok:
            lo_ok = scale if lo_ok is None else max(lo_ok, scale)
        else:
            hi_bad = scale if hi_bad is None else min(hi_bad, scale)
        if ok and (additive or slack_of(est) <= 0.01 or int(keep.sum()) >= int(alive.sum())):
            break
        if lo_ok is not None and hi_bad is not None:
            if hi_bad / lo_ok < 1.001:
                break
            scale = float(np.sqrt(lo_ok * hi_bad))  # bracketed: bisect (costs are step-like)
        else:
            use = np.array([est[r] - fixed[r] for r in names])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(use > 0, target / use, 4.0)
            step = float(np.clip(np.min(ratios), 0.25, 4.0))
            scale *= max(step, 1.1) if ok else min(step * 0.999, 0.9)
    if best is None:
        log.warning(f"no selection met the budget after {solves} solve(s); keeping only forced "
                    "items")
        best = solve(0.0)
    res, keep, masks, est, rounded = best
    if on_rounding is not None:
        on_rounding(rounded)  # the weights of the answer returned, not of the last solve
    return Selection(
        masks=masks,
        achieved=est,
        budget=dict(budget),
        meets_budget=within_budget(est, budget),
        solves=solves,
        solve_seconds=seconds,
        gap=float(res.gap),
        status=res.status,
        method=res.method,
        n_items=int(alive.sum()),
        n_kept=int(keep.sum()),
        rounded=rounded,
    )


def _closure_cost(forced: np.ndarray, requires: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Cost of the forced items together with everything they (transitively) require."""
    keep = forced.copy()
    if len(requires):
        while True:
            add = np.zeros_like(keep)
            add[requires[keep[requires[:, 0]], 1]] = True
            add &= ~keep
            if not add.any():
                break
            keep |= add
    return costs[:, keep].sum(axis=1)


def select_unstructured(
    scores: Mapping[str, torch.Tensor],
    previous: Masks,
    *,
    budget: Mapping[str, float],
    estimate: Callable[[Masks], Mapping[str, float]],
    output_param: str | None,
    keep_output_layer: bool = True,
    logger: logging.Logger | None = None,
) -> Selection:
    """Global ranking of single weights by score, ignoring hardware structure.

    Keeps the ``k`` highest-scoring weights still kept in ``previous`` (plus the output
    layer when ``keep_output_layer``; otherwise at least the best weight of every output
    neuron), with ``k`` the largest count whose estimated resources meet ``budget``
    (bisection on ``k``; the estimate grows with ``k``).
    """
    log = logger or logging.getLogger(__name__)
    names = list(previous)
    flat_scores = []
    for name in names:
        s = scores[name].detach().to("cpu", torch.float64).reshape(-1).numpy().copy()
        s[~previous[name].reshape(-1).cpu().numpy()] = -np.inf  # pruned before
        flat_scores.append(s)
    sizes = [s.size for s in flat_scores]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    allscore = np.concatenate(flat_scores)
    always = np.zeros(allscore.size, dtype=bool)
    if output_param is not None and output_param in names:
        j = names.index(output_param)
        sl = slice(offsets[j], offsets[j + 1])
        alive_out = np.isfinite(allscore[sl])
        if keep_output_layer:
            always[sl] = alive_out
        else:
            n_rows = previous[output_param].shape[0]
            rows = allscore[sl].reshape(n_rows, -1)
            best = np.argmax(np.where(np.isfinite(rows), rows, -np.inf), axis=1)
            for r, c in enumerate(best):
                if np.isfinite(rows[r, c]):
                    always[offsets[j] + r * rows.shape[1] + c] = True
    candidates = np.flatnonzero(np.isfinite(allscore) & ~always)
    order = candidates[np.argsort(-allscore[candidates], kind="stable")]

    def masks_for(k: int) -> Masks:
        keep = always.copy()
        keep[order[:k]] = True
        return {
            n: torch.as_tensor(keep[offsets[j]:offsets[j + 1]].reshape(previous[n].shape))
            for j, n in enumerate(names)
        }

    evaluations = 0

    def est_for(k: int) -> dict[str, float]:
        nonlocal evaluations
        evaluations += 1
        return {r: float(v) for r, v in estimate(masks_for(k)).items()}

    lo, hi = 0, order.size  # largest feasible k lies in [lo, hi]
    est_hi = est_for(hi)
    if within_budget(est_hi, budget):
        lo = hi
        best_est = est_hi
    else:
        best_est = est_for(0)
        if not within_budget(best_est, budget):
            log.warning("unstructured: even the forced weights exceed the budget")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            e = est_for(mid)
            if within_budget(e, budget):
                lo, best_est = mid, e
            else:
                hi = mid
    masks = masks_for(lo)
    return Selection(
        masks=masks,
        achieved=best_est,
        budget=dict(budget),
        meets_budget=within_budget(best_est, budget),
        solves=evaluations,
        solve_seconds=0.0,
        gap=0.0,
        status="bisection",
        method="magnitude-ranking",
        n_items=int(order.size + always.sum()),
        n_kept=int(lo + always.sum()),
    )
