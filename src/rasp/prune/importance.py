"""Importance of weights and of hardware structures (groups of weights).

Three per-weight scores, each additive over the weights of a structure so that the value
of a structure is the sum of its weights' scores (the knapsack objective adds values):

- ``l1``: ``|w|`` (a structure's value is its L1 norm).
- ``l2``: ``w**2`` (a structure's value is its squared L2 norm, the "energy"; squaring keeps
  the value additive; within a layer it ranks equal-size groups exactly like the L2 norm).
- ``taylor``: first-order Taylor estimate of the loss change when a weight is set to zero,
  ``|w * dL/dw|``, averaged over mini-batches of the training set: for each mini-batch
  ``b`` the gradient ``g_b`` of the *mean* batch loss is taken and ``|w * g_b|`` is added
  up; the sum is divided by the number of batches. Taking the absolute value per batch
  (instead of ``|w * mean_b g_b|``) keeps the score informative at a trained minimum, where
  the full-data gradient is close to zero but per-batch gradients are not. Unit: loss
  (nats) per weight.

- ``fisher``: second-order (Fisher) estimate of the loss increase when a *whole structure*
  is removed, ``0.5 * mean_b (sum_{i in g} w_i * dL_b/dw_i)**2`` over mini-batches ``b``
  (Theis et al. 2018; Molchanov et al. 2019, "Importance estimation for neural network
  pruning"). Unlike the first-order term it does not vanish at a trained minimum, and it
  is computed per structure (the products of a group are summed before squaring), so it
  is not a sum of per-weight scores; for single weights it is ``0.5 mean_b (w g_b)**2``.
  Unit: loss (nats) per structure.

Normalisation (``normalise``) makes values comparable across layers. Magnitudes (l1, l2)
are not comparable between layers of a ReLU network: scaling one layer by ``a`` and the
next by ``1/a`` computes the same function but changes every raw norm, and layers with
large weights would win every comparison (a defect of the reference implementation, which
ranks raw pattern norms). ``mean`` divides each layer's per-weight scores by the layer's
mean score over its currently kept weights, so the value of a structure is its size (in
weights) times the ratio of its mean weight importance to the layer's mean: an average
structure of ``s`` weights is worth ``s`` in every layer, whatever the layer's scale.
``total`` divides by the layer's total score instead (each layer is worth 1 in all; small
layers' weights become individually more valuable). ``none`` keeps raw scores: sensible for
``taylor`` and ``fisher``, whose scores are already in a common unit (loss change).
``auto`` picks ``mean`` for l1/l2 and ``none`` for taylor and fisher.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

METHODS = ("l1", "l2", "taylor", "fisher")
NORMALISATIONS = ("auto", "mean", "total", "none")


def _param(model: nn.Module, name: str) -> torch.Tensor:
    params = dict(model.named_parameters())
    if name not in params:
        raise KeyError(
            f"model has no parameter {name!r}; prunable parameters look like 'fc1.weight' "
            f"(available: {sorted(params)[:8]}...)"
        )
    return params[name]


def taylor_scores(
    model: nn.Module,
    params: Sequence[str],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Per-weight first-order Taylor scores, mean over mini-batches of ``|w * dL_b/dw|``.

    ``batches`` yields ``(x, y)`` mini-batches (the training set or a subset of it);
    ``loss_fn`` defaults to cross-entropy on logits (mean over the batch). The model is put
    in eval mode for the passes (BatchNorm uses its running statistics, dropout is off) and
    restored to its previous mode afterwards; its weights and gradients are left untouched.
    Returns float64 CPU tensors of the parameters' shapes (unit: loss per weight).
    """
    sums = [torch.zeros(_param(model, n).shape, dtype=torch.float64) for n in params]
    n_batches = 0
    for products in _batch_products(model, params, batches, loss_fn, device, "taylor"):
        for s, prod in zip(sums, products, strict=True):
            if prod is not None:
                s += prod.abs().to("cpu", torch.float64)
        n_batches += 1
    return {n: s / n_batches for n, s in zip(params, sums, strict=True)}


def _batch_products(model: nn.Module, params: Sequence[str], batches: Iterable[Any],
                    loss_fn: nn.Module | None, device: str | torch.device,
                    method: str) -> Iterator[list[torch.Tensor | None]]:
    """Per mini-batch, ``w * dL_b/dw`` of every parameter of ``params`` (None where the
    loss does not depend on it), with the model in eval mode (its mode is restored).
    Raises, naming ``method``, when ``batches`` yields nothing."""
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    tensors = [_param(model, n) for n in params]
    was_training = model.training
    model.eval()
    n_batches = 0
    try:
        for x, y in batches:
            loss = loss_fn(model(x.to(device)), y.to(device))
            grads = torch.autograd.grad(loss, tensors, allow_unused=True)
            yield [None if g is None else w.detach() * g
                   for w, g in zip(tensors, grads, strict=True)]
            n_batches += 1
    finally:
        model.train(was_training)
    if n_batches == 0:
        raise ValueError(f"{method} importance needs at least one mini-batch of training data")


def iterate_batches(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int,
    max_batches: int | None = None,
    seed: int = 0,
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled mini-batches ``(x, y)`` of a dataset (at most ``max_batches`` of them)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))
    n = (len(x) + batch_size - 1) // batch_size
    if max_batches is not None:
        n = min(n, int(max_batches))
    for i in range(n):
        idx = order[i * batch_size : (i + 1) * batch_size]
        yield x[idx].float(), y[idx].long()


def weight_scores(
    model: nn.Module,
    params: Sequence[str],
    method: str,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    device: str | torch.device = "cpu",
    loss_fn: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Per-weight scores of ``method`` (``l1`` | ``l2`` | ``taylor`` | ``fisher``), float64
    on the CPU; ``loss_fn(logits, y)`` of taylor / fisher defaults to cross-entropy."""
    if method not in METHODS:
        raise ValueError(f"unknown importance method {method!r}; expected one of {METHODS}")
    if method in ("taylor", "fisher"):
        if batches is None:
            raise ValueError(f"{method} importance needs training mini-batches (batches=...)")
        if method == "fisher":
            shapes = {name: _param(model, name).shape for name in params}
            flat = {name: (np.arange(s.numel()),) * 2 for name, s in shapes.items()}
            values = fisher_values(model, params, flat, None, batches, loss_fn=loss_fn,
                                   device=device)
            return {n: torch.as_tensor(v).reshape(shapes[n]) for n, v in values.items()}
        return taylor_scores(model, params, batches, loss_fn=loss_fn, device=device)
    weights = {name: _param(model, name).detach().to("cpu", torch.float64) for name in params}
    return {name: w.abs() if method == "l1" else w * w for name, w in weights.items()}


def resolve_normalisation(method: str, normalisation: str) -> str:
    """The concrete normalisation for ``auto``: ``none`` for taylor, ``mean`` otherwise."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(
            f"unknown normalisation {normalisation!r}; expected one of {NORMALISATIONS}"
        )
    if normalisation == "auto":
        return "none" if method in ("taylor", "fisher") else "mean"
    return normalisation


def normalise(
    scores: Mapping[str, torch.Tensor],
    mode: str,
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Scale each parameter's scores so layers are comparable (see module docstring).

    ``mean``: divide by the mean score of the kept weights (``masks`` True; all weights
    when no mask is given). ``total``: divide by their sum. ``none``: unchanged. A layer
    whose kept weights all score 0 is left at 0. Pruned weights get score 0.
    """
    if mode not in ("mean", "total", "none"):
        raise ValueError(f"normalisation must be mean, total or none (got {mode!r})")
    out = {}
    for name, s in scores.items():
        s = s.to(torch.float64).clone()
        keep = None if masks is None or name not in masks else masks[name].to("cpu", torch.bool)
        if keep is not None:
            s[~keep] = 0.0
        if mode != "none":
            n_kept = int(keep.sum()) if keep is not None else s.numel()
            total = float(s.sum())
            if n_kept > 0 and total > 0:
                s /= total / n_kept if mode == "mean" else total
        out[name] = s
    return out


def normalise_values(values: np.ndarray, items: Any, mode: str) -> np.ndarray:
    """Per-layer normalisation of structure values (fisher): divide by the layer's mean
    value per weight (``mean``) or its total (``total``) over the valued structures of
    ``items`` (a :class:`rasp.prune.selection.ItemSet`); ``none``: unchanged."""
    if mode == "none":
        return values
    out = values.copy()
    sizes = np.zeros(items.n)
    for _name, (_flat, ids) in items.value_members.items():
        sizes += np.bincount(ids, minlength=items.n)
    for name in np.unique(items.layer):
        sel = (items.layer == name) & items.valued & (values > 0)
        total = values[sel].sum()
        if total <= 0:
            continue
        out[items.layer == name] /= total / sizes[sel].sum() if mode == "mean" else total
    return out


def structure_values(
    scores: Mapping[str, torch.Tensor],
    membership: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_structures: int,
) -> np.ndarray:
    """Value of each structure: the sum of its weights' scores (float64, one per structure).

    ``membership``: parameter name -> (flat indices into ``param.flatten()``, structure
    ids), see :data:`rasp.prune.masks.Membership`.
    """
    values = np.zeros(int(n_structures), dtype=np.float64)
    for name, (flat, ids) in membership.items():
        s = scores[name].detach().to("cpu", torch.float64).reshape(-1).numpy()
        values += np.bincount(ids, weights=s[flat], minlength=int(n_structures))
    return values


def fisher_values(
    model: nn.Module,
    params: Sequence[str],
    membership: Mapping[str, tuple[np.ndarray, np.ndarray]],
    n_structures: int | None,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray | dict[str, np.ndarray]:
    """Fisher estimate of the loss increase when each structure is removed (nats).

    ``0.5 * mean_b (sum_{i in g} w_i g_{b,i})**2`` with ``g_b`` the gradient of batch
    ``b``'s mean loss; ``membership`` as in :func:`structure_values` (a structure may span
    several parameters, e.g. a neuron's row and the next layer's column). With
    ``n_structures`` None, ``membership`` must map each parameter to (arange, arange) and
    one array per parameter (per-weight values) is returned instead. Model in eval mode
    for the passes; its weights and gradients are left untouched.
    """
    per_param = n_structures is None
    acc = ({n: np.zeros(_param(model, n).numel()) for n in params} if per_param
           else np.zeros(int(n_structures)))
    n_batches = 0
    for products in _batch_products(model, params, batches, loss_fn, device, "fisher"):
        total = None if per_param else np.zeros(int(n_structures))
        for name, prod in zip(params, products, strict=True):
            if prod is None or name not in membership:
                continue
            prod = prod.reshape(-1).to("cpu", torch.float64).numpy()
            flat, ids = membership[name]
            if per_param:
                acc[name] += prod**2
            else:
                total += np.bincount(ids, weights=prod[flat], minlength=int(n_structures))
        if not per_param:
            acc += total**2
        n_batches += 1
    if per_param:
        return {n: 0.5 * a / n_batches for n, a in acc.items()}
    return 0.5 * acc / n_batches
