"""Resource estimate from raw weight arrays, without a PyTorch model.

For a user who has an hls4ml project (or any weights) and wants to know what a pruned
version costs: per layer, the weight array as hls4ml wrote it (``firmware/weights/w<i>.txt``
or the initialiser in ``firmware/weights/w<i>.h``), the declared weight / input /
accumulator types (``firmware/defines.h``), the reuse factor and the strategy
(``firmware/parameters.h``). Same rules as :func:`rasp.hardware.estimate_resources`
(docs/hardware_model.md); the layers are :class:`~rasp.hardware.layers.LayerHardware`,
so structures and knapsack items can be built on them too.

Weight layouts (``layout=``), flat arrays read row-major:

=========== ====================== ====================== =========================
kind        ``pytorch``            ``keras`` / hls4ml      hls4ml Resource strategies
                                   Latency
=========== ====================== ====================== =========================
``dense``   ``(n_out, n_in)``      ``(n_in, n_out)``      ``(n_out, n_in)``
``conv1d``  ``(F, C, k)``          ``(k, C, F)``          ``(F, k, C)``
``conv2d``  ``(F, C, kh, kw)``     ``(kh, kw, C, F)``     ``(F, kh, kw, C)``
=========== ====================== ====================== =========================

``layout="hls4ml"`` (the default) means the order hls4ml writes for the layer's strategy:
its ``ApplyResourceStrategy`` pass transposes the kernel of Resource and
Resource_Unrolled layers; Latency layers keep Keras's order.

Example (a Dense 16 -> 64 of an existing project at RF 1)::

    import numpy as np
    from rasp.hardware import array_layer, estimate_arrays

    w = np.loadtxt("prj/firmware/weights/w2.txt", delimiter=",")
    fc1 = array_layer("fc1", w, n_in=16, n_out=64, weight_type="ap_fixed<16,6>",
                      input_type="ap_fixed<16,6>", accum_type="ap_fixed<16,6>",
                      reuse_factor=1, strategy="Latency")
    est = estimate_arrays([fc1])
    est.totals["dsp"], est.totals["lut"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasp.hardware.estimate import ResourceEstimate, estimate_layers
from rasp.hardware.fixed import FixedType, parse_precision
from rasp.hardware.layers import LayerHardware, canonical_strategy
from rasp.hardware.reuse import check_reuse_factor
from rasp.hardware.settings import BACKENDS, IO_TYPES, BramModel, DspModel

#: Layer kinds of :func:`array_layer` -> the LayerHardware kind.
KINDS = {"dense": "linear", "conv1d": "conv1d", "conv2d": "conv2d"}
LAYOUTS = ("hls4ml", "pytorch", "keras")


@dataclass(frozen=True)
class ArrayLayer:
    """One layer described from arrays: its hardware description and its weights in
    PyTorch's shape (``layer.weight_shape``), which the estimate and structures index."""

    layer: LayerHardware
    weight: np.ndarray


def _pair(value: int | Sequence[int], what: str, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    items = tuple(int(v) for v in value)
    if len(items) != 2:
        raise ValueError(f"layer {name!r}: {what} must be an int or (height, width), got {value!r}")
    return items


def _pytorch_weight(name: str, weight: np.ndarray, kind: str, dims: tuple[int, ...],
                    layout: str, strategy: str) -> np.ndarray:
    """``weight`` (flat or shaped, in ``layout``) reshaped to PyTorch's layout ``dims``."""
    n = int(np.prod(dims))
    if weight.size != n:
        raise ValueError(f"layer {name!r}: {weight.size} weights given, the {kind} shape "
                         f"{dims} (PyTorch layout) needs {n}")
    if layout == "hls4ml":
        layout = "keras" if strategy == "Latency" else "resource"
    flat = weight.reshape(-1)
    if layout == "pytorch":
        return flat.reshape(dims)
    d = len(dims)  # dims = (F, C, *kernel)
    if layout == "keras":  # (*kernel, C, F)
        shape, axes = (*dims[2:], dims[1], dims[0]), (d - 1, d - 2, *range(d - 2))
    else:  # Resource strategies: (F, *kernel, C)
        shape, axes = (dims[0], *dims[2:], dims[1]), (0, d - 1, *range(1, d - 1))
    return flat.reshape(shape).transpose(axes).copy()


def array_layer(
    name: str,
    weight: np.ndarray | Sequence[float],
    *,
    n_in: int | None = None,
    n_out: int | None = None,
    kind: str = "dense",
    n_chan: int | None = None,
    n_filt: int | None = None,
    kernel_size: int | Sequence[int] | None = None,
    in_size: int | Sequence[int] | None = None,
    out_size: int | Sequence[int] | None = None,
    weight_type: str | FixedType,
    input_type: str | FixedType,
    accum_type: str | FixedType | None = None,
    reuse_factor: int = 1,
    strategy: str = "Latency",
    io_type: str = "io_parallel",
    backend: str = "Vitis",
    dsp: DspModel | Mapping[str, Any] | None = None,
    bram: BramModel | Mapping[str, Any] | None = None,
    layout: str = "hls4ml",
) -> ArrayLayer:
    """Describe one Dense / Conv1D / Conv2D layer from its weights and declared types.

    Dense: ``n_in``, ``n_out`` (hls4ml's ``n_in`` / ``n_out``). Convolutions: ``n_chan``
    (input channels), ``n_filt`` (filters), ``kernel_size`` (int, or (kh, kw) for
    conv2d), and optionally ``in_size`` (input length, or (height, width)) and
    ``out_size`` (default: ``in_size - kernel + 1``, stride 1 without padding); the
    sizes only set the latency (kernel calls per inference, rule T1).
    ``weight_type`` / ``input_type`` / ``accum_type`` (default: the input type): hls4ml
    precision strings such as ``ap_fixed<16,6>``. ``reuse_factor``, ``strategy``
    (Latency | Resource | Resource_Unrolled) and ``io_type`` as in the hls4ml config;
    invalid combinations raise as hls4ml would silently change them. ``dsp`` / ``bram``:
    the DSP and BRAM rules (``hardware.<dataset>.dsp`` / ``.bram`` keys). ``layout``:
    see the module docstring.
    """
    for key, value, allowed in (("kind", kind, KINDS), ("layout", layout, LAYOUTS),
                                ("io_type", io_type, IO_TYPES), ("backend", backend, BACKENDS)):
        if value not in allowed:
            raise ValueError(f"layer {name!r}: {key}={value!r}; allowed: {list(allowed)}")
    strategy = canonical_strategy(strategy, name)
    hw_kind = KINDS[kind]
    if kind == "dense":
        if n_in is None or n_out is None:
            raise ValueError(f"layer {name!r}: a dense layer needs n_in and n_out")
        dims: tuple[int, ...] = (int(n_out), int(n_in))
        n_in_k, n_out_k = int(n_in), int(n_out)
        in_hw = out_hw = (1, 1)
    else:
        if n_chan is None or n_filt is None or kernel_size is None:
            raise ValueError(f"layer {name!r}: a {kind} layer needs n_chan, n_filt and kernel_size")
        if kind == "conv1d":
            if not isinstance(kernel_size, (int, np.integer)):
                raise ValueError(f"layer {name!r}: conv1d kernel_size must be an int")
            kh, kw = 1, int(kernel_size)
            dims = (int(n_filt), int(n_chan), kw)
            in_hw = (1, int(in_size)) if in_size is not None else (1, kw)
            out_hw = (1, int(out_size)) if out_size is not None else (1, in_hw[1] - kw + 1)
        else:
            kh, kw = _pair(kernel_size, "kernel_size", name)
            dims = (int(n_filt), int(n_chan), kh, kw)
            in_hw = _pair(in_size, "in_size", name) if in_size is not None else (kh, kw)
            out_hw = (_pair(out_size, "out_size", name) if out_size is not None
                      else (in_hw[0] - kh + 1, in_hw[1] - kw + 1))
        if min(out_hw) < 1:
            raise ValueError(f"layer {name!r}: output size {out_hw} < 1; give out_size")
        n_in_k, n_out_k = kh * kw * int(n_chan), int(n_filt)
    check_reuse_factor(name, n_in_k, n_out_k, int(reuse_factor), strategy, kind=hw_kind,
                       io_type=io_type)
    w = np.asarray(weight, dtype=np.float64)
    torch_weight = _pytorch_weight(name, w, kind, dims, layout, strategy)
    dsp_model = dsp if isinstance(dsp, DspModel) else DspModel.from_dict(
        dict(dsp) if dsp is not None else None, f"{name}.dsp")
    bram_model = bram if isinstance(bram, BramModel) else BramModel.from_dict(
        dict(bram) if bram is not None else None, f"{name}.bram")
    wtype = parse_precision(weight_type)
    itype = parse_precision(input_type)
    atype = parse_precision(accum_type) if accum_type is not None else itype
    layer = LayerHardware(
        name=name, hls_name=name, kind=hw_kind, param_name=f"{name}.weight",
        weight_shape=dims, n_in=n_in_k, n_out=n_out_k, reuse_factor=int(reuse_factor),
        strategy=strategy, io_type=io_type, backend=backend, weight_type=wtype,
        input_type=itype, accum_type=atype,
        dsp_per_mult=dsp_model.dsp_per_multiplication(itype, wtype),
        in_hw=in_hw, out_hw=out_hw, bram=bram_model, weight_source="arrays",
    )
    return ArrayLayer(layer, torch_weight)


def estimate_arrays(layers: Sequence[ArrayLayer],
                    masks: Mapping[str, np.ndarray] | None = None) -> ResourceEstimate:
    """Resource table of layers built by :func:`array_layer` (same columns and totals as
    :func:`rasp.hardware.estimate_resources`). ``masks``: layer name or ``<name>.weight``
    -> bool array in PyTorch's shape, True = kept."""
    names = [a.layer.name for a in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique, got {names}")
    by_param = {key if key.endswith(".weight") else f"{key}.weight": mask
                for key, mask in dict(masks or {}).items()}
    return estimate_layers([a.layer for a in layers],
                           {a.layer.param_name: a.weight for a in layers}, by_param)
