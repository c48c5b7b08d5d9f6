"""The one hls4ml configuration that both the pruning and the HLS stage use.

:func:`make_hls_config` builds hls4ml's 'name'-granularity config dict (keys ``Model``,
``LayerName``, ``InputShape``, ...) with every precision, reuse factor and strategy
written out explicitly, and checks every reuse factor the way hls4ml would (raising where
hls4ml would silently change it). It adds one key hls4ml ignores, ``RaspHardware``,
holding the :class:`HardwareSettings`, the reuse factor and the torch -> hls4ml layer-name
map, so that :func:`rasp.hardware.estimate_resources` needs nothing but this dict, and
the HLS stage gets the converter arguments from :func:`hls4ml_convert_kwargs`::

    cfg = make_hls_config(model, model.input_shape, settings, reuse_factor=4)
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=cfg, output_dir=out, **hls4ml_convert_kwargs(cfg))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from rasp.atomic import atomic_open
from rasp.hardware.fixed import FixedType, parse_precision
from rasp.hardware.layers import (
    brevitas_act_type,
    brevitas_weight_type,
    canonical_strategy,
    is_brevitas,
    trace_weight_layers,
)
from rasp.hardware.reuse import check_reuse_factor, nearest_valid_reuse_factor
from rasp.hardware.settings import RASP_KEY, HardwareSettings, settings_from_hls_config


def _float_twin(model: nn.Module) -> nn.Module:
    """Plain-torch stand-in of a Brevitas model, with the same module and node names.

    hls4ml's PyTorch parser does not know Brevitas layers; the twin only serves to
    obtain hls4ml's layer list and names. QuantLinear/QuantConv2d become Linear/Conv2d
    and QuantReLU becomes ReLU; other quantisers (QuantIdentity) are removed from the
    traced graph (returned as a ``torch.fx.GraphModule``).
    """
    import torch.fx
    from brevitas import nn as qnn
    from hls4ml.utils.torch import CustomFXTracer

    twin = copy.deepcopy(model).cpu().eval()
    replacements: dict[str, nn.Module] = {}
    for name, mod in twin.named_modules():
        if isinstance(mod, qnn.QuantLinear):
            new: nn.Module = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
        elif isinstance(mod, qnn.QuantConv2d):
            new = nn.Conv2d(
                mod.in_channels, mod.out_channels, mod.kernel_size, stride=mod.stride,
                padding=mod.padding, dilation=mod.dilation, groups=mod.groups,
                bias=mod.bias is not None,
            )
        elif isinstance(mod, qnn.QuantReLU):
            new = nn.ReLU()
        else:
            continue
        if isinstance(new, (nn.Linear, nn.Conv2d)):
            new.weight.data.copy_(mod.weight.data)
            if mod.bias is not None:
                new.bias.data.copy_(mod.bias.data)
        replacements[name] = new
    for name, new in replacements.items():
        parent_name, _, child = name.rpartition(".")
        parent = twin.get_submodule(parent_name) if parent_name else twin
        setattr(parent, child, new)
    graph = CustomFXTracer().trace(twin)
    named = dict(twin.named_modules())
    for node in list(graph.nodes):
        if node.op == "call_module" and type(named[node.target]).__module__.startswith("brevitas.nn"):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    return torch.fx.GraphModule(twin, graph)


def make_hls_config(
    model: nn.Module,
    input_shape: Sequence[int],
    settings: HardwareSettings | dict[str, Any],
    reuse_factor: int | Mapping[str, int],
) -> dict[str, Any]:
    """hls4ml 'name'-granularity config for ``model`` at ``reuse_factor``.

    ``input_shape``: one sample's shape without the batch dimension. ``reuse_factor``:
    one RF for every layer, or a mapping torch module name -> RF with an optional
    ``"default"`` entry. Every layer gets explicit precisions: ``weight`` = the settings'
    weight precision, ``bias``/``accum``/``result`` = ``precision`` (Brevitas layers:
    weight and activation types from their quantisers). Linear/Conv2d layers get the
    strategy :meth:`HardwareSettings.resolve_strategy` chooses for their requested RF.
    An RF hls4ml would silently change raises
    :class:`~rasp.hardware.reuse.InvalidReuseFactorError` (``rf_policy: exact``), or is
    replaced by hls4ml's choice and written into the config (``rf_policy: nearest``).
    """
    import hls4ml

    if isinstance(settings, dict):
        settings = HardwareSettings.from_dict(settings)
    rf_map = dict(reuse_factor) if isinstance(reuse_factor, Mapping) else {"default": reuse_factor}
    for key, value in rf_map.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"reuse factor for {key!r} must be an integer >= 1, got {value!r}")
    input_shape = tuple(int(s) for s in input_shape)
    traced = trace_weight_layers(model, input_shape)
    unknown = sorted(set(rf_map) - {"default"} - {w.name for w in traced.weight_layers})
    if unknown:
        raise KeyError(f"reuse factors given for unknown layer(s) {unknown}; weight layers: "
                       f"{[w.name for w in traced.weight_layers]}")
    missing = [w.name for w in traced.weight_layers if w.name not in rf_map and "default" not in rf_map]
    if missing:
        raise KeyError(f"no reuse factor for layer(s) {missing} and no 'default'")
    default_rf = rf_map.get("default", max(rf_map.values()))

    if is_brevitas(model):
        source = _float_twin(model)
    elif any(p.device.type != "cpu" for p in model.parameters()):
        source = copy.deepcopy(model).cpu()
    else:
        source = model
    cfg = hls4ml.utils.config_from_pytorch_model(
        source,
        input_shape,
        granularity="name",
        backend=settings.backend,
        default_precision=settings.precision,
        default_reuse_factor=default_rf,
    )
    cfg.pop("PytorchModel", None)  # a repr string of the model; not needed by the converter
    cfg["InputShape"] = input_shape  # a tuple: hls4ml reads a list as several input shapes

    act_types = {node_name: t for node_name, module in traced.modules.items()
                 if (t := brevitas_act_type(module)) is not None}

    cfg["Model"]["Strategy"] = settings.resolve_strategy(default_rf, "linear")
    cfg["Model"]["ReuseFactor"] = default_rf
    cfg["Model"]["Precision"] = {"default": settings.precision}
    weight_layers = {w.hls_name: w for w in traced.weight_layers}
    missing = sorted(set(weight_layers) - set(cfg["LayerName"]))
    if missing:
        raise RuntimeError(f"hls4ml's config has no entry for weight layer(s) {missing}")
    requested: dict[str, int] = {}
    used: dict[str, int] = {}
    for name, layer_cfg in cfg["LayerName"].items():
        layer_cfg["ReuseFactor"] = default_rf
        precision = layer_cfg.setdefault("Precision", {})
        if not isinstance(precision, dict):
            precision = layer_cfg["Precision"] = {}
        precision["result"] = str(act_types.get(name, settings.precision))
        bn = traced.modules.get(name)
        if isinstance(bn, nn.modules.batchnorm._BatchNorm) and bn.track_running_stats:
            precision.update(batchnorm_types(bn, settings.precision))
        if name not in weight_layers:
            continue
        w = weight_layers[name]
        rf = rf_map.get(w.name, default_rf)
        wtype = brevitas_weight_type(traced.modules[name])
        precision["weight"] = str(wtype) if wtype is not None else settings.weight_type
        precision["bias"] = precision["accum"] = settings.precision
        strategy = settings.resolve_strategy(rf, w.kind)
        canonical = canonical_strategy(strategy, name)
        requested[w.name] = rf
        if settings.rf_policy == "nearest" and canonical != "Latency":
            rf = nearest_valid_reuse_factor(w.n_in, w.n_out, rf, canonical)
        check_reuse_factor(name, w.n_in, w.n_out, rf, canonical, kind=w.kind,
                           io_type=settings.io_type)
        layer_cfg["Strategy"] = strategy
        layer_cfg["ReuseFactor"] = rf
        used[w.name] = rf
    cfg[RASP_KEY] = {
        "settings": settings.to_dict(),
        "reuse_factor": default_rf,
        "requested_reuse_factors": requested,
        "reuse_factors": used,
        "layer_names": {w.name: w.hls_name for w in traced.weight_layers},
    }
    return cfg


def _type_holding(values: torch.Tensor, base: FixedType) -> FixedType:
    """``base`` with enough integer bits for every value (fractional bits kept)."""
    peak = float(values.abs().max()) if values.numel() else 0.0
    integer = base.integer
    while peak >= 2.0 ** (integer - 1):  # signed ap_fixed<W, I> holds [-2^(I-1), 2^(I-1))
        integer += 1
    return FixedType(base.fractional + integer, integer, base.signed, base.rounding,
                     base.saturation)


@torch.no_grad()
def batchnorm_types(bn: nn.Module, precision: str) -> dict[str, str]:
    """``scale`` and ``bias`` types of a BatchNorm hls4ml computes as its own layer.

    hls4ml evaluates it as ``y = scale * x + bias`` with ``scale = gamma / sqrt(var +
    eps)`` and ``bias = beta - mean * scale``, both stored in the layer's ``scale`` /
    ``bias`` precision (default: the model precision). A channel with a small running
    variance (a neuron left with few weights after pruning) has a scale of tens or
    hundreds, which wraps around in ``ap_fixed<16,6>`` (range [-32, 32)) and ruins the
    whole output. The types here keep the precision's fractional bits and add integer
    bits until every value fits.
    """
    base = parse_precision(precision)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    bias = shift - bn.running_mean * scale
    return {"scale": str(_type_holding(scale.detach().cpu(), base)),
            "bias": str(_type_holding(bias.detach().cpu(), base))}


def hls4ml_convert_kwargs(hls_config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``hls4ml.converters.convert_from_*_model`` from the config.

    Returns ``backend``, ``io_type``, ``part`` and ``clock_period`` (ns).
    """
    s = settings_from_hls_config(hls_config)
    return {"backend": s.backend, "io_type": s.io_type, "part": s.part,
            "clock_period": s.clock_period_ns}


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    return obj


def save_hls_config(hls_config: dict[str, Any], path: str | Path) -> None:
    """Write the config as YAML (atomically: temporary file, then rename)."""
    with atomic_open(path, "w") as fh:
        yaml.safe_dump(_plain(hls_config), fh, sort_keys=False)


def load_hls_config(path: str | Path) -> dict[str, Any]:
    """Read a config written by :func:`save_hls_config` (``InputShape`` back to a tuple)."""
    with open(path) as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict) or "LayerName" not in cfg:
        raise ValueError(f"{path} is not an hls4ml 'name'-granularity config (no LayerName)")
    if isinstance(cfg.get("InputShape"), list):
        cfg["InputShape"] = tuple(int(v) for v in cfg["InputShape"])
    return cfg
