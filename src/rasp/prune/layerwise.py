"""Objectives ``layerwise`` and ``layerwise+quant``: greedy layer-by-layer channel pruning in
which each layer is ranked on the network whose earlier layers are already pruned, plus
(``+quant``) uniform power-of-two quantisation with a short quantisation-aware fine-tune.

The method of Zhang, Colbert and Das, "Learning Low-Precision Structured Subnetworks Using
Joint Layerwise Channel Pruning and Uniform Quantization" (Applied Sciences 12(15):7829,
2022), on this project's models, budgets and hardware model, so that its points sit on the
same plots as the knapsack objectives (docs/layerwise.md).

Channels. A prunable layer is every Linear / Conv2d but the last (the output layer's
outputs are never removed). Removing output channel ``c`` of layer ``l`` zeroes row ``c``
of its weight (a Conv2d: filter ``c``, all input channels and taps) and every input of
layer ``l+1`` that ``c`` feeds (a Conv2d: input channel ``c``; a Linear after a flatten of
a (C, H, W) map: the H*W features of channel ``c``). Masks hold exactly that, so
:func:`rasp.train.fit` keeps the channel removed through fine-tuning and hls4ml sees zero
rows and columns (which the hardware model prices).

Score of a channel (``score``), measured on a calibration set of ``calibration_samples``
training samples drawn with the seed, the model in eval mode (BatchNorm running statistics):

- ``activation``: mean absolute value of the channel's activations at the input of the
  next weight layer, i.e. after its BatchNorm, ReLU, pooling and flatten, averaged over
  the calibration samples and (Conv2d) all spatial positions / (flatten) the channel's
  features. Unit: the activation's unit.
- ``activation_x_weight``: that mean times the L2 norm of the channel's outgoing weights
  (its columns / input-channel slice of the next layer's current weight), i.e. the size of
  its typical contribution to the next layer's pre-activations.

Greedy order. For the prunable layers in forward order: (1) run the calibration set through
the model in which every earlier layer is already pruned (and fine-tuned) and score this
layer's channels; (2) remove its lowest-scoring channels down to its share of the budget;
(3) fine-tune ``finetune_epochs`` epochs with the masks (the pruning block's setting; the
last layer gets ``final_finetune_epochs``); (4) move on.

Budget. The same resources and fractions as the other objectives: ``budget`` x the
baseline's estimated total of each budgeted resource (``dsp``, ``bram_18k``, or
``weight_bits`` = non-zero weights x weight width, summed over layers), measured with
:func:`rasp.hardware.estimate.estimate_layers` on the masks. How it is split over layers
(``budget_split``):

- ``channels`` (default): every remaining layer keeps the same fraction of its channels.
  At layer ``l`` the fraction is re-planned: the largest kept count ``k`` of layer ``l``
  such that, with every later prunable layer ``j`` keeping ``ceil(k / n_l x n_j)`` channels
  (chosen provisionally by their current scores), the whole network's estimate meets the
  budget. The last layer's check involves no provisional choice, so a feasible run meets
  the budget exactly by the estimate.
- ``resource``: every layer gets the same fraction of its own baseline resources,
  cumulatively: after pruning layer ``l``, the estimated resources of layers ``1..l`` must
  be at most ``budget`` x their baseline total (unused share carries forward). The output
  layer, whose inputs the last prunable layer removes, is added to the last check, which
  therefore covers the whole network.

Both keep at least ``min_channels`` channels per layer. When even that exceeds the budget
(tiny budgets), earlier layers are trimmed further, last layer first, by their latest
scores; a budget that still cannot be met is reported (``meets_budget`` false).

Quantisation (``layerwise+quant``): after the last layer, :func:`rasp.quantize.
quantize_and_finetune` replaces the network by its QAT twin (power-of-two scales, ranges
from calibration statistics, see :mod:`rasp.quantize`) and fine-tunes it with the masks;
the resources are then estimated for the quantised types (narrower weights use less BRAM
and weight memory, and narrow products need no DSP).

Units: budgets are fractions of the baseline; resources DSP48E2 slices, BRAM_18K blocks and
bits; times wall seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from rasp import schemas
from rasp.hardware.estimate import estimate_layers
from rasp.hardware.hls_config import make_hls_config
from rasp.hardware.layers import describe_model, trace_weight_layers
from rasp.hardware.settings import HardwareSettings
from rasp.prune.config import BLOCK, LAYERWISE_OBJECTIVES, PruneConfig
from rasp.prune.masks import Masks, clone_masks, full_masks, masks_hold, sparsity
from rasp.prune.pruner import (
    PruneResult,
    builtin,
    describe_target,
    finetune,
    outcome_metrics,
    reported_totals,
    trajectory_row,
)
from rasp.prune.selection import within_budget
from rasp.quantize import QuantConfig, calibration_subset, quantize_and_finetune
from rasp.seeds import derive_seed
from rasp.train import apply_masks, evaluate

OBJECTIVES = LAYERWISE_OBJECTIVES
SCORES = schemas.enum(BLOCK, "layerwise", "score")
#: Resources a layerwise budget may apply to (weight_bits: non-zero weights x width).
RESOURCES = ("dsp", "bram_18k", "weight_bits")


@dataclass(frozen=True)
@schemas.defaults_from(BLOCK, "layerwise")
class LayerwiseConfig(schemas.Settings):
    """Settings of the layerwise objectives (the ``layerwise`` key of a pruning block).

    - ``score``: activation | activation_x_weight (module docstring).
    - ``calibration_samples``: training samples the scores (and quantisation ranges) are
      measured on; ``calibration_batch_size``: samples per forward pass.
    - ``budget_split``: channels | resource (module docstring).
    - ``min_channels``: channels every prunable layer keeps at least.
    - ``budget_resources``: resources the budget applies to (dsp, bram_18k, weight_bits);
      None = the pruning block's ``budget_resources``.
    - ``ablation_sparsities``: sparsities (fractions of channels removed) of the previous
      layer in the rank-correlation ablation; ``ablation_variant``: model variant it uses
      (None = the first pruned variant).
    """

    score: str
    calibration_samples: int
    calibration_batch_size: int
    budget_split: str
    min_channels: int
    budget_resources: tuple[str, ...] | None
    ablation_sparsities: tuple[float, ...]
    ablation_variant: str | None

    WHERE = "layerwise"

    def __post_init__(self) -> None:
        schemas.check_fields(self, BLOCK, "layerwise", where="layerwise")


def split_block(block: Mapping[str, Any] | None) -> tuple[PruneConfig, LayerwiseConfig, QuantConfig]:
    """Split a ``pruning.<dataset>`` block into the shared :class:`PruneConfig` and this
    objective's :class:`LayerwiseConfig` and :class:`~rasp.quantize.QuantConfig`."""
    block = dict(block or {})
    lw = LayerwiseConfig.from_dict(block.pop("layerwise", None))
    quant = QuantConfig.from_dict(block.pop("quantization", None))
    return PruneConfig.from_dict(block), lw, quant


# --------------------------------------------------------------------------------------
# Channels and their weights
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelGroup:
    """The output channels of one prunable layer and the weights each one owns.

    ``param`` / ``next_param``: weight names of the layer and of the next weight layer;
    ``features_per_channel``: inputs of the next layer fed by one channel (1, or H*W when a
    Linear follows a flatten of a (C, H, W) map; a Conv2d next layer: its input channel).
    """

    index: int
    name: str
    param: str
    n_channels: int
    next_name: str
    next_param: str
    next_kind: str
    features_per_channel: int

    def remove(self, masks: Masks, channels: Sequence[int] | np.ndarray) -> None:
        """Mark ``channels`` removed in ``masks`` (in place): their rows and the next
        layer's inputs they feed."""
        ch = torch.as_tensor(np.asarray(channels, dtype=np.int64).reshape(-1))
        masks[self.param][ch] = False
        nxt = masks[self.next_param]
        if self.next_kind == "conv2d":
            nxt[:, ch] = False
        else:
            per = self.features_per_channel
            cols = (ch[:, None] * per + torch.arange(per)[None, :]).reshape(-1)
            nxt[:, cols] = False

    def alive(self, masks: Mapping[str, torch.Tensor]) -> np.ndarray:
        """Bool per channel: True while any weight of its row is kept."""
        m = torch.as_tensor(masks[self.param])
        return m.reshape(m.shape[0], -1).any(dim=1).cpu().numpy()


def channel_groups(model: nn.Module, layer_names: Sequence[str]) -> list[ChannelGroup]:
    """One :class:`ChannelGroup` per weight layer of ``layer_names`` (forward order) but the
    last. Raises for models that are not a plain chain (a layer's outputs must map onto the
    next layer's inputs)."""
    named = dict(model.named_modules())
    groups = []
    for i, name in enumerate(layer_names[:-1]):
        mod, nxt_name = named[name], layer_names[i + 1]
        nxt = named[nxt_name]
        n_out = int(mod.weight.shape[0])
        if isinstance(nxt, nn.Conv2d):
            if int(nxt.weight.shape[1]) != n_out:
                raise ValueError(f"{nxt_name} has {nxt.weight.shape[1]} input channels but "
                                 f"{name} has {n_out} outputs: channel pruning needs a chain")
            kind, per = "conv2d", 1
        elif isinstance(nxt, nn.Linear):
            n_in = int(nxt.weight.shape[1])
            if n_in % n_out:
                raise ValueError(f"cannot map the {n_out} outputs of {name} onto the {n_in} "
                                 f"inputs of {nxt_name}: channel pruning needs a chain")
            kind, per = "linear", n_in // n_out
        else:
            raise TypeError(f"{nxt_name} is a {type(nxt).__name__}, not a Linear/Conv2d")
        groups.append(ChannelGroup(i, name, f"{name}.weight", n_out, nxt_name,
                                   f"{nxt_name}.weight", kind, per))
    return groups


def weight_layer_names(model: nn.Module, input_shape: Sequence[int]) -> list[str]:
    """Linear/Conv2d module names in forward order (as hls4ml's tracer sees them)."""
    return [w.name for w in trace_weight_layers(model, input_shape).weight_layers]


@torch.no_grad()
def channel_scores(
    model: nn.Module,
    groups: Sequence[ChannelGroup],
    x_calib: torch.Tensor,
    *,
    score: str = "activation",
    batch_size: int = 1024,
) -> list[np.ndarray]:
    """Score of every output channel of each group, measured on ``x_calib`` (module
    docstring). One forward pass over the calibration set serves every group; the model
    is in eval mode during it. Returns float64 arrays, one per group, in group order."""
    if score not in SCORES:
        raise ValueError(f"unknown channel score {score!r}; expected one of {SCORES}")
    named = dict(model.named_modules())
    sums = [torch.zeros(g.n_channels, dtype=torch.float64) for g in groups]
    hooks = []
    for k, g in enumerate(groups):
        def hook(module, args, k=k, g=g):
            x = args[0]
            x = getattr(x, "value", x).detach().to("cpu", torch.float64)
            # a channel's features: (Conv2d) its spatial positions, (Linear) its flattened map
            sums[k] += x.abs().reshape(x.shape[0], g.n_channels, -1).mean(dim=2).sum(dim=0)
        hooks.append(named[g.next_name].register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    count = 0
    try:
        for start in range(0, x_calib.shape[0], batch_size):
            xb = x_calib[start:start + batch_size]
            model(xb)
            count += xb.shape[0]
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if count == 0:
        raise ValueError("the calibration set is empty")
    out = []
    for g, s in zip(groups, sums, strict=True):
        act = s / count
        if score == "activation_x_weight":
            w = named[g.next_name].weight.detach().to("cpu", torch.float64)
            w = w.reshape(w.shape[0], g.n_channels, -1).transpose(0, 1)  # channel, out, features
            act = act * w.reshape(g.n_channels, -1).norm(dim=1)
        out.append(act.numpy())
    return out


def resource_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per-layer budgetable resources from an estimate table: dsp, bram_18k and
    weight_bits (= nonzero_weights x weight_bits, in bits)."""
    return pd.DataFrame({
        "dsp": table["dsp"].astype(float),
        "bram_18k": table["bram_18k"].astype(float),
        "weight_bits": table["nonzero_weights"].astype(float) * table["weight_bits"].astype(float),
    }, index=table.index)


def _largest_feasible(lo: int, hi: int, ok: Callable[[int], bool]) -> tuple[int, bool, int]:
    """Largest k in [lo, hi] with ok(k) for a monotone ok; (lo, False) when none.
    Returns (k, feasible, evaluations)."""
    evals = 1
    if ok(hi):
        return hi, True, evals
    evals += 1
    if not ok(lo):
        return lo, False, evals
    while hi - lo > 1:
        mid = (lo + hi) // 2
        evals += 1
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, True, evals


def _step_seed(seed: int, step: int) -> int:
    return derive_seed(seed, step, 11)  # 11: a stream apart from the knapsack pruner's


def _row(step: int, budget: float, budget_abs: Mapping[str, float], est: pd.Series,
         tot: pd.Series, masks: Masks, val_acc: float, accepted: bool, epochs: int,
         method: str, status: str, seconds: float, step_seconds: float,
         repairs: int = 0) -> dict[str, Any]:
    """A layerwise step's trajectory row (a greedy per-layer choice, not one knapsack)."""
    meets = within_budget(tot, budget_abs)
    return trajectory_row(step, budget, budget_abs, est, masks, val_acc, accepted, meets=meets,
                          epochs=epochs, method=method, status=status, solve_seconds=seconds,
                          step_seconds=step_seconds, repairs=repairs)


# --------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------


def prune_layerwise(
    model: nn.Module,
    data: Any,
    *,
    objective: str,
    reuse_factor: int,
    budget: float,
    hardware: HardwareSettings | Mapping[str, Any],
    config: PruneConfig | Mapping[str, Any] | None = None,
    layerwise: LayerwiseConfig | Mapping[str, Any] | None = None,
    quantization: QuantConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    threads: int | None = None,
    device: str = "auto",
    logger: logging.Logger | None = None,
) -> PruneResult:
    """Prune ``model`` (trained; modified in place) to ``budget`` x its estimated resources
    with the ``layerwise`` or ``layerwise+quant`` objective (module docstring).

    Same arguments and result as :func:`rasp.prune.pruner.prune`. ``config`` may be the
    whole ``pruning.<dataset>`` block: its ``layerwise`` and ``quantization`` keys are split
    off (explicit ``layerwise`` / ``quantization`` arguments take precedence). The result's
    model is the QAT model for ``layerwise+quant``.
    """
    log = logger or logging.getLogger(__name__)
    if objective not in OBJECTIVES:
        raise ValueError(f"prune_layerwise runs objectives {OBJECTIVES}, not {objective!r}")
    if isinstance(config, PruneConfig):
        cfg, lw, qc = config, LayerwiseConfig(), QuantConfig()
    else:
        cfg, lw, qc = split_block(config)
    if layerwise is not None:
        lw = layerwise if isinstance(layerwise, LayerwiseConfig) else \
            LayerwiseConfig.from_dict(layerwise)
    if quantization is not None:
        qc = quantization if isinstance(quantization, QuantConfig) else \
            QuantConfig.from_dict(quantization)
    resources = tuple(lw.budget_resources or cfg.budget_resources)
    # group lasso acts on knapsack structures; channels are pruned by their scores here
    no_lasso = dataclasses.replace(cfg, group_lasso=0.0)
    t_start = time.perf_counter()
    target = describe_target(model, data, hardware, reuse_factor, budget, seed, threads, log)
    model, settings, budget = target.model, target.settings, float(budget)
    hls_config, layers, params = target.hls_config, target.layers, target.params
    input_shape = target.input_shape
    groups = channel_groups(model, [layer.name for layer in layers])
    if not groups:
        raise ValueError("layerwise pruning needs at least one hidden Linear/Conv2d layer")

    def table(masks: Masks | None):
        return estimate_layers(layers, model, masks)

    base_tab = table(None)
    base_res = resource_table(base_tab.layers)
    base_tot = base_res.sum()
    for r in resources:
        if base_tot[r] <= 0:
            raise ValueError(
                f"objective {objective!r} budgets {r}, but the baseline uses no {r} at RF "
                f"{reuse_factor} with these hardware settings (strategies "
                f"{sorted({lay.strategy for lay in layers})}); pick another resource "
                "(layerwise.budget_resources) or a reuse factor / precision that uses it"
            )
    budget_abs = {r: budget * float(base_tot[r]) for r in resources}
    log.info(
        "%s RF=%d budget=%.4g%% of baseline %s -> %s; score=%s, split=%s, calibration %d "
        "samples, finetune %d (+%d last) epochs per layer",
        objective, reuse_factor, 100 * budget, {r: float(base_tot[r]) for r in resources},
        {r: round(v, 2) for r, v in budget_abs.items()}, lw.score, lw.budget_split,
        lw.calibration_samples, cfg.finetune_epochs, cfg.last_epochs,
    )

    x_cal = torch.as_tensor(calibration_subset(data.x_train, lw.calibration_samples, seed))
    base_val = float(evaluate(model, data.x_val, data.y_val)["accuracy"])
    base_test = float(evaluate(model, data.x_test, data.y_test)["accuracy"])
    threshold = cfg.rtol * base_val
    log.info("baseline val accuracy %.4f, test accuracy %.4f", base_val, base_test)

    masks = full_masks(model, params)
    layer_index = {layer.name: i for i, layer in enumerate(layers)}
    n_groups = len(groups)
    min_c = int(lw.min_channels)
    last_scores: dict[int, np.ndarray] = {}
    steps_info: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    total_select = 0.0

    def totals(m: Masks) -> pd.Series:
        return resource_table(table(m).layers).sum()

    for i, g in enumerate(groups):
        t_step = time.perf_counter()
        last = i == n_groups - 1
        scores = channel_scores(model, groups[i:], x_cal, score=lw.score,
                                batch_size=lw.calibration_batch_size)
        last_scores.update(enumerate(scores, start=i))
        orders = [np.argsort(s, kind="stable") for s in scores]  # lowest score first
        n_i = g.n_channels

        if lw.budget_split == "channels":
            def candidate(k: int, i=i, orders=orders, n_i=n_i) -> Masks:
                m = clone_masks(masks)
                for j in range(i, n_groups):
                    n_j = groups[j].n_channels
                    k_j = k if j == i else max(min(min_c, n_j), math.ceil(k / n_i * n_j - 1e-9))
                    groups[j].remove(m, orders[j - i][: n_j - k_j])
                return m

            def ok(k: int) -> bool:
                return within_budget(totals(candidate(k)), budget_abs)
        else:
            covered = [lay.name for lay in layers[: layer_index[g.name] + 1 + (1 if last else 0)]]
            share = {r: budget * float(base_res.loc[covered, r].sum()) for r in resources}

            def candidate(k: int, orders=orders, n_i=n_i, g=g) -> Masks:
                m = clone_masks(masks)
                g.remove(m, orders[0][: n_i - k])
                return m

            def ok(k: int, covered=covered, share=share) -> bool:
                res = resource_table(table(candidate(k)).layers).loc[covered]
                return within_budget({r: float(res[r].sum()) for r in resources}, share)

        kept, feasible, evals = _largest_feasible(min(min_c, n_i), n_i, ok)
        removed = orders[0][: n_i - kept]
        g.remove(masks, removed)
        apply_masks(model, masks)
        repairs = 0
        if last and not within_budget(totals(masks), budget_abs):
            repairs = _repair(groups, masks, last_scores, budget_abs, totals, min_c, log)
            apply_masks(model, masks)
        select_seconds = time.perf_counter() - t_step
        total_select += select_seconds
        log.info("step %d (%s): scores min %.4g mean %.4g max %.4g; keep %d of %d channels "
                 "(%s split, %s, %d estimates)%s", i + 1, g.name, float(scores[0].min()),
                 float(scores[0].mean()), float(scores[0].max()), kept, n_i, lw.budget_split,
                 "feasible" if feasible else "over budget even at the minimum: later layers must make up",
                 evals,
                 f"; {repairs} repair removal(s)" if repairs else "")

        epochs = cfg.last_epochs if last else cfg.finetune_epochs
        step_seed = _step_seed(seed, i + 1)
        if epochs > 0:  # the block's fine-tune settings, finetune_samples included
            finetune(model, data, no_lasso, masks, epochs=epochs, seed=step_seed,
                     threads=threads, device=device, logger=log)
        if not masks_hold(model, masks):
            raise RuntimeError("masked weights are not zero after fine-tuning")
        val_acc = float(evaluate(model, data.x_val, data.y_val)["accuracy"])
        est = table(masks).totals
        tot = totals(masks)
        steps_info.append({
            "step": i + 1, "layer": g.name, "channels": n_i, "kept": int(g.alive(masks).sum()),
            "removed": sorted(int(c) for c in np.flatnonzero(~g.alive(masks))),
            "planned_fraction": kept / n_i, "feasible": bool(feasible), "repairs": repairs,
            "score_min": float(scores[0].min()), "score_mean": float(scores[0].mean()),
            "score_max": float(scores[0].max()), "finetune_epochs": int(epochs),
            "val_accuracy": val_acc, "seed": step_seed,
        })
        rows.append(_row(i + 1, budget, budget_abs, est, tot, masks, val_acc,
                         val_acc >= threshold, epochs, f"layerwise-{lw.score}",
                         f"{g.name}: kept {kept}/{n_i} ({lw.budget_split} split"
                         f"{'' if feasible else ', infeasible'})", select_seconds,
                         time.perf_counter() - t_step, repairs=repairs))
        log.info("step %d: val accuracy %.4f (baseline %.4f); estimate %s", i + 1, val_acc,
                 base_val, {r: float(tot[r]) for r in RESOURCES})

    quant_report: dict[str, Any] | None = None
    final_layers = layers
    if objective == "layerwise+quant":
        t_step = time.perf_counter()
        qseed = _step_seed(seed, n_groups + 1)
        qres = quantize_and_finetune(
            model, data, qc, masks=masks, x_calib=x_cal.numpy(), finetune=cfg.finetune,
            seed=qseed, threads=threads, device=device, logger=log,
        )
        model = qres.model
        quant_report = qres.report
        hls_config = make_hls_config(model, input_shape, settings, int(reuse_factor))
        final_layers = describe_model(model, hls_config, input_shape=input_shape,
                                      settings=settings)
        est_q = estimate_layers(final_layers, model, masks)
        tot_q = resource_table(est_q.layers).sum()
        val_acc = float(evaluate(model, data.x_val, data.y_val)["accuracy"])
        rows.append(_row(n_groups + 1, budget, budget_abs, est_q.totals, tot_q, masks,
                         val_acc, val_acc >= threshold, qc.finetune_epochs, "uniform-quantisation",
                         f"w{qc.weight_bits} a{qc.act_bits} in{qc.resolved_input_bits} "
                         f"({qc.weight_range}/{qc.act_range} ranges)",
                         quant_report["seconds"], time.perf_counter() - t_step))

    final = estimate_layers(final_layers, model, masks)
    final_res = resource_table(final.layers)
    totals_out = reported_totals(final)
    totals_out["weight_bits"] = float(final_res["weight_bits"].sum())
    base_out = reported_totals(base_tab)
    base_out["weight_bits"] = float(base_tot["weight_bits"])
    meets = within_budget(totals_out, budget_abs)
    if not meets:
        log.warning("the estimate %s exceeds the budget %s even with %d channel(s) per layer",
                    {r: totals_out[r] for r in resources}, budget_abs, min_c)

    def reduction(key: str) -> float | None:  # the weight memory; outcome_metrics does the rest
        return 1.0 - totals_out[key] / base_out[key] if base_out[key] > 0 else None

    metrics: dict[str, Any] = {
        **outcome_metrics(
            model, data, final, base_tab, objective=objective, reuse_factor=reuse_factor,
            budget=budget, resources=resources, budget_abs=budget_abs, meets=meets,
            base_val=base_val, base_test=base_test, rtol=cfg.rtol, totals=totals_out,
            base_totals=base_out),
        "weight_memory_bits": totals_out["weight_bits"],
        "baseline_weight_memory_bits": base_out["weight_bits"],
        "weight_memory_reduction": reduction("weight_bits"),
        "sparsity": sparsity(masks),
        "solver_method": f"layerwise-{lw.score}",
        "solver_status": "greedy",
        "solve_seconds": total_select,
        "gap": 0.0,
        "final_step": len(rows),
        "steps": len(rows),
        "seed": int(seed),
        "importance": lw.score,
        "normalisation": "none",
        "schedule": f"layerwise-{lw.budget_split}",
        "pruning_config": cfg.to_dict(),
        "layerwise": {**lw.to_dict(), "resolved_budget_resources": list(resources),
                      "calibration_samples_used": int(x_cal.shape[0]), "steps": steps_info},
        "quantized": bool(getattr(model, "quantized", False)),
        "model_kwargs": dict(getattr(model, "model_kwargs", {})),
        "quantization": quant_report,
        "hardware": settings.to_dict(),
        "strategies": {lay.name: lay.strategy for lay in final_layers},
        "wall_seconds": time.perf_counter() - t_start,
    }
    accepted = rows[-1]["accepted"]
    metrics["best_accepted_budget_fraction"] = budget if accepted else 1.0
    metrics["best_accepted_val_accuracy"] = metrics["val_accuracy"] if accepted else None
    for table, res, key in ((final, final_res, "layers"), (base_tab, base_res, "baseline_layers")):
        for name, row in table.layers.iterrows():
            metrics[key][name].update(weight_bits=builtin(row["weight_bits"]),
                                      weight_memory_bits=float(res.loc[name, "weight_bits"]))
    for g in groups:
        metrics["layers"][g.name]["channels"] = g.n_channels
        metrics["layers"][g.name]["channels_kept"] = int(g.alive(masks).sum())
    test_acc = metrics["test_accuracy"]
    log.info(
        "result: test accuracy %.4f (baseline %.4f); dsp %.0f/%.0f, bram_18k %.0f/%.0f, "
        "weight memory %.0f/%.0f bits, sparsity %.3f, %s budget; %.1f s",
        test_acc, base_test, totals_out["dsp"], base_out["dsp"], totals_out["bram_18k"],
        base_out["bram_18k"], totals_out["weight_bits"], base_out["weight_bits"],
        metrics["sparsity"]["total"], "meets" if meets else "EXCEEDS", metrics["wall_seconds"],
    )
    return PruneResult(model=model, masks=masks, metrics=metrics, trajectory=rows,
                       hls_config=hls_config, layer_table=final.table())


def _repair(groups: Sequence[ChannelGroup], masks: Masks, scores: Mapping[int, np.ndarray],
            budget_abs: Mapping[str, float], totals: Callable[[Masks], pd.Series], min_c: int,
            log: logging.Logger) -> int:
    """Remove further channels, last layer first, by their latest scores, until the whole
    network meets the budget (or every layer is at ``min_c``). Returns channels removed."""
    removed = 0
    for g in reversed(groups):
        alive = np.flatnonzero(g.alive(masks))
        floor = min(min_c, g.n_channels)
        if alive.size <= floor:
            continue
        order = alive[np.argsort(scores[g.index][alive], kind="stable")]

        def trimmed(extra: int, g=g, order=order) -> Masks:
            m = clone_masks(masks)
            g.remove(m, order[:extra])
            return m

        def ok(keep: int, order=order, trimmed=trimmed) -> bool:
            return within_budget(totals(trimmed(order.size - keep)), budget_abs)

        keep, feasible, _ = _largest_feasible(floor, order.size, ok)
        extra = order.size - keep
        g.remove(masks, order[:extra])
        removed += extra
        log.warning("budget repair: removed %d more channel(s) of %s", extra, g.name)
        if feasible:
            break
    return removed


# --------------------------------------------------------------------------------------
# Ablation: does pruning the previous layer change a layer's channel ranking?
# --------------------------------------------------------------------------------------

#: Columns of rank_correlation.csv.
ABLATION_COLUMNS = (
    "dataset", "variant", "data_source", "score", "layer", "previous_layer", "channels",
    "previous_channels", "previous_sparsity", "previous_removed", "spearman",
    "spearman_pvalue", "kendall_tau", "kept_overlap", "calibration_samples", "seed",
)


def rank_correlation_ablation(
    model: nn.Module,
    x_calib: np.ndarray | torch.Tensor,
    sparsities: Sequence[float],
    *,
    scores: Sequence[str] = SCORES,
    batch_size: int = 1024,
) -> list[dict[str, Any]]:
    """Rank agreement between a layer's channel scores on the dense network and after the
    previous layer is pruned.

    For every prunable layer ``l`` with a prunable predecessor, every score kind and every
    sparsity ``s``: remove the ``round(s x n)`` lowest-scoring channels of layer ``l-1``
    (dense scores; at least one channel stays; no fine-tuning), re-score layer ``l`` on the
    calibration set and compare with its dense scores: Spearman's rho (and its p-value),
    Kendall's tau-b, and ``kept_overlap``, the fraction of the channels kept at the same
    sparsity ``s`` that both rankings keep. Returns one dict per comparison (no dataset
    columns: :func:`rasp.prune.job.ablation_job` adds them).
    """
    from scipy.stats import kendalltau, spearmanr

    model = copy.deepcopy(model).to("cpu").eval()
    x = torch.as_tensor(np.asarray(x_calib, dtype=np.float32))
    input_shape = tuple(getattr(model, "input_shape", x.shape[1:]))
    names = weight_layer_names(model, input_shape)
    groups = channel_groups(model, names)
    params = [f"{n}.weight" for n in names]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = []
    for kind in scores:
        dense = channel_scores(model, groups, x, score=kind, batch_size=batch_size)
        for i in range(1, len(groups)):
            prev, g = groups[i - 1], groups[i]
            for s in sparsities:
                n_remove = min(prev.n_channels - 1, int(round(float(s) * prev.n_channels)))
                masks = full_masks(model, params)
                prev.remove(masks, np.argsort(dense[i - 1], kind="stable")[:n_remove])
                apply_masks(model, masks)
                cond = channel_scores(model, [g], x, score=kind, batch_size=batch_size)[0]
                model.load_state_dict(state)  # undo the masks
                if np.ptp(dense[i]) == 0 or np.ptp(cond) == 0:
                    rho = p = tau = float("nan")
                else:
                    rho, p = spearmanr(dense[i], cond)
                    tau = kendalltau(dense[i], cond)[0]
                n_keep = max(1, g.n_channels - int(round(float(s) * g.n_channels)))
                top_d = set(np.argsort(-dense[i], kind="stable")[:n_keep].tolist())
                top_c = set(np.argsort(-cond, kind="stable")[:n_keep].tolist())
                out.append({
                    "score": kind, "layer": g.name, "previous_layer": prev.name,
                    "channels": g.n_channels, "previous_channels": prev.n_channels,
                    "previous_sparsity": float(s), "previous_removed": int(n_remove),
                    "spearman": float(rho), "spearman_pvalue": float(p),
                    "kendall_tau": float(tau), "kept_overlap": len(top_d & top_c) / n_keep,
                })
    return out


__all__ = [
    "ABLATION_COLUMNS",
    "OBJECTIVES",
    "RESOURCES",
    "SCORES",
    "ChannelGroup",
    "LayerwiseConfig",
    "channel_groups",
    "channel_scores",
    "prune_layerwise",
    "rank_correlation_ablation",
    "resource_table",
    "split_block",
    "weight_layer_names",
]
