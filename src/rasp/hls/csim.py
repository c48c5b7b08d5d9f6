"""Bit-accurate C simulation of a converted model: compile (cached), predict, compare, diagnose.

hls4ml's ``compile()`` builds the generated C++ with g++ into a shared library that
``predict()`` calls through ctypes. In C simulation the library reads the weights at
run time from ``firmware/weights/*.txt`` at an absolute path fixed at compile time.
:func:`compile_library` therefore caches the library *together with* those weight files,
keyed by a SHA-256 of every source that goes into the build (firmware, bridge, build
script, weights, g++ version), under ``cache_dir/<key>/``: a rerun of an unchanged design
(new C-simulation subset, new threshold, a failed downstream step) loads it in
milliseconds instead of compiling again (about 7-10 s for Latency, ~100 s for the jet MLP
with Resource_Unrolled on 2 cores).

:func:`run_csim` compares the fixed-point outputs with PyTorch and raises
:class:`AgreementError` when the argmax agreement is below the threshold, naming the
layer whose precision to widen (found by :func:`diagnose_layers` from the per-layer
trace compiled into the same library, see ``trace=True`` in :mod:`rasp.hls.convert`).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rasp.hls.convert import ConvertedModel, quiet_stdout

log = logging.getLogger(__name__)

_WEIGHTS_DIR_RE = re.compile(r'^WEIGHTS_DIR=.*$', re.MULTILINE)


class CompileError(RuntimeError):
    """The generated C++ did not compile."""


class AgreementError(RuntimeError):
    """The C simulation disagrees with PyTorch more than the configured threshold allows."""


@dataclass
class CompileInfo:
    """How the C-simulation library was obtained (seconds of wall time)."""

    seconds: float  # time spent in this call (compile, or load from cache)
    cached: bool  # True: loaded from the cache, no compilation
    key: str | None  # cache key (SHA-256 of the build inputs), None without a cache
    library: str  # path of the loaded shared library
    original_compile_seconds: float | None = None  # compile time when the entry was built


@functools.lru_cache(maxsize=1)
def _compiler_identity() -> str:
    try:
        out = subprocess.run(["g++", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise CompileError(f"g++ is needed for hls4ml's C simulation and failed to run: {err}") from err
    return out.stdout.splitlines()[0] if out.stdout else "g++"


def library_key(project_dir: str | Path, project_name: str, stamp: str | None) -> str:
    """SHA-256 of everything the C-simulation build reads (stamp normalised away)."""
    import hls4ml

    root = Path(project_dir)
    h = hashlib.sha256()
    h.update(f"hls4ml {hls4ml.__version__}\n{_compiler_identity()}\n".encode())
    files = [p for p in sorted((root / "firmware").rglob("*")) if p.is_file() and p.suffix != ".so"]
    files += [root / f"{project_name}_bridge.cpp", root / "build_lib.sh"]
    for path in files:
        if not path.is_file():
            raise CompileError(f"{path} is missing: write the hls4ml project first")
        data = path.read_bytes()
        if stamp:
            data = data.replace(stamp.encode(), b"STAMP")
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def _run_build(project_dir: Path, script_text: str, logger: logging.Logger) -> None:
    script = project_dir / "build_lib_rasp.sh"
    script.write_text(script_text)
    try:
        result = subprocess.run(["bash", str(script.name)], cwd=project_dir, capture_output=True,
                                text=True)
    finally:
        script.unlink(missing_ok=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise CompileError(f"compiling the hls4ml project in {project_dir} failed (g++ exit "
                           f"{result.returncode}):\n{tail}")
    if result.stderr.strip():
        logger.debug("g++ messages:\n%s", result.stderr.strip())


def _load(converted: ConvertedModel, library: Path) -> None:
    hls_model = converted.hls_model
    if not hasattr(hls_model, "_top_function_lib"):
        raise CompileError("this hls4ml version has no ModelGraph._top_function_lib; the "
                           "library cache needs hls4ml 1.3")
    hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(library))


def compile_library(
    converted: ConvertedModel,
    cache_dir: str | Path | None = None,
    logger: logging.Logger | None = None,
) -> CompileInfo:
    """Build (or load from ``cache_dir``) the C-simulation library and link it into the model.

    Without ``cache_dir`` this is hls4ml's own ``compile()``. With it, the library is
    built so that it reads its weights from ``cache_dir/<key>/weights`` (a copy of the
    project's weight files) and kept as ``cache_dir/<key>/lib.so``; entries are written
    to a temporary name and renamed, so parallel jobs never see half an entry.
    """
    logger = logger or log
    hls_model = converted.hls_model
    t0 = time.perf_counter()
    if cache_dir is None:
        with quiet_stdout(logger):
            try:
                hls_model.compile()
            except Exception as err:
                raise CompileError(f"hls4ml compile() failed for {converted.output_dir}: {err}") from err
        seconds = time.perf_counter() - t0
        lib = Path(converted.output_dir) / "firmware" / (
            f"{converted.project_name}-{hls_model.config.get_config_value('Stamp')}.so")
        return CompileInfo(seconds, False, None, str(lib), seconds)

    project = Path(converted.output_dir)
    stamp = hls_model.config.get_config_value("Stamp")
    key = library_key(project, converted.project_name, stamp)
    cache = Path(cache_dir).resolve()
    entry = cache / key
    lib = entry / "lib.so"
    if lib.is_file() and (entry / "weights").is_dir():
        _load(converted, lib)
        meta = _read_meta(entry)
        seconds = time.perf_counter() - t0
        logger.info("C-simulation library loaded from cache %s (%.2f s; compiled originally in "
                    "%s s)", entry, seconds, meta.get("compile_seconds"))
        return CompileInfo(seconds, True, key, str(lib), meta.get("compile_seconds"))

    build_script = (project / "build_lib.sh").read_text()
    if not _WEIGHTS_DIR_RE.search(build_script) or '"' in str(entry):
        logger.warning("build_lib.sh has no WEIGHTS_DIR line (or the cache path has quotes): "
                       "compiling without the cache")
        return compile_library(converted, None, logger)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{key}.{os.getpid()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(project / "firmware" / "weights", tmp / "weights")
        script = _WEIGHTS_DIR_RE.sub(lambda _: f'WEIGHTS_DIR="\\"{entry / "weights"}\\""', build_script)
        built = project / "firmware" / f"{converted.project_name}-{stamp}.so"
        built.unlink(missing_ok=True)
        _run_build(project, script, logger)
        if not built.is_file():
            raise CompileError(f"the build finished but {built} does not exist")
        compile_seconds = time.perf_counter() - t0
        shutil.move(str(built), tmp / "lib.so")
        (tmp / "meta.json").write_text(json.dumps({
            "compile_seconds": compile_seconds, "project": str(project),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }, indent=2))
        try:
            os.rename(tmp, entry)
        except OSError:
            if not lib.is_file():  # not a concurrent twin: a real failure
                raise
            logger.info("another job cached the same library first; using it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _load(converted, lib)
    seconds = time.perf_counter() - t0
    logger.info("compiled the C-simulation library in %.1f s (cached as %s)", seconds, entry)
    return CompileInfo(seconds, False, key, str(lib), seconds)


def _read_meta(entry: Path) -> dict[str, Any]:
    try:
        return json.loads((entry / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


# ----------------------------------------------------------------------------- prediction


def _to_hls_layout(converted: ConvertedModel, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if converted.input_layout == "channels_last" and x.ndim >= 3:
        x = np.moveaxis(x, 1, -1)
    return np.ascontiguousarray(x)


def predict(converted: ConvertedModel, x: np.ndarray) -> np.ndarray:
    """C-simulation outputs for inputs ``x`` (torch layout, batch first): (N, n_outputs)."""
    if getattr(converted.hls_model, "_top_function_lib", None) is None:
        raise CompileError("the hls4ml model is not compiled: call compile_library first")
    xs = _to_hls_layout(converted, x)
    with quiet_stdout():
        y = converted.hls_model.predict(xs)
    return np.asarray(y, dtype=np.float64).reshape(len(xs), -1)


@torch.no_grad()
def torch_outputs(model: nn.Module, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """PyTorch outputs of ``model`` (eval mode, CPU) for ``x``: (N, n_outputs) float64."""
    model = model.cpu().eval()
    outs = []
    for start in range(0, len(x), batch_size):
        out = model(torch.as_tensor(np.asarray(x[start:start + batch_size], dtype=np.float32)))
        out = getattr(out, "value", out)  # a Brevitas QuantTensor
        outs.append(out.detach().to(torch.float64).reshape(out.shape[0], -1).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def trace_layers(converted: ConvertedModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer C-simulation outputs (hls4ml layer name -> (N, *shape)) without recompiling.

    Needs a library compiled from a project converted with ``trace=True``. Mirrors
    ``ModelGraph.trace`` of hls4ml 1.3 minus its recompilation.
    """
    hls_model = converted.hls_model
    lib = getattr(hls_model, "_top_function_lib", None)
    if lib is None or not hls_model.config.trace_output:
        raise CompileError("tracing needs a library compiled with trace output (convert with trace=True)")
    xs = _to_hls_layout(converted, x)
    top_function, ctype = hls_model._get_top_function(xs)

    class TraceData(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]

    shapes: dict[str, tuple[int, ...]] = {}
    n_traced = 0
    for layer in hls_model.get_layers():
        if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
            n_traced += len(layer.get_variables())
            shapes[layer.name] = tuple(layer.get_output_variable().shape)
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in shapes}
    collect, alloc, free = (lib.collect_trace_output, lib.allocate_trace_storage,
                            lib.free_trace_storage)
    for fn, argtypes in ((collect, [ctypes.POINTER(TraceData)]), (alloc, [ctypes.c_size_t]),
                         (free, None)):
        fn.argtypes = argtypes
        fn.restype = None
    trace_data = (TraceData * n_traced)()
    sizes = [v.size() for v in hls_model.get_output_variables()]
    alloc(ctypes.sizeof(ctype))
    try:
        for i in range(len(xs)):
            preds = [np.zeros(s, dtype=np.float32) for s in sizes]
            top_function(np.ascontiguousarray(xs[i]), *preds)
            collect(trace_data)
            for item in trace_data:
                name = item.name and item.name.decode()  # None for an unused slot
                if name in shapes:
                    ptr = ctypes.cast(item.data, ctypes.POINTER(ctype))
                    outputs[name].append(np.ctypeslib.as_array(ptr, shape=shapes[name]).copy())
    finally:
        free()
    return {k: np.asarray(v, dtype=np.float64) for k, v in outputs.items() if v}


@dataclass
class LayerDeviation:
    """Fixed-point vs float output of one layer (over the traced samples).

    ``rel_error``: RMS(csim - torch) / RMS(torch); ``jump``: its increase over the
    previous compared layer; ``overflow``: the float output leaves the range of the
    layer's declared result type ``[type_min, type_max]`` in a way that changes the
    result; ``saturated``: it leaves it only below ``type_min``, into a saturating type
    read by a ReLU, which maps the saturated values to 0 as it maps the true ones (such
    as the constant of a pruned channel): harmless, so not an ``overflow``.
    """

    layer: str  # hls4ml layer name
    reference: str  # torch module compared with
    result_type: str
    type_min: float
    type_max: float
    torch_min: float
    torch_max: float
    rel_error: float
    max_abs_error: float
    jump: float = 0.0
    overflow: bool = False
    saturated: bool = False


def _saturates(precision: Any) -> bool:
    """True for a fixed-point type that saturates (AP_SAT, AP_SAT_ZERO, AP_SAT_SYM)."""
    return str(getattr(precision, "saturation_mode", "") or "").upper().startswith("SAT")


def _type_range(precision: Any) -> tuple[float, float]:
    width = getattr(precision, "width", None)
    integer = getattr(precision, "integer", None)
    if width is None or integer is None:
        return -np.inf, np.inf
    frac = width - integer
    if getattr(precision, "signed", True):
        return -(2.0 ** (integer - 1)), 2.0 ** (integer - 1) - 2.0 ** (-frac)
    return 0.0, 2.0 ** integer - 2.0 ** (-frac)


@torch.no_grad()
def _torch_module_outputs(model: nn.Module, x: np.ndarray) -> list[tuple[str, np.ndarray, nn.Module]]:
    """(module name, output, module) of every leaf module in call order."""
    records: list[tuple[str, np.ndarray, nn.Module]] = []
    hooks = []
    brevitas_layers: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(b + ".") for b in brevitas_layers):
            continue  # the root, or a quantiser inside a Brevitas layer
        is_brevitas = type(module).__module__.startswith("brevitas.nn")
        if is_brevitas:
            brevitas_layers.append(name)
        elif list(module.children()):
            continue

        def hook(mod, _inp, out, name=name):
            value = getattr(out, "value", out)
            if isinstance(value, torch.Tensor):
                records.append((name, value.detach().to(torch.float64).numpy(), mod))

        hooks.append(module.register_forward_hook(hook))
    try:
        model.cpu().eval()(torch.as_tensor(np.asarray(x, dtype=np.float32)))
    finally:
        for h in hooks:
            h.remove()
    first: dict[str, tuple[str, np.ndarray, nn.Module]] = {}
    for rec in records:  # a module called twice keeps its first call
        first.setdefault(rec[0], rec)
    return list(first.values())


def diagnose_layers(converted: ConvertedModel, model: nn.Module, x: np.ndarray) -> list[LayerDeviation]:
    """Compare every traced layer that has a PyTorch counterpart with its float output.

    PyTorch flow: hls4ml layer ``a_b`` is torch module ``a.b``; when hls4ml folded a
    BatchNorm into the layer before it, that layer is compared with the BatchNorm's
    output. QONNX flow: the weight layers (``converted.layer_names``). Layers in hls4ml
    graph order.
    """
    traced = trace_layers(converted, x)
    records = _torch_module_outputs(model, x)
    hls_layers = {layer.name: layer for layer in converted.hls_model.get_layers()}
    refs: dict[str, tuple[str, np.ndarray]] = {}
    if converted.flow == "pytorch":
        for i, (name, out, _mod) in enumerate(records):
            hls_name = name.replace(".", "_")
            if hls_name not in hls_layers:
                continue
            ref_name, ref_out = name, out
            j = i + 1
            while j < len(records) and isinstance(records[j][2], nn.modules.batchnorm._BatchNorm) \
                    and records[j][0].replace(".", "_") not in hls_layers:
                ref_name, ref_out = records[j][0], records[j][1]
                j += 1
            refs[hls_name] = (ref_name, ref_out)
    else:
        by_name = {name: out for name, out, _ in records}
        for torch_name, hls_name in converted.layer_names.items():
            if torch_name in by_name:
                refs[hls_name] = (torch_name, by_name[torch_name])
    modules = {name: mod for name, _out, mod in records}
    compared = [name for name in hls_layers if name in traced and name in refs]
    out: list[LayerDeviation] = []
    previous = 0.0
    for k, name in enumerate(compared):
        layer = hls_layers[name]
        ref_name, ref = refs[name]
        got = traced[name]
        if ref.ndim == 4 and got.ndim == 4 and got.shape[1:] == (ref.shape[2], ref.shape[3], ref.shape[1]):
            ref = np.moveaxis(ref, 1, -1)
        if ref.size != got.size:
            continue
        ref = ref.reshape(got.shape)
        diff = got - ref
        rms_ref = float(np.sqrt(np.mean(ref ** 2))) or 1e-12
        rel = float(np.sqrt(np.mean(diff ** 2))) / rms_ref
        precision = layer.get_output_variable().type.precision
        lo, hi = _type_range(precision)
        below, above = bool(ref.min() < lo), bool(ref.max() > hi)
        next_ref = refs[compared[k + 1]][0] if k + 1 < len(compared) else None
        harmless = (below and not above and _saturates(precision)
                    and type(modules.get(next_ref)).__name__ in ("ReLU", "QuantReLU"))
        out.append(LayerDeviation(
            layer=name, reference=ref_name, result_type=str(precision), type_min=lo, type_max=hi,
            torch_min=float(ref.min()), torch_max=float(ref.max()), rel_error=rel,
            max_abs_error=float(np.abs(diff).max()), jump=rel - previous,
            overflow=(below or above) and not harmless, saturated=harmless,
        ))
        previous = rel
    return out


def culprit(deviations: list[LayerDeviation]) -> LayerDeviation | None:
    """The first layer whose float output overflows its result type (a wrapped or
    saturated value spoils everything after it; see :class:`LayerDeviation` for the
    harmless case), else the layer whose error grows the most (the first on ties)."""
    best = next((dev for dev in deviations if dev.overflow), None)
    if best is not None or not deviations:
        return best
    best = deviations[0]
    for dev in deviations[1:]:
        if dev.jump > best.jump + 1e-12:
            best = dev
    return best


def widen_advice(dev: LayerDeviation, converted: ConvertedModel) -> str:
    """One sentence: which precision of which layer to widen, and how."""
    torch_name = next((t for t, h in converted.layer_names.items() if h == dev.layer), dev.reference)
    where = (f"hls4ml layer {dev.layer!r} (torch {dev.reference!r})" if dev.layer != torch_name
             else f"layer {dev.layer!r}")
    if dev.overflow:
        what = (f"its float output spans [{dev.torch_min:.4g}, {dev.torch_max:.4g}] but its result "
                f"type {dev.result_type} holds only [{dev.type_min:.4g}, {dev.type_max:.4g}]: widen "
                "the INTEGER bits of its result and accumulator types")
    else:
        what = (f"its output deviates by {dev.rel_error:.3g} (relative RMS) with result type "
                f"{dev.result_type}: widen the FRACTIONAL bits of its result/accumulator (or "
                "weight) types")
    how = ("hardware.<dataset>.precision / weight_precision in the config"
           if converted.flow == "pytorch"
           else "the Brevitas bit widths of the layer (models.<dataset>.variants)")
    return f"{where}: {what} (via {how})."


def _flag(dev: LayerDeviation) -> str:
    if dev.overflow:
        return "  OVERFLOW"
    return "  saturates below (ReLU next: harmless)" if dev.saturated else ""


@dataclass
class CsimResult:
    """C simulation vs PyTorch on ``n_samples`` test samples (fractions in [0, 1])."""

    n_samples: int
    accuracy_csim: float
    accuracy_torch: float  # on the same samples
    agreement: float  # argmax(csim) == argmax(torch)
    max_abs_diff: float  # max |csim - torch| over all outputs
    mean_abs_diff: float
    predict_seconds: float
    min_agreement: float
    agreement_passed: bool = True  # agreement >= min_agreement
    deviations: list[dict[str, Any]] = field(default_factory=list)


def run_csim(
    converted: ConvertedModel,
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_agreement: float,
    diagnose_samples: int = 256,
    enforce: bool = True,
    logger: logging.Logger | None = None,
) -> CsimResult:
    """Predict ``x`` in C simulation and compare with PyTorch (library must be compiled).

    Raises :class:`AgreementError` when the argmax agreement is below ``min_agreement``;
    the message names the layer to widen (:func:`diagnose_layers` on the first
    ``diagnose_samples`` samples where the two disagree, padded with agreeing ones).
    With ``enforce=False`` the same message is logged as a warning instead and the result
    says ``agreement_passed=False`` (with the per-layer ``deviations``).
    """
    logger = logger or log
    if len(x) == 0:
        raise ValueError("no samples to simulate")
    ref = torch_outputs(model, x)
    t0 = time.perf_counter()
    got = predict(converted, x)
    seconds = time.perf_counter() - t0
    if got.shape != ref.shape:
        raise AgreementError(f"C simulation output shape {got.shape} differs from PyTorch's {ref.shape}")
    y = np.asarray(y)
    agree = got.argmax(1) == ref.argmax(1)
    result = CsimResult(
        n_samples=len(x),
        accuracy_csim=float(np.mean(got.argmax(1) == y)),
        accuracy_torch=float(np.mean(ref.argmax(1) == y)),
        agreement=float(np.mean(agree)),
        max_abs_diff=float(np.abs(got - ref).max()),
        mean_abs_diff=float(np.abs(got - ref).mean()),
        predict_seconds=seconds,
        min_agreement=float(min_agreement),
    )
    logger.info("C simulation on %d samples: accuracy %.4f (PyTorch %.4f), argmax agreement %.4f, "
                "max |diff| %.3g, %.2f s", result.n_samples, result.accuracy_csim,
                result.accuracy_torch, result.agreement, result.max_abs_diff, seconds)
    if result.agreement < min_agreement:
        order = np.concatenate([np.flatnonzero(~agree), np.flatnonzero(agree)])[:diagnose_samples]
        deviations = diagnose_layers(converted, model, x[np.sort(order)])
        result.deviations = [asdict(d) for d in deviations]
        worst = culprit(deviations)
        table = "\n".join(
            f"  {d.layer:<24} vs torch {d.reference:<12} rel. error {d.rel_error:9.4g} "
            f"({d.jump:+.4g})  type {d.result_type}  float range [{d.torch_min:.3g}, "
            f"{d.torch_max:.3g}]{_flag(d)}" for d in deviations)
        advice = widen_advice(worst, converted) if worst else (
            "no layer could be compared with PyTorch; inspect the hls4ml trace")
        message = (
            f"C simulation agrees with PyTorch on {result.agreement:.2%} of {result.n_samples} "
            f"samples, below the threshold {min_agreement:.2%} (hls.min_agreement). Fixed-point "
            f"accuracy {result.accuracy_csim:.4f} vs PyTorch {result.accuracy_torch:.4f}, max "
            f"|difference| {result.max_abs_diff:.4g}. Widen the precision of {advice}\n"
            f"Per-layer deviation (hls4ml trace vs PyTorch):\n{table}"
        )
        if enforce:
            raise AgreementError(message)
        result.agreement_passed = False
        logger.warning("%s", message)
    return result
