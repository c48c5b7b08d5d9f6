"""The iterative resource-aware pruner: importance -> knapsack -> masks -> fine-tune, repeated.

One call of :func:`prune` takes a trained model down to ``budget`` (a fraction of the
baseline's estimated resources) for one objective and reuse factor:

1. Build the hls4ml configuration the model will be synthesised with
   (:func:`rasp.hardware.hls_config.make_hls_config`), describe every layer and estimate
   the baseline's resources (:mod:`rasp.hardware.estimate`).
2. For each budget of the schedule (:mod:`rasp.prune.schedule`): one
   :meth:`KnapsackPruner.select <rasp.prune.knapsack_pruner.KnapsackPruner.select>` (score
   every weight with the block's importance on the step's seeded batches, normalise across
   layers, sum into structure values, solve one knapsack over all layers, intersect with
   the previous masks), fine-tune with the masks held exactly at zero (``rasp.train.fit``,
   a fresh Adam each step, optional group lasso), and accept the step when validation
   accuracy >= ``rtol`` x the baseline's.
3. The result is the model AT the target budget (the requested point) with the best
   validation accuracy among the models evaluated at the target; whether it met the
   tolerance and the smallest accepted budget are recorded.

Units: budgets and sparsities are fractions in [0, 1]; resources are DSP48E2 slices and
BRAM_18K blocks as estimated by :mod:`rasp.hardware.estimate`; times are wall seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from rasp.hardware.da_cost import LUT_DA
from rasp.hardware.estimate import estimate_layers
from rasp.hardware.settings import HardwareSettings
from rasp.models import full_state_dict
from rasp.prune.config import PruneConfig
from rasp.prune.knapsack_pruner import KnapsackPruner, SeededBatches, WeightImportance
from rasp.prune.masks import Masks, clone_masks, full_masks, masks_hold, sparsity
from rasp.prune.regularizer import GroupLasso
from rasp.prune.schedule import Schedule
from rasp.prune.selection import ItemSet, Selection, within_budget
from rasp.prune.target import HardwareTarget
from rasp.seeds import derive_seed
from rasp.train import TrainConfig, apply_masks, evaluate, fit, resolve_device

#: Estimated totals copied into metrics and trajectories.
REPORTED_RESOURCES = ("dsp", "dsp_csd", "dsp_multipliers", "multipliers", "bram_18k",
                      "bram_18k_hls", "lut", "nonzero_weights", "weights", "latency_cycles")
#: Per-layer columns of the resource table copied into metrics.json.
LAYER_COLUMNS = ("strategy", "reuse_factor", "n_in", "n_out", "weight_bits", "weights",
                 "nonzero_weights", "patterns", "zero_patterns", "multipliers", "dsp",
                 "dsp_multipliers", "memory", "bram_18k", "lut")


@dataclass
class PruneResult:
    """Output of :func:`prune`: the model at the target budget (CPU, masks applied), its
    masks, the metrics dict written to metrics.json, one trajectory row per step and the
    hls4ml config the structures assumed."""

    model: nn.Module
    masks: Masks
    metrics: dict[str, Any]
    trajectory: list[dict[str, Any]]
    hls_config: dict[str, Any]
    layer_table: Any = None


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copy of the model's state (Brevitas models: including learned scales)."""
    if getattr(model, "quantized", False):
        return full_state_dict(model)  # imports Brevitas (seconds): only when needed
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


def _clone_or_none(masks: Masks | None) -> Masks | None:
    return None if masks is None else clone_masks(masks)


def describe_target(
    model: nn.Module,
    data: Any,
    hardware: HardwareSettings | Mapping[str, Any],
    reuse_factor: int,
    budget: float,
    seed: int,
    threads: int | None,
    log: logging.Logger,
) -> HardwareTarget:
    """Common start of every pruning method: check the budget (fraction in (0, 1]), seed
    torch, set its threads, build the hls4ml config the model will be synthesised with
    and describe every layer (logged). Returns the model (CPU, eval mode) as a
    :class:`~rasp.prune.target.HardwareTarget`."""
    if not 0.0 < float(budget) <= 1.0:
        raise ValueError(f"budget must be a fraction in (0, 1], got {budget}")
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.manual_seed(int(seed))
    model = model.to("cpu").eval()
    input_shape = tuple(getattr(model, "input_shape", data.input_shape))
    hw = HardwareTarget(model, hardware, int(reuse_factor), input_shape)
    for layer in hw.layers:
        log.info("layer %s", layer.describe())
    return hw


def prune(
    model: nn.Module,
    data: Any,
    *,
    objective: str,
    reuse_factor: int,
    budget: float,
    hardware: HardwareSettings | Mapping[str, Any],
    config: PruneConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    threads: int | None = None,
    device: str = "auto",
    logger: logging.Logger | None = None,
) -> PruneResult:
    """Prune ``model`` (trained; modified in place) to ``budget`` x its estimated resources.

    ``data``: a :class:`rasp.data.processed.ProcessedData` (train/val/test splits).
    ``objective``: dsp | bram | dsp+bram | neurons | unstructured. ``reuse_factor``: the
    hls4ml RF every layer is built with. ``budget``: target fraction in (0, 1] of the
    baseline's estimate of each budgeted resource (``PruneConfig.resources_for``).
    ``hardware``: the ``hardware.<dataset>`` block or settings. ``seed`` seeds importance
    batches and fine-tuning (each step derives its own seed).
    """
    log = logger or logging.getLogger(__name__)
    cfg = config if isinstance(config, PruneConfig) else PruneConfig.from_dict(config or {})
    resources = cfg.resources_for(objective)
    dev = resolve_device(device)
    t_start = time.perf_counter()
    hw = describe_target(model, data, hardware, reuse_factor, budget, seed, threads, log)
    model, settings, budget = hw.model, hw.settings, float(budget)
    hls_config, layers, params = hw.hls_config, hw.layers, hw.params
    base_table = estimate_layers(layers, model, None)
    base_totals = reported_totals(base_table)
    batches = SeededBatches(data.x_train, data.y_train, cfg.importance_batch_size,
                            cfg.importance_batches)
    pruner = KnapsackPruner(
        hw, objective, WeightImportance(cfg.importance, batches, device=dev,
                                        normalisation=cfg.normalisation),
        resources=resources, solver=cfg.solver.method, time_limit=cfg.solver.time_limit,
        gap=cfg.solver.gap, keep_output_layer=cfg.keep_output_layer,
        repair_iterations=cfg.repair_iterations, logger=log)
    base_totals.update(pruner.baseline)
    budget_abs = {r: budget * base_totals[r] for r in resources}
    log.info(
        "prune objective=%s RF=%d budget=%.4g%% of baseline %s -> %s; importance=%s (%s), "
        "schedule=%s x%d, finetune %d (+%d final) epochs, rtol=%.3f, solver %s",
        objective, reuse_factor, 100 * budget, {r: base_totals[r] for r in resources},
        {r: round(v, 2) for r, v in budget_abs.items()}, cfg.importance,
        pruner.importance.normalisation, cfg.schedule, cfg.steps,
        cfg.finetune_epochs, cfg.last_epochs, cfg.rtol, cfg.solver.method,
    )

    # costs that depend on the weight values (constant folding at Latency): fine-tuning can
    # move a weight onto a costlier constant, so the budget is checked again after it
    value_dependent = any(layer.strategy == "Latency" for layer in layers)
    x_val, y_val = data.x_val, data.y_val
    base_val = float(evaluate(model, x_val, y_val)["accuracy"])
    base_test = float(evaluate(model, data.x_test, data.y_test)["accuracy"])
    threshold = cfg.rtol * base_val
    log.info("baseline val accuracy %.4f, test accuracy %.4f; accept val >= %.4f",
             base_val, base_test, threshold)

    def select(fraction: float, masks: Masks, seed: int) -> Selection:
        """One knapsack at ``fraction`` of the baseline, its masks applied; importance
        batches drawn with ``seed``; the chosen csd roundings held fixed from now on."""
        nonlocal total_solve
        batches.seed = seed
        sel = pruner.select(fraction, masks, seed=seed)
        if frozen is not None and sel.rounded.size:
            for name, (flat, ids) in pruner.items.value_members.items():
                frozen[name].view(-1)[torch.as_tensor(flat[np.isin(ids, sel.rounded)])] = True
        total_solve += sel.solve_seconds
        apply_masks(model, sel.masks)
        return sel

    masks = full_masks(model, params)
    frozen: Masks | None = ({p: torch.zeros_like(m) for p, m in masks.items()}
                            if objective == "csd" else None)
    schedule = Schedule(cfg.schedule, budget, cfg.steps, cfg.power, cfg.binary_tolerance)
    accepted_state = (_snapshot(model), clone_masks(masks), 1.0, _clone_or_none(frozen))
    best_target: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    total_solve = 0.0
    step = 0
    while (fraction := schedule.next()) is not None:
        step += 1
        t_step = time.perf_counter()
        started_from = "current"
        if schedule.restart_from_accepted:
            state, acc_masks, acc_fraction, acc_frozen = accepted_state
            model.load_state_dict(state)
            masks = clone_masks(acc_masks)
            frozen = _clone_or_none(acc_frozen)
            started_from = f"accepted@{acc_fraction:.4g}"
        step_seed = derive_seed(seed, step)
        step_budget = {r: fraction * base_totals[r] for r in resources}

        sel = select(fraction, masks, step_seed)
        masks = sel.masks
        at_target = abs(fraction - budget) <= 1e-12
        epochs = cfg.last_epochs if at_target else cfg.finetune_epochs
        if epochs > 0:
            log.info("step %d: fine-tuning %d epoch(s)", step, epochs)
            finetune(model, data, cfg, masks, epochs=epochs, seed=step_seed,
                     items=pruner.items, frozen=frozen, params=params, threads=threads,
                     device=device, logger=log)
        if not masks_hold(model, masks):  # the train loop guarantees this; never ship otherwise
            raise RuntimeError("masked weights are not zero after fine-tuning")
        resnapped = epochs > 0 and value_dependent and not within_budget(
            hw.resources(masks, resources), step_budget)
        if resnapped:
            # fine-tuning moved weights off their shared / cheap constants: select again on
            # the fine-tuned weights at the same budget (no further training)
            before = hw.resources(masks, resources)
            sel = select(fraction, masks, step_seed)
            masks = sel.masks
            log.info("step %d: fine-tuned weights used %s > budget %s: re-selected -> %s",
                     step, {r: round(v, 1) for r, v in before.items()},
                     {r: round(v, 1) for r, v in step_budget.items()},
                     {r: round(v, 1) for r, v in sel.achieved.items()})
        val_acc = float(evaluate(model, x_val, y_val)["accuracy"])
        accepted = val_acc >= threshold
        schedule.report(fraction, accepted)
        row = trajectory_row(
            step, fraction, step_budget, estimate_layers(layers, model, masks).totals, masks,
            val_acc, accepted, meets=sel.meets_budget, epochs=epochs, method=sel.method,
            status=sel.status, solve_seconds=sel.solve_seconds,
            step_seconds=time.perf_counter() - t_step, n_items=int(sel.n_items), gap=sel.gap,
            started_from=started_from, reselected=resnapped,
            repairs=max(0, sel.solves - 1) if pruner.items is not None else 0)
        if LUT_DA in resources:
            row["target_lut_da"] = step_budget[LUT_DA]
            row["achieved_lut_da"] = hw.lut_da(masks)
        rows.append(row)
        log.info(
            "step %d: budget %.2f%% %s achieved dsp %.0f bram_18k %.0f%s (%s budget), "
            "sparsity %.3f, val acc %.4f (baseline %.4f) -> %s; %s %s, %d solve(s) %.2f s, "
            "gap %.2g; %.1f s",
            step, 100 * fraction, {r: round(v, 1) for r, v in step_budget.items()},
            row["achieved_dsp"], row["achieved_bram_18k"],
            f" lut_da {row['achieved_lut_da']:.0f}" if "achieved_lut_da" in row else "",
            "meets" if sel.meets_budget else "EXCEEDS", row["sparsity"], val_acc, base_val,
            "accepted" if accepted else "rejected", sel.method, sel.status, sel.solves,
            sel.solve_seconds, sel.gap, row["step_seconds"],
        )
        snapshot = (_snapshot(model), clone_masks(masks), _clone_or_none(frozen))
        if accepted and fraction <= accepted_state[2]:
            accepted_state = (snapshot[0], snapshot[1], fraction, snapshot[2])
        if at_target and (best_target is None or val_acc > best_target["val_accuracy"]):
            best_target = {"state": snapshot[0], "masks": snapshot[1], "val_accuracy": val_acc,
                           "step": step, "selection": sel, "frozen": snapshot[2]}

    # every schedule ends at the target, so best_target is set
    model.load_state_dict(best_target["state"])
    masks = best_target["masks"]
    frozen = best_target["frozen"]
    apply_masks(model, masks)
    final_table = estimate_layers(layers, model, masks)
    sel = best_target["selection"]
    totals = reported_totals(final_table)
    if LUT_DA in resources:
        totals[LUT_DA] = hw.lut_da(masks)

    best_accepted = schedule.best_accepted
    metrics: dict[str, Any] = {
        **outcome_metrics(
            model, data, final_table, base_table, objective=objective,
            reuse_factor=reuse_factor, budget=budget, resources=resources,
            budget_abs=budget_abs,
            meets=all(totals[r] <= budget_abs[r] * (1 + 1e-9) for r in resources),
            base_val=base_val, base_test=base_test, rtol=cfg.rtol, totals=totals,
            base_totals=base_totals),
        "best_accepted_budget_fraction": best_accepted,
        "best_accepted_val_accuracy": max((r["val_accuracy"] for r in rows if r["accepted"]
                                           and r["budget_fraction"] == best_accepted),
                                          default=None),
        "sparsity": sparsity(masks),
        # csd: kept weights rounded onto (and held at) a value with <= 2 CSD digits
        "rounded_weights": (int(sum(int((frozen[p] & masks[p]).sum()) for p in frozen))
                            if frozen is not None else 0),
        "solver_method": cfg.solver.method,
        "solver_status": sel.status,
        "solve_seconds": total_solve,
        # lut_da: da4ml re-traces (count, wall seconds) and designs priced from the cache
        **({"da_traces": hw.da_cost.traces, "da_trace_seconds": hw.da_cost.seconds,
            "da_cache_hits": hw.da_cost.hits} if hw.da_cost is not None else {}),
        "gap": sel.gap,
        "final_step": best_target["step"],
        "steps": len(rows),
        "seed": int(seed),
        "importance": cfg.importance,
        "normalisation": pruner.importance.normalisation,
        "schedule": cfg.schedule,
        "pruning_config": cfg.to_dict(),
        "hardware": settings.to_dict(),
        "strategies": {lay.name: lay.strategy for lay in layers},
        "wall_seconds": time.perf_counter() - t_start,
    }
    log.info(
        "result: test accuracy %.4f (baseline %.4f, relative loss %.4f), val %.4f (%s "
        "tolerance); dsp %.0f/%.0f, bram_18k %.0f/%.0f, sparsity %.3f; best accepted budget "
        "%.4g; %.1f s",
        metrics["test_accuracy"], base_test, metrics["relative_accuracy_loss"] or 0.0,
        metrics["val_accuracy"], "meets" if metrics["met_tolerance"] else "misses",
        totals["dsp"], base_totals["dsp"], totals["bram_18k"], base_totals["bram_18k"],
        metrics["sparsity"]["total"], best_accepted, metrics["wall_seconds"],
    )
    return PruneResult(model=model, masks=masks, metrics=metrics, trajectory=rows,
                       hls_config=hls_config, layer_table=final_table.table())


def reported_totals(table: Any) -> dict[str, float]:
    """The :data:`REPORTED_RESOURCES` totals of a :func:`estimate_layers` table."""
    return {k: float(table.totals[k]) for k in REPORTED_RESOURCES}


def builtin(x: Any) -> Any:
    """A table cell as plain JSON data (numpy scalars as Python numbers, ``pd.NA`` None)."""
    if isinstance(x, np.generic):
        return x.item()
    return None if x is pd.NA else x


def outcome_metrics(
    model: nn.Module,
    data: Any,
    table: Any,
    base_table: Any,
    *,
    objective: str,
    reuse_factor: int,
    budget: float,
    resources: Sequence[str],
    budget_abs: Mapping[str, float],
    meets: bool,
    base_val: float,
    base_test: float,
    rtol: float,
    totals: Mapping[str, float],
    base_totals: Mapping[str, float],
) -> dict[str, Any]:
    """The metrics.json keys every pruning method writes (the summary, the HLS stage and
    the figures read them): the run, budget, accuracies of ``model`` on ``data``'s val and
    test splits against the baseline, tolerance, estimated resources with their reductions
    (fractions; None for a resource the baseline does not use) and the per-layer rows of the
    final and baseline :func:`estimate_layers` tables. ``budget`` is a fraction; a model is
    within tolerance when validation accuracy >= ``rtol`` x ``base_val``."""
    val_eval = evaluate(model, data.x_val, data.y_val)
    test_eval = evaluate(model, data.x_test, data.y_test, roc_auc=True,
                         class_names=list(data.class_names))
    test_acc = float(test_eval["accuracy"])
    val_acc = float(val_eval["accuracy"])

    def reduction(key: str) -> float | None:
        return 1.0 - totals[key] / base_totals[key] if base_totals[key] > 0 else None

    return {
        "objective": objective,
        "reuse_factor": int(reuse_factor),
        "budget_percent": 100 * budget,
        "budget_fraction": budget,
        "budget_resources": list(resources),
        "budget": dict(budget_abs),
        "meets_budget": bool(meets),
        "accuracy": test_acc,
        "test_accuracy": test_acc,
        "val_accuracy": val_acc,
        "test_loss": float(test_eval["loss"]),
        "per_class_accuracy": test_eval["per_class_accuracy"],
        "roc_auc": test_eval["roc_auc"],
        "roc_auc_macro": test_eval["roc_auc_macro"],
        "baseline_accuracy": base_test,
        "baseline_test_accuracy": base_test,
        "baseline_val_accuracy": base_val,
        "relative_accuracy_loss": 1.0 - test_acc / base_test if base_test > 0 else None,
        "rtol": rtol,
        "met_tolerance": bool(val_acc >= rtol * base_val),
        "resources": dict(totals),
        "baseline_resources": dict(base_totals),
        "dsp": totals["dsp"],
        "bram_18k": totals["bram_18k"],
        "multipliers": totals["multipliers"],
        "baseline_dsp": base_totals["dsp"],
        "baseline_bram_18k": base_totals["bram_18k"],
        "dsp_reduction": reduction("dsp"),
        "bram_reduction": reduction("bram_18k"),
        "layers": {name: {c: builtin(row[c]) for c in LAYER_COLUMNS if c in row.index}
                   for name, row in table.layers.iterrows()},
        "baseline_layers": {
            name: {c: builtin(row[c]) for c in ("dsp", "bram_18k", "multipliers", "lut")}
            for name, row in base_table.layers.iterrows()},
    }


def trajectory_row(step: int, fraction: float, step_budget: Mapping[str, float], est: Any,
                   masks: Masks, val_acc: float, accepted: bool, *, meets: bool, epochs: int,
                   method: str, status: str, solve_seconds: float, step_seconds: float,
                   n_items: float = float("nan"), gap: float = 0.0, repairs: int = 0,
                   started_from: str = "current", reselected: bool | None = None,
                   ) -> dict[str, Any]:
    """One trajectory.csv row (:data:`rasp.prune.results.TRAJECTORY_COLUMNS`) of any pruning
    method: the step's budget (fraction and absolute), the estimate ``est`` of its masks,
    how the step chose (method, status, seconds) and the validation accuracy."""
    row = {
        "step": step,
        "budget_fraction": fraction,
        "target_dsp": step_budget.get("dsp", float("nan")),
        "target_bram_18k": step_budget.get("bram_18k", float("nan")),
        "achieved_dsp": float(est["dsp"]),
        "achieved_bram_18k": float(est["bram_18k"]),
        "achieved_multipliers": float(est["multipliers"]),
        "meets_budget": bool(meets),
        "sparsity": sparsity(masks)["total"],
        "val_accuracy": val_acc,
        "accepted": bool(accepted),
        "started_from": started_from,
        "finetune_epochs": int(epochs),
        "solver_method": method,
        "solver_status": status,
        "n_items": n_items,
        "solve_seconds": solve_seconds,
        "gap": gap,
        "repairs": int(repairs),
    }
    if reselected is not None:
        row["reselected_after_finetune"] = reselected
    row["step_seconds"] = step_seconds
    return row


def finetune(model: nn.Module, data: Any, cfg: PruneConfig, masks: Masks, *, epochs: int,
             seed: int, items: ItemSet | None = None, frozen: Masks | None = None,
             params: Sequence[str] | None = None, threads: int | None = None,
             device: str = "auto", logger: logging.Logger | None = None) -> None:
    """Fine-tune ``model`` for ``epochs`` with ``masks`` held at zero (:func:`rasp.train.fit`,
    a fresh optimiser, the block's ``finetune`` settings and ``finetune_samples``), the
    group lasso of ``cfg`` over ``items`` and the ``frozen`` (csd-rounded) weights held
    fixed (``params``: the weights in layer order, default the masks' order). The model
    ends on the CPU."""
    reg = (_group_lasso(model, list(params or masks), items, masks, cfg.group_lasso)
           if cfg.group_lasso > 0 else None)
    tc = TrainConfig.from_dict({**cfg.finetune, "epochs": int(epochs), "seed": seed,
                                "threads": threads, "device": device})
    ft_data = _finetune_data(data, cfg.finetune_samples, seed)
    log = logger or logging.getLogger(__name__)
    log.info("fine-tuning %d epoch(s) on %d samples", epochs, len(ft_data["y_train"]))
    fit(model, ft_data, tc, masks=masks, regularizer=reg, logger=log,
        frozen=None if frozen is None else {p: frozen[p] & masks[p] for p in frozen})
    model.to("cpu")


def _finetune_data(data: Any, samples: int | None, seed: int) -> dict[str, Any]:
    """Train split (or a seeded random subset of ``samples`` of it) plus the val split."""
    x, y = data.x_train, data.y_train
    if samples is not None and int(samples) < len(y):
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(y), size=int(samples), replace=False))
        x, y = x[idx], y[idx]
    return {"x_train": x, "y_train": y, "x_val": data.x_val, "y_val": data.y_val}


def _group_lasso(model: nn.Module, params: list[str], items: ItemSet | None, masks: Masks,
                 coefficient: float) -> GroupLasso:
    """Group lasso over the kept, non-forced-by-construction primary structures (single
    weights for unstructured)."""
    if items is None:
        sizes = [masks[p].numel() for p in params]
        starts = np.cumsum([0, *sizes])
        member = {p: (np.arange(k), s + np.arange(k))  # one group per weight
                  for p, k, s in zip(params, sizes, starts[:-1], strict=True)}
        active = np.concatenate([masks[p].reshape(-1).numpy() for p in params])
        return GroupLasso(model, member, int(starts[-1]), coefficient, active=active)
    alive = items.alive(masks)
    active = items.lasso & alive & ~items.output
    # neurons: only the neuron's own row (a next-layer column overlaps the next neurons)
    member = {}
    for name, (flat, ids) in items.members.items():
        own = (items.layer[ids] == name.rsplit(".", 1)[0]) & active[ids]
        flat, ids = flat[own], ids[own]
        # a weight shared by two structures (a pattern straddling two BRAM columns) is
        # penalised in the first one only
        _, first = np.unique(flat, return_index=True)
        member[name] = (flat[first], ids[first])
    return GroupLasso(model, member, items.n, coefficient, active=active)
