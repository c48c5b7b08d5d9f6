"""Per-layer hardware description: what hls4ml will build for each Linear / Conv2d.

:func:`describe_model` walks the model the way hls4ml's PyTorch front end does (a
``torch.fx`` trace in which torch and Brevitas modules are leaves; the hls4ml layer
name of a module call is the fx node name, e.g. ``fc1`` or ``features_0``) and
combines each weight layer with its entry of the hls4ml config into a
:class:`LayerHardware`.

Weight layout (verified against the weight files hls4ml 1.3.0 writes): for the Resource
strategies hls4ml stores a Linear kernel as the PyTorch ``(n_out, n_in)`` matrix
flattened row-major, and a Conv2d kernel as ``(filters, kh, kw, C_in)`` (channels last)
flattened, i.e. ``n_in = kh*kw*C_in`` inputs per filter. Exception: a Linear right
after a Flatten of a conv feature map, in io_parallel, has its inputs permuted to
channels-last order ``(h, w, c)``. :attr:`LayerHardware.hls_order`
maps each position of that flat layout to the index into ``weight.flatten()`` of the
PyTorch tensor ``(C_out, C_in, kh, kw)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rasp.hardware.fixed import FixedType, parse_precision
from rasp.hardware.reuse import check_reuse_factor
from rasp.hardware.settings import (
    RASP_KEY,
    BramModel,
    HardwareSettings,
    settings_from_hls_config,
)

_STRATEGY_NAMES = {"latency": "Latency", "resource": "Resource", "resource_unrolled": "Resource_Unrolled"}
_PASS_THROUGH_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Identity, nn.Unflatten)
_PASS_THROUGH_FUNCTIONS = {"flatten", "view", "reshape", "permute", "transpose", "contiguous",
                           "max_pool2d", "max_pool1d", "dropout", "squeeze", "unsqueeze"}


def canonical_strategy(strategy: str, layer: str = "?") -> str:
    """hls4ml strategy spelling -> Latency | Resource | Resource_Unrolled.

    Uses hls4ml's own normalisation (``Resource_Unrolled``, ``ResourceUnrolled`` and
    ``resource_unrolled`` are the same); anything else is an error here, where hls4ml
    would silently use Latency (e.g. ``Unrolled``).
    """
    from hls4ml.utils.string_utils import convert_to_snake_case

    key = convert_to_snake_case(str(strategy)).lower()
    if key not in _STRATEGY_NAMES:
        raise ValueError(
            f"layer {layer!r}: strategy {strategy!r} is not one of Latency, Resource, "
            "Resource_Unrolled (hls4ml would silently build Latency)"
        )
    return _STRATEGY_NAMES[key]


def float_array(values: torch.Tensor | np.ndarray | Any) -> np.ndarray:
    """``values`` (a tensor, detached and moved to the CPU, or array-like) in float64."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Brevitas
# --------------------------------------------------------------------------------------


def is_brevitas(model: nn.Module) -> bool:
    """True when any submodule comes from ``brevitas.nn``."""
    return any(type(m).__module__.startswith("brevitas.nn") for m in model.modules())


def _pow2_type(module: nn.Module, what: str, bits: int, scale: torch.Tensor,
               signed: bool) -> FixedType:
    """``ap_fixed`` type of a quantiser of ``bits`` bits and one power-of-two ``scale``:
    integer bits = width + log2(scale)."""
    scale = scale.detach().flatten()
    if scale.numel() != 1:
        raise ValueError(f"{type(module).__name__}: per-channel {what} scales are not supported")
    exponent = math.log2(float(scale))
    if abs(exponent - round(exponent)) > 1e-6:
        raise ValueError(
            f"Brevitas scale {float(scale)} is not a power of two: no exact ap_fixed type (use "
            "the *FixedPoint quantisers)"
        )
    return FixedType(bits, bits + round(exponent), signed)


def brevitas_weight_type(module: nn.Module) -> FixedType | None:
    """``ap_fixed`` type of a Brevitas QuantLinear/QuantConv2d weight, else None."""
    quant = getattr(module, "weight_quant", None)
    if quant is None or not type(module).__module__.startswith("brevitas.nn"):
        return None
    with torch.no_grad():
        qw = module.quant_weight()
    return _pow2_type(module, "weight", int(round(float(qw.bit_width))), qw.scale, bool(qw.signed))


def brevitas_act_type(module: nn.Module) -> FixedType | None:
    """``ap_fixed`` output type of a Brevitas activation quantiser (QuantReLU, QuantIdentity)."""
    quant = getattr(module, "act_quant", None)
    if (quant is None or not type(module).__module__.startswith("brevitas.nn")
            or not getattr(quant, "is_quant_enabled", True)):
        return None
    with torch.no_grad():
        bits = int(round(float(quant.bit_width())))
        scale = quant.scale()
    return _pow2_type(module, "activation", bits, scale, bool(quant.is_signed))


# --------------------------------------------------------------------------------------
# Tracing
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightLayerShape:
    """A Linear/Conv2d as traced: names, kind and dimensions (no hls4ml config yet)."""

    name: str  # torch module name, e.g. "fc1" or "features.0"
    hls_name: str  # hls4ml layer name (fx node name), e.g. "fc1" or "features_0"
    kind: str  # "linear" | "conv2d"
    n_in: int  # inputs per output (conv: kh*kw*C_in)
    n_out: int  # outputs (conv: filters)
    in_hw: tuple[int, int]  # input height, width (1, 1 for Linear)
    out_hw: tuple[int, int]  # output height, width (1, 1 for Linear)
    flatten_from: tuple[int, ...] | None = None  # Linear fed only by a flatten of this shape


@dataclass
class TracedModel:
    """fx graph of a model plus its weight layers in forward order."""

    graph: Any
    modules: dict[str, nn.Module]  # fx node name -> module, for call_module nodes
    weight_layers: list[WeightLayerShape]


def _shape(t: Any) -> tuple[int, ...] | None:
    value = getattr(t, "value", t)
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _is_flatten(node: Any, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.name], nn.Flatten)
    if node.op in ("call_function", "call_method"):
        return getattr(node.target, "__name__", str(node.target)) in ("flatten", "view", "reshape")
    return False


def trace_weight_layers(model: nn.Module, input_shape: Sequence[int]) -> TracedModel:
    """Trace ``model`` like hls4ml does and find its Linear/Conv2d layers and their shapes."""
    import torch.fx
    from hls4ml.utils.torch import CustomFXTracer

    graph = CustomFXTracer().trace(model)
    named = dict(model.named_modules())
    modules = {n.name: named[n.target] for n in graph.nodes if n.op == "call_module"}
    shapes: dict[str, tuple[int, ...] | None] = {}

    class _Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            shapes[n.name] = _shape(out)
            return out

    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    threads = torch.get_num_threads()
    try:
        model.eval()
        torch.set_num_threads(1)  # one dummy sample: threads only add synchronisation cost
        with torch.no_grad():
            _Recorder(torch.fx.GraphModule(model, graph)).run(
                torch.zeros((1, *input_shape), device=device))
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    layers = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.name], (nn.Linear, nn.Conv2d)):
            continue
        mod = modules[node.name]
        src = node.args[0] if node.args else None
        in_shape = shapes.get(getattr(src, "name", ""), None)
        out_shape = shapes.get(node.name)
        if in_shape is None or out_shape is None:
            raise RuntimeError(f"could not trace the shapes of weight layer {node.target!r}")
        if isinstance(mod, nn.Linear):
            if len(in_shape) != 2:
                raise ValueError(
                    f"Linear {node.target!r} sees input shape {in_shape}; only (batch, features) "
                    "inputs are modelled"
                )
            flatten_from = None
            feed = src  # hls4ml skips Dropout: look through it for the flatten
            while (feed is not None and feed.op == "call_module" and len(feed.users) == 1
                   and isinstance(modules[feed.name], nn.Dropout) and feed.args):
                feed = feed.args[0]
            if feed is not None and _is_flatten(feed, modules) and len(feed.users) == 1 and feed.args:
                pre = shapes.get(getattr(feed.args[0], "name", ""), None)
                if pre is not None and len(pre) in (3, 4):
                    flatten_from = tuple(pre[1:])
            layers.append(WeightLayerShape(node.target, node.name, "linear", mod.in_features,
                                           mod.out_features, (1, 1), (1, 1), flatten_from))
        else:
            if mod.groups != 1 or tuple(mod.dilation) != (1, 1):
                raise ValueError(f"Conv2d {node.target!r}: groups/dilation != 1 are not modelled")
            kh, kw = mod.kernel_size
            layers.append(WeightLayerShape(
                node.target, node.name, "conv2d", kh * kw * mod.in_channels, mod.out_channels,
                (in_shape[2], in_shape[3]), (out_shape[2], out_shape[3]),
            ))
    return TracedModel(graph, modules, layers)


# --------------------------------------------------------------------------------------
# Layer description
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class LayerHardware:
    """What hls4ml builds for one Linear/Conv2d layer (all counts are numbers of weights,
    multipliers or words; widths in bits; the reuse factor in clock cycles per input)."""

    name: str  # torch module name
    hls_name: str  # hls4ml layer name
    kind: str  # "linear" | "conv1d" | "conv2d"
    param_name: str  # "<name>.weight", the key in masks
    weight_shape: tuple[int, ...]  # PyTorch weight shape
    n_in: int
    n_out: int
    reuse_factor: int
    strategy: str  # Latency | Resource | Resource_Unrolled
    io_type: str
    backend: str
    weight_type: FixedType
    input_type: FixedType
    accum_type: FixedType
    dsp_per_mult: int  # DSPs per multiplication (settings.dsp rule)
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    bram: BramModel = field(default_factory=BramModel)
    weight_source: str = "hls_config"  # where weight_type came from: hls_config | brevitas
    input_order: np.ndarray | None = None  # hls4ml input position -> torch input (None: same)
    result_type: FixedType | None = None  # declared output type (None: not known)

    @property
    def n_weights(self) -> int:
        """N = n_in * n_out."""
        return self.n_in * self.n_out

    @property
    def block_factor(self) -> int:
        """ceil(N / RF): multipliers of a Resource layer = DSP patterns."""
        return -(-self.n_weights // self.reuse_factor)

    @property
    def hls_order(self) -> np.ndarray:
        """Index into ``weight.flatten()`` of every position of hls4ml's (n_out, n_in) layout.

        For a Linear fed by a flatten of a (C, H, W) or (C, L) tensor in io_parallel,
        hls4ml drops the transpose back to channels-first and permutes the Dense inputs
        instead (its RemoveTransposeBeforeFlatten pass): input position ``(h, w, c)`` of
        hls4ml reads torch feature ``c*H*W + h*W + w`` (:attr:`input_order`).
        """
        n = self.n_weights
        if self.kind == "linear":
            if self.input_order is None:
                return np.arange(n)
            return (np.arange(self.n_out)[:, None] * self.n_in + self.input_order[None, :]).ravel()
        # conv: (F, C, k) -> (F, k, C), (F, C, kh, kw) -> (F, kh, kw, C)
        return np.moveaxis(np.arange(n).reshape(self.weight_shape), 1, -1).ravel()

    def describe(self) -> str:
        return (f"{self.name} ({self.hls_name}, {self.kind} {self.n_in}x{self.n_out}, "
                f"{self.strategy}, RF={self.reuse_factor}, w={self.weight_type})")


def _precision_of(entry: dict[str, Any] | None, key: str) -> str | None:
    precision = (entry or {}).get("Precision")  # a string: the result type
    if isinstance(precision, dict):
        precision = precision.get(key)
    elif key != "result":
        precision = None
    return None if precision is None or str(precision).lower() == "auto" else str(precision)


def _default_precision(hls_config: dict[str, Any], settings: HardwareSettings) -> str:
    precision = hls_config.get("Model", {}).get("Precision")
    if isinstance(precision, dict):
        precision = precision.get("default")
    return str(precision) if precision else settings.precision


def _input_type(traced: TracedModel, node: Any, hls_config: dict[str, Any], default: str) -> FixedType:
    """Declared type of the tensor a weight layer reads (walks back through pass-throughs)."""
    layer_cfg = hls_config.get("LayerName", {})
    current = node.args[0] if node.args else None
    for _ in range(1000):
        if current is None or not hasattr(current, "op"):
            break
        name = current.name
        if current.op == "call_module":
            t = brevitas_act_type(traced.modules[name])
            if t is not None:
                return t
        explicit = _precision_of(layer_cfg.get(name), "result")
        if explicit is not None:
            return parse_precision(explicit)
        passes = (
            (current.op == "call_module" and isinstance(traced.modules[name], _PASS_THROUGH_MODULES))
            or (current.op in ("call_function", "call_method")
                and getattr(current.target, "__name__", str(current.target)) in _PASS_THROUGH_FUNCTIONS)
        )
        if not passes or not current.args:
            break
        current = current.args[0]
    return parse_precision(default)


def describe_model(
    model: nn.Module,
    hls_config: dict[str, Any],
    input_shape: Sequence[int] | None = None,
    settings: HardwareSettings | None = None,
    layer_names: dict[str, str] | None = None,
) -> list[LayerHardware]:
    """One :class:`LayerHardware` per Linear/Conv2d of ``model``, in forward order.

    ``hls_config``: hls4ml 'name'-granularity config, normally from
    :func:`rasp.hardware.make_hls_config` (which also stores the settings). A plain
    hls4ml config works with ``settings=`` given. ``input_shape`` defaults to the
    config's ``InputShape``. ``layer_names`` maps torch module names to hls4ml layer names
    when they differ from the fx node names (e.g. a config from the QONNX flow).
    Raises for a reuse factor or strategy hls4ml would silently change.
    """
    if settings is None:
        settings = settings_from_hls_config(hls_config)
    if input_shape is None:
        input_shape = hls_config.get("InputShape")
        if input_shape is None:
            raise ValueError("input_shape not given and the hls4ml config has no 'InputShape'")
    input_shape = tuple(int(s) for s in input_shape)
    traced = trace_weight_layers(model, input_shape)
    if layer_names is None:
        layer_names = (hls_config.get(RASP_KEY) or {}).get("layer_names")
    model_cfg = hls_config.get("Model", {})
    layer_cfg = hls_config.get("LayerName", {})
    default = _default_precision(hls_config, settings)
    nodes = {n.name: n for n in traced.graph.nodes}
    out = []
    for shape in traced.weight_layers:
        hls_name = (layer_names or {}).get(shape.name, shape.hls_name)
        entry = layer_cfg.get(hls_name)
        if entry is None:
            raise KeyError(
                f"weight layer {shape.name!r} has no entry {hls_name!r} in hls_config['LayerName'] "
                f"(entries: {sorted(layer_cfg)}); build the config with make_hls_config or pass "
                "layer_names={torch_name: hls4ml_name}"
            )
        rf = entry.get("ReuseFactor", model_cfg.get("ReuseFactor"))
        if rf is None:
            raise ValueError(f"layer {hls_name!r}: no ReuseFactor in the layer or Model config")
        rf = int(rf)
        strategy = canonical_strategy(entry.get("Strategy", model_cfg.get("Strategy", "Latency")),
                                      hls_name)
        if int(entry.get("ParallelizationFactor", 1)) != 1:
            raise ValueError(f"layer {hls_name!r}: ParallelizationFactor != 1 is not modelled")
        check_reuse_factor(hls_name, shape.n_in, shape.n_out, rf, strategy, kind=shape.kind,
                           io_type=settings.io_type)
        module = traced.modules[shape.hls_name]
        brevitas_wtype = brevitas_weight_type(module)
        wtype = brevitas_wtype or parse_precision(_precision_of(entry, "weight") or default)
        in_type = _input_type(traced, nodes[shape.hls_name], hls_config, default)
        acc_type = parse_precision(_precision_of(entry, "accum") or default)
        res_type = parse_precision(_precision_of(entry, "result") or default)
        input_order = None
        if (shape.flatten_from is not None and settings.io_type == "io_parallel"
                and model_cfg.get("ChannelsLastConversion", "off") != "off"):
            dims = shape.flatten_from  # (C, H, W) -> (H, W, C), (C, L) -> (L, C)
            input_order = np.moveaxis(np.arange(int(np.prod(dims))).reshape(dims), 0, -1).ravel()
        out.append(LayerHardware(
            name=shape.name,
            hls_name=hls_name,
            kind=shape.kind,
            param_name=f"{shape.name}.weight",
            weight_shape=tuple(module.weight.shape),
            n_in=shape.n_in,
            n_out=shape.n_out,
            reuse_factor=rf,
            strategy=strategy,
            io_type=settings.io_type,
            backend=settings.backend,
            weight_type=wtype,
            input_type=in_type,
            accum_type=acc_type,
            dsp_per_mult=settings.dsp.dsp_per_multiplication(in_type, wtype),
            in_hw=shape.in_hw,
            out_hw=shape.out_hw,
            bram=settings.bram,
            weight_source="hls_config" if brevitas_wtype is None else "brevitas",
            input_order=input_order,
            result_type=res_type,
        ))
    return out
