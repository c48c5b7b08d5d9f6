"""The two networks of the paper, float and quantisation-aware (Brevitas), and checkpoints.

Architectures (paper.md, "Models used in this line of work"):

- ``jet_mlp``: the hls4ml jet-tagging benchmark, 16 -> 64 -> 32 -> 32 -> 5 with ReLU.
  Modules ``fc1``..``fc4`` (``nn.Linear``) and ``relu1``..``relu3``. Kernels hold
  1024 + 2048 + 1024 + 160 = 4256 weights.
- ``svhn_cnn``: the SVHN CNN of Aarrestad et al. (2021). Three blocks
  ``conv{i}`` (3x3, no padding, no bias) -> ``bn{i}`` -> ``relu{i}`` -> ``pool{i}`` (2x2
  max-pool) with 16, 16 and 24 filters; ``flatten``; ``fc1`` (42) -> ``bn4`` -> ``relu4``;
  ``fc2`` (64) -> ``bn5`` -> ``relu5``; ``fc3`` (10). A 32x32 input shrinks to
  30 -> 15 -> 13 -> 6 -> 4 -> 2, so ``fc1`` sees 2*2*24 = 96 features.

Module names are plain attributes and identical in the float and the QAT variant, so
masks, hardware structures and hls4ml layer names can be keyed by them (``fc1.weight``).

Output: both models return **logits**. Softmax is monotone, so accuracy and the hls4ml
argmax comparison do not need it, and the losses (``cross_entropy``) expect logits. A
model built with ``output_softmax=True`` (or converted with :func:`with_softmax`) appends
an ``nn.Softmax(dim=1)`` named ``softmax``, for a hardware run that must include the
softmax tables (they cost BRAM/LUT in hls4ml). Training refuses such a model.

Float variants are ``torch.fx``-traceable and go through
``hls4ml.converters.convert_from_pytorch_model``; hls4ml folds each BatchNorm into the
preceding Conv/Dense itself, and :func:`fold_batchnorm` does the same in PyTorch for code
that needs the folded weights (e.g. counting distinct weight values per multiplier).

QAT variants use Brevitas layers with **power-of-two (fixed-point) scales only**, so each
quantised tensor is exactly an ``ap_fixed`` value: weights ``Int8WeightPerTensorFixedPoint``
(signed, narrow range), the network input ``Int8ActPerTensorFixedPoint``, ReLU outputs
``Uint8ActPerTensorFixedPoint`` (bit widths set by ``weight_bits`` / ``act_bits`` /
``input_bits``), biases ``IntBias`` with scale = input scale x weight scale (itself a power
of two) and ``bias_bits`` bits. BatchNorm stays a float layer between the quantised
convolution and the quantised ReLU; hls4ml's QONNX flow turns it into a scale-and-shift.
QAT models are exported with ``brevitas.export.export_qonnx`` (see :func:`export_qonnx`),
not traced with ``torch.fx`` (hls4ml's PyTorch parser does not know Brevitas layers).
:func:`check_power_of_two_scales` refuses models or QONNX graphs with any other scale.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rasp.atomic import atomic_path

ARCHS = ("jet_mlp", "svhn_cnn")
CHECKPOINT_FORMAT = "rasp-checkpoint-1"


class NonPowerOfTwoScaleError(ValueError):
    """A quantiser uses a scale that is not a power of two (no exact ``ap_fixed`` mapping)."""


# --------------------------------------------------------------------------------------
# Quantised building blocks (Brevitas imported lazily: float models do not need it)
# --------------------------------------------------------------------------------------


def _check_bits(name: str, value: int, low: int = 2, high: int = 32) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer number of bits, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name}={value} is outside the supported range [{low}, {high}] bits")
    return int(value)


class _Layers:
    """Makes the layers of a model from its ``model_kwargs``: plain PyTorch layers, or, when
    ``quantized``, Brevitas layers with power-of-two quantisers of the configured bit widths."""

    def __init__(self, model_kwargs: dict[str, Any]):
        self.k = model_kwargs
        if model_kwargs["quantized"]:
            from brevitas import nn as qnn
            from brevitas.quant import IntBias, fixed_point

            self.qnn = qnn
            self.fp = fixed_point
            self.bias_quant = IntBias

    def input(self, signed: bool) -> nn.Module:
        """Input quantiser (quantised models only)."""
        act_quant = (self.fp.Int8ActPerTensorFixedPoint if signed
                     else self.fp.Uint8ActPerTensorFixedPoint)
        return self.qnn.QuantIdentity(act_quant=act_quant, bit_width=self.k["input_bits"],
                                      return_quant_tensor=True)

    def relu(self) -> nn.Module:
        if not self.k["quantized"]:
            return nn.ReLU()
        return self.qnn.QuantReLU(act_quant=self.fp.Uint8ActPerTensorFixedPoint,
                                  bit_width=self.k["act_bits"], return_quant_tensor=True)

    def _weight_quant(self) -> dict[str, Any]:
        return {"weight_quant": self.fp.Int8WeightPerTensorFixedPoint,
                "weight_bit_width": self.k["weight_bits"], "return_quant_tensor": False}

    def linear(self, n_in: int, n_out: int) -> nn.Module:
        """Dense layer with a bias."""
        if not self.k["quantized"]:
            return nn.Linear(n_in, n_out)
        return self.qnn.QuantLinear(n_in, n_out, bias=True, bias_quant=self.bias_quant,
                                    bias_bit_width=self.k["bias_bits"], **self._weight_quant())

    def conv(self, c_in: int, c_out: int) -> nn.Module:
        """3x3 convolution without a bias."""
        if not self.k["quantized"]:
            return nn.Conv2d(c_in, c_out, 3, bias=False)
        return self.qnn.QuantConv2d(c_in, c_out, 3, bias=False, **self._weight_quant())


class _RaspModel(nn.Module):
    """Common attributes: ``arch``, ``model_kwargs`` (rebuilds the model), ``quantized``."""

    arch: str = ""

    def __init__(self, model_kwargs: dict[str, Any], quantized: bool, output_softmax: bool):
        super().__init__()
        self.model_kwargs = dict(model_kwargs)
        self.quantized = bool(quantized)
        self.output_softmax = bool(output_softmax)
        if self.output_softmax:
            self.softmax = nn.Softmax(dim=1)

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.softmax(x) if self.output_softmax else x

    #: (weight layer, BatchNorm) pairs that :func:`fold_batchnorm` fuses.
    bn_pairs: tuple[tuple[str, str], ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, without the batch dimension."""
        raise NotImplementedError

    @property
    def weight_layers(self) -> list[str]:
        """Names of the Linear/Conv layers in forward order (the prunable layers)."""
        return [n for n, m in self.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


class JetMLP(_RaspModel):
    """Jet tagger: ``n_features`` -> hidden... -> ``n_classes`` with ReLU (logits out).

    Layers are ``fc1``..``fc{len(hidden)+1}`` and ``relu1``..``relu{len(hidden)}``; the
    QAT variant adds ``quant_in`` (input quantiser) in front of ``fc1``.
    """

    arch = "jet_mlp"

    def __init__(
        self,
        n_features: int = 16,
        n_classes: int = 5,
        hidden: Iterable[int] = (64, 32, 32),
        *,
        quantized: bool = False,
        weight_bits: int = 8,
        act_bits: int = 8,
        input_bits: int | None = None,
        bias_bits: int = 16,
        output_softmax: bool = False,
    ):
        hidden = [int(h) for h in hidden]
        kwargs = dict(n_features=int(n_features), n_classes=int(n_classes), hidden=hidden)
        kwargs.update(_quant_kwargs(quantized, weight_bits, act_bits, input_bits, bias_bits))
        super().__init__(kwargs, quantized, output_softmax)
        widths = [int(n_features), *hidden, int(n_classes)]
        self.n_hidden = len(hidden)
        layers = _Layers(kwargs)
        if self.quantized:
            self.quant_in = layers.input(signed=True)
        for i in range(len(widths) - 1):
            setattr(self, f"fc{i + 1}", layers.linear(widths[i], widths[i + 1]))
            if i < len(hidden):
                setattr(self, f"relu{i + 1}", layers.relu())

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.model_kwargs["n_features"],)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized:
            x = self.quant_in(x)
        for i in range(1, self.n_hidden + 1):
            x = getattr(self, f"relu{i}")(getattr(self, f"fc{i}")(x))
        x = getattr(self, f"fc{self.n_hidden + 1}")(x)
        return self._finish(x)


class SvhnCNN(_RaspModel):
    """SVHN CNN: 3 x (Conv3x3 -> BN -> ReLU -> MaxPool2x2), Dense-BN-ReLU x 2, Dense.

    Layers: ``conv1..3``, ``bn1..3``, ``relu1..3``, ``pool1..3``, ``flatten``, ``fc1``,
    ``bn4``, ``relu4``, ``fc2``, ``bn5``, ``relu5``, ``fc3`` (+ ``quant_in`` when
    quantised). Convs have no bias (BatchNorm follows). The Dense layers keep theirs: the
    QONNX clean-up (``GemmToMatMul``) that hls4ml's QONNX path needs fails on a bias-free
    ``Gemm``, and the names/shapes must be the same in both variants.
    """

    arch = "svhn_cnn"
    bn_pairs = (
        ("conv1", "bn1"),
        ("conv2", "bn2"),
        ("conv3", "bn3"),
        ("fc1", "bn4"),
        ("fc2", "bn5"),
    )

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        n_classes: int = 10,
        filters: Iterable[int] = (16, 16, 24),
        dense: Iterable[int] = (42, 64),
        *,
        quantized: bool = False,
        weight_bits: int = 8,
        act_bits: int = 8,
        input_bits: int | None = None,
        bias_bits: int = 16,
        output_softmax: bool = False,
    ):
        filters = [int(f) for f in filters]
        dense = [int(d) for d in dense]
        if len(filters) != 3 or len(dense) != 2:
            raise ValueError(
                f"svhn_cnn has exactly 3 conv blocks and 2 hidden dense layers; got "
                f"filters={filters}, dense={dense}"
            )
        kwargs = dict(
            in_channels=int(in_channels),
            image_size=int(image_size),
            n_classes=int(n_classes),
            filters=filters,
            dense=dense,
        )
        kwargs.update(_quant_kwargs(quantized, weight_bits, act_bits, input_bits, bias_bits))
        super().__init__(kwargs, quantized, output_softmax)
        size = int(image_size)
        for _ in range(3):
            size = (size - 2) // 2
        if size < 1:
            raise ValueError(f"image_size={image_size} is too small for three conv+pool blocks")
        flat = size * size * filters[-1]
        layers = _Layers(kwargs)
        if self.quantized:
            self.quant_in = layers.input(signed=False)  # pixels are in [0, 1]
        channels = [int(in_channels), *filters]
        for i in range(3):
            setattr(self, f"conv{i + 1}", layers.conv(channels[i], channels[i + 1]))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(channels[i + 1]))
            setattr(self, f"relu{i + 1}", layers.relu())
            setattr(self, f"pool{i + 1}", nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        widths = [flat, *dense, int(n_classes)]
        for i in range(3):
            setattr(self, f"fc{i + 1}", layers.linear(widths[i], widths[i + 1]))
            if i < 2:
                setattr(self, f"bn{i + 4}", nn.BatchNorm1d(widths[i + 1]))
                setattr(self, f"relu{i + 4}", layers.relu())

    @property
    def input_shape(self) -> tuple[int, ...]:
        k = self.model_kwargs
        return (k["in_channels"], k["image_size"], k["image_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized:
            x = self.quant_in(x)
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool3(self.relu3(self.bn3(self.conv3(x))))
        x = self.flatten(x)
        x = self.relu4(self.bn4(self.fc1(x)))
        x = self.relu5(self.bn5(self.fc2(x)))
        x = self.fc3(x)
        return self._finish(x)


def _quant_kwargs(
    quantized: bool, weight_bits: int, act_bits: int, input_bits: int | None, bias_bits: int
) -> dict[str, Any]:
    if not isinstance(quantized, bool):
        raise TypeError(f"quantized must be true or false, got {quantized!r}")
    if not quantized:
        return {"quantized": False}
    return {
        "quantized": True,
        "weight_bits": _check_bits("weight_bits", weight_bits),
        "act_bits": _check_bits("act_bits", act_bits),
        "input_bits": _check_bits("input_bits", act_bits if input_bits is None else input_bits),
        "bias_bits": _check_bits("bias_bits", bias_bits),
    }


_REGISTRY: dict[str, type[_RaspModel]] = {"jet_mlp": JetMLP, "svhn_cnn": SvhnCNN}


def build_model(arch: str, **kwargs: Any) -> _RaspModel:
    """Build architecture ``arch`` (``jet_mlp`` | ``svhn_cnn``).

    Keyword arguments: ``quantized`` (bool, default False), ``weight_bits``, ``act_bits``,
    ``input_bits`` (None = act_bits), ``bias_bits`` (bits; used only when quantised),
    ``output_softmax``, and the size arguments of :class:`JetMLP` / :class:`SvhnCNN`.
    Parameters are initialised from torch's global RNG: seed it first for reproducibility.
    """
    if arch not in _REGISTRY:
        raise ValueError(f"unknown model arch {arch!r}; expected one of {list(_REGISTRY)}")
    cls = _REGISTRY[arch]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TypeError(f"bad model arguments for arch {arch!r}: {err}") from err


def with_softmax(model: _RaspModel) -> _RaspModel:
    """Copy of ``model`` whose forward ends with ``nn.Softmax(dim=1)`` (for hls4ml runs)."""
    out = copy.deepcopy(model)
    out.output_softmax = True
    out.softmax = nn.Softmax(dim=1)
    return out


def count_weights(model: nn.Module) -> dict[str, int]:
    """Number of kernel weights (not biases) per Linear/Conv layer, keyed by module name."""
    return {
        name: int(m.weight.numel())
        for name, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    }


# --------------------------------------------------------------------------------------
# BatchNorm folding
# --------------------------------------------------------------------------------------


@torch.no_grad()
def fold_batchnorm(model: _RaspModel) -> _RaspModel:
    """Eval-mode copy of a float ``model`` with every BatchNorm fused into its Conv/Dense.

    For each pair in ``model.bn_pairs``: ``w' = w * gamma / sqrt(var + eps)`` (per output
    channel), ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``; the BatchNorm becomes
    ``nn.Identity``. Zero weights stay zero, so pruning masks keep their meaning. The folded
    model computes the same function as ``model.eval()`` (up to float rounding).
    QAT models are refused: folding would move weights off their quantisation grid.
    """
    if getattr(model, "quantized", False):
        raise ValueError(
            "fold_batchnorm works on float models only; a QAT model keeps BatchNorm as its "
            "own layer (hls4ml's QONNX flow converts it to a scale-and-shift)"
        )
    folded = copy.deepcopy(model).eval()
    for layer_name, bn_name in folded.bn_pairs:
        layer = getattr(folded, layer_name)
        bn = getattr(folded, bn_name)
        if isinstance(bn, nn.Identity):
            continue
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        layer.weight.mul_(scale.reshape(shape))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + bn.bias
        layer.bias = nn.Parameter(new_bias.clone())
        setattr(folded, bn_name, nn.Identity())
    return folded


@torch.no_grad()
def silence_dead_channels(model: nn.Module) -> list[str]:
    """Make the BatchNorm of every fully pruned output channel a constant, exactly.

    A Dense neuron or Conv filter whose weights are all zero outputs its bias, a
    constant; after fine-tuning, its BatchNorm's running variance is then ~0 and its
    scale ``gamma / sqrt(var + eps)`` reaches hundreds. hls4ml computes that BatchNorm
    in fixed point, where such a scale overflows the result type and the constant is
    quantised before the subtraction of the mean: C simulation then disagrees with
    PyTorch (observed: 0.75% agreement on a BRAM-pruned SVHN CNN). The channel's eval
    output is ``c = gamma * (b - mean) / sqrt(var + eps) + beta``; setting ``gamma = 0``,
    ``beta = c``, ``mean = 0``, ``var = 1`` gives the same ``c`` in PyTorch (eval mode)
    and an exact constant in hls4ml, and in train mode the channel stays constant too.
    Models without ``bn_pairs`` are left alone. Returns ``["bn4[3]", ...]`` (BatchNorm
    name and channel) of the channels changed.
    """
    changed: list[str] = []
    for layer_name, bn_name in getattr(model, "bn_pairs", ()):
        layer = getattr(model, layer_name, None)
        bn = getattr(model, bn_name, None)
        if layer is None or not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            continue
        weight = layer.weight
        dead = (weight.reshape(weight.shape[0], -1) == 0).all(dim=1)
        dead &= bn.weight != 0
        if not bool(dead.any()):
            continue
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        const = (bias - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight \
            + bn.bias
        bn.bias[dead] = const[dead]
        bn.weight[dead] = 0.0
        bn.running_mean[dead] = 0.0
        bn.running_var[dead] = 1.0
        changed += [f"{bn_name}[{int(i)}]" for i in torch.nonzero(dead).reshape(-1)]
    return changed


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------

REQUIRED_META = ("arch", "model_kwargs", "variant", "seed", "data_source")


def save_checkpoint(path: str | Path, model: _RaspModel, meta: dict[str, Any]) -> None:
    """Write ``model`` (state dict) and ``meta`` to ``path`` atomically.

    ``meta`` must hold ``variant``, ``seed`` and ``data_source``; ``arch`` and
    ``model_kwargs`` are taken from the model when absent (and must match it when given).
    An optional ``masks`` entry (parameter name -> bool tensor, True = kept) is stored as
    is. Everything else must be JSON-like (str, int, float, bool, None, lists, dicts).
    """
    meta = dict(meta)
    arch = getattr(model, "arch", None)
    if arch not in _REGISTRY:
        raise TypeError(f"save_checkpoint expects a model from build_model, got {type(model)}")
    meta.setdefault("arch", arch)
    meta.setdefault("model_kwargs", dict(model.model_kwargs))
    if meta["arch"] != arch or dict(meta["model_kwargs"]) != dict(model.model_kwargs):
        raise ValueError(
            f"meta arch/model_kwargs ({meta['arch']}, {meta['model_kwargs']}) do not describe "
            f"the model ({arch}, {model.model_kwargs})"
        )
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"checkpoint meta is missing {missing} (required: {REQUIRED_META})")
    if "masks" in meta and meta["masks"] is not None:
        meta["masks"] = {k: v.detach().to("cpu", torch.bool) for k, v in meta["masks"].items()}
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "meta": meta,
                       "state_dict": full_state_dict(model)}, path)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copy of ``model.state_dict()`` that always includes Brevitas' learned scales.

    Brevitas leaves out an activation scale that has not seen a training batch yet, which
    would make a freshly built QAT model impossible to reload strictly.
    """
    from brevitas import config as brevitas_config

    previous = getattr(brevitas_config, "_FULL_STATE_DICT", False)
    brevitas_config._FULL_STATE_DICT = True
    try:
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    finally:
        brevitas_config._FULL_STATE_DICT = previous


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[_RaspModel, dict]:
    """Rebuild the model saved by :func:`save_checkpoint`; returns ``(model.eval(), meta)``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist; run the train_baseline rule")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a rasp checkpoint (expected format {CHECKPOINT_FORMAT})")
    meta = payload["meta"]
    model = build_model(meta["arch"], **meta["model_kwargs"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), meta


MASKS_FORMAT = "rasp-masks-1"


def save_masks(path: str | Path, masks: Mapping[str, torch.Tensor], meta: dict | None = None) -> None:
    """Write pruning ``masks`` (parameter name -> bool tensor, True = kept) and a small
    JSON-like ``meta`` to ``path`` atomically (``masks.pt`` beside a pruned checkpoint)."""
    masks = {k: v.detach().to("cpu", torch.bool).clone() for k, v in masks.items()}
    atomic_torch_save({"format": MASKS_FORMAT, "masks": masks, "meta": dict(meta or {})}, path)


def load_masks(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a masks file: one written by :func:`save_masks`, or a plain dict parameter name
    -> bool tensor saved with ``torch.save`` (a user's own masks)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"masks file {path} does not exist; run the prune rule")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, dict) and payload.get("format") == MASKS_FORMAT:
        payload = payload["masks"]
    if not isinstance(payload, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        raise ValueError(f"{path} is not a masks file: expected the output of save_masks "
                         f"(format {MASKS_FORMAT}) or a dict parameter name -> bool tensor")
    return {k: v.to(torch.bool) for k, v in payload.items()}


# --------------------------------------------------------------------------------------
# QONNX export and the power-of-two check
# --------------------------------------------------------------------------------------


def export_qonnx(model: _RaspModel, path: str | Path) -> Path:
    """Export a QAT model to QONNX at ``path`` (atomic) after checking its scales.

    The model is put in eval mode; the example input has batch size 1.
    """
    from brevitas.export import export_qonnx as _export

    if not getattr(model, "quantized", False):
        raise ValueError("export_qonnx needs a QAT model (quantized=True); float models go "
                         "through hls4ml's PyTorch converter")
    check_power_of_two_scales(model)
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    # Brevitas/torch.onnx may write weights to a side file; re-save as one self-contained
    # file so the result can be renamed into place atomically.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".qonnx.") as tmpdir:
        raw = Path(tmpdir) / "raw.onnx"
        _export(model, torch.zeros(1, *model.input_shape), export_path=str(raw))
        proto = onnx.load(str(raw))
        single = Path(tmpdir) / "model.onnx"
        onnx.save(proto, str(single), save_as_external_data=False)
        os.replace(single, path)
    check_power_of_two_scales(path)
    return path


def _is_power_of_two(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exps = np.log2(values)
    return (values > 0) & np.isfinite(exps) & (np.abs(exps - np.round(exps)) < 1e-9)


def check_power_of_two_scales(model_or_qonnx: Any) -> list[str]:
    """Check that every quantiser uses power-of-two scales (exact ``ap_fixed`` values).

    Accepts a PyTorch model (Brevitas quantisers are inspected: their scale restriction
    must be POWER_OF_TWO and weight scales are evaluated), or a QONNX graph (a path to an
    ``.onnx`` file, an ``onnx.ModelProto`` or a qonnx ``ModelWrapper``: every ``Quant``
    node's scale must be a constant power of two and its zero point 0).

    Returns the names of the quantisers checked (empty for a float model). Raises
    :class:`NonPowerOfTwoScaleError` naming each offending quantiser.
    """
    if isinstance(model_or_qonnx, nn.Module):
        checked, bad = _check_torch(model_or_qonnx)
    else:
        checked, bad = _check_onnx(model_or_qonnx)
    if bad:
        raise NonPowerOfTwoScaleError(
            "quantisers without power-of-two scales cannot be mapped exactly to ap_fixed "
            "(hls4ml would silently compute something else): "
            + "; ".join(bad)
            + ". Use Brevitas *FixedPoint quantisers (e.g. Int8WeightPerTensorFixedPoint, "
            "Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint)."
        )
    return checked


def _injector_attr(proxy: Any, name: str) -> Any:
    try:
        return getattr(proxy.quant_injector, name)
    except Exception:  # Brevitas raises DependencyError for attributes a quantiser lacks
        return None


@torch.no_grad()
def _check_torch(model: nn.Module) -> tuple[list[str], list[str]]:
    from brevitas.inject.enum import RestrictValueType
    from brevitas.proxy import BiasQuantProxyFromInjector, WeightQuantProxyFromInjector
    from brevitas.proxy.runtime_quant import ActQuantProxyFromInjector

    proxy_types = (WeightQuantProxyFromInjector, BiasQuantProxyFromInjector,
                   ActQuantProxyFromInjector)
    checked: list[str] = []
    bad: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, proxy_types) or not module.is_quant_enabled:
            continue
        checked.append(name)
        restrict = _injector_attr(module, "restrict_scaling_type")
        if isinstance(module, BiasQuantProxyFromInjector) and restrict is None:
            # External scale (input scale x weight scale): a power of two when both are.
            if _injector_attr(module, "requires_input_scale") is False:
                bad.append(f"{name} (bias quantiser with its own non-power-of-two scale)")
            continue
        if restrict != RestrictValueType.POWER_OF_TWO:
            bad.append(f"{name} (scale restriction {restrict}, expected POWER_OF_TWO)")
            continue
        if isinstance(module, WeightQuantProxyFromInjector):
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            scale = parent.quant_weight().scale
            if not _is_power_of_two(scale.detach().cpu().numpy()).all():
                bad.append(f"{name} (weight scale {scale.flatten()[:4].tolist()} not 2^k)")
    return checked, bad


def _check_onnx(graph: Any) -> tuple[list[str], list[str]]:
    import onnx
    from onnx import numpy_helper

    if isinstance(graph, (str, Path)):
        proto = onnx.load(str(graph))
    elif isinstance(graph, onnx.ModelProto):
        proto = graph
    elif hasattr(graph, "model") and isinstance(graph.model, onnx.ModelProto):
        proto = graph.model  # qonnx ModelWrapper
    else:
        raise TypeError(
            "check_power_of_two_scales expects a torch model, a QONNX file path, an "
            f"onnx.ModelProto or a qonnx ModelWrapper; got {type(graph).__name__}"
        )
    consts = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    checked: list[str] = []
    bad: list[str] = []
    for node in proto.graph.node:
        if node.op_type not in ("Quant", "BipolarQuant", "Trunc"):
            continue
        label = node.name or node.output[0]
        checked.append(label)
        scale_name = node.input[1]
        if scale_name not in consts:
            bad.append(f"{label} (scale {scale_name!r} is computed at run time, not a constant)")
            continue
        scale = consts[scale_name]
        if not _is_power_of_two(scale).all():
            bad.append(f"{label} (scale {np.ravel(scale)[:4].tolist()} not 2^k)")
        if node.op_type in ("Quant", "Trunc") and len(node.input) > 2:
            zp = consts.get(node.input[2])
            if zp is None or np.any(np.asarray(zp) != 0):
                bad.append(f"{label} (zero point {zp} is not the constant 0)")
    return checked, bad


__all__ = [
    "ARCHS",
    "JetMLP",
    "NonPowerOfTwoScaleError",
    "SvhnCNN",
    "build_model",
    "check_power_of_two_scales",
    "count_weights",
    "export_qonnx",
    "fold_batchnorm",
    "silence_dead_channels",
    "full_state_dict",
    "load_checkpoint",
    "save_checkpoint",
    "with_softmax",
]
