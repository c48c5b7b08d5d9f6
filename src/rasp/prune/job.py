"""One prune job of the workflow (rule ``prune``): read the baseline, prune, write results.

Outputs (all written atomically) in ``results/{dataset}/pruned/{variant}/
{objective}_rf{RF}_b{budget}/``:

- ``model.pt``: :func:`rasp.models.save_checkpoint` with meta ``variant``, ``dataset``,
  ``seed``, ``data_source``, ``objective``, ``reuse_factor``, ``budget_percent``,
  ``masks_file`` ("masks.pt", next to it), ``masks`` (the same masks), ``hls`` (hardware
  settings, reuse factor, strategy per layer: what the structures assumed) and the
  pruning settings.
- ``masks.pt``: :func:`rasp.models.save_masks` (parameter name -> bool, True = kept).
- ``metrics.json``: see :func:`rasp.prune.pruner.prune` plus dataset, variant, data source
  and provenance, baseline checkpoint.
- ``trajectory.csv``: one row per step (:data:`rasp.prune.results.TRAJECTORY_COLUMNS`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rasp.prune.config import LAYERWISE_OBJECTIVES, PruneConfig
from rasp.prune.pruner import prune
from rasp.prune.results import write_json, write_trajectory


def load_baseline_and_data(baseline_path: str | Path, data_path: str | Path):
    """The baseline checkpoint (model, meta) and the processed data, refusing a pair whose
    data sources differ (a stand-in model on real data, or the other way round)."""
    from rasp.data.processed import load_processed
    from rasp.models import load_checkpoint

    model, meta = load_checkpoint(baseline_path)
    data = load_processed(data_path)
    if meta.get("data_source") not in (None, data.source):
        raise ValueError(
            f"baseline {baseline_path} was trained on data source {meta.get('data_source')!r} "
            f"but {data_path} is {data.source!r}; retrain the baseline (rule train_baseline)"
        )
    return model, meta, data


def prune_job(
    baseline_path: str | Path,
    data_path: str | Path,
    *,
    dataset: str,
    variant: str,
    objective: str,
    reuse_factor: int,
    budget_percent: float,
    hardware: Mapping[str, Any],
    pruning: Mapping[str, Any],
    seed: int,
    out_model: str | Path,
    out_masks: str | Path,
    out_metrics: str | Path,
    out_trajectory: str | Path,
    threads: int | None = None,
    device: str = "auto",
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Prune the baseline at ``baseline_path`` on the processed data at ``data_path``.

    ``budget_percent``: target in percent of the baseline's estimated resources.
    ``hardware``: the ``hardware.<dataset>`` config block; ``pruning``: the
    ``pruning.<dataset>`` block (sweep keys are ignored). Objectives ``layerwise`` and
    ``layerwise+quant`` run :func:`rasp.prune.layerwise.prune_layerwise`, the others
    :func:`rasp.prune.pruner.prune`. Returns the metrics dict.
    """
    from rasp.models import save_checkpoint, save_masks

    log = logger or logging.getLogger(__name__)
    cfg = PruneConfig.from_dict(pruning)
    budget_percent = float(budget_percent)
    model, meta, data = load_baseline_and_data(baseline_path, data_path)
    log.info(
        "prune %s/%s objective=%s rf=%d budget=%g%% seed=%d: baseline %s, data %s (%s), "
        "train/val/test = %d/%d/%d, threads %s, device %s",
        dataset, variant, objective, reuse_factor, budget_percent, seed, baseline_path,
        data_path, data.source, len(data.y_train), len(data.y_val), len(data.y_test),
        threads, device,
    )
    common = dict(objective=objective, reuse_factor=int(reuse_factor),
                  budget=budget_percent / 100.0, hardware=hardware, seed=int(seed),
                  threads=threads, device=device, logger=log)
    if objective in LAYERWISE_OBJECTIVES:
        from rasp.prune.layerwise import prune_layerwise  # imports Brevitas: only when needed

        result = prune_layerwise(model, data, config=dict(pruning), **common)
    else:
        result = prune(model, data, config=cfg, **common)
    metrics = {
        "dataset": dataset,
        "variant": variant,
        "data_source": data.source,
        "provenance": data.provenance,
        "baseline_checkpoint": str(baseline_path),
        "baseline_seed": meta.get("seed"),
        **result.metrics,
        "threads": threads,
        "device": device,
    }
    hls = {
        "settings": dict(result.metrics["hardware"]),
        "reuse_factor": int(reuse_factor),
        "strategies": dict(result.metrics["strategies"]),
    }
    save_masks(out_masks, result.masks, {"objective": objective, "reuse_factor": int(reuse_factor),
                                         "budget_percent": budget_percent})
    ckpt_meta = {
        "variant": variant,
        "dataset": dataset,
        "seed": int(seed),
        "data_source": data.source,
        "objective": objective,
        "reuse_factor": int(reuse_factor),
        "budget_percent": budget_percent,
        "masks_file": Path(out_masks).name,
        "masks": result.masks,
        "hls": hls,
        "pruning": cfg.to_dict(),
        "baseline_checkpoint": str(baseline_path),
        "test_accuracy": result.metrics["test_accuracy"],
    }
    save_checkpoint(out_model, result.model, ckpt_meta)
    write_trajectory(out_trajectory, result.trajectory)
    write_json(out_metrics, metrics)
    return metrics


def ablation_job(
    baseline_path: str,
    data_path: str,
    *,
    dataset: str,
    variant: str,
    sparsities: Sequence[float],
    calibration_samples: int,
    seed: int,
    out_csv: str,
    scores: Sequence[str] | None = None,
    batch_size: int = 1024,
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """Run :func:`rasp.prune.layerwise.rank_correlation_ablation` on a baseline checkpoint
    and the processed data's training split (rule ``layerwise_ablation``); write
    ``out_csv`` (:data:`rasp.prune.layerwise.ABLATION_COLUMNS`) atomically. ``scores``:
    the channel scores compared (default: all of ``layerwise.SCORES``)."""
    from rasp.atomic import write_text_atomic
    from rasp.prune.layerwise import ABLATION_COLUMNS, SCORES, rank_correlation_ablation
    from rasp.quantize import calibration_subset

    scores = SCORES if scores is None else scores
    log = logger or logging.getLogger(__name__)
    model, _meta, data = load_baseline_and_data(baseline_path, data_path)
    x = calibration_subset(data.x_train, calibration_samples, seed)
    log.info("rank-correlation ablation %s/%s: %d calibration samples, sparsities %s, "
             "scores %s", dataset, variant, len(x), list(sparsities), list(scores))
    rows = rank_correlation_ablation(model, x, sparsities, scores=scores, batch_size=batch_size)
    df = pd.DataFrame(rows).assign(dataset=dataset, variant=variant, data_source=data.source,
                                   calibration_samples=len(x), seed=int(seed))
    df = df[list(ABLATION_COLUMNS)]
    for _, r in df.iterrows():
        log.info("%s %s after pruning %s to %.0f%%: spearman %.3f, kendall %.3f, kept overlap "
                 "%.3f", r["score"], r["layer"], r["previous_layer"],
                 100 * r["previous_sparsity"], r["spearman"], r["kendall_tau"],
                 r["kept_overlap"])
    write_text_atomic(out_csv, df.to_csv(index=False))
    return df
