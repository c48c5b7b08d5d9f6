"""One HLS run end to end (rule ``hls``): checkpoint in; hls_config.yml, csim.json,
resources.csv and project.tar.gz out.

Order of work, and what fails the run (each with a message naming the problem):

1. Load the checkpoint (and for a pruned model its ``masks.pt`` and ``metrics.json``).
   Masked-out weights must be zero; the pruning's reuse factor, hardware settings and
   per-layer strategies (``metrics.json``) must equal this run's.
2. :func:`rasp.hardware.make_hls_config` with ``hardware.<dataset>`` and the run's
   reuse factor: the same call the pruning made, so the same config.
3. Convert (:func:`rasp.hls.convert.convert_model`; RF/strategy/weight type asserted).
4. Estimate (:func:`rasp.hardware.estimate_layers`, QAT weights quantised first, as
   hls4ml sees them) and compare with the generated code: multipliers per layer
   (:func:`rasp.hls.resources.check_multipliers`) and every quantity
   :func:`rasp.hardware.check_estimate_matches_generated` checks.
5. C simulation when the run is selected (``hls.csim``): compile (cached), predict a
   seeded subset of the test set, fail below ``hls.min_agreement`` (the models
   ``hls.agreement_check`` holds to it; the others get a warning).
6. Synthesis when ``hls.synthesize`` says so and the tool is on PATH.
7. Write the outputs atomically; the project folder is a temporary directory.

8. With ``hls.da`` (C-simulated models only): the distributed-arithmetic design
   (:mod:`rasp.hls.da`): traced with da4ml at the converted model's types, checked
   against PyTorch like the C simulation, written as Verilog into the project and
   synthesised with Yosys; a second ``total`` row (``source = yosys``, strategy
   ``distributed_arithmetic``) goes into resources.csv and the block ``da`` into csim.json.

``csim.json`` keys: dataset, variant, run, objective (``baseline`` or the pruning
objective), budget (percent, null for baselines), reuse_factor, data_source, seed, flow
(pytorch | qonnx), backend, io_type, part, clock_period_ns, precision (of
hardware.<dataset>), model_precision (float | QAT w<bits> a<bits>), strategy (the
weight layers' strategies joined by ``+``), strategies / reuse_factors (per torch layer),
accuracy_torch and n_test (PyTorch on the whole test set), simulated, csim_reason and,
when simulated, agreement_enforced / agreement_enforced_reason (:func:`must_agree`),
agreement_passed, n_samples, accuracy_csim, accuracy_torch_subset, agreement,
max_abs_diff, mean_abs_diff, predict_seconds, compile_seconds, library_cached,
original_compile_seconds, min_agreement; always convert_seconds, hls_seconds (wall time
of the whole run), resource_source, synthesis (plan and tool), multipliers
(estimated = generated total), hls4ml_version; with ``hls.da``, ``da``
(:func:`rasp.hls.da.run_da_flow`). Fractions in [0, 1]; times in seconds.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from rasp import results, schemas
from rasp.atomic import write_json_atomic
from rasp.hls.archive import archive_project
from rasp.hls.convert import ConvertedModel, convert_model
from rasp.hls.csim import compile_library, predict, run_csim, torch_outputs
from rasp.hls.resources import (
    aligned_estimate,
    check_multipliers,
    da_total_row,
    resources_table,
    write_resources,
)
from rasp.hls.summary import finite_or_nan
from rasp.hls.synth import plan_synthesis, run_synthesis

log = logging.getLogger(__name__)

CSIM_MODES = schemas.enum("hls", "csim")
#: ``hls.agreement_check``: which C-simulated models must reach ``hls.min_agreement``.
AGREEMENT_CHECKS = schemas.enum("hls", "agreement_check")


class HlsInputError(ValueError):
    """Inputs of an HLS run that do not belong together (wrong masks, settings, RF ...)."""


@dataclass(frozen=True)
@schemas.defaults_from("hls")
class HlsOptions:
    """The ``hls`` config section; src/rasp/schemas/hls.schema.yaml (:mod:`rasp.schemas`)
    describes every key with its default, limits and units.

    Not hls keys, filled by the workflow: ``select_by`` (from ``figures.select_by``) and
    ``distributed_arithmetic`` (true for the datasets in the list ``hls.da``: build the
    distributed-arithmetic design of every C-simulated model, :func:`rasp.hls.da.run_da_flow`).
    ``csim: best`` picks by :func:`best_in_series`; ``agreement_check`` is :func:`must_agree`.
    """

    csim: str
    csim_samples: int
    min_agreement: float
    agreement_check: str
    synthesize: str
    vivado_synth: bool
    cache_dir: str | None
    archive_max_weights_mb: float
    diagnose_samples: int
    best_tolerance: float = schemas.default("figures", "tolerance")  # hls null = figures'
    select_by: str = "dsp"
    distributed_arithmetic: bool = False
    da_timeout_s: float

    def __post_init__(self) -> None:
        schemas.check_fields(self, "hls", ignore=("select_by", "distributed_arithmetic"))
        if self.select_by not in results.SELECT_BY:
            raise ValueError(f"select_by={self.select_by!r} (from figures.select_by); allowed: "
                             f"{list(results.SELECT_BY)}")
        if not isinstance(self.distributed_arithmetic, bool):
            raise ValueError(f"distributed_arithmetic={self.distributed_arithmetic!r} must be "
                             "true or false (the workflow sets it from the dataset list hls.da)")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> HlsOptions:
        """From the ``hls`` section (null = the default; ``cache_dir: null`` = no cache)."""
        data = {k: v for k, v in dict(data or {}).items() if v is not None or k == "cache_dir"}
        return cls(**schemas.known_keys(cls, data, "hls"))


def parse_run(run: str) -> tuple[str, int, float | None]:
    """``baseline_rf4`` -> (baseline, 4, None); ``dsp_rf4_b2.5`` -> (dsp, 4, 2.5)."""
    try:
        return results.parse_run_id(run)
    except results.RunIdError as err:
        raise HlsInputError(str(err)) from err


def _metric(metrics: Mapping[str, Any], *keys: str) -> float:
    """The first of ``keys`` whose value is a finite number, else NaN."""
    values = (finite_or_nan(metrics.get(key)) for key in keys)
    return next((v for v in values if not math.isnan(v)), math.nan)


def series_frame(series: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The pruning ``metrics.json`` of one series as the best-model rule reads them.

    One row per run id: ``accuracy`` (``test_accuracy``, fraction), ``baseline_accuracy``,
    the estimated ``dsp``, ``bram_18k``, ``lut``, ``multipliers`` (from ``resources``),
    ``baseline_dsp``, ``baseline_bram_18k`` and ``budget`` (%, from the run id).
    """
    rows = {}
    for run, metrics in series.items():
        _, _, budget = parse_run(run)
        totals = metrics.get("resources")
        base_totals = metrics.get("baseline_resources") or {}
        if not isinstance(totals, Mapping):
            raise HlsInputError(f"metrics.json of {run} has no 'resources' (estimated totals): "
                                "not written by this version of the prune rule; rerun it")
        rows[run] = {
            "accuracy": _metric(metrics, "test_accuracy", "accuracy"),
            "baseline_accuracy": _metric(metrics, "baseline_test_accuracy", "baseline_accuracy"),
            **{k: _metric(totals, k) for k in ("dsp", "bram_18k", "lut", "multipliers")},
            "baseline_dsp": _metric(base_totals, "dsp"),
            "baseline_bram_18k": _metric(base_totals, "bram_18k"),
            "budget": budget,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def best_in_series(series: Mapping[str, Mapping[str, Any]], tolerance: float,
                   select_by: str = "dsp") -> str | None:
    """Run id of the best pruned model of one series (dataset, variant, objective, RF).

    ``series``: run id -> the run's pruning ``metrics.json``. The rule is
    :func:`rasp.results.select_best` on the pruning's estimate (fewest ``select_by`` blocks
    among the models whose test accuracy is within ``tolerance`` (relative) of the
    baseline's, ties by LUT; the summary table applies the same rule to summary.csv); when
    no model is within tolerance, the most accurate one (ties: the lower budget).
    """
    frame = series_frame(series)
    frame = frame[frame["accuracy"].notna()]
    if frame.empty:
        return None
    base_acc = frame["baseline_accuracy"].dropna()
    if len(base_acc):
        baseline = {"accuracy": float(base_acc.iloc[0]),
                    "dsp": frame["baseline_dsp"].iloc[0],
                    "bram_18k": frame["baseline_bram_18k"].iloc[0]}
        best = results.select_best(frame, baseline, tolerance, select_by, "accuracy")
        if best is not None:
            return str(best)
    return str(frame.sort_values(["accuracy", "budget"], ascending=[False, True],
                                 kind="mergesort").index[0])


#: Format tag of a series' C-simulation selection file (rule ``csim_selection``).
SELECTION_FORMAT = "rasp-csim-selection-1"


def write_series_selection(metrics_paths: Sequence[str | Path], out: str | Path,
                           tolerance: float, select_by: str = "dsp") -> dict[str, Any]:
    """Rule ``csim_selection``: which pruned model of one series is C-simulated under
    ``hls.csim: best``, from the series' metrics.json files (one folder per run id).

    Writes ``format``, ``best`` (run id or None), ``tolerance``, ``select_by`` and the
    sorted ``runs`` considered to ``out`` (key-sorted JSON, atomically): a record with no
    timestamps, so that re-pruning one model rewrites it identically unless the best model
    changes (and Snakemake, which compares input checksums, reruns no other HLS job).
    """
    series = {Path(p).parent.name: json.loads(Path(p).read_text()) for p in metrics_paths}
    record = {"format": SELECTION_FORMAT, "best": best_in_series(series, tolerance, select_by),
              "tolerance": float(tolerance), "select_by": str(select_by), "runs": sorted(series)}
    write_json_atomic(out, record, sort_keys=True)
    return record


def read_series_selection(path: str | Path, options: HlsOptions) -> str | None:
    """The ``best`` run id of a selection file, refusing one made under other settings."""
    record = json.loads(Path(path).read_text())
    if record.get("format") != SELECTION_FORMAT:
        raise HlsInputError(f"{path} is not a C-simulation selection file ({SELECTION_FORMAT}); "
                            "rerun the csim_selection rule")
    if (not math.isclose(float(record.get("tolerance", math.nan)), options.best_tolerance)
            or record.get("select_by") != options.select_by):
        raise HlsInputError(
            f"{path} chose its best model with tolerance {record.get('tolerance')} / "
            f"select_by {record.get('select_by')!r}, but this job runs with "
            f"{options.best_tolerance} / {options.select_by!r}: rerun the csim_selection rule")
    return record.get("best")


def should_simulate(options: HlsOptions, run: str,
                    series: Mapping[str, Mapping[str, Any]] | None = None,
                    best: str | None = None) -> tuple[bool, str]:
    """Whether ``run`` is C-simulated under ``options.csim``, and why. For ``csim: best``,
    ``best`` (the run id a selection file names) wins over choosing from ``series``."""
    objective, _, _ = parse_run(run)
    if options.csim == "all":
        return True, "hls.csim is 'all'"
    if options.csim == "none":
        return False, "hls.csim is 'none'"
    if objective == results.BASELINE:
        return True, f"baseline (hls.csim is '{options.csim}')"
    if options.csim == "baselines":
        return False, "hls.csim is 'baselines': pruned models are not simulated"
    if best is None:
        best = best_in_series(series or {}, options.best_tolerance, options.select_by)
    if best == run:
        return True, (f"best pruned model of its series (tolerance {options.best_tolerance}, "
                      f"select_by {options.select_by})")
    return False, f"not the best pruned model of its series (that is {best})"


def must_agree(options: HlsOptions, objective: str, accuracy: float,
               metrics: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a C-simulated model fails its run below ``hls.min_agreement``, and why.

    ``accuracy``: the model's PyTorch test accuracy (fraction); ``metrics``: its pruning
    ``metrics.json`` (read: ``baseline_test_accuracy``). Under ``agreement_check:
    within_tolerance`` a pruned model outside ``best_tolerance`` of its baseline is not
    held to it: such a model (e.g. a near-chance one whose BatchNorms amplify rounding
    by hundreds) is no design anyone deploys, and its disagreement is a result to record,
    not a precision setting to fix. A baseline, or a model whose baseline is unknown,
    always is.
    """
    if options.agreement_check == "all":
        return True, "hls.agreement_check is 'all'"
    if objective == results.BASELINE:
        return True, "baseline"
    base = _metric(metrics, "baseline_test_accuracy", "baseline_accuracy")
    if math.isnan(base):
        return True, "baseline accuracy unknown (no pruning metrics.json)"
    ok = bool(results.within_tolerance(pd.Series([accuracy]), base,
                                       options.best_tolerance).iloc[0])
    relation = "within" if ok else "outside"
    return ok, (f"PyTorch accuracy {accuracy:.4f} {relation} {options.best_tolerance:g} "
                f"(relative) of the baseline's {base:.4f}")


# ----------------------------------------------------------------------------- checks


def check_masked_zero(model: nn.Module, masks: Mapping[str, torch.Tensor], where: str) -> None:
    """Every weight a mask removes must be exactly zero in the checkpoint."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise HlsInputError(f"{where}: mask for {name!r}, which the model does not have "
                                f"(weights: {[n for n in params if n.endswith('weight')]})")
        w = params[name].detach()
        if tuple(mask.shape) != tuple(w.shape):
            raise HlsInputError(f"{where}: mask {name!r} has shape {tuple(mask.shape)}, the "
                                f"weight {tuple(w.shape)}")
        bad = int(torch.count_nonzero(w[~mask]))
        if bad:
            raise HlsInputError(f"{where}: {bad} weights of {name!r} are pruned by the mask but "
                                "not zero in model.pt; the checkpoint and masks.pt disagree "
                                "(rerun the prune rule)")


def check_against_pruning(metrics: Mapping[str, Any], settings: Any, rasp_config: dict[str, Any],
                          reuse_factor: int, where: str) -> None:
    """The run must use the reuse factor, settings and strategies the pruning used."""
    from rasp.hardware import HardwareSettings

    rf = metrics.get("reuse_factor")
    if rf is not None and int(rf) != int(reuse_factor):
        raise HlsInputError(f"{where}: pruned for reuse factor {rf}, converted with {reuse_factor}")
    hw = metrics.get("hardware")
    if hw is not None:
        pruned = HardwareSettings.from_dict(hw).to_dict()
        now = settings.to_dict()
        diff = sorted(k for k in set(pruned) | set(now) if pruned.get(k) != now.get(k))
        if diff:
            raise HlsInputError(
                f"{where}: the model was pruned for other hardware settings; differing keys "
                f"{diff} (pruned: {[pruned.get(k) for k in diff]}, now: "
                f"{[now.get(k) for k in diff]}). Rerun the prune rule after changing hardware.*"
            )
    strategies = metrics.get("strategies")
    if isinstance(strategies, Mapping):
        names = rasp_config["RaspHardware"]["layer_names"]
        for torch_name, strategy in strategies.items():
            hls_name = names.get(torch_name)
            if hls_name is None:
                continue
            now_s = rasp_config["LayerName"][hls_name].get("Strategy")
            if str(now_s) != str(strategy):
                raise HlsInputError(f"{where}: layer {torch_name!r} was pruned for strategy "
                                    f"{strategy}, the HLS config builds {now_s}")


def describe_precision(settings: Any) -> str:
    """The hardware precision of a run (the summary's ``precision`` column).

    Taken from ``hardware.<dataset>`` only, so every run of a (dataset, variant) shares
    it whatever the model's own quantisation (see :func:`describe_model_precision`).
    """
    if settings.weight_precision and settings.weight_precision != settings.precision:
        return f"{settings.precision}, weights {settings.weight_precision}"
    return settings.precision


def describe_model_precision(meta: Mapping[str, Any]) -> str:
    """``float`` or ``QAT w<bits> a<bits>`` (Brevitas bit widths of the checkpoint)."""
    kwargs = meta.get("model_kwargs", {}) or {}
    if kwargs.get("quantized"):
        return f"QAT w{kwargs.get('weight_bits')} a{kwargs.get('act_bits')}"
    return "float"


def csim_subset(n: int, samples: int, seed: int) -> np.ndarray:
    """Sorted indices of the simulated test samples (all when ``samples`` is 0 or >= n)."""
    if samples <= 0 or samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=samples, replace=False))


# ----------------------------------------------------------------------------- the run


def run_hls(
    *,
    checkpoint: str | Path,
    data: str | Path,
    out_hls_config: str | Path,
    out_csim: str | Path,
    out_resources: str | Path,
    out_project: str | Path,
    dataset: str,
    variant: str,
    run: str,
    hardware: Mapping[str, Any],
    reuse_factor: int,
    options: HlsOptions | Mapping[str, Any] | None = None,
    seed: int = 0,
    masks: str | Path | None = None,
    prune_metrics: str | Path | None = None,
    selection: str | Path | None = None,
    workdir: str | Path | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Run the HLS stage for one model; returns the ``csim.json`` content.

    ``selection``: the series' C-simulation selection file (rule ``csim_selection``,
    :func:`write_series_selection`), which ``hls.csim: best`` reads. ``workdir``: parent
    of the temporary project folder (default: the system's temporary directory).
    """
    import hls4ml

    from rasp.data.processed import load_processed
    from rasp.hardware import (
        HardwareSettings,
        check_estimate_matches_generated,
        describe_model,
        estimate_layers,
        make_hls_config,
        parse_generated,
        save_hls_config,
    )
    from rasp.hardware.estimate import effective_weights
    from rasp.models import load_checkpoint, load_masks

    logger = logger or log
    t_start = time.perf_counter()
    opts = options if isinstance(options, HlsOptions) else HlsOptions.from_dict(options)
    objective, run_rf, budget = parse_run(run)
    if run_rf != int(reuse_factor):
        raise HlsInputError(f"run {run!r} says RF {run_rf} but reuse_factor={reuse_factor}")
    where = f"{dataset}/{variant}/{run}"

    model, meta = load_checkpoint(checkpoint)
    model = model.cpu().eval()
    processed = load_processed(data)
    if tuple(processed.input_shape) != tuple(model.input_shape):
        raise HlsInputError(f"{where}: data samples have shape {processed.input_shape}, the "
                            f"model expects {tuple(model.input_shape)}")
    mask_dict = None
    if masks is not None:
        mask_dict = load_masks(masks)
        check_masked_zero(model, mask_dict, where)
    settings = HardwareSettings.from_dict(dict(hardware), where=f"hardware.{dataset}")
    rasp_config = make_hls_config(model, model.input_shape, settings, int(reuse_factor))
    metrics: dict[str, Any] = {}
    if prune_metrics is not None:
        metrics = json.loads(Path(prune_metrics).read_text())
        check_against_pruning(metrics, settings, rasp_config, int(reuse_factor), where)

    x_test, y_test = processed.x_test, processed.y_test
    ref = torch_outputs(model, x_test)
    accuracy_torch = float(np.mean(ref.argmax(1) == y_test))
    logger.info("%s: PyTorch test accuracy %.4f on %d samples", where, accuracy_torch, len(y_test))

    best = read_series_selection(selection, opts) if selection is not None else None
    simulate, reason = should_simulate(opts, run, best=best)
    plan = plan_synthesis(opts.synthesize, settings.backend, opts.vivado_synth)
    logger.info("%s: C simulation %s (%s); synthesis: %s", where, "on" if simulate else "off",
                reason, plan.reason)

    layer_cfgs = {t: rasp_config["LayerName"][h]
                  for t, h in rasp_config["RaspHardware"]["layer_names"].items()}
    layer_strategies = {t: c["Strategy"] for t, c in layer_cfgs.items()}
    layer_rfs = {t: int(c["ReuseFactor"]) for t, c in layer_cfgs.items()}
    result: dict[str, Any] = {
        "dataset": dataset,
        "variant": variant,
        "run": run,
        "objective": objective,
        "budget": budget,
        "reuse_factor": int(reuse_factor),
        "data_source": processed.source if processed.source != "unknown"
        else meta.get("data_source", "unknown"),
        "seed": int(seed),
        "model_seed": meta.get("seed"),
        "backend": settings.backend,
        "io_type": settings.io_type,
        "part": settings.part,
        "clock_period_ns": settings.clock_period_ns,
        "precision": describe_precision(settings),
        "model_precision": describe_model_precision(meta),
        "strategy": "+".join(sorted(set(layer_strategies.values()))),
        "strategies": layer_strategies,
        "reuse_factors": layer_rfs,
        "accuracy_torch": accuracy_torch,
        "n_test": int(len(y_test)),
        "simulated": simulate,
        "csim_reason": reason,
        "hls4ml_version": hls4ml.__version__,
    }

    tmp_root = Path(tempfile.mkdtemp(prefix=f"rasp_hls_{dataset}_{variant}_{run}_",
                                     dir=str(workdir) if workdir else None))
    try:
        converted: ConvertedModel = convert_model(model, rasp_config, tmp_root / "project",
                                                  trace=True, logger=logger)
        result["flow"] = converted.flow
        result["convert_seconds"] = converted.seconds

        layers = describe_model(model, rasp_config)
        estimate = estimate_layers(layers, effective_weights(model), mask_dict)
        estimate = aligned_estimate(estimate, converted.layer_names)
        generated = parse_generated(converted.output_dir)
        check_multipliers(estimate, generated)
        check_estimate_matches_generated(estimate, generated)
        logger.info("%s: estimate matches the generated code (%d multipliers)", where,
                    int(estimate.totals["multipliers"]))
        result["multipliers"] = int(estimate.totals["multipliers"])

        if simulate:
            enforce, enforce_reason = must_agree(opts, objective, accuracy_torch, metrics)
            logger.info("%s: agreement below hls.min_agreement %s (%s)", where,
                        "fails the run" if enforce else "is recorded, not fatal", enforce_reason)
            info = compile_library(converted, opts.cache_dir, logger)
            idx = csim_subset(len(x_test), int(opts.csim_samples), int(seed))
            csim = run_csim(converted, model, x_test[idx], y_test[idx],
                            min_agreement=float(opts.min_agreement),
                            diagnose_samples=int(opts.diagnose_samples), enforce=enforce,
                            logger=logger)
            result.update(
                agreement_enforced=enforce,
                agreement_enforced_reason=enforce_reason,
                agreement_passed=csim.agreement_passed,
                n_samples=csim.n_samples,
                accuracy_csim=csim.accuracy_csim,
                accuracy_torch_subset=csim.accuracy_torch,
                agreement=csim.agreement,
                max_abs_diff=csim.max_abs_diff,
                mean_abs_diff=csim.mean_abs_diff,
                predict_seconds=csim.predict_seconds,
                compile_seconds=info.seconds,
                library_cached=info.cached,
                original_compile_seconds=info.original_compile_seconds,
                min_agreement=csim.min_agreement,
            )
        if simulate and opts.distributed_arithmetic:
            from rasp.hls.da import run_da_flow

            result["da"] = run_da_flow(
                converted, x_test[idx], y_test[idx], ref[idx], part=settings.part,
                clock_period_ns=settings.clock_period_ns, min_agreement=float(opts.min_agreement),
                out_dir=converted.output_dir / "da4ml", workdir=tmp_root / "yosys",
                cache_dir=opts.cache_dir, timeout_s=float(opts.da_timeout_s),
                csim=predict(converted, x_test[idx]), where=where, enforce=enforce,
                logger=logger)
        synthesis = None
        if plan.csynth:
            synthesis = run_synthesis(converted, plan, logger)
            result["synthesis_seconds"] = synthesis.seconds
        hls_source = "vivado" if settings.backend == "Vivado" else "vitis"
        table = resources_table(estimate, generated, synthesis=synthesis,
                                layer_indices=converted.layer_indices, hls_source=hls_source)
        total = table[table["layer"] == "total"].iloc[0]
        if "da" in result:
            table = pd.concat([table, pd.DataFrame([da_total_row(result["da"], total)])],
                              ignore_index=True)
        result["resource_source"] = str(total["source"])
        result["synthesis"] = asdict(plan)  # csynth, vsynth, tool, reason
        result["hls_seconds"] = time.perf_counter() - t_start

        save_hls_config(converted.hls_config, out_hls_config)
        write_resources(table, out_resources)
        result["project_archive"] = archive_project(
            converted.output_dir, out_project,
            max_weights_bytes=int(opts.archive_max_weights_mb * 2**20))
        write_json_atomic(out_csim, result)  # NaN and infinities -> null
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    logger.info("%s: done in %.1f s (resources from %s)", where, result["hls_seconds"],
                result["resource_source"])
    return result

