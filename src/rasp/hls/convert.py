"""hls4ml conversion of a (pruned) model with the exact config the pruning used, checked.

Two flows, chosen by the model:

- float PyTorch models: :func:`hls4ml.converters.convert_from_pytorch_model` with the
  config from :func:`rasp.hardware.make_hls_config` (names = torch.fx node names).
- Brevitas QAT models: refused unless every quantiser has a power-of-two scale
  (:func:`rasp.models.check_power_of_two_scales`), then exported to QONNX
  (:func:`rasp.models.export_qonnx`) and cleaned the way hls4ml expects
  (``cleanup_model`` -> ``ConvertToChannelsLastAndClean`` -> ``GemmToMatMul`` ->
  ``cleanup_model``), converted with :func:`hls4ml.converters.convert_from_onnx_model`.
  The ONNX config comes from :func:`hls4ml.utils.config_from_onnx_model`; the strategy
  and reuse factor of every weight layer are copied from the rasp config, while the
  fixed-point types stay hls4ml's exact inference from the QONNX ``Quant`` nodes
  ("auto"): that is what makes the C simulation bit-accurate, and the weight types are
  then asserted equal to the ones the rasp config derived from the same quantisers.

After conversion every weight layer's reuse factor, strategy and weight type are read
back from the converted model and compared with the request: hls4ml silently replaces
an invalid reuse factor by the closest valid one and silently builds Latency for an
unknown strategy name (e.g. ``Unrolled``); both are errors here
(:class:`ReuseFactorChangedError`, :class:`StrategyError`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from rasp.hardware.layers import RASP_KEY, is_brevitas

log = logging.getLogger(__name__)

#: hls4ml's strategy spellings (after its snake_case normalisation) -> canonical name.
STRATEGIES = {"latency": "Latency", "resource": "Resource", "resource_unrolled": "Resource_Unrolled"}
#: hls4ml layer classes that hold a weight kernel (the layers pruning acts on).
WEIGHT_LAYER_CLASSES = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")


class ConversionError(RuntimeError):
    """The converted hls4ml model is not the design the configuration asked for."""


class StrategyError(ConversionError, ValueError):
    """An unknown strategy name, or a layer built with a different strategy."""


class ReuseFactorChangedError(ConversionError, ValueError):
    """hls4ml used a different reuse factor than requested."""


class PrecisionMismatchError(ConversionError, ValueError):
    """A converted layer's weight type differs from the configured one."""


@dataclass
class ConvertedModel:
    """An hls4ml model plus what is needed to check and simulate it.

    ``hls_config``: the config dict exactly as handed to hls4ml (the ``RaspHardware``
    block, ignored by hls4ml, records settings, reuse factors and the flow).
    ``rasp_config``: the config from ``make_hls_config`` the resource estimate uses
    (identical to ``hls_config`` in the PyTorch flow up to the trace flags).
    ``layer_names``: torch weight module (``fc1``) -> final hls4ml layer name
    (``fc1``, or ``Dense_MatMul_0`` in the QONNX flow). ``layer_indices``: hls4ml layer
    name -> index (the ``config<index>`` struct of the generated code) for every layer.
    ``input_layout``: ``same`` (feed the torch NCHW tensor) or ``channels_last``.
    ``seconds``: wall time of the conversion (s).
    """

    hls_model: Any
    hls_config: dict[str, Any]
    rasp_config: dict[str, Any]
    flow: str
    output_dir: Path
    project_name: str
    layer_names: dict[str, str]
    layer_indices: dict[str, int]
    input_layout: str = "same"
    seconds: float = 0.0
    qonnx_path: Path | None = None


@contextlib.contextmanager
def quiet_stdout(logger: logging.Logger | None = None) -> Iterator[None]:
    """Capture hls4ml's chatter on stdout and send it to ``logger`` at DEBUG level."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        text = buf.getvalue().strip()
        if text and (logger or log).isEnabledFor(logging.DEBUG):
            (logger or log).debug("hls4ml output:\n%s", text)


def canonical_strategy(name: Any, where: str) -> str:
    """``Latency`` | ``Resource`` | ``Resource_Unrolled`` for an hls4ml strategy spelling.

    Accepts the spellings hls4ml itself understands (``Resource_Unrolled``,
    ``ResourceUnrolled``, ``resource_unrolled``); anything else raises
    :class:`StrategyError` naming ``where`` (hls4ml would silently build Latency).
    """
    from hls4ml.utils.string_utils import convert_to_snake_case

    key = convert_to_snake_case(str(name)).lower()
    if key not in STRATEGIES:
        raise StrategyError(
            f"{where}: strategy {name!r} is not one of {list(STRATEGIES.values())}; hls4ml "
            "would silently build Latency instead (e.g. 'Unrolled' is not "
            "'Resource_Unrolled'). Fix hardware.<dataset>.strategy or the hls4ml config."
        )
    return STRATEGIES[key]


def check_strategy_names(hls_config: dict[str, Any]) -> None:
    """Raise :class:`StrategyError` for any strategy name hls4ml would not recognise."""
    model_cfg = hls_config.get("Model", {}) or {}
    if "Strategy" in model_cfg:
        canonical_strategy(model_cfg["Strategy"], "hls4ml config Model.Strategy")
    for name, layer_cfg in (hls_config.get("LayerName") or {}).items():
        if isinstance(layer_cfg, dict) and "Strategy" in layer_cfg:
            canonical_strategy(layer_cfg["Strategy"], f"hls4ml config LayerName.{name}.Strategy")


def _requested(hls_config: dict[str, Any], config_name: str) -> tuple[int, str]:
    model_cfg = hls_config.get("Model", {}) or {}
    entry = (hls_config.get("LayerName") or {}).get(config_name) or {}
    rf = entry.get("ReuseFactor", model_cfg.get("ReuseFactor", 1))
    strategy = entry.get("Strategy", model_cfg.get("Strategy", "Latency"))
    return int(rf), canonical_strategy(strategy, f"LayerName.{config_name}.Strategy")


def _precision_tuple(precision: Any) -> tuple[int, int, bool] | None:
    width = getattr(precision, "width", None)
    integer = getattr(precision, "integer", None)
    if width is None or integer is None:
        return None
    return int(width), int(integer), bool(getattr(precision, "signed", True))


def _config_type(hls_config: dict[str, Any], config_name: str, kind: str) -> tuple[int, int, bool] | None:
    """(width, integer bits, signed) of ``Precision.<kind>`` of a layer entry; None if auto/absent."""
    from rasp.hardware import parse_precision

    entry = (hls_config.get("LayerName") or {}).get(config_name) or {}
    precision = entry.get("Precision")
    text = precision.get(kind) if isinstance(precision, dict) else None
    if text is None or str(text).lower() == "auto":
        return None
    t = parse_precision(str(text))
    return t.width, t.integer, t.signed


def _layer_type(layer: Any, kind: str) -> Any:
    """The converted layer's precision object of ``kind`` (weight, bias, accum, result)."""
    if kind == "result":
        return layer.get_output_variable().type.precision
    t = layer.types.get(f"{kind}_t") if hasattr(layer, "types") else None
    return getattr(t, "precision", None)


def check_converted(
    hls_model: Any,
    requests: dict[str, tuple[str, str]],
    hls_config: dict[str, Any],
    rasp_config: dict[str, Any] | None = None,
    type_kinds: tuple[str, ...] = ("weight",),
) -> None:
    """Compare every weight layer of the converted model with its request.

    ``requests``: torch layer name -> (name of its entry in ``hls_config['LayerName']``,
    final hls4ml layer name). Reuse factor and strategy are read from the layer's
    attributes (``reuse_factor``, ``strategy``); the fixed-point types named in
    ``type_kinds`` (weight, bias, accum, result) from the layer, compared with the
    explicit (not ``auto``) precisions of ``rasp_config`` (entry = the torch layer's
    hls4ml name there) or, when None, of ``hls_config``. Raises
    :class:`ReuseFactorChangedError`, :class:`StrategyError` or
    :class:`PrecisionMismatchError` naming the layer, the requested and the actual value
    (and hls4ml's valid reuse factors).
    """
    layers = {layer.name: layer for layer in hls_model.get_layers()}
    backend = hls_model.config.backend
    rasp_names = ((rasp_config or {}).get(RASP_KEY) or {}).get("layer_names", {})
    for torch_name, (config_name, hls_name) in requests.items():
        layer = layers.get(hls_name)
        if layer is None:
            raise ConversionError(
                f"layer {torch_name!r}: the converted hls4ml model has no layer {hls_name!r} "
                f"(layers: {list(layers)})"
            )
        rf_req, strategy_req = _requested(hls_config, config_name)
        rf_got = int(layer.get_attr("reuse_factor"))
        strategy_got = canonical_strategy(layer.get_attr("strategy", "latency"),
                                          f"converted layer {hls_name}")
        where = f"layer {torch_name!r} (hls4ml {hls_name!r})"
        if rf_got != rf_req:
            try:
                n_in, n_out = backend.get_layer_mult_size(layer)
                valid = backend.get_valid_reuse_factors(n_in, n_out)
                shape = f"n_in={n_in}, n_out={n_out}"
            except Exception:  # pragma: no cover - depends on the backend's API
                valid, shape = [], "shape unknown"
            raise ReuseFactorChangedError(
                f"{where}: requested reuse factor {rf_req}, hls4ml set {rf_got}. Valid reuse "
                f"factors for this layer ({shape}, {strategy_req}): {valid}. Choose one of "
                "them in the experiment (pruning.<dataset>.reuse_factors) so the pruned "
                "structures match the hardware."
            )
        if strategy_got != strategy_req:
            raise StrategyError(
                f"{where}: requested strategy {strategy_req} at reuse factor {rf_req}, hls4ml "
                f"built {strategy_got}. hls4ml falls back silently (e.g. Resource_Unrolled at "
                "RF 1, or Conv2D with io_parallel); use strategy auto or a supported "
                "combination."
            )
        source_cfg = rasp_config if rasp_config is not None else hls_config
        source_name = rasp_names.get(torch_name, torch_name) if rasp_config is not None else config_name
        for kind in type_kinds:
            expected = _config_type(source_cfg, source_name, kind)
            actual = _layer_type(layer, kind)
            got = _precision_tuple(actual)
            if expected is not None and got is not None and got != expected:
                raise PrecisionMismatchError(
                    f"{where}: {kind} type is {actual} (width, integer, signed = {got}) but "
                    f"the configuration the pruning used says {expected}; the resource "
                    "estimate and the simulation would describe a different circuit"
                )


def _with_trace(hls_config: dict[str, Any]) -> dict[str, Any]:
    """A copy with ``Trace: True`` on every layer and ``Model.TraceOutput: True``."""
    cfg = copy.deepcopy(hls_config)
    for layer_cfg in (cfg.get("LayerName") or {}).values():
        if isinstance(layer_cfg, dict):
            layer_cfg["Trace"] = True
    cfg["Model"]["TraceOutput"] = True
    return cfg


def _converted(hls_model: Any, hls_config: dict[str, Any], rasp_config: dict[str, Any],
               flow: str, output_dir: Path, project_name: str, layer_names: dict[str, str],
               **extra: Any) -> ConvertedModel:
    input_shape = tuple(int(s) for s in rasp_config["InputShape"])
    return ConvertedModel(
        hls_model=hls_model, hls_config=hls_config, rasp_config=rasp_config, flow=flow,
        output_dir=output_dir, project_name=project_name, layer_names=layer_names,
        layer_indices={layer.name: int(layer.index) for layer in hls_model.get_layers()},
        input_layout=_input_layout(hls_model, input_shape), **extra)


def _input_layout(hls_model: Any, input_shape: tuple[int, ...]) -> str:
    shape = tuple(int(s) for s in hls_model.get_input_variables()[0].shape)
    if shape == tuple(input_shape) or len(input_shape) < 2:
        return "same"
    last = tuple(input_shape[1:]) + (input_shape[0],)
    if shape == last:
        return "channels_last"
    raise ConversionError(f"hls4ml input shape {shape} is neither the model's input shape "
                          f"{tuple(input_shape)} nor its channels-last form {last}")


def convert_model(
    model: nn.Module,
    rasp_config: dict[str, Any],
    output_dir: str | Path,
    *,
    project_name: str = "myproject",
    trace: bool = True,
    logger: logging.Logger | None = None,
) -> ConvertedModel:
    """Convert ``model`` with ``rasp_config`` (from ``make_hls_config``) and check the result.

    ``output_dir`` becomes the hls4ml project folder (the project is written, not
    compiled). ``trace``: mark every layer ``Trace: True`` so that one C compilation
    serves both prediction and the per-layer diagnosis of :mod:`rasp.hls.csim` (the
    trace code is guarded by ``#ifndef __SYNTHESIS__`` and changes no hardware).
    Raises :class:`StrategyError` for an unknown strategy name before converting, and
    the errors of :func:`check_converted` after.
    """
    logger = logger or log
    check_strategy_names(rasp_config)
    if RASP_KEY not in rasp_config:
        raise ValueError("rasp_config must come from rasp.hardware.make_hls_config (no "
                         f"'{RASP_KEY}' block)")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    t0 = time.perf_counter()
    if is_brevitas(model):
        converted = _convert_qonnx(model, rasp_config, output_dir, project_name, trace, logger)
    else:
        converted = _convert_pytorch(model, rasp_config, output_dir, project_name, trace, logger)
    converted.seconds = time.perf_counter() - t0
    if trace:
        # hls4ml reads TraceOutput from its top-level config only; set it before writing.
        converted.hls_model.config.trace_output = True
    with quiet_stdout(logger):
        converted.hls_model.write()
    logger.info("converted %s model (%s flow) in %.2f s into %s", type(model).__name__,
                converted.flow, converted.seconds, output_dir)
    return converted


def _convert_pytorch(model, rasp_config, output_dir, project_name, trace, logger) -> ConvertedModel:
    import hls4ml

    from rasp.hardware import hls4ml_convert_kwargs

    handed = _with_trace(rasp_config) if trace else copy.deepcopy(rasp_config)
    handed[RASP_KEY] = dict(handed[RASP_KEY], flow="pytorch")
    with quiet_stdout(logger):
        hls_model = hls4ml.converters.convert_from_pytorch_model(
            model, hls_config=copy.deepcopy(handed), output_dir=str(output_dir),
            project_name=project_name, **hls4ml_convert_kwargs(rasp_config))
    names = dict(rasp_config[RASP_KEY]["layer_names"])
    requests = {t: (h, h) for t, h in names.items()}
    check_converted(hls_model, requests, handed, rasp_config,
                    type_kinds=("weight", "accum", "result"))
    return _converted(hls_model, handed, rasp_config, "pytorch", output_dir, project_name, names)


def prepare_qonnx(model: nn.Module, path: Path) -> Any:
    """Export a power-of-two-scale Brevitas model to QONNX and clean it for hls4ml.

    Returns the qonnx ``ModelWrapper`` (the cleaned graph is also saved next to ``path``
    as ``<stem>_clean.onnx``). Raises :class:`rasp.models.NonPowerOfTwoScaleError` for
    other scales, before and after export.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    from rasp.models import check_power_of_two_scales, export_qonnx

    check_power_of_two_scales(model)
    export_qonnx(model, path)
    wrapper = ModelWrapper(str(path))
    wrapper = cleanup_model(wrapper)
    wrapper = wrapper.transform(ConvertToChannelsLastAndClean())
    with warnings.catch_warnings():
        # Brevitas exports Gemm with opset-level version 2 metadata; the transform works.
        warnings.filterwarnings("ignore", message="The GemmToMatMul transformation")
        wrapper = wrapper.transform(GemmToMatMul())
    wrapper = cleanup_model(wrapper)
    check_power_of_two_scales(wrapper)
    wrapper.save(str(path.with_name(path.stem + "_clean.onnx")))
    return wrapper


def _convert_qonnx(model, rasp_config, output_dir, project_name, trace, logger) -> ConvertedModel:
    import hls4ml

    from rasp.hardware import hls4ml_convert_kwargs, settings_from_hls_config

    settings = settings_from_hls_config(rasp_config)
    qonnx_path = output_dir / "model_qonnx.onnx"
    with quiet_stdout(logger):
        wrapper = prepare_qonnx(model, qonnx_path)
    block = rasp_config[RASP_KEY]
    torch_layers = list(block["layer_names"])  # forward order (make_hls_config traces it)
    onnx_weight_nodes = [n.name for n in wrapper.graph.node if n.op_type in ("MatMul", "Conv")]
    if len(onnx_weight_nodes) != len(torch_layers):
        raise ConversionError(
            f"QONNX graph has {len(onnx_weight_nodes)} MatMul/Conv nodes "
            f"({onnx_weight_nodes}) but the model has {len(torch_layers)} weight layers "
            f"({torch_layers}); cannot map the pruning configuration onto it"
        )
    with quiet_stdout(logger):
        cfg = hls4ml.utils.config_from_onnx_model(
            wrapper, granularity="name", backend=settings.backend,
            default_precision=settings.precision,
            default_reuse_factor=int(rasp_config["Model"]["ReuseFactor"]))
    cfg["Model"]["Strategy"] = rasp_config["Model"]["Strategy"]
    cfg["Model"]["ReuseFactor"] = int(rasp_config["Model"]["ReuseFactor"])
    config_names = dict(zip(torch_layers, onnx_weight_nodes, strict=True))
    for torch_name, onnx_name in config_names.items():
        src = rasp_config["LayerName"][block["layer_names"][torch_name]]
        dst = cfg["LayerName"].setdefault(onnx_name, {})
        dst["Strategy"] = src["Strategy"]
        dst["ReuseFactor"] = int(src["ReuseFactor"])
    if trace:
        cfg = _with_trace(cfg)
    cfg[RASP_KEY] = dict(copy.deepcopy(block), flow="qonnx", onnx_layer_names=config_names)
    with quiet_stdout(logger):
        hls_model = hls4ml.converters.convert_from_onnx_model(
            wrapper, hls_config=copy.deepcopy(cfg), output_dir=str(output_dir),
            project_name=project_name, **hls4ml_convert_kwargs(rasp_config))
    layers = [la for la in hls_model.get_layers() if la.class_name in WEIGHT_LAYER_CLASSES]
    if len(layers) != len(torch_layers):
        raise ConversionError(
            f"the converted QONNX model has {len(layers)} weight layers "
            f"({[la.name for la in layers]}), the torch model {len(torch_layers)}"
        )
    names = {t: layer.name for t, layer in zip(torch_layers, layers, strict=True)}
    requests = {t: (config_names[t], names[t]) for t in torch_layers}
    check_converted(hls_model, requests, cfg, rasp_config)
    return _converted(hls_model, cfg, rasp_config, "qonnx", output_dir, project_name, names,
                      qonnx_path=qonnx_path)
