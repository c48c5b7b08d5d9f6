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

The workflow's :func:`rasp.prune.pruner.prune` adds what a reproducible sweep needs on
top (a budget schedule with acceptance, csd rounding, best-step selection, metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from rasp.prune.config import OBJECTIVE_RESOURCES, RESOURCES
from rasp.prune.importance import normalise, structure_values, taylor_scores
from rasp.prune.masks import Masks
from rasp.prune.selection import Selection, forced_items, select_knapsack, select_unstructured
from rasp.prune.target import HardwareTarget

#: Objectives a :class:`KnapsackPruner` solves (csd needs the workflow's rounding and
#: frozen-weight training: use :func:`rasp.prune.pruner.prune`). ``unstructured`` is the
#: comparison method: single weights ranked by the same importance, kept up to the budget.
PRUNER_OBJECTIVES = ("dsp", "bram", "dsp+bram", "lut_da", "neurons", "unstructured")

#: An importance: ``importance(target) -> {weight name: score tensor}`` (higher = keep).
Importance = Callable[[HardwareTarget], Mapping[str, torch.Tensor]]


class MagnitudeImportance:
    """``|w|`` (``p=1``) or ``w**2`` (``p=2``) per weight; scores are divided by each
    layer's mean so that layers of different scale compete fairly."""

    normalisation = "mean"

    def __init__(self, p: int = 1):
        if p not in (1, 2):
            raise ValueError(f"MagnitudeImportance p must be 1 or 2, got {p}")
        self.p = p

    def __call__(self, target: HardwareTarget) -> dict[str, torch.Tensor]:
        return {n: w.detach().abs() ** self.p for n, w in target.weights().items()}


class TaylorImportance:
    """First-order Taylor score ``|w * dL/dw|``, averaged over the first ``max_batches``
    mini-batches of ``loader`` (any iterable of ``(x, y)``, e.g. a DataLoader).
    ``loss_fn(logits, y)`` defaults to cross-entropy. Unit: loss per weight, comparable
    across layers as is. Pruned weights score 0."""

    normalisation = "none"

    def __init__(self, loader: Iterable, loss_fn: Callable | None = None,
                 max_batches: int | None = 8):
        self.loader = loader
        self.loss_fn = loss_fn or nn.functional.cross_entropy
        self.max_batches = max_batches

    def __call__(self, target: HardwareTarget) -> dict[str, torch.Tensor]:
        # the trainable tensor of each layer: weight_orig under torch pruning, else weight
        leaf = {n: n + "_orig" if hasattr(target.module(n), "weight_orig") else n
                for n in target.params}
        scores = taylor_scores(target.model, list(leaf.values()),
                               islice(self.loader, self.max_batches), loss_fn=self.loss_fn)
        out = {}
        for n, name in leaf.items():
            mask = getattr(target.module(n), "weight_mask", None)
            out[n] = scores[name] * (1.0 if mask is None else mask.detach().cpu().double())
        return out


class KnapsackPruner:
    """Resource-aware structured pruning of ``target.model`` by one knapsack per step.

    ``objective``: dsp | bram | dsp+bram | lut_da | neurons | unstructured (see
    docs/pruning.md); ``resources``: budgeted resources of ``neurons`` and ``unstructured``
    (default ``("dsp",)``; the other objectives budget their own). ``importance``: a callable ``(target) -> {weight name: scores}``
    (higher = keep; default :class:`MagnitudeImportance`). ``solver``: milp | dp | greedy, with
    ``time_limit`` (s) and ``gap`` (relative) for the MILP. The unpruned resources are
    measured when the pruner is made (:attr:`baseline`); budgets are fractions of them.
    """

    def __init__(self, target: HardwareTarget, objective: str = "dsp",
                 importance: Importance | None = None, *,
                 resources: Sequence[str] | None = None, solver: str = "milp",
                 time_limit: float = 20.0, gap: float = 1e-3, keep_output_layer: bool = True,
                 repair_iterations: int = 10, seed: int = 0,
                 logger: logging.Logger | None = None):
        if objective not in PRUNER_OBJECTIVES:
            raise ValueError(f"KnapsackPruner objective {objective!r}; expected one of "
                             f"{PRUNER_OBJECTIVES} (csd: rasp.prune.pruner.prune)")
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
        unused = [r for r, v in self.baseline.items() if v <= 0]
        if unused:
            raise ValueError(f"the unpruned model uses no {unused} at RF {target.reuse_factor}: "
                             "nothing to budget (pick another reuse factor or objective)")
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

    def step(self, budget: float) -> Selection:
        """Prune to ``budget`` (a fraction in (0, 1] of :attr:`baseline` for every budgeted
        resource): score, build the items from the current weights, solve, apply the masks
        (never un-pruning a weight). Returns the :class:`~rasp.prune.selection.Selection`
        (``achieved`` resources, ``meets_budget``, solver status and time)."""
        if not 0.0 < float(budget) <= 1.0:
            raise ValueError(f"budget must be a fraction in (0, 1], got {budget}")
        self.steps += 1
        target, masks = self.target, self.masks
        scores = self.importance(target)
        missing = [p for p in target.params if p not in scores]
        if missing:
            raise KeyError(f"the importance returned no scores for {missing}")
        scores = normalise({p: scores[p] for p in target.params},
                           getattr(self.importance, "normalisation", "none"), masks)
        step_budget = {r: float(budget) * self.baseline[r] for r in self.resources}

        def estimate(m: Masks) -> dict[str, float]:
            return target.resources(m, self.resources)

        if self.objective == "unstructured":
            sel = select_unstructured(scores, masks, budget=step_budget, estimate=estimate,
                                      output_param=target.params[-1],
                                      keep_output_layer=self.keep_output_layer,
                                      logger=self.log)
            return self._applied(sel, budget, step_budget)
        items, fixed = target.items(self.objective, self.resources, masks)
        values = structure_values(scores, items.value_members, items.n)
        alive = items.alive(masks)
        forced = forced_items(items, values, alive, self.keep_output_layer)
        sel = select_knapsack(
            items, values, alive, forced, budget=step_budget, fixed=fixed,
            estimate=estimate, model=target.model,
            params=target.params, previous=masks, method=self.solver,
            time_limit=self.time_limit, gap=self.gap, repair_iterations=self.repair_iterations,
            additive=self.objective not in ("neurons", "lut_da"),
            seed=self.seed + self.steps, logger=self.log,
        )
        return self._applied(sel, budget, step_budget)

    def _applied(self, sel: Selection, budget: float, step_budget: dict[str, float]) -> Selection:
        self.apply(sel.masks)
        self.log.info("step %d: budget %.1f%% %s -> %s (%s)", self.steps, 100 * budget,
                      step_budget, sel.achieved, "meets" if sel.meets_budget else "EXCEEDS")
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
