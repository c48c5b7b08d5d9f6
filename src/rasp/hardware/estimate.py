"""``estimate_resources``: the per-layer resource table of a (masked) model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from rasp.hardware.costs import (
    WeightMemory,
    bram_18k,
    constant_products,
    latency_cycles,
    lut_estimate,
    multiplier_counts,
    weight_memory,
)
from rasp.hardware.layers import LayerHardware, describe_model, float_array
from rasp.hardware.settings import BramModel, HardwareSettings

#: Columns summed into the totals.
TOTAL_COLUMNS = ("weights", "nonzero_weights", "multipliers", "dsp", "dsp_csd",
                 "dsp_multipliers", "bram_18k", "bram_18k_hls", "lut", "latency_cycles")


@dataclass
class ResourceEstimate:
    """Per-layer table (one row per Linear/Conv2d, index = torch module name) and totals.

    Columns: ``hls_name, kind, strategy, reuse_factor, n_in, n_out, weight_bits,
    input_bits, dsp_per_mult, weights, nonzero_weights, n_zeros, patterns,
    zero_patterns, multiplier_limit, allocation_limit, multipliers, dsp, dsp_csd,
    dsp_multipliers, memory, bram_18k_hls, bram_18k, lut, latency_cycles`` (counts; bits;
    DSP48E2; BRAM_18K; LUT6; clock cycles). ``dsp`` is what synthesis builds: at Latency
    the shared constant products with >= 3 CSD digits (rule D4), otherwise
    ``multipliers x dsp_per_mult``; ``dsp_multipliers`` is always ``multipliers x
    dsp_per_mult`` (one DSP per generated multiplication, the pre-folding count);
    ``dsp_csd`` = ``dsp`` (kept for readers of older tables). ``totals`` sums :data:`TOTAL_COLUMNS` (latency summed
    over layers is an upper bound for io_stream, where layers overlap).
    """

    layers: pd.DataFrame
    totals: pd.Series

    def table(self) -> pd.DataFrame:
        """The per-layer table with a final ``total`` row."""
        total = pd.DataFrame([self.totals], index=["total"])
        table = pd.concat([self.layers, total], axis=0)
        for col in self.layers.columns:
            if pd.api.types.is_integer_dtype(self.layers[col].dtype):
                table[col] = table[col].astype("Int64")
        return table

    def __str__(self) -> str:
        cols = ["strategy", "reuse_factor", "weights", "nonzero_weights", "multipliers", "dsp",
                "dsp_multipliers", "bram_18k", "lut", "latency_cycles"]
        return self.table()[cols].to_string(na_rep="")


def layer_row(layer: LayerHardware, weight: torch.Tensor | np.ndarray,
              mask: torch.Tensor | np.ndarray | None = None) -> dict[str, Any]:
    """Resource row of one layer for its (PyTorch-shaped) ``weight`` and optional mask."""
    w = float_array(weight).reshape(-1)
    if w.size != layer.n_weights:
        raise ValueError(f"{layer.name}: weight has {w.size} values, expected {layer.n_weights}")
    if mask is not None:
        m = float_array(mask).reshape(-1)
        if m.size != w.size:
            raise ValueError(f"mask of {layer.param_name} has {m.size} values, expected {w.size}")
        w = np.where(m != 0, w, 0.0)
    w_hls = w[layer.hls_order]
    nonzero = w_hls != 0
    counts = multiplier_counts(layer, nonzero)
    memory = weight_memory(layer)
    mult = counts["multipliers"]
    products = constant_products(layer, w_hls) if layer.strategy == "Latency" else None
    dsp = (products.dsp(counts["multiplier_limit"], layer.dsp_per_mult) if products is not None
           else mult * layer.dsp_per_mult)
    return {
        "layer": layer.name,
        "hls_name": layer.hls_name,
        "kind": layer.kind,
        "strategy": layer.strategy,
        "reuse_factor": layer.reuse_factor,
        "n_in": layer.n_in,
        "n_out": layer.n_out,
        "weight_bits": layer.weight_type.width,
        "input_bits": layer.input_type.width,
        "dsp_per_mult": layer.dsp_per_mult,
        "weights": layer.n_weights,
        **counts,
        "dsp": dsp,
        "dsp_csd": dsp,
        "dsp_multipliers": mult * layer.dsp_per_mult,
        "memory": memory.kind,
        "bram_18k_hls": _bram_hls(layer, memory),
        "bram_18k": bram_18k(layer, nonzero, memory),
        "lut": lut_estimate(layer, mult, memory, products),
        "latency_cycles": latency_cycles(layer),
    }


def _bram_hls(layer: LayerHardware, memory: WeightMemory) -> int:
    """BRAM_18K of the HLS C-synthesis report: every weight array of a Resource layer at
    RF > 1 in BRAM, whatever the LUTRAM threshold (an upper bound; rule B2)."""
    if memory.kind == "lutram":
        geo = layer.bram
        hls_view = replace(layer, bram=BramModel(geo.width_bits, geo.depth, 0, 0))
        return weight_memory(hls_view).bram_18k
    return memory.bram_18k


def brevitas_quant_weight(module: nn.Module) -> torch.Tensor | None:
    """The quantised weight of a Brevitas layer with weight quantisation enabled
    (``quant_weight().value``, detached); None for any other module."""
    if not type(module).__module__.startswith("brevitas.nn"):
        return None
    quant = getattr(module, "weight_quant", None)
    if quant is None or not getattr(quant, "is_quant_enabled", True):
        return None
    with torch.no_grad():
        value = module.quant_weight().value
    return None if value is None else value.detach()


def effective_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameter name -> the weights hls4ml will see.

    Plain layers: the parameter itself (hls4ml counts zeros on the float weights and
    quantises later). Brevitas layers: the quantised weights (``quant_weight().value``),
    which is what the QONNX export carries, so a weight that rounds to zero is a zero
    for the multiplier count, as in the generated code.
    """
    out = dict(model.named_parameters())
    for mod_name, module in model.named_modules():
        value = brevitas_quant_weight(module)
        if value is not None:
            out[f"{mod_name}.weight" if mod_name else "weight"] = value
    return out


def estimate_layers(
    layers: Sequence[LayerHardware],
    weights: Mapping[str, torch.Tensor | np.ndarray] | nn.Module,
    masks: Mapping[str, torch.Tensor | np.ndarray] | None = None,
) -> ResourceEstimate:
    """Resource table of already described ``layers`` (fast path for repeated calls).

    ``weights``: the model, or a mapping parameter name (``fc1.weight``) -> tensor.
    ``masks``: parameter name -> bool tensor (True = kept); unknown names raise.
    """
    if isinstance(weights, nn.Module):
        weights = effective_weights(weights)
    masks = dict(masks or {})
    known = {layer.param_name for layer in layers}
    unknown = sorted(set(masks) - known)
    if unknown:
        raise KeyError(f"masks for unknown weight(s) {unknown}; weight layers: {sorted(known)}")
    rows = []
    for layer in layers:
        if layer.param_name not in weights:
            raise KeyError(f"no weight {layer.param_name!r} given")
        rows.append(layer_row(layer, weights[layer.param_name], masks.get(layer.param_name)))
    df = pd.DataFrame(rows).set_index("layer")
    df["allocation_limit"] = df["allocation_limit"].astype("Int64")
    totals = df[list(TOTAL_COLUMNS)].sum(axis=0)
    return ResourceEstimate(df, totals)


def estimate_resources(
    model: nn.Module,
    hls_config: dict[str, Any],
    masks: Mapping[str, torch.Tensor | np.ndarray] | None = None,
    input_shape: Sequence[int] | None = None,
    settings: HardwareSettings | None = None,
) -> ResourceEstimate:
    """Per-layer resources of ``model`` built by hls4ml with ``hls_config``.

    ``hls_config``: from :func:`rasp.hardware.make_hls_config` (or a plain hls4ml config
    with ``settings=``). ``masks``: parameter name -> bool tensor of the weight's shape,
    True = kept (weights that are already zero count as pruned too).
    Returns a :class:`ResourceEstimate` (``.layers`` table, ``.totals``).
    """
    layers = describe_model(model, hls_config, input_shape=input_shape, settings=settings)
    return estimate_layers(layers, model, masks)
