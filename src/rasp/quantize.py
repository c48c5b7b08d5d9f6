"""Uniform post-pruning quantisation: power-of-two (fixed-point) Brevitas quantisers whose
ranges come from statistics, then a short quantisation-aware fine-tune that keeps the masks.

This is the quantisation half of the ``layerwise+quant`` objective (the method of Zhang,
Colbert and Das, "Learning Low-Precision Structured Subnetworks Using Joint Layerwise Channel
Pruning and Uniform Quantization", Applied Sciences 12(15):7829, 2022, on our models). The
quantised network is the QAT variant of :mod:`rasp.models` (same architecture, same module
names, ``quantized=True`` with the configured bit widths), so it is saved and reloaded with
:func:`rasp.models.save_checkpoint` / :func:`rasp.models.load_checkpoint` like any QAT
baseline and converted to hls4ml through QONNX. Every scale is a power of two, so every
quantised tensor is exactly an ``ap_fixed`` value and hls4ml computes the same function.

Ranges (the "integer bits" of each fixed-point type) come from statistics:

- **Activations** (the network-input quantiser ``quant_in`` and every ``QuantReLU``): the
  statistic ``act_range`` of the float activations at that point over the calibration set,
  ``max`` (largest |x|) or ``percentile`` (the ``percentile``-th percentile of |x| over every
  element of the tensor, all samples and positions). Channels removed by pruning are left
  out (they are multiplied by zero weights downstream, and a dead channel's constant output
  would otherwise stretch the range). With range ``r`` and ``b`` bits the exponent is
  ``e = ceil(log2 r)``: an unsigned quantiser gets ``ap_ufixed<b, e>`` (scale ``2^(e-b)``),
  a signed one ``ap_fixed<b, e+1>`` (scale ``2^(e+1-b)``). The exponent is written into the
  Brevitas scale parameter (log2 domain) and the resulting scale read back and checked.
  ``learn_act_scales: false`` (default) freezes these scales during fine-tuning, so the
  ranges stay the statistics' choice; ``true`` lets QAT move them (still powers of two:
  Brevitas rounds the learned log2 value up).
- **Weights** (per tensor, signed, narrow range): the Brevitas fixed-point weight quantiser
  derives its scale from the largest |w| of the current weights at every forward pass,
  ``2^(ceil(log2 max|w|) + 1 - b)``, i.e. ``ap_fixed<b, ceil(log2 max|w|) + 1>``. With
  ``weight_range: percentile`` the kept weights are first clipped to the
  ``percentile``-th percentile of their magnitudes, so that percentile sets the range (the
  quantiser then follows the clipped weights' maximum through fine-tuning).
- **Biases**: ``bias_bits``-bit integers at scale input scale x weight scale (Brevitas
  ``IntBias``, the accumulator's scale); values outside that range saturate and are counted
  in the report.

Pruned weights are exactly zero and quantise to exactly zero; the fine-tune runs
:func:`rasp.train.fit` with the masks, which keeps them (and their gradients and Adam
moments) at zero, so removed channels stay removed. Units: bits, fractions, seconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from rasp import schemas
from rasp.hardware.layers import float_array

#: Statistics a range may use (the ``quantization`` key of a pruning block).
RANGE_STATISTICS = schemas.enum(schemas.PRUNING_BLOCK, "quantization", "weight_range")


@dataclass(frozen=True)
@schemas.defaults_from(schemas.PRUNING_BLOCK, "quantization")
class QuantConfig(schemas.Settings):
    """Settings of the uniform quantisation: the ``quantization`` key of a pruning block
    (meanings, defaults and limits in src/rasp/schemas/pruning.schema.yaml; the range
    statistics are described in the module docstring). Bit widths are in bits."""

    weight_bits: int
    act_bits: int
    input_bits: int | None
    bias_bits: int
    weight_range: str
    act_range: str
    percentile: float
    finetune_epochs: int
    learning_rate: float | None
    learn_act_scales: bool

    WHERE = "quantization"

    def __post_init__(self) -> None:
        schemas.check_fields(self, schemas.PRUNING_BLOCK, "quantization", where="quantization")

    @property
    def resolved_input_bits(self) -> int:
        return int(self.act_bits if self.input_bits is None else self.input_bits)


@dataclass
class QuantizerRange:
    """The fixed-point type chosen for one quantiser.

    ``kind``: weight | input | activation. ``statistic``: max | percentile. ``range``: the
    statistic's value (same unit as the tensor). ``exponent``: ``ceil(log2 range)``.
    ``integer_bits``: integer bits of the ``ap_fixed`` type (sign included when signed).
    ``scale``: the power-of-two step (2^(integer_bits - bits)).
    """

    name: str
    kind: str
    bits: int
    signed: bool
    statistic: str
    range: float
    exponent: int
    integer_bits: int
    scale: float
    note: str = ""

    @property
    def ap_type(self) -> str:
        return f"ap_{'' if self.signed else 'u'}fixed<{self.bits},{self.integer_bits}>"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ap_type"] = self.ap_type
        return out


@dataclass
class QuantizationResult:
    """Output of :func:`quantize_and_finetune`: the QAT model (CPU, masks applied), the
    chosen types, fine-tune history and a JSON-ready report."""

    model: nn.Module
    ranges: list[QuantizerRange]
    history: list[dict[str, float]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def exponent_for_range(value: float) -> int:
    """``ceil(log2 value)``: the smallest e with ``2^e >= value`` (0 for a zero range)."""
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a quantisation range must be a finite value >= 0, got {value}")
    if value == 0:
        return 0
    return int(math.ceil(math.log2(value) - 1e-12))


def range_statistic(values: torch.Tensor | np.ndarray, statistic: str, percentile: float) -> float:
    """``max`` or ``percentile`` of ``|values|`` (all elements); 0.0 for an empty tensor."""
    if statistic not in RANGE_STATISTICS:
        raise ValueError(f"range statistic {statistic!r}; expected one of {RANGE_STATISTICS}")
    v = np.abs(float_array(values)).reshape(-1)
    if v.size == 0:
        return 0.0
    if statistic == "max":
        return float(v.max())
    return float(np.percentile(v, float(percentile)))


# --------------------------------------------------------------------------------------
# Building the quantised twin
# --------------------------------------------------------------------------------------


def _float_kwargs(model: nn.Module) -> tuple[str, dict[str, Any]]:
    arch = getattr(model, "arch", None)
    kwargs = getattr(model, "model_kwargs", None)
    if not arch or kwargs is None:
        raise TypeError(
            "quantisation needs a model built by rasp.models.build_model (it rebuilds the "
            f"architecture as its QAT variant); got {type(model).__name__}"
        )
    base = {k: v for k, v in dict(kwargs).items()
            if k not in ("quantized", "weight_bits", "act_bits", "input_bits", "bias_bits")}
    return arch, base


def float_copy(model: nn.Module) -> nn.Module:
    """Plain-PyTorch copy of a :mod:`rasp.models` model (a QAT model loses its quantisers)."""
    from rasp.models import build_model

    arch, base = _float_kwargs(model)
    out = build_model(arch, **base, quantized=False)
    _copy_float_state(model, out)
    return out.eval()


def _copy_float_state(source: nn.Module, target: nn.Module) -> None:
    """Copy weights, biases and BatchNorm state from ``source`` to ``target`` (same arch
    and sizes); quantiser state is never copied, only keys the float architecture has."""
    from rasp.models import build_model

    arch, base = _float_kwargs(source)
    float_keys = build_model(arch, **base, quantized=False).state_dict()
    target.load_state_dict({k: v for k, v in source.state_dict().items() if k in float_keys},
                           strict=False)


def _act_quantizers(qmodel: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every activation quantiser (QuantReLU / QuantIdentity)."""
    from brevitas.nn import QuantIdentity, QuantReLU

    return [(n, m) for n, m in qmodel.named_modules() if isinstance(m, (QuantReLU, QuantIdentity))]


def _scaling_impl(quant_module: nn.Module) -> nn.Module:
    """The Brevitas runtime-statistics scaling module of an activation quantiser."""
    for _, sub in quant_module.act_quant.named_modules():
        if hasattr(sub, "collect_stats_steps") and hasattr(sub, "counter") and hasattr(sub, "value"):
            return sub
    raise TypeError(
        f"{type(quant_module).__name__} has no runtime-statistics scale (expected the "
        "Brevitas *ActPerTensorFixedPoint quantisers of rasp.models)"
    )


@torch.no_grad()
def set_activation_exponent(quant_module: nn.Module, exponent: int) -> float:
    """Fix a Brevitas fixed-point activation quantiser to range ``2^exponent``.

    Writes ``exponent`` into the scale parameter (log2 domain) and ends Brevitas' statistics
    collection; returns the resulting scale, checked to be ``2^(exponent - b)`` (unsigned)
    or ``2^(exponent + 1 - b)`` (signed) for ``b`` bits.
    """
    impl = _scaling_impl(quant_module)
    impl.counter = int(impl.collect_stats_steps) + 1
    impl.value.fill_(float(exponent))
    quant = quant_module.act_quant
    bits = int(round(float(quant.bit_width())))
    signed = bool(quant.is_signed)
    scale = float(quant.scale().detach().reshape(-1)[0])
    expected = 2.0 ** (exponent + (1 if signed else 0) - bits)
    if scale != expected:
        raise RuntimeError(
            f"setting the activation range of {type(quant_module).__name__} to 2^{exponent} gave "
            f"scale {scale}, expected {expected}: the Brevitas quantiser does not behave as "
            "rasp.quantize assumes"
        )
    return scale


def _call_order(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the leaf modules in the order one forward pass calls them."""
    order: list[str] = []
    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            hooks.append(mod.register_forward_hook(lambda m, a, o, n=name: order.append(n)))
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return order


def _alive_channels(masks: Mapping[str, torch.Tensor] | None, param: str) -> np.ndarray | None:
    if not masks or param not in masks:
        return None
    m = torch.as_tensor(masks[param]).reshape(masks[param].shape[0], -1)
    return m.any(dim=1).cpu().numpy()


@torch.no_grad()
def activation_ranges(
    model: nn.Module,
    x: torch.Tensor,
    names: list[str],
    statistic: str,
    percentile: float,
    masks: Mapping[str, torch.Tensor] | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Range statistic of the float activations at every quantiser in ``names``.

    ``model``: the float model; ``names``: ``quant_in`` (the network input) or names of
    modules of ``model`` whose outputs are quantised (the ReLUs). Channels whose producing
    layer's rows are all masked out are excluded (see the module docstring).
    """
    model = model.eval()
    order = _call_order(model, x)
    weight_layers = {n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    named = dict(model.named_modules())
    producer: dict[str, str | None] = {"quant_in": None}
    store: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = []
    try:
        for n in names:
            if n == "quant_in":
                continue
            if n not in order:
                raise KeyError(f"quantiser {n!r} has no module of that name in the float model")
            before = [m for m in order[: order.index(n)] if m in weight_layers]
            producer[n] = before[-1] if before else None
            hooks.append(named[n].register_forward_hook(
                lambda m, a, o, n=n: store[n].append(getattr(o, "value", o).detach().cpu())))
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            if "quant_in" in store:
                store["quant_in"].append(xb.detach().cpu())
            model(xb)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n in names:
        t = torch.cat(store[n])
        alive = _alive_channels(masks, f"{producer[n]}.weight") if producer[n] else None
        if alive is not None and t.dim() >= 2 and t.shape[1] == alive.size and not alive.all():
            t = t[:, torch.as_tensor(alive)]
        out[n] = range_statistic(t, statistic, percentile)
    return out


def quantize_model(
    model: nn.Module,
    x_calib: np.ndarray | torch.Tensor,
    config: QuantConfig | Mapping[str, Any] | None = None,
    masks: Mapping[str, torch.Tensor] | None = None,
    logger: logging.Logger | None = None,
) -> tuple[nn.Module, list[QuantizerRange]]:
    """QAT twin of ``model`` with power-of-two quantisers whose ranges come from statistics.

    ``model``: a float or QAT model from :func:`rasp.models.build_model` (weights already
    pruned; ``masks`` say which weights are removed). ``x_calib``: calibration inputs (a
    subset of the training split). Returns the quantised model (eval mode, CPU) and the type
    chosen for each quantiser. The input model is not modified.
    """
    from rasp.models import build_model, check_power_of_two_scales

    log = logger or logging.getLogger(__name__)
    cfg = config if isinstance(config, QuantConfig) else QuantConfig.from_dict(config)
    arch, base = _float_kwargs(model)
    x = torch.as_tensor(np.asarray(x_calib, dtype=np.float32))
    qmodel = build_model(
        arch, **base, quantized=True, weight_bits=int(cfg.weight_bits),
        act_bits=int(cfg.act_bits), input_bits=cfg.resolved_input_bits,
        bias_bits=int(cfg.bias_bits),
    )
    _copy_float_state(model, qmodel)
    qmodel.eval()
    fmodel = float_copy(model)
    ranges: list[QuantizerRange] = []

    # weights: optional percentile clipping of the kept weights, then read the Brevitas type
    named_q = dict(qmodel.named_modules())
    for name, mod in named_q.items():
        if not hasattr(mod, "quant_weight"):
            continue
        w = mod.weight.detach()
        kept = w[w != 0]
        stat = range_statistic(kept, cfg.weight_range, cfg.percentile)
        note = ""
        if cfg.weight_range == "percentile" and kept.numel():
            clipped = int((w.abs() > stat).sum())
            with torch.no_grad():
                mod.weight.clamp_(-stat, stat)
            note = f"{clipped} weight(s) clipped to +-{stat:.6g}"
        qw = mod.quant_weight()
        bits = int(round(float(qw.bit_width)))
        scale = float(qw.scale.detach().reshape(-1)[0])
        int_bits = bits + int(round(math.log2(scale)))
        ranges.append(QuantizerRange(name=f"{name}.weight", kind="weight", bits=bits,
                                     signed=True, statistic=cfg.weight_range, range=stat,
                                     exponent=int_bits - 1, integer_bits=int_bits, scale=scale,
                                     note=note))

    # activations: statistics of the float network at each quantiser
    act_names = [n for n, _ in _act_quantizers(qmodel)]
    stats = activation_ranges(fmodel, x, act_names, cfg.act_range, cfg.percentile, masks)
    for name in act_names:
        mod = named_q[name]
        e = exponent_for_range(stats[name])
        scale = set_activation_exponent(mod, e)
        quant = mod.act_quant
        bits = int(round(float(quant.bit_width())))
        signed = bool(quant.is_signed)
        ranges.append(QuantizerRange(
            name=name, kind="input" if name == "quant_in" else "activation", bits=bits,
            signed=signed, statistic=cfg.act_range, range=stats[name], exponent=e,
            integer_bits=e + (1 if signed else 0), scale=scale,
            note="" if stats[name] > 0 else "zero range: the activation is always 0",
        ))
    for r in ranges:
        if r.kind != "weight" or (r.note and "clipped" in r.note):
            log.info("quantiser %s: %s (%s range %.6g) %s", r.name, r.ap_type, r.statistic,
                     r.range, r.note)
        else:
            log.info("quantiser %s: %s (max |w| %.6g)", r.name, r.ap_type, r.range)
    bias_report = bias_saturation(qmodel, x, int(cfg.bias_bits))
    for name, n_sat in bias_report.items():
        if n_sat:
            log.warning("%s: %d bias value(s) saturate at %d bits", name, n_sat, cfg.bias_bits)
    check_power_of_two_scales(qmodel)
    if masks and not quantized_masks_hold(qmodel, masks):
        raise RuntimeError("a removed weight is not zero after quantisation")
    return qmodel, ranges


@torch.no_grad()
def bias_saturation(qmodel: nn.Module, x: torch.Tensor, bias_bits: int) -> dict[str, int]:
    """Per quantised layer with a bias: how many bias values lie outside the range of the
    ``bias_bits``-bit integer type at scale input scale x weight scale."""
    out: dict[str, int] = {}
    scales: dict[str, float] = {}
    hooks = []
    for name, mod in qmodel.named_modules():
        if hasattr(mod, "quant_weight") and getattr(mod, "bias", None) is not None:
            def hook(m, args, n=name):
                inp = args[0]
                s = getattr(inp, "scale", None)
                if s is not None:
                    scales[n] = float(torch.as_tensor(s).reshape(-1)[0])
            hooks.append(mod.register_forward_pre_hook(hook))
    try:
        qmodel.eval()
        qmodel(x[:2])
    finally:
        for h in hooks:
            h.remove()
    named = dict(qmodel.named_modules())
    for name, in_scale in scales.items():
        mod = named[name]
        w_scale = float(mod.quant_weight().scale.reshape(-1)[0])
        limit = (2 ** (int(bias_bits) - 1) - 1) * in_scale * w_scale
        out[name] = int((mod.bias.abs() > limit).sum())
    return out


@torch.no_grad()
def quantized_masks_hold(qmodel: nn.Module, masks: Mapping[str, torch.Tensor]) -> bool:
    """True when every masked weight is exactly 0, in float and after weight quantisation."""
    named = dict(qmodel.named_modules())
    params = dict(qmodel.named_parameters())
    for key, mask in masks.items():
        mask = torch.as_tensor(mask).to(torch.bool)
        if bool((params[key].detach()[~mask] != 0).any()):
            return False
        mod = named[key.rsplit(".", 1)[0]]
        if hasattr(mod, "quant_weight"):
            qv = mod.quant_weight().value.detach()
            if bool((qv[~mask] != 0).any()):
                return False
    return True


def quantize_and_finetune(
    model: nn.Module,
    data: Any,
    config: QuantConfig | Mapping[str, Any] | None = None,
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    x_calib: np.ndarray | torch.Tensor | None = None,
    calibration_samples: int = 2048,
    finetune: Mapping[str, Any] | None = None,
    seed: int = 0,
    threads: int | None = None,
    device: str = "auto",
    logger: logging.Logger | None = None,
) -> QuantizationResult:
    """Quantise ``model`` (:func:`quantize_model`) and fine-tune it with ``masks`` (QAT).

    ``data``: a :class:`rasp.data.processed.ProcessedData` (train/val splits). ``x_calib``:
    calibration inputs; default ``calibration_samples`` random training samples drawn with
    ``seed``. ``finetune``: :class:`rasp.train.TrainConfig` overrides (the pruning block's
    ``finetune``); the epochs and learning rate come from ``config``.
    """
    from rasp.models import check_power_of_two_scales
    from rasp.train import TrainConfig, evaluate, fit

    log = logger or logging.getLogger(__name__)
    cfg = config if isinstance(config, QuantConfig) else QuantConfig.from_dict(config)
    t0 = time.perf_counter()
    if x_calib is None:
        x_calib = calibration_subset(data.x_train, calibration_samples, seed)
    qmodel, ranges = quantize_model(model, x_calib, cfg, masks=masks, logger=log)
    val_before = float(evaluate(qmodel, data.x_val, data.y_val)["accuracy"])
    log.info("quantised (w%d a%d in%d b%d): val accuracy %.4f before fine-tuning",
             cfg.weight_bits, cfg.act_bits, cfg.resolved_input_bits, cfg.bias_bits, val_before)
    history: list[dict[str, float]] = []
    if int(cfg.finetune_epochs) > 0:
        if not cfg.learn_act_scales:
            for _, mod in _act_quantizers(qmodel):
                _scaling_impl(mod).value.requires_grad_(False)
        overrides = dict(finetune or {})
        if cfg.learning_rate is not None:
            overrides["learning_rate"] = float(cfg.learning_rate)
        tc = TrainConfig.from_dict({**overrides, "epochs": int(cfg.finetune_epochs),
                                    "seed": int(seed), "threads": threads, "device": device})
        result = fit(qmodel, data, tc, masks=masks, logger=log)
        history = result.history
        qmodel = result.model.to("cpu")
        for _, mod in _act_quantizers(qmodel):
            _scaling_impl(mod).value.requires_grad_(True)
    qmodel.eval()
    check_power_of_two_scales(qmodel)
    if masks and not quantized_masks_hold(qmodel, masks):
        raise RuntimeError("a removed weight came back during quantisation-aware fine-tuning")
    final_ranges = _final_types(qmodel, ranges)
    val_after = float(evaluate(qmodel, data.x_val, data.y_val)["accuracy"])
    log.info("after %d QAT epoch(s): val accuracy %.4f", cfg.finetune_epochs, val_after)
    report = {
        "config": asdict(cfg),
        "calibration_samples": int(len(x_calib)),
        "quantizers": [r.to_dict() for r in final_ranges],
        "initial_quantizers": [r.to_dict() for r in ranges],
        "val_accuracy_before_finetune": val_before,
        "val_accuracy": val_after,
        "finetune_epochs": int(cfg.finetune_epochs),
        "seconds": time.perf_counter() - t0,
        "seed": int(seed),
    }
    return QuantizationResult(model=qmodel, ranges=final_ranges, history=history, report=report)


def _final_types(qmodel: nn.Module, initial: list[QuantizerRange]) -> list[QuantizerRange]:
    """Types after fine-tuning (weight scales follow the weights; learned act scales move)."""
    named = dict(qmodel.named_modules())
    out = []
    for r in initial:
        if r.kind == "weight":
            mod = named[r.name.rsplit(".", 1)[0]]
            scale = float(mod.quant_weight().scale.detach().reshape(-1)[0])
        else:
            scale = float(named[r.name].act_quant.scale().detach().reshape(-1)[0])
        int_bits = r.bits + int(round(math.log2(scale)))
        out.append(replace(r, exponent=int_bits - (1 if r.signed else 0),
                           integer_bits=int_bits, scale=scale))
    return out


def calibration_subset(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` samples of ``x`` drawn without replacement with ``seed`` (all when fewer)."""
    x = np.asarray(x)
    if len(x) <= int(n):
        return x.astype(np.float32, copy=False)
    idx = np.sort(np.random.default_rng(int(seed)).choice(len(x), size=int(n), replace=False))
    return x[idx].astype(np.float32, copy=False)


__all__ = [
    "QuantConfig",
    "QuantizationResult",
    "QuantizerRange",
    "activation_ranges",
    "bias_saturation",
    "calibration_subset",
    "exponent_for_range",
    "float_copy",
    "quantize_and_finetune",
    "quantize_model",
    "quantized_masks_hold",
    "range_statistic",
    "set_activation_exponent",
]
