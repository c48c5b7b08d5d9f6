"""A hardware target: one model as hls4ml will build it, with its structures and resources.

The composable entry point for a researcher's own model and training loop
(:class:`rasp.prune.knapsack_pruner.KnapsackPruner` prunes against it). A target fixes the
hls4ml settings (precision, strategy, io type, ...) and the reuse factor, describes every
Linear/Conv layer once (:func:`rasp.hardware.layers.describe_model`) and then answers, for
the model's *current* weights and any masks:

- :meth:`HardwareTarget.resources`: estimated DSP48 slices, BRAM_18K blocks, LUTs,
  multipliers (:func:`rasp.hardware.estimate.estimate_layers`), plus ``lut_da`` (da4ml's
  LUT cost of the distributed-arithmetic design, :mod:`rasp.hardware.da_cost`) when asked;
- :meth:`HardwareTarget.items`: the knapsack items of an objective
  (:func:`rasp.prune.selection.build_items`).

The weights are read through the module, so a model whose layers carry PyTorch's pruning
reparametrisation (``weight_orig`` x ``weight_mask``, :mod:`torch.nn.utils.prune`) is
priced by the weights it really computes with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rasp.hardware.da_cost import LUT_DA, CachedDaCost
from rasp.hardware.estimate import brevitas_quant_weight, estimate_layers
from rasp.hardware.hls_config import make_hls_config
from rasp.hardware.layers import LayerHardware, describe_model
from rasp.hardware.settings import HardwareSettings
from rasp.prune.masks import Masks
from rasp.prune.selection import ItemSet, build_items, calibrate_costs


def module_weight(module: nn.Module) -> torch.Tensor:
    """The weight a layer computes with: ``weight_orig * weight_mask`` under PyTorch's
    pruning reparametrisation, Brevitas' quantised weight, else ``weight``."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        return module.weight_orig * module.weight_mask
    value = brevitas_quant_weight(module)
    return module.weight if value is None else value


class HardwareTarget:
    """``model`` as hls4ml builds it at ``reuse_factor`` with the ``hardware`` settings.

    ``hardware``: a :class:`~rasp.hardware.settings.HardwareSettings` or its dict form
    (the workflow's ``hardware.<dataset>`` block: ``precision``, ``strategy``,
    ``io_type``, ``backend``, ``part``, ...). ``input_shape``: one sample's shape without
    the batch axis (default: ``model.input_shape``).
    """

    def __init__(self, model: nn.Module, hardware: HardwareSettings | Mapping[str, Any],
                 reuse_factor: int = 1, input_shape: Sequence[int] | None = None):
        self.model = model
        self.settings = hardware if isinstance(hardware, HardwareSettings) else \
            HardwareSettings.from_dict(dict(hardware))
        self.reuse_factor = int(reuse_factor)
        shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
        if shape is None:
            raise ValueError("give input_shape= (one sample's shape, e.g. (16,)): the model "
                             "has no input_shape attribute")
        self.input_shape = tuple(int(s) for s in shape)
        self.hls_config = make_hls_config(model, self.input_shape, self.settings,
                                          self.reuse_factor)
        self.layers: list[LayerHardware] = describe_model(
            model, self.hls_config, input_shape=self.input_shape, settings=self.settings)
        self.params = [layer.param_name for layer in self.layers]
        self._modules = {layer.param_name: model.get_submodule(layer.name)
                         for layer in self.layers}
        #: the lut_da tracer (made on first use; its counters say how much was traced)
        self.da_cost: CachedDaCost | None = None

    def module(self, param: str) -> nn.Module:
        """The layer that owns weight ``param`` (``fc1.weight`` -> ``model.fc1``)."""
        return self._modules[param]

    def weights(self) -> dict[str, torch.Tensor]:
        """Parameter name (``fc1.weight``) -> the weight each layer computes with now."""
        return {p: module_weight(m) for p, m in self._modules.items()}

    def biases(self) -> dict[str, torch.Tensor]:
        """Parameter name of each weight -> its layer's bias (layers with one)."""
        return {p: m.bias.detach() for p, m in self._modules.items()
                if getattr(m, "bias", None) is not None}

    def lut_da(self, masks: Mapping[str, torch.Tensor] | None = None) -> float:
        """da4ml's LUT cost of the (masked) distributed-arithmetic design (re-traced,
        cached by the design's constants). Only RF-1 chains of Linear layers."""
        if self.da_cost is None:
            self.da_cost = CachedDaCost(self.layers)
        return self.da_cost(self.weights(), masks, self.biases()).cost

    def resources(self, masks: Mapping[str, torch.Tensor] | None = None,
                  names: Sequence[str] = ("dsp", "bram_18k", "lut", "multipliers"),
                  ) -> dict[str, float]:
        """Estimated totals of ``names`` for the current weights under ``masks`` (units:
        DSP48 slices, BRAM_18K blocks, LUTs, multipliers, ``lut_da`` da4ml cost)."""
        totals = estimate_layers(self.layers, self.weights(), masks).totals
        return {r: self.lut_da(masks) if r == LUT_DA else float(totals[r]) for r in names}

    def items(self, objective: str, resources: Sequence[str],
              masks: Masks | None = None) -> tuple[ItemSet, dict[str, float]]:
        """Knapsack items of ``objective`` on the current weights, and ``fixed``: what the
        design uses outside the alive items, per budgeted resource (so that a knapsack
        capacity is ``budget - fixed``). ``lut_da`` costs are calibrated to the trace."""
        weights = {p: w.detach() for p, w in self.weights().items()}
        items = build_items(self.layers, objective, resources, weights)
        current = self.resources(masks, resources)
        if LUT_DA in items.resources:
            items = calibrate_costs(items, LUT_DA, current[LUT_DA])
        alive = items.alive(masks) if masks is not None else np.ones(items.n, dtype=bool)
        fixed = {r: current[r] - float(items.costs[j][alive].sum())
                 for j, r in enumerate(items.resources)}
        return items, fixed
