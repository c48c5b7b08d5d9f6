"""The ``lut_da`` resource: da4ml's adder-graph cost of a fully parallel MLP.

hls4ml's ``Strategy: distributed_arithmetic`` (da4ml) builds every constant-weight
matrix-vector product as a shift-and-add graph: no DSP, and a cost in LUTs that depends
on the weight *values* (their CSD digits) and on what da4ml's optimiser can share between
outputs. That cost is not additive over weights (measured by
``benchmarks/da_cost_benchmark.py``: a per-digit model calibrated on the unpruned design
has a median error of 17% over random and magnitude masks and over-predicts by up to 6x
at 5% density, where whole adder trees vanish). So the resource is priced in two parts:

- :func:`trace_layers` re-traces the masked network with da4ml at the fixed-point types
  the hardware description holds (:class:`~rasp.hardware.layers.LayerHardware`) and
  returns da4ml's cost: the number the budget is checked against.
- :func:`digit_structures` gives the knapsack an additive per-weight cost, proportional to
  the weight's CSD digits (one adder per non-zero digit). The pruner scales it at every
  step so the digits of the current design sum to its traced cost (a local calibration),
  and re-traces each answer, tightening the capacity until the traced cost meets the
  budget (:func:`rasp.prune.selection.select_knapsack` with ``additive=False``).

Semantics of the trace (the same as :func:`rasp.hls.da.trace_hls_model` on the converted
model): the input is quantised to the first layer's ``input_type``; each layer computes
``x @ W + b`` exactly, with ``W`` quantised at ``weight_type`` and ``b`` at
``accum_type``; hidden layers are quantised to ``result_type``, pass a ReLU and are
quantised to the next layer's ``input_type``; the output layer is quantised to its
``result_type``. Only chains of fully parallel (RF 1) Linear layers are priced; anything
else raises :class:`DaCostError`. Units: da4ml cost (its LUT-equivalent adder bits).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rasp.hardware.fixed import FixedType, csd_digits, quantize_to_int
from rasp.hardware.layers import LayerHardware, float_array
from rasp.hardware.structures import Structures

#: The resource name in budgets, metrics and summaries.
LUT_DA = "lut_da"


class DaCostError(ValueError):
    """A network (or a fixed-point mode) the ``lut_da`` cost cannot price."""


@dataclass(frozen=True)
class Kif:
    """A fixed-point type as da4ml reads it, plus its overflow and rounding modes."""

    k: int  # 1 = signed
    i: int  # integer bits without the sign bit
    f: int  # fractional bits
    overflow: str  # WRAP | SAT | SAT_SYM
    rounding: str  # TRN | RND


def fixed_kif(ftype: FixedType, where: str = "") -> Kif:
    """da4ml's (k, i, f, overflow, rounding) of a fixed-point type.

    Every ``AP_RND*`` mode becomes da4ml's ``RND`` (round half up: ties differ from
    ``AP_RND_CONV`` by one LSB); modes with no da4ml equivalent raise :class:`DaCostError`.
    """
    rounding = ftype.rounding.upper().removeprefix("AP_")
    overflow = ftype.saturation.upper().removeprefix("AP_")
    if rounding.startswith("RND"):
        rounding = "RND"
    elif rounding != "TRN":
        raise DaCostError(f"{where}: rounding mode {rounding} has no da4ml equivalent (TRN or "
                          "RND*); change the layer's precision")
    if overflow not in ("WRAP", "SAT", "SAT_SYM"):
        raise DaCostError(f"{where}: overflow mode {overflow} has no da4ml equivalent (WRAP, "
                          "SAT, SAT_SYM); change the layer's precision")
    k = 1 if ftype.signed else 0
    return Kif(k, ftype.integer - k, ftype.width - ftype.integer, overflow, rounding)


def quantize_variables(x, kif: Kif):
    """Quantise a da4ml traced array to ``kif`` (its overflow and rounding modes)."""
    return x.quantize(kif.k, kif.i, kif.f, overflow_mode=kif.overflow, round_mode=kif.rounding)


def constant_weights(values: np.ndarray | torch.Tensor, ftype: FixedType) -> np.ndarray:
    """``values`` as the C code holds them: quantised at ``ftype``, back in float64."""
    return quantize_to_int(float_array(values), ftype).astype(np.float64) * 2.0 ** -ftype.fractional


def check_da_layers(layers: Sequence[LayerHardware]) -> None:
    """Raise :class:`DaCostError` unless ``layers`` is a chain of RF-1 Linear layers."""
    if not layers:
        raise DaCostError("the model has no weight layer to price")
    for i, layer in enumerate(layers):
        if layer.kind != "linear":
            raise DaCostError(
                f"{layer.name} is a {layer.kind} layer: the lut_da resource prices chains of "
                "Linear layers only (da4ml's distributed arithmetic for Dense); use dsp / bram "
                "objectives for convolutional models")
        if layer.reuse_factor != 1:
            raise DaCostError(
                f"{layer.name} is built at RF {layer.reuse_factor}: the distributed-arithmetic "
                "design is fully parallel, price lut_da at reuse factor 1")
        if i and layers[i - 1].n_out != layer.n_in:
            raise DaCostError(f"{layers[i - 1].name} has {layers[i - 1].n_out} outputs but "
                              f"{layer.name} {layer.n_in} inputs: lut_da needs a plain chain")


def _masked(layer: LayerHardware, weights: Mapping[str, torch.Tensor | np.ndarray],
            masks: Mapping[str, torch.Tensor | np.ndarray] | None) -> np.ndarray:
    w = float_array(weights[layer.param_name])
    if masks is not None and layer.param_name in masks:
        w = np.where(float_array(masks[layer.param_name]) != 0, w, 0.0)
    return w.reshape(layer.weight_shape)


@dataclass(frozen=True)
class DaCost:
    """da4ml's cost of one traced design: ``cost`` (LUT-equivalent adder bits), ``latency``
    (max adder depth, da4ml's delay units), ``n_ops`` and the trace's wall ``seconds``."""

    cost: float
    latency: float
    n_ops: int
    seconds: float


def trace_layers(layers: Sequence[LayerHardware],
                 weights: Mapping[str, torch.Tensor | np.ndarray],
                 masks: Mapping[str, torch.Tensor | np.ndarray] | None = None,
                 biases: Mapping[str, torch.Tensor | np.ndarray] | None = None) -> DaCost:
    """Trace the (masked) chain ``layers`` with da4ml and return its cost.

    ``weights``: parameter name (``fc1.weight``) -> the weights hls4ml sees
    (:func:`rasp.hardware.estimate.effective_weights`); ``biases``: parameter name of the
    weight -> bias vector (``None``: no bias); ``masks``: parameter name -> bool (True = kept).
    """
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    check_da_layers(layers)
    t0 = time.perf_counter()
    inp = FixedVariableArrayInput((layers[0].n_in,))
    x = quantize_variables(inp, fixed_kif(layers[0].input_type, f"{layers[0].name} input"))
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        w = constant_weights(_masked(layer, weights, masks), layer.weight_type)
        x = x @ w.T  # torch (n_out, n_in) -> hls4ml's (n_in, n_out)
        bias = None if biases is None else biases.get(layer.param_name)
        if bias is not None:
            x = x + constant_weights(bias, layer.accum_type).reshape(layer.n_out)
        out_type = layer.result_type or layer.accum_type
        x = quantize_variables(x, fixed_kif(out_type, f"{layer.name} result"))
        if i < last:
            nxt = layers[i + 1]
            x = quantize_variables(x.relu(), fixed_kif(nxt.input_type, f"{nxt.name} input"))
    comb = comb_trace(inp, x)
    return DaCost(float(comb.cost), float(comb.latency[1]), len(comb.ops),
                  time.perf_counter() - t0)


class CachedDaCost:
    """:func:`trace_layers` of ``layers`` with a cache keyed by the design's constants.

    Two calls whose quantised (masked) weights and biases are equal return the cost of
    one trace: the pruner prices the same design several times per step (the budget check
    after fine-tuning, the calibration before a selection, the trajectory row). Keeps the
    last ``size`` designs; ``traces`` / ``hits`` / ``seconds`` count the work done.
    """

    def __init__(self, layers: Sequence[LayerHardware], size: int = 8):
        check_da_layers(layers)
        self.layers = list(layers)
        self.size = int(size)
        self._cache: OrderedDict[str, DaCost] = OrderedDict()
        self.traces = 0
        self.hits = 0
        self.seconds = 0.0

    def _key(self, weights, masks, biases) -> str:
        h = hashlib.sha256()
        for layer in self.layers:
            h.update(constant_weights(_masked(layer, weights, masks), layer.weight_type).tobytes())
            bias = None if biases is None else biases.get(layer.param_name)
            if bias is not None:
                h.update(constant_weights(bias, layer.accum_type).tobytes())
        return h.hexdigest()

    def __call__(self, weights: Mapping[str, torch.Tensor | np.ndarray],
                 masks: Mapping[str, torch.Tensor | np.ndarray] | None = None,
                 biases: Mapping[str, torch.Tensor | np.ndarray] | None = None) -> DaCost:
        key = self._key(weights, masks, biases)
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        cost = trace_layers(self.layers, weights, masks, biases)
        self.traces += 1
        self.seconds += cost.seconds
        self._cache[key] = cost
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return cost


def model_biases(model: torch.nn.Module, layers: Sequence[LayerHardware]) -> dict[str, torch.Tensor]:
    """Weight parameter name -> that layer's bias (layers without a bias are left out)."""
    params = dict(model.named_parameters())
    return {layer.param_name: bias.detach() for layer in layers
            if (bias := params.get(layer.param_name.removesuffix(".weight") + ".bias")) is not None}


def digit_structures(layer: LayerHardware, weights: torch.Tensor | np.ndarray,
                     masks: Mapping[str, torch.Tensor | np.ndarray] | None = None) -> Structures:
    """One structure per weight, its ``lut_da`` cost = its CSD digits at ``weight_type``.

    A weight that quantises to zero costs nothing. The costs are in digits, not da4ml
    units: the pruner scales them to the traced cost of the current design.
    """
    w = _masked(layer, {layer.param_name: weights}, masks).reshape(-1)
    digits = csd_digits(quantize_to_int(w, layer.weight_type)).astype(float)
    n = layer.n_weights
    return Structures(layer, "weights", np.arange(n, dtype=np.int64),
                      np.arange(n + 1, dtype=np.int64), digits.reshape(n, 1), np.zeros(1),
                      resources=(LUT_DA,))
