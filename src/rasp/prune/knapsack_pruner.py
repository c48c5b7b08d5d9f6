"""Prune a model of your own, with your own training loop, to a hardware budget.

Small pieces in the shape Torch-Pruning users know: a
:class:`~rasp.prune.target.HardwareTarget` (the model as hls4ml builds it), an importance
(:class:`MagnitudeImportance`, :class:`TaylorImportance`, or any callable returning one
score tensor per weight), and a :class:`KnapsackPruner` whose :meth:`~KnapsackPruner.step`
solves one knapsack at a budget and applies the answer with
:func:`torch.nn.utils.prune.custom_from_mask`. Fine-tuning between steps is the user's
loop: the masks stay applied (PyTorch's forward pre-hook), and the next step prices the
fine-tuned weights again (at RF 1 a DSP depends on the constant's value).

Example (a complete script)::

    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=4,
                            input_shape=(16,))
    pruner = KnapsackPruner(target, objective="dsp", importance=TaylorImportance(loader))
    for budget in (0.6, 0.4, 0.25):
        pruner.step(budget)       # fraction of the unpruned model's DSPs
        train(model, epochs=2)    # your own loop
    pruner.remove()               # masks made permanent (plain weights, zeros stay)

The workflow's :func:`rasp.prune.pruner.prune` is a recipe on these pieces: it calls
:meth:`KnapsackPruner.select` (the same solve, masks returned instead of applied) inside
its own fine-tuning loop and adds what a reproducible sweep needs (a budget schedule with
acceptance, held csd roundings, best-step selection, metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice

import numpy as np
import torch
from torch.nn.utils import prune as torch_prune

from rasp.hardware.da_cost import LUT_DA
from rasp.prune.config import OBJECTIVE_RESOURCES, OBJECTIVES, RESOURCES
from rasp.prune.importance import (
    METHODS,
    fisher_values,
    iterate_batches,
    normalise,
    normalise_values,
    resolve_normalisation,
    structure_values,
    weight_scores,
)
from rasp.prune.masks import Masks
from rasp.prune.selection import (
    ItemSet,
    Selection,
    forced_items,
    select_knapsack,
    select_unstructured,
)
from rasp.prune.target import HardwareTarget

#: Objectives a :class:`KnapsackPruner` solves: every knapsack objective of the workflow.
#: ``unstructured`` is the comparison method: single weights ranked by the same importance,
#: kept up to the budget. ``csd`` writes the chosen roundings into the weights
#: (``Selection.rounded``); a fine-tune that should keep them holds those weights fixed
#: (:func:`rasp.prune.pruner.prune` does).
PRUNER_OBJECTIVES = OBJECTIVES

#: An importance: ``importance(target) -> {weight name: score tensor}`` (higher = keep).
#: Optional attributes: ``normalisation`` (mean | total | none, how scores are made
#: comparable across layers) and ``per_structure`` with ``structure_values(target, items)``
#: for scores that are not sums over weights (fisher).
Importance = Callable[[HardwareTarget], Mapping[str, torch.Tensor]]


class SeededBatches:
    """Re-iterable shuffled mini-batches ``(x, y)`` of ``(x, y)`` arrays: at most
    ``max_batches`` of ``batch_size``, in an order drawn from :attr:`seed` (set it to draw
    other batches; :func:`rasp.prune.pruner.prune` sets the step's seed)."""

    def __init__(self, x, y, batch_size: int, max_batches: int | None = None, seed: int = 0):
        self.x, self.y, self.batch_size, self.max_batches = x, y, int(batch_size), max_batches
        self.seed = int(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(iterate_batches(self.x, self.y, self.batch_size, self.max_batches,
                                    seed=self.seed))


class WeightImportance:
    """Importance ``method`` of every weight: ``l1`` ``|w|``, ``l2`` ``w**2``, ``taylor``
    ``|w * dL/dw|`` or ``fisher`` (per structure, :func:`rasp.prune.importance.fisher_values`)
    on the first ``max_batches`` of ``batches`` (any re-iterable of ``(x, y)``, e.g. a
    DataLoader or :class:`SeededBatches`; taylor and fisher only), computed on ``device``
    (the model is moved there and back). ``normalisation``: auto (none for taylor / fisher,
    mean for magnitudes) | mean | total | none. Scores are float64 on the CPU; under
    PyTorch's pruning the trainable ``weight_orig`` is scored and pruned weights score 0."""

    def __init__(self, method: str = "l1", batches: Iterable | None = None, *,
                 normalisation: str = "auto", loss_fn: Callable | None = None,
                 max_batches: int | None = None, device: str | torch.device | None = None):
        self.method = method
        self.normalisation = resolve_normalisation(method, normalisation)
        self.batches, self.loss_fn, self.max_batches = batches, loss_fn, max_batches
        self.device = device
        if method not in METHODS:
            raise ValueError(f"unknown importance method {method!r}; expected one of {METHODS}")
        if method not in ("l1", "l2") and batches is None:
            raise ValueError(f"{method} importance needs training mini-batches (batches=...)")

    @property
    def per_structure(self) -> bool:
        """Whether a structure's value is computed whole (fisher) instead of summed."""
        return self.method == "fisher"

    def _batches(self) -> Iterable | None:
        if self.batches is None:
            return None
        return islice(self.batches, self.max_batches) if self.max_batches else self.batches

    def _on_device(self, target: HardwareTarget, compute: Callable[[torch.device | str], object]):
        home = next(target.model.parameters()).device
        if self.method in ("l1", "l2") or self.device is None:
            return compute(home)
        target.model.to(self.device)
        try:
            return compute(self.device)
        finally:
            target.model.to(home)

    @staticmethod
    def _leaves(target: HardwareTarget) -> dict[str, str]:
        """Weight name -> its trainable tensor: ``weight_orig`` under torch pruning."""
        return {n: n + "_orig" if hasattr(target.module(n), "weight_orig") else n
                for n in target.params}

    def __call__(self, target: HardwareTarget) -> dict[str, torch.Tensor]:
        leaf = self._leaves(target)
        scores = self._on_device(target, lambda device: weight_scores(
            target.model, list(leaf.values()), self.method, self._batches(), device=device,
            loss_fn=self.loss_fn))
        out = {}
        for n, name in leaf.items():
            mask = getattr(target.module(n), "weight_mask", None)
            out[n] = scores[name] if mask is None else scores[name] * mask.detach().cpu().double()
        return out

    def structure_values(self, target: HardwareTarget, items: ItemSet) -> np.ndarray:
        """Fisher value of every item (nats per structure), normalised per layer."""
        leaf = self._leaves(target)
        members = {leaf[p]: m for p, m in items.value_members.items()}
        values = self._on_device(target, lambda device: fisher_values(
            target.model, list(leaf.values()), members, items.n, self._batches(),
            loss_fn=self.loss_fn, device=device))
        return normalise_values(values, items, self.normalisation)


class MagnitudeImportance(WeightImportance):
    """``|w|`` (``p=1``) or ``w**2`` (``p=2``) per weight; scores are divided by each
    layer's mean so that layers of different scale compete fairly."""

    def __init__(self, p: int = 1):
        if p not in (1, 2):
            raise ValueError(f"MagnitudeImportance p must be 1 or 2, got {p}")
        super().__init__(f"l{p}")


class TaylorImportance(WeightImportance):
    """First-order Taylor score ``|w * dL/dw|``, averaged over the first ``max_batches``
    mini-batches of ``loader`` (any iterable of ``(x, y)``, e.g. a DataLoader).
    ``loss_fn(logits, y)`` defaults to cross-entropy. Unit: loss per weight, comparable
    across layers as is. Pruned weights score 0."""

    def __init__(self, loader: Iterable, loss_fn: Callable | None = None,
                 max_batches: int | None = 8):
        super().__init__("taylor", loader, loss_fn=loss_fn, max_batches=max_batches)


def _rounding_choice(target: HardwareTarget, items: ItemSet,
                     scores: Mapping[str, torch.Tensor], values: np.ndarray):
    """Values of the csd rounding items and the callback that writes their weights.

    A rounding item is worth its weights' scores times the share a first-order score keeps
    after rounding (:meth:`ItemSet.rounding_factors`). The callback restores the weights
    as they are now and then writes the rounded values of the chosen rounding items (into
    ``weight_orig`` under PyTorch's pruning, whose mask keeps them as they are).
    """
    named = {p: target.module(p).weight_orig if hasattr(target.module(p), "weight_orig")
             else target.module(p).weight for p in target.params}
    factors = items.rounding_factors(named)
    scaled = {p: (s * torch.as_tensor(factors[p].reshape(tuple(s.shape)), dtype=s.dtype)
                  if p in factors else s) for p, s in scores.items()}
    round_values = structure_values(scaled, items.value_members, items.n)
    values = values.copy()
    values[items.round_items] = round_values[items.round_items]
    originals = {p: named[p].detach().clone() for p in items.round_values}

    @torch.no_grad()
    def on_rounding(chosen: np.ndarray) -> None:
        for p, target in items.round_values.items():
            param = named[p]
            param.copy_(originals[p])
            flat, ids = items.value_members[p]
            pos = flat[np.isin(ids, chosen)]
            param.view(-1)[torch.as_tensor(pos)] = torch.as_tensor(target[pos], dtype=param.dtype)

    return values, on_rounding


class KnapsackPruner:
    """Resource-aware structured pruning of ``target.model`` by one knapsack per step.

    ``objective``: one of :data:`PRUNER_OBJECTIVES` (see docs/pruning.md); ``resources``:
    budgeted resources of ``neurons`` and ``unstructured`` (default ``("dsp",)``; the other
    objectives budget their own). ``importance``: a callable ``(target) -> {weight name:
    scores}`` (higher = keep; default :class:`MagnitudeImportance`). ``solver``: milp | dp |
    greedy, with ``time_limit`` (s) and ``gap`` (relative) for the MILP. The unpruned
    resources are measured when the pruner is made (:attr:`baseline`); budgets are
    fractions of them. :attr:`items` is the last knapsack's ItemSet (None for unstructured).
    """

    def __init__(self, target: HardwareTarget, objective: str = "dsp",
                 importance: Importance | None = None, *,
                 resources: Sequence[str] | None = None, solver: str = "milp",
                 time_limit: float = 20.0, gap: float = 1e-3, keep_output_layer: bool = True,
                 repair_iterations: int = 10, seed: int = 0,
                 logger: logging.Logger | None = None):
        if objective not in PRUNER_OBJECTIVES:
            raise ValueError(f"KnapsackPruner objective {objective!r}; expected one of "
                             f"{PRUNER_OBJECTIVES}")
        self.target = target
        self.objective = objective
        self.importance = importance if importance is not None else MagnitudeImportance()
        self.resources = tuple(OBJECTIVE_RESOURCES.get(objective, tuple(resources or ("dsp",))))
        bad = [r for r in self.resources if r not in RESOURCES]
        if bad:
            raise ValueError(f"unknown budgeted resource(s) {bad}; expected {RESOURCES}")
        self.solver, self.time_limit, self.gap = solver, float(time_limit), float(gap)
        self.keep_output_layer = bool(keep_output_layer)
        self.repair_iterations = int(repair_iterations)
        self.seed = int(seed)
        self.log = logger or logging.getLogger(__name__)
        self.baseline = target.resources(None, self.resources)
        for r, v in self.baseline.items():
            if v <= 0:
                raise ValueError(
                    f"objective {objective!r} budgets {r}, but the unpruned model uses no {r} "
                    f"at RF {target.reuse_factor} with these hardware settings (strategy "
                    f"{sorted({lay.strategy for lay in target.layers})}); pick a reuse factor "
                    f"/ precision where the weights use {r} (e.g. BRAM needs weights in block "
                    "RAM: RF > 1, depth above the LUTRAM threshold)")
        self.items: ItemSet | None = None
        self._fixed: dict[str, float] = {}
        self.steps = 0

    @property
    def masks(self) -> Masks:
        """Current masks: parameter name -> bool tensor (True = kept)."""
        out = {}
        for p, w in self.target.weights().items():
            mask = getattr(self.target.module(p), "weight_mask", None)
            out[p] = (mask.detach().bool().cpu().clone() if mask is not None
                      else torch.ones(w.shape, dtype=torch.bool))
        return out

    def resources_now(self) -> dict[str, float]:
        """Budgeted resources of the model as it is now (current weights and masks)."""
        return self.target.resources(self.masks, self.resources)

    def _items_for(self, masks: Masks) -> tuple[ItemSet, dict[str, float]]:
        """The objective's items, built once (logged) and again whenever their costs
        depend on the current weights (constant folding at Latency)."""
        if self.items is None:
            items, fixed = self.items, self._fixed = self.target.items(self.objective,
                                                                       self.resources)
            for note in items.notes:
                self.log.info("%s", note)
            self.log.info("%d structures (%s); resources outside them: %s", items.n,
                          ", ".join(f"{k}: {int((items.kind == k).sum())}"
                                    for k in np.unique(items.kind)),
                          {r: round(v, 3) for r, v in fixed.items()})
        if self.items.weight_dependent:
            self.items, self._fixed = self.target.items(self.objective, self.resources, masks)
        return self.items, self._fixed

    def select(self, budget: float, masks: Masks | None = None,
               seed: int | None = None) -> Selection:
        """The masks that prune to ``budget`` (a fraction in (0, 1] of :attr:`baseline` for
        every budgeted resource), never un-pruning a weight of ``masks`` (default: the
        current :attr:`masks`): score, build the items on the current weights, solve. The
        model's masks are not changed (csd writes the chosen roundings into the weights).
        ``seed`` seeds the solver's tie-breaking (default ``seed + steps + 1``)."""
        if not 0.0 < float(budget) <= 1.0:
            raise ValueError(f"budget must be a fraction in (0, 1], got {budget}")
        target, importance = self.target, self.importance
        masks = self.masks if masks is None else masks
        seed = self.seed + self.steps + 1 if seed is None else int(seed)
        step_budget = {r: float(budget) * self.baseline[r] for r in self.resources}
        norm = getattr(importance, "normalisation", "none")

        def estimate(m: Masks) -> dict[str, float]:
            return target.resources(m, self.resources)

        if self.objective == "unstructured":
            return select_unstructured(
                self._scores(masks, norm), masks, budget=step_budget, estimate=estimate,
                output_param=target.params[-1], keep_output_layer=self.keep_output_layer,
                logger=self.log)
        items, fixed = self._items_for(masks)
        on_rounding = None
        if getattr(importance, "per_structure", False):
            if items.round_pair is not None:
                raise ValueError("objective 'csd' needs a per-weight importance (taylor, l1 or "
                                 "l2), not fisher")
            values = importance.structure_values(target, items)
        else:
            scores = self._scores(masks, norm)
            values = structure_values(scores, items.value_members, items.n)
            if items.round_pair is not None:
                values, on_rounding = _rounding_choice(target, items, scores, values)
        alive = items.alive(masks)
        return select_knapsack(
            items, values, alive, forced_items(items, values, alive, self.keep_output_layer),
            budget=step_budget, fixed=fixed, estimate=estimate, model=target.model,
            params=target.params, previous=masks, method=self.solver,
            time_limit=self.time_limit, gap=self.gap, repair_iterations=self.repair_iterations,
            additive=self.objective not in ("neurons", LUT_DA), seed=seed, logger=self.log,
            on_rounding=on_rounding)

    def _scores(self, masks: Masks, norm: str) -> dict[str, torch.Tensor]:
        scores = self.importance(self.target)
        missing = [p for p in self.target.params if p not in scores]
        if missing:
            raise KeyError(f"the importance returned no scores for {missing}")
        return normalise({p: scores[p] for p in self.target.params}, norm, masks)

    def step(self, budget: float) -> Selection:
        """Prune to ``budget`` (:meth:`select`) and apply the masks. Returns the
        :class:`~rasp.prune.selection.Selection` (``achieved`` resources,
        ``meets_budget``, solver status and time)."""
        sel = self.select(budget)
        self.steps += 1
        self.apply(sel.masks)
        self.log.info("step %d: budget %.1f%% %s -> %s (%s)", self.steps, 100 * budget,
                      sel.budget, sel.achieved, "meets" if sel.meets_budget else "EXCEEDS")
        return sel

    def apply(self, masks: Mapping[str, torch.Tensor]) -> None:
        """Apply ``masks`` with :func:`torch.nn.utils.prune.custom_from_mask` (a layer
        already pruned gets its ``weight_mask`` replaced by the new mask)."""
        for p, mask in masks.items():
            module = self.target.module(p)
            mask = mask.to(device=module.weight.device, dtype=module.weight.dtype)
            if hasattr(module, "weight_mask"):
                with torch.no_grad():
                    module.weight_mask.copy_(mask)
                module.weight = module.weight_orig * module.weight_mask
            else:
                torch_prune.custom_from_mask(module, "weight", mask)

    def remove(self) -> None:
        """Make the pruning permanent: plain ``weight`` parameters holding the zeros
        (:func:`torch.nn.utils.prune.remove`), as hls4ml's converters expect."""
        for p in self.target.params:
            module = self.target.module(p)
            if hasattr(module, "weight_mask"):
                torch_prune.remove(module, "weight")
