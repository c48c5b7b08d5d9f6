"""Training loop shared by the baselines and the pruning fine-tuning, plus evaluation.

:func:`fit` trains with Adam, a learning-rate schedule and early stopping on the
validation loss, and returns the model with its best (lowest validation loss) weights.

Determinism: on CPU two runs with the same config (seed included), data, initial model
and thread count give bit-identical weights. Each epoch's shuffle comes from a generator
seeded with ``(seed, epoch)`` and the global torch RNG is re-seeded from the same pair, so
an interrupted run resumed from its resume state (``resume_dir``) follows exactly the
path of an uninterrupted one. ``torch.use_deterministic_algorithms(True)`` is on during
CPU training; on CUDA it is in warn-only mode (max-pool backward has no deterministic CUDA
kernel), so GPU runs are reproducible only up to float rounding.

Masks (``masks``: parameter name -> bool tensor, True = kept) are enforced exactly: masked
weights are zeroed before training, their gradients are zeroed by a hook, and after every
optimiser step the weights and Adam's moment estimates are zeroed again, so nothing can
bring a pruned weight back. ``regularizer(model)`` returns a scalar added to the loss
(e.g. a group lasso over hardware structures).

Units: losses are mean cross-entropy in nats per sample; learning rates are per step;
times are wall-clock seconds; throughput is training samples per second.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rasp import schemas
from rasp.atomic import atomic_path, write_json_atomic
from rasp.models import atomic_torch_save, full_state_dict, silence_dead_channels
from rasp.seeds import derive_seed

#: The training settings' schema (``$defs/settings`` of src/rasp/schemas/training.schema.yaml).
_SETTINGS = "training#/$defs/settings"
SCHEDULERS = schemas.enum(_SETTINGS, "scheduler")
DEVICES = schemas.enum("config", "device")
RESUME_FILE = "state.pt"
RESUME_FORMAT = "rasp-resume-1"

Masks = Mapping[str, torch.Tensor]
Regularizer = Callable[[nn.Module], torch.Tensor]


@dataclass(frozen=True)
@schemas.defaults_from(_SETTINGS)
class TrainConfig(schemas.Settings):
    """Hyper-parameters of :func:`fit`: the training block's settings (meanings, defaults
    and limits in the training schema, src/rasp/schemas/training.schema.yaml; see also
    config/README.md) plus the job's ``seed`` (shuffling and torch RNG), ``threads``
    (``torch.set_num_threads`` during training, None = leave as is) and ``device``
    (``auto``: CUDA when available, ``cpu`` or ``cuda``). The last incomplete batch of an
    epoch is dropped when the training set has more than one batch.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    scheduler: str
    min_lr: float
    plateau_factor: float
    plateau_patience: int
    early_stopping_patience: int
    min_delta: float
    eval_batch_size: int
    seed: int = 0
    threads: int | None = None
    device: str = schemas.default("config", "device")

    WHERE = "training"

    def __post_init__(self) -> None:
        # seed, threads and device come from the job, not from the training block
        schemas.check_fields(self, _SETTINGS, where="training",
                             ignore=("seed", "threads", "device"))
        if self.threads is not None and int(self.threads) < 1:
            raise ValueError(f"training threads must be >= 1, got {self.threads}")


@dataclass
class TrainResult:
    """Outcome of :func:`fit`. ``model`` holds the best weights and is on the CPU."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    samples_per_second: float
    device: str
    resumed_from_epoch: int = 0
    config: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------


def _get_split(data: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, Mapping):
        return data[f"x_{split}"], data[f"y_{split}"]
    if hasattr(data, f"x_{split}"):
        return getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    raise TypeError(
        f"training data must be a ProcessedData or a mapping with x_{split}/y_{split}; "
        f"got {type(data).__name__}"
    )


def _as_tensors(x: Any, y: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    y = torch.as_tensor(np.ascontiguousarray(y, dtype=np.int64))
    if x.shape[0] != y.shape[0] or y.dim() != 1:
        raise ValueError(f"{name}: x has {x.shape[0]} samples but y has shape {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x, y


def _check_input_shape(model: nn.Module, x: torch.Tensor, name: str) -> None:
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{name} samples have shape {tuple(x.shape[1:])} but the model expects "
            f"{tuple(expected)}: dataset and model arch do not match"
        )


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is an error."""
    if device not in DEVICES:
        raise ValueError(f"device={device!r}; expected one of {DEVICES}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was requested but torch sees no CUDA device; use auto")
    return torch.device(device)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    if n <= batch_size:
        return [perm]
    return list(perm.split(batch_size))[: n // batch_size]  # drop the incomplete last batch


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 4096
) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, as a CPU float32 tensor of shape (N, classes)."""
    device = next(model.parameters(), torch.zeros(0)).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x
    outs = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, x.shape[0], batch_size):
            out = model(x[start : start + batch_size].to(device))
            outs.append(torch.as_tensor(out).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0)


def predict_proba(
    model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 4096
) -> np.ndarray:
    """Class probabilities (softmax of the logits), float64 array of shape (N, classes)."""
    out = predict_logits(model, x, batch_size).double()
    return (out if getattr(model, "output_softmax", False) else torch.softmax(out, dim=1)).numpy()


def evaluate(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 4096,
    *,
    roc_auc: bool = False,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Accuracy, per-class accuracy and mean cross-entropy (nats) of ``model`` on (x, y).

    Accuracies are fractions in [0, 1]. With ``roc_auc=True`` also the one-vs-rest ROC
    AUC per class (sklearn ``roc_auc_score`` on the softmax probabilities) and their mean
    (``roc_auc_macro``). Per-class values are dicts keyed by class name when
    ``class_names`` is given, else lists indexed by class; a class absent from ``y`` gets
    NaN. Runs on the model's current device, in eval mode (the mode is restored).
    """
    if getattr(model, "output_softmax", False):
        raise ValueError("evaluate expects a model that outputs logits (output_softmax=False)")
    logits = predict_logits(model, x, batch_size)
    y_t = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n_classes = logits.shape[1]
    if class_names is not None and len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {n_classes} outputs")
    if y_t.numel() and (int(y_t.min()) < 0 or int(y_t.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] for this model")
    loss = float(F.cross_entropy(logits.double(), y_t, reduction="mean"))
    correct = (logits.argmax(dim=1) == y_t).double()
    per_class = [float(correct[y_t == c].mean()) if bool((y_t == c).any()) else float("nan")
                 for c in range(n_classes)]

    def keyed(values: list[float]) -> list[float] | dict[str, float]:
        return values if class_names is None else dict(zip(class_names, values, strict=True))

    result: dict[str, Any] = {
        "n": int(y_t.numel()),
        "loss": loss,
        "accuracy": float(correct.mean()),
        "per_class_accuracy": keyed(per_class),
    }
    if roc_auc:
        from sklearn.metrics import roc_auc_score

        proba = torch.softmax(logits.double(), dim=1).numpy()
        pos = [y_t.numpy() == c for c in range(n_classes)]
        aucs = [float("nan") if p.all() or not p.any() else float(roc_auc_score(p, proba[:, c]))
                for c, p in enumerate(pos)]
        finite = [a for a in aucs if not math.isnan(a)]
        result["roc_auc"] = keyed(aucs)
        result["roc_auc_macro"] = float(np.mean(finite)) if finite else float("nan")
    return result


def roc_curves(
    y: np.ndarray, proba: np.ndarray, class_names: list[str], n_points: int = 1001
) -> list[dict[str, float]]:
    """One-vs-rest ROC curves on a fixed signal-efficiency grid, as rows for a CSV.

    For each class and each efficiency ``tpr`` in ``linspace(0, 1, n_points)``, the row
    holds the lowest background mistag rate ``fpr`` of any threshold whose signal
    efficiency is at least ``tpr`` (both fractions in [0, 1]), plus the class AUC.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    rows: list[dict[str, float]] = []
    grid = np.linspace(0.0, 1.0, n_points)
    for c, name in enumerate(class_names):
        pos = np.asarray(y) == c
        if pos.all() or not pos.any():
            continue
        fpr, tpr, _ = roc_curve(pos, proba[:, c])
        auc = float(roc_auc_score(pos, proba[:, c]))
        idx = np.minimum(np.searchsorted(tpr, grid, side="left"), len(tpr) - 1)
        for eff, mistag in zip(grid, fpr[idx], strict=True):
            rows.append(
                {"class": name, "signal_efficiency": float(eff),
                 "mistag_rate": float(mistag), "auc": auc}
            )
    return rows


# --------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------


def _prepare_masks(model: nn.Module, masks: Masks | None) -> dict[str, torch.Tensor]:
    if not masks:
        return {}
    params = dict(model.named_parameters())
    out: dict[str, torch.Tensor] = {}
    for name, mask in masks.items():
        if name not in params:
            raise KeyError(
                f"mask for unknown parameter {name!r}; parameters are {sorted(params)[:12]}..."
            )
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"mask {name!r} must be a bool tensor (True = kept), got {mask.dtype}")
        if tuple(mask.shape) != tuple(params[name].shape):
            raise ValueError(
                f"mask {name!r} has shape {tuple(mask.shape)}, parameter has "
                f"{tuple(params[name].shape)}"
            )
        out[name] = mask.to(params[name].device)
    return out


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Set every masked-out weight (mask False) of ``model`` to exactly +0.0, and turn the
    BatchNorm of every output channel left without weights into an exact constant
    (:func:`rasp.models.silence_dead_channels`, same function in eval mode)."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        p = params[name]
        p.masked_fill_(~mask.to(p.device), 0.0)
    if masks:
        silence_dead_channels(model)


@torch.no_grad()
def _enforce_masks(
    params: dict[str, nn.Parameter], masks: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
    frozen: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> None:
    """Masked-out weights back to exactly 0 and frozen weights back to their values, with
    their Adam moments zeroed (so weight decay or momentum cannot move them)."""
    held = [(params[name], ~mask, None) for name, mask in masks.items()]
    held += [(params[name], hold, values) for name, (hold, values) in (frozen or {}).items()]
    for p, where, values in held:
        if values is None:
            p.masked_fill_(where, 0.0)
        else:
            p.copy_(torch.where(where, values, p))
        state = optimizer.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in state:
                state[key].masked_fill_(where, 0.0)


# --------------------------------------------------------------------------------------
# Resume state
# --------------------------------------------------------------------------------------


def _fingerprint(
    model: nn.Module,
    cfg: TrainConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    masks: dict[str, torch.Tensor],
    regularizer: Regularizer | None,
) -> str:
    """Identity of a training job: config (minus threads/device), data, initial weights,
    masks and regularizer. A resume state is used only when this matches."""
    h = hashlib.sha256()
    cfg_id = {k: v for k, v in asdict(cfg).items() if k not in ("threads", "device")}
    h.update(json.dumps(cfg_id, sort_keys=True).encode())
    _hash_state(h, model)
    for t in (x, y):
        h.update(str(tuple(t.shape)).encode())
        flat = t.reshape(-1)
        step = max(1, flat.numel() // 100_000)
        h.update(flat[::step].contiguous().numpy().tobytes())
    for name in sorted(masks):
        h.update(name.encode())
        h.update(masks[name].cpu().numpy().tobytes())
    if regularizer is not None:
        h.update(repr(getattr(regularizer, "fingerprint", regularizer.__class__.__qualname__))
                 .encode())
    return h.hexdigest()


def resume_path(resume_dir: str | Path) -> Path:
    return Path(resume_dir) / RESUME_FILE


def clear_resume(resume_dir: str | Path | None) -> None:
    """Delete the resume state in ``resume_dir`` (call once the outputs are written)."""
    if resume_dir is None:
        return
    path = resume_path(resume_dir)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        Path(resume_dir).rmdir()


def _stats_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Brevitas scale modules that initialise from runtime statistics (they keep a step
    counter outside the state dict)."""
    for name, module in model.named_modules():
        if hasattr(module, "collect_stats_steps") and hasattr(module, "counter"):
            yield name, module


def _runtime_quant_state(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Counters, statistics buffers and raw scale parameters of Brevitas stats scalers:
    what ``state_dict`` leaves out and an exact resume needs."""
    return {name: {"counter": int(module.counter),
                   "buffer": module.buffer.detach().cpu().clone(),
                   "value": module.value.detach().cpu().clone()}
            for name, module in _stats_modules(model)}


@torch.no_grad()
def _restore_runtime_quant_state(model: nn.Module, saved: dict[str, dict[str, Any]]) -> None:
    modules = dict(_stats_modules(model))
    for name, entry in saved.items():
        module = modules[name]
        module.counter = int(entry["counter"])
        module.buffer.copy_(entry["buffer"])
        module.value.copy_(entry["value"])


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _runtime(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def _make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=min(cfg.min_lr, cfg.learning_rate)
        )
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=cfg.plateau_factor,
            patience=cfg.plateau_patience,
            min_lr=min(cfg.min_lr, cfg.learning_rate),
        )
    return None


def fit(
    model: nn.Module,
    data: Any,
    config: TrainConfig | Mapping[str, Any],
    *,
    masks: Masks | None = None,
    regularizer: Regularizer | None = None,
    logger: logging.Logger | None = None,
    resume_dir: str | Path | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    frozen: Masks | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` (train split) with early stopping on the val split.

    ``data`` is a :class:`rasp.data.processed.ProcessedData` or a mapping with
    ``x_train, y_train, x_val, y_val``. ``masks`` and ``regularizer`` are described in the
    module docstring. With ``resume_dir`` the full training state is written there
    (atomically) after every epoch and picked up by a later call with the same job
    identity (config without threads/device, data, initial weights, masks), which then
    ends in the same state as an uninterrupted run; a state from a different job is
    ignored with a warning. ``on_epoch_end(record)`` is called after each epoch with the
    history record (after the resume state is saved). ``frozen``: parameter name -> bool
    tensor, True = held at its value at the start (e.g. weights rounded onto a constant
    grid): no gradient reaches it and it is restored after every optimiser step.

    Returns a :class:`TrainResult` whose model (the same object, moved to the CPU) holds
    the weights of the epoch with the lowest validation loss.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    log = logger or logging.getLogger(__name__)
    if getattr(model, "output_softmax", False):
        raise ValueError("fit expects a model that outputs logits; build it without softmax")
    x_tr, y_tr = _as_tensors(*_get_split(data, "train"), "training split")
    x_va, y_va = _as_tensors(*_get_split(data, "val"), "validation split")
    _check_input_shape(model, x_tr, "training")
    device = resolve_device(cfg.device)

    with _runtime(cfg, device):
        torch.manual_seed(cfg.seed)
        model.to("cpu")
        mask_t = _prepare_masks(model, masks)
        apply_masks(model, mask_t)
        frozen_t = _prepare_masks(model, frozen)
        fingerprint = _fingerprint(model, cfg, x_tr, y_tr,
                                   {**mask_t, **{f"frozen:{k}": v for k, v in frozen_t.items()}},
                                   regularizer)

        model.to(device)
        mask_t = {k: v.to(device) for k, v in mask_t.items()}
        params = dict(model.named_parameters())
        hold = {k: (v.to(device), params[k].detach().clone()) for k, v in frozen_t.items()}
        hooks = [
            params[name].register_hook(lambda g, m=m: g.masked_fill(~m, 0.0))
            for name, m in mask_t.items()
        ] + [
            params[name].register_hook(lambda g, h=h: g.masked_fill(h, 0.0))
            for name, (h, _v) in hold.items()
        ]
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        scheduler = _make_scheduler(optimizer, cfg)
        if device.type == "cuda":
            x_tr, y_tr = x_tr.to(device), y_tr.to(device)

        st: dict[str, Any] = {
            "epoch": 0,
            "best_val_loss": math.inf,
            "best_epoch": 0,
            "best_state": full_state_dict(model),
            "bad_epochs": 0,
            "stopped": False,
            "history": [],
        }
        resumed_from = 0
        if resume_dir is not None and resume_path(resume_dir).exists():
            saved = torch.load(resume_path(resume_dir), map_location="cpu", weights_only=False)
            if saved.get("format") == RESUME_FORMAT and saved.get("fingerprint") == fingerprint:
                model.load_state_dict(saved["model"])
                _restore_runtime_quant_state(model, saved["quant_runtime"])
                optimizer.load_state_dict(saved["optimizer"])
                if scheduler is not None:
                    scheduler.load_state_dict(saved["scheduler"])
                st = saved["state"]
                resumed_from = int(st["epoch"])
                log.info("resuming from %s after epoch %d", resume_path(resume_dir), resumed_from)
            else:
                log.warning(
                    "ignoring resume state %s: it belongs to a different training job "
                    "(config, data, initial weights or masks differ)", resume_path(resume_dir)
                )

        try:
            for epoch in range(int(st["epoch"]) + 1, cfg.epochs + 1):
                if st["stopped"]:
                    break
                record = _train_one_epoch(
                    model, optimizer, x_tr, y_tr, cfg, epoch, params, mask_t, regularizer, device,
                    hold,
                )
                val = evaluate(model, x_va, y_va, cfg.eval_batch_size)
                record.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(val["loss"])
                elif scheduler is not None:
                    scheduler.step()
                improved = val["loss"] < st["best_val_loss"] - cfg.min_delta
                if improved:
                    st.update(best_val_loss=val["loss"], best_epoch=epoch,
                              best_state=full_state_dict(model), bad_epochs=0)
                else:
                    st["bad_epochs"] += 1
                patience = cfg.early_stopping_patience
                st["stopped"] = bool(patience > 0 and st["bad_epochs"] >= patience)
                st["epoch"] = epoch
                st["history"].append(record)
                log.info(
                    "epoch %3d/%d  train_loss %.4f  reg %.4g  val_loss %.4f  val_acc %.4f  "
                    "lr %.2e  %.0f samples/s  %.1f s%s%s",
                    epoch, cfg.epochs, record["train_loss"], record["reg_loss"],
                    record["val_loss"], record["val_accuracy"], record["lr"],
                    record["samples_per_second"], record["train_seconds"],
                    "  *best" if improved else "",
                    "  (early stop)" if st["stopped"] else "",
                )
                if resume_dir is not None:
                    atomic_torch_save(
                        {
                            "format": RESUME_FORMAT,
                            "fingerprint": fingerprint,
                            "model": full_state_dict(model),
                            "quant_runtime": _runtime_quant_state(model),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict() if scheduler else None,
                            "state": st,
                        },
                        resume_path(resume_dir),
                    )
                if on_epoch_end is not None:
                    on_epoch_end(dict(record))
        finally:
            for h in hooks:
                h.remove()

        model.load_state_dict(st["best_state"])
        model.to("cpu")
        if mask_t:  # Adam can move a dead channel's gamma off 0 by rounding noise
            silence_dead_channels(model)
        history = st["history"]
        seconds = float(sum(r["train_seconds"] for r in history))
        samples = float(sum(r["samples"] for r in history))
    return TrainResult(
        model=model,
        history=history,
        best_epoch=int(st["best_epoch"]),
        best_val_loss=float(st["best_val_loss"]),
        epochs_run=int(st["epoch"]),
        stopped_early=bool(st["stopped"]),
        train_seconds=seconds,
        samples_per_second=samples / seconds if seconds > 0 else float("nan"),
        device=str(device),
        resumed_from_epoch=resumed_from,
        config=asdict(cfg),
    )


def _train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    epoch: int,
    params: dict[str, nn.Parameter],
    masks: dict[str, torch.Tensor],
    regularizer: Regularizer | None,
    device: torch.device,
    frozen: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    seed = derive_seed(cfg.seed, epoch, modulus=None)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    lr = float(optimizer.param_groups[0]["lr"])
    model.train()
    loss_sum = 0.0
    reg_sum = 0.0
    seen = 0
    start = time.perf_counter()
    for idx in _batches(x.shape[0], cfg.batch_size, gen):
        idx = idx.to(x.device)
        xb = x[idx].to(device, non_blocking=True)
        yb = y[idx].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        total = loss
        if regularizer is not None:
            reg = regularizer(model)
            total = loss + reg
            reg_sum += float(reg.detach()) * len(idx)
        total.backward()
        optimizer.step()
        if masks or frozen:
            _enforce_masks(params, masks, optimizer, frozen)
        loss_sum += float(loss.detach()) * len(idx)
        seen += len(idx)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "epoch": epoch,
        "train_loss": loss_sum / seen,
        "reg_loss": reg_sum / seen,
        "lr": lr,
        "samples": seen,
        "train_seconds": seconds,
        "samples_per_second": seen / seconds if seconds > 0 else float("nan"),
    }


def state_fingerprint(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names and exact bytes): equal iff bit-identical."""
    h = hashlib.sha256()
    _hash_state(h, model)
    return h.hexdigest()


def _hash_state(h: Any, model: nn.Module) -> None:
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        if torch.is_tensor(tensor):
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())


# --------------------------------------------------------------------------------------
# Baseline job (what the train_baseline rule runs)
# --------------------------------------------------------------------------------------


def write_csv_atomic(path: str | Path, rows: list[Mapping[str, Any]]) -> None:
    """Write a list of dicts as CSV (header from the first row) atomically."""
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(list(rows)).to_csv(tmp, index=False)


def train_baseline(
    data_path: str | Path,
    *,
    dataset: str,
    variant: str,
    arch: str,
    model_kwargs: Mapping[str, Any],
    training: Mapping[str, Any],
    seed: int,
    out_model: str | Path,
    out_metrics: str | Path,
    out_history: str | Path,
    out_roc: str | Path,
    threads: int | None = None,
    device: str = "auto",
    resume_dir: str | Path | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Train one baseline and write its checkpoint, metrics, history and ROC curves.

    The model is initialised after ``torch.manual_seed(seed)``; ``training`` holds the
    :class:`TrainConfig` keys (its ``seed``, ``threads`` and ``device`` are set from the
    arguments). Outputs:

    - ``out_model``: checkpoint (:func:`rasp.models.save_checkpoint`) with meta arch,
      model_kwargs, variant, dataset, seed, data_source, training config.
    - ``out_metrics``: JSON with ``val`` and ``test`` evaluations (accuracy fractions,
      per-class accuracy and one-vs-rest ROC AUC keyed by class name, loss in nats);
      top-level ``accuracy`` (= ``test_accuracy``), ``val_accuracy``,
      ``per_class_accuracy`` and ``roc_auc`` repeat the headline values;
      epochs, seconds, samples/s, seed, device, threads, data_source and provenance.
    - ``out_history``: one CSV row per epoch (see :func:`fit`).
    - ``out_roc``: test-set ROC curves (see :func:`roc_curves`).

    The resume state in ``resume_dir`` is deleted once every output is written.
    Returns the metrics dict.
    """
    from rasp.data.processed import load_processed
    from rasp.models import build_model, save_checkpoint

    log = logger or logging.getLogger(__name__)
    data = load_processed(data_path)
    cfg = TrainConfig.from_dict({**dict(training), "seed": int(seed), "threads": threads,
                                 "device": device})
    torch.manual_seed(int(seed))
    model = build_model(arch, **dict(model_kwargs))
    n_params = int(sum(p.numel() for p in model.parameters()))
    log.info(
        "train_baseline %s/%s: arch %s %s, %d parameters, data %s (%s) train/val/test = "
        "%d/%d/%d, device %s, threads %s",
        dataset, variant, arch, model.model_kwargs, n_params, data_path, data.source,
        len(data.y_train), len(data.y_val), len(data.y_test), resolve_device(device), threads,
    )
    if data.n_classes != model.model_kwargs.get("n_classes", data.n_classes):
        raise ValueError(
            f"dataset {dataset} has {data.n_classes} classes but the {arch} model outputs "
            f"{model.model_kwargs['n_classes']}"
        )
    wall = time.perf_counter()
    result = fit(model, data, cfg, logger=log, resume_dir=resume_dir)
    wall = time.perf_counter() - wall
    model = result.model
    names = list(data.class_names)
    val = evaluate(model, data.x_val, data.y_val, cfg.eval_batch_size, roc_auc=True,
                   class_names=names)
    test = evaluate(model, data.x_test, data.y_test, cfg.eval_batch_size, roc_auc=True,
                    class_names=names)
    proba = predict_proba(model, data.x_test, cfg.eval_batch_size)
    log.info(
        "best epoch %d of %d: val accuracy %.4f, test accuracy %.4f, test AUC (macro) %.4f",
        result.best_epoch, result.epochs_run, val["accuracy"], test["accuracy"],
        test["roc_auc_macro"],
    )
    import brevitas

    meta = {
        "arch": arch,
        "model_kwargs": dict(model.model_kwargs),
        "variant": variant,
        "dataset": dataset,
        "seed": int(seed),
        "data_source": data.source,
        "training": asdict(cfg),
        "best_epoch": result.best_epoch,
        "val_accuracy": val["accuracy"],
        "test_accuracy": test["accuracy"],
        "class_names": names,
    }
    metrics = {
        "dataset": dataset,
        "variant": variant,
        "arch": arch,
        "model_kwargs": dict(model.model_kwargs),
        "n_parameters": n_params,
        "seed": int(seed),
        "data_source": data.source,
        "data_provenance": data.provenance,
        "class_names": names,
        "accuracy": test["accuracy"],
        "test_accuracy": test["accuracy"],
        "val_accuracy": val["accuracy"],
        "per_class_accuracy": test["per_class_accuracy"],
        "roc_auc": test["roc_auc"],
        "val": val,
        "test": test,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "resumed_from_epoch": result.resumed_from_epoch,
        "train_seconds": result.train_seconds,
        "wall_seconds_this_run": wall,
        "samples_per_second": result.samples_per_second,
        "device": result.device,
        "threads": threads,
        # PyTorch's CPU kernel level (e.g. AVX2, AVX512): the same seeds can round differently,
        # hence train other models, on a CPU with another level
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "training": asdict(cfg),
        "versions": {"torch": torch.__version__, "brevitas": brevitas.__version__},
    }
    save_checkpoint(out_model, model, meta)
    write_json_atomic(out_metrics, metrics, sort_keys=True)
    write_csv_atomic(out_history, result.history)
    write_csv_atomic(out_roc, roc_curves(data.y_test, proba, names))
    clear_resume(resume_dir)
    return metrics


__all__ = [
    "TrainConfig",
    "TrainResult",
    "apply_masks",
    "clear_resume",
    "evaluate",
    "fit",
    "predict_logits",
    "predict_proba",
    "resolve_device",
    "roc_curves",
    "state_fingerprint",
    "train_baseline",
    "write_csv_atomic",
]
