"""Distributed-arithmetic designs with da4ml: trace a converted model, check it, write Verilog.

da4ml (the backend of hls4ml's ``Strategy: distributed_arithmetic``) turns every
constant-weight matrix-vector product into an adder graph (shift-and-add, no DSP) and
writes it as synthesisable Verilog. The trace here starts from the *converted* hls4ml
model, so it uses exactly the fixed-point types hls4ml chose for every layer (the float
flow's ``hardware.<dataset>.precision``, or the QONNX flow's types inferred from the
Brevitas quantisers) and the weights hls4ml writes, quantised at their declared type.

Semantics, per hls4ml layer (``k, i, f`` = sign bit, integer bits without sign,
fractional bits; ``ap_fixed<W,I>`` -> ``1, I-1, W-I``):

- ``Input`` / linear ``Activation``: quantise to the output type.
- ``Dense``: ``x @ W + b`` exactly (an adder graph has no intermediate rounding), then
  quantised to the layer's output type. hls4ml's Latency kernel rounds every product to
  ``accum_t`` first, so the two designs may differ by a few LSBs; the agreement check
  (:func:`check_agreement`) bounds what that changes.
- ``ReLU``: ``max(x, 0)``, then quantised to the output type.

da4ml rounds with ``TRN`` (floor) or ``RND`` (half up): every ``AP_RND*`` mode becomes
``RND`` (ties differ from ``AP_RND_CONV`` by one LSB). Other layer types raise
:class:`UnsupportedDaLayerError`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rasp.hardware.da_cost import DaCostError, Kif, fixed_kif, quantize_variables
from rasp.hardware.fixed import FixedType, quantize_to_int

log = logging.getLogger(__name__)


class UnsupportedDaLayerError(DaCostError):
    """A layer (or a fixed-point mode) the distributed-arithmetic trace does not handle."""


class DaAgreementError(AssertionError):
    """da4ml's bit-exact model of the traced design disagrees with PyTorch too often."""


def _mode(value: Any) -> str:
    text = str(getattr(value, "name", value) or "").upper()
    return text.removeprefix("AP_")


def precision_kif(precision: Any, where: str = "") -> Kif:
    """da4ml (k, i, f, overflow, round) of an hls4ml precision (``ap_fixed`` / ``ap_int``)."""
    try:
        return fixed_kif(precision_fixed_type(precision), where)
    except DaCostError as exc:
        raise UnsupportedDaLayerError(str(exc)) from exc


def precision_fixed_type(precision: Any) -> FixedType:
    """The :class:`rasp.hardware.fixed.FixedType` of an hls4ml precision."""
    width = int(precision.width)
    return FixedType(width, int(getattr(precision, "integer", width)), bool(precision.signed),
                     "AP_" + (_mode(getattr(precision, "rounding_mode", None)) or "TRN"),
                     "AP_" + (_mode(getattr(precision, "saturation_mode", None)) or "WRAP"))


def constant_values(variable: Any) -> np.ndarray:
    """The values of an hls4ml weight variable as the C code holds them (float64).

    ``data`` quantised at the variable's declared type (what the ``ap_fixed`` initialiser
    of the written weights yields).
    """
    data = np.asarray(variable.data, dtype=np.float64)
    ftype = precision_fixed_type(variable.type.precision)
    return quantize_to_int(data, ftype).astype(np.float64) * 2.0 ** -ftype.fractional


def _out_kif(layer: Any) -> Kif:
    return precision_kif(layer.get_output_variable().type.precision,
                         f"layer {layer.name} ({layer.class_name})")


@dataclass
class DaDesign:
    """A traced distributed-arithmetic design.

    ``comb``: da4ml's ``CombLogic`` (inputs -> outputs, one adder graph). ``cost``: da4ml's
    cost estimate (its LUT-equivalent adder cost). ``latency``: (min, max) adder depth of
    the outputs, in da4ml's delay units. ``n_ops``: operations in the graph.
    ``trace_seconds``: wall time of the trace (s). ``layers``: the hls4ml layers traced.
    """

    comb: Any
    cost: float
    latency: tuple[float, float]
    n_ops: int
    trace_seconds: float
    layers: list[str] = field(default_factory=list)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Bit-exact outputs of the design (da4ml's interpreter) for a batch (float64)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return np.asarray(self.comb.predict(x), dtype=np.float64)


def trace_hls_model(hls_model: Any, logger: logging.Logger | None = None) -> DaDesign:
    """Trace a converted hls4ml model (a sequential MLP) into a da4ml adder graph.

    Handled layers: ``Input``, ``Dense``, ``Activation`` (``relu`` / ``linear``). Raises
    :class:`UnsupportedDaLayerError` naming any other layer.
    """
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    logger = logger or log
    t0 = time.perf_counter()
    layers = list(hls_model.get_layers())
    if not layers or layers[0].class_name != "Input":
        raise UnsupportedDaLayerError("the model graph does not start with an Input layer")
    shape = tuple(int(s) for s in layers[0].get_output_variable().shape)
    if len(shape) != 1:
        raise UnsupportedDaLayerError(f"input shape {shape}: the distributed-arithmetic trace "
                                      "handles flat (Dense) models only")
    inp = FixedVariableArrayInput(shape)
    x = quantize_variables(inp, _out_kif(layers[0]))
    names = [layers[0].name]
    for layer in layers[1:]:
        kind = layer.class_name
        where = f"layer {layer.name} ({kind})"
        if kind == "Dense":
            w = constant_values(layer.weights["weight"])
            n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
            if layer.get_attr("_weights_transposed", False) is True:
                w = w.T  # hls4ml's resource-strategy pass stores (n_out, n_in)
            if w.shape != (n_in, n_out):
                raise UnsupportedDaLayerError(f"{where}: weights of shape {w.shape}, expected "
                                              f"(n_in, n_out) = {(n_in, n_out)}")
            x = x @ w
            if "bias" in layer.weights:
                x = x + constant_values(layer.weights["bias"]).reshape(n_out)
            x = quantize_variables(x, _out_kif(layer))
        elif kind in ("Activation", "ReLU") or kind.endswith("Activation"):
            act = str(layer.get_attr("activation") or "").lower()
            if act not in ("relu", "linear"):
                raise UnsupportedDaLayerError(f"{where}: activation {act!r} is not traced "
                                              "(relu and linear are)")
            x = quantize_variables(x.relu() if act == "relu" else x, _out_kif(layer))
        else:
            raise UnsupportedDaLayerError(f"{where}: the distributed-arithmetic trace handles "
                                          "Input, Dense and ReLU/linear activations only")
        names.append(layer.name)
    comb = comb_trace(inp, x)
    seconds = time.perf_counter() - t0
    lat = tuple(float(v) for v in comb.latency)
    design = DaDesign(comb, float(comb.cost), (lat[0], lat[1]), len(comb.ops), seconds, names)
    logger.info("da4ml trace of %d layers: cost %.0f, latency %s, %d ops, %.2f s", len(names),
                design.cost, design.latency, design.n_ops, seconds)
    return design


def write_verilog(design: DaDesign, out_dir: str | Path, name: str = "da_model",
                  part: str = "xcvu9p-flga2104-2L-e",
                  clock_period_ns: float = 5.0) -> list[Path]:
    """Write the design's Verilog with da4ml; return the files synthesis must read.

    The files are the static modules the top module instantiates, then ``src/<name>.v``
    (combinational; ports ``model_inp`` / ``model_out``). Unused static modules are left
    out (``lookup_table.v`` reads memory files that an adder graph never has).
    """
    from da4ml.codegen import VerilogModel

    out_dir = Path(out_dir)
    VerilogModel(design.comb, name, out_dir, part_name=part,
                 clock_period=float(clock_period_ns)).write()
    top = out_dir / "src" / f"{name}.v"
    text = top.read_text()
    static = sorted((out_dir / "src" / "static").glob("*.v"))
    return [*(p for p in static if _instantiates(text, p.read_text())), top]


def _instantiates(text: str, module_source: str) -> bool:
    """Whether ``text`` instantiates a module that ``module_source`` defines: an instance is
    `<module> #(...) name (` or `<module> name (`, anywhere on a line."""
    modules = re.findall(r"^\s*module\s+(\w+)", module_source, flags=re.MULTILINE)
    return any(re.search(rf"\b{m}\s*(#\s*\(|\w+\s*\()", text) for m in modules)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.asarray(a).argmax(1) == np.asarray(b).argmax(1)))


def check_agreement(design: DaDesign, x: np.ndarray, y: np.ndarray, reference: np.ndarray,
                    min_agreement: float, csim: np.ndarray | None = None,
                    where: str = "", enforce: bool = True) -> dict[str, Any]:
    """Compare the design's bit-exact outputs with PyTorch (and the C simulation).

    ``reference``: PyTorch outputs of ``x``; ``csim``: hls4ml C-simulation outputs of the
    same samples (optional). Returns ``n_samples``, ``accuracy_da`` (argmax vs ``y``),
    ``agreement`` (argmax agreement with PyTorch, a fraction), ``max_abs_diff`` (vs
    PyTorch) and, with ``csim``, ``agreement_csim`` / ``max_abs_diff_csim``. Raises
    :class:`DaAgreementError` when ``agreement`` is below ``min_agreement`` (with
    ``enforce=False``: a warning, and ``agreement_passed`` false in the report).
    """
    t0 = time.perf_counter()
    out = design.predict(x)
    if out.shape != reference.shape:
        raise DaAgreementError(f"{where}: da4ml outputs have shape {out.shape}, PyTorch's "
                               f"{reference.shape}")
    report: dict[str, Any] = {
        "n_samples": int(len(x)),
        "accuracy_da": float(np.mean(out.argmax(1) == np.asarray(y))),
        "agreement": _agreement(out, reference),
        "max_abs_diff": float(np.abs(out - reference).max()),
        "predict_seconds": time.perf_counter() - t0,
        "min_agreement": float(min_agreement),
    }
    if csim is not None:
        report["agreement_csim"] = _agreement(out, csim)
        report["max_abs_diff_csim"] = float(np.abs(out - csim).max())
    report["agreement_passed"] = report["agreement"] >= min_agreement
    if not report["agreement_passed"]:
        message = (
            f"{where}: the distributed-arithmetic design (da4ml's bit-exact model) agrees with "
            f"PyTorch on {report['agreement']:.4f} of {len(x)} samples, below hls.min_agreement"
            f"={min_agreement}; max |diff| {report['max_abs_diff']:.3g}. Widen the hardware "
            "precision (hardware.<dataset>.precision) or the QAT bit widths"
        )
        if enforce:
            raise DaAgreementError(message)
        log.warning("%s", message)
    return report


def synthesis_key(sources: Sequence[Path], script_version: str) -> str:
    """Content hash of the Verilog sources and the synthesis settings (cache key)."""
    import hashlib

    h = hashlib.sha256(script_version.encode())
    for path in sources:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def synthesize_cached(sources: Sequence[Path], top: str, family: str, workdir: Path, *,
                      cache_dir: str | Path | None, timeout_s: float | None,
                      logger: logging.Logger | None = None) -> tuple[dict[str, Any], bool]:
    """Yosys stat of ``sources`` (a dict, :class:`rasp.hls.yosys.YosysStat` fields), cached.

    The cache (``cache_dir/yosys/<key>.json``, keyed by :func:`synthesis_key`) lets the
    baselines of several reuse factors (the same distributed-arithmetic design) and reruns
    share one synthesis. Returns (stat, whether it came from the cache).
    """
    import json

    from rasp.atomic import write_text_atomic
    from rasp.hls.yosys import find_yosys, run_yosys, synth_script

    find_yosys()  # refuse before anything else when there is no Yosys
    key = synthesis_key(sources, synth_script(["x.v"], top, family, "stat.json"))
    entry = Path(cache_dir) / "yosys" / f"{key}.json" if cache_dir is not None else None
    if entry is not None and entry.is_file():
        return json.loads(entry.read_text()), True
    stat = run_yosys(sources, top, family, workdir, timeout_s=timeout_s, logger=logger).to_dict()
    if entry is not None:  # atomic_path creates the folder
        write_text_atomic(entry, json.dumps(stat, indent=1))
    return stat, False


def run_da_flow(converted: Any, x: np.ndarray, y: np.ndarray, reference: np.ndarray, *,
                part: str, clock_period_ns: float, min_agreement: float,
                out_dir: str | Path, workdir: str | Path, cache_dir: str | Path | None = None,
                timeout_s: float | None = None, csim: np.ndarray | None = None,
                where: str = "", enforce: bool = True,
                logger: logging.Logger | None = None) -> dict[str, Any]:
    """Trace, check, write and synthesise the distributed-arithmetic design of one model.

    ``converted``: the hls4ml conversion (:class:`rasp.hls.convert.ConvertedModel`);
    ``x`` / ``y``: test samples and labels (the C-simulated subset); ``reference``:
    PyTorch outputs of ``x``; ``out_dir``: where the Verilog goes (kept in the project
    archive); ``workdir``: scratch folder for Yosys. Returns the ``da`` block of
    csim.json: da4ml ``cost`` (its LUT-equivalent estimate), ``latency`` (min, max adder
    depth), ``n_ops``, ``trace_seconds``, the agreement report, ``verilog_kb`` (size of
    the sources, kB), ``yosys`` (:class:`rasp.hls.yosys.YosysStat` as a dict),
    ``yosys_cached`` and ``resource_source`` (``yosys``). ``enforce``: as in
    :func:`check_agreement`.
    """
    from rasp.hls.yosys import find_yosys, yosys_family

    logger = logger or log
    family = yosys_family(part)
    find_yosys()
    design = trace_hls_model(converted.hls_model, logger)
    report = check_agreement(design, x, y, reference, min_agreement, csim, where, enforce)
    logger.info("%s: da4ml design agrees with PyTorch on %.4f of %d samples (accuracy %.4f)",
                where, report["agreement"], report["n_samples"], report["accuracy_da"])
    sources = write_verilog(design, out_dir, part=part, clock_period_ns=clock_period_ns)
    stat, cached = synthesize_cached(sources, "da_model", family, Path(workdir),
                                     cache_dir=cache_dir, timeout_s=timeout_s, logger=logger)
    return {
        "cost": design.cost,
        "latency": list(design.latency),
        "n_ops": design.n_ops,
        "trace_seconds": design.trace_seconds,
        **report,
        "verilog_kb": sum(p.stat().st_size for p in sources) / 1e3,
        "yosys": stat,
        "yosys_cached": cached,
        "resource_source": "yosys",
    }
