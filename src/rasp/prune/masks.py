"""Pruning masks: parameter name -> bool tensor of the parameter's shape, True = kept.

Masks are the single record of what was pruned. They are built from the knapsack's
kept/removed structures, intersected with the previous step's masks (a pruned weight
never comes back), applied to the model (``rasp.train.apply_masks`` sets masked weights to
exactly 0), handed to the training loop (which keeps masked weights, their gradients and
Adam's moments at 0 through fine-tuning) and saved next to the model in ``masks.pt``
(:func:`rasp.models.save_masks` / :func:`rasp.models.load_masks`, beside the checkpoint
I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

Masks = dict[str, torch.Tensor]


def full_masks(model: nn.Module, params: Sequence[str]) -> Masks:
    """All-True masks for ``params`` (nothing pruned yet)."""
    named = dict(model.named_parameters())
    return {p: torch.ones(named[p].shape, dtype=torch.bool) for p in params}


#: Which weights belong to which structure: parameter name -> (flat indices into
#: ``param.flatten()``, structure ids), two equal-length int64 arrays. A weight may appear
#: under several structures (e.g. a DSP pattern and the BRAM column that stores it).
Membership = dict[str, tuple[np.ndarray, np.ndarray]]


def membership_from_groups(groups: Sequence[Mapping[str, np.ndarray]]) -> Membership:
    """:data:`Membership` of a list of structures, ``groups[k]``: param -> flat indices."""
    idx: dict[str, list[np.ndarray]] = {}
    ids: dict[str, list[np.ndarray]] = {}
    for k, group in enumerate(groups):
        for name, flat in group.items():
            flat = np.asarray(flat, dtype=np.int64).reshape(-1)
            idx.setdefault(name, []).append(flat)
            ids.setdefault(name, []).append(np.full(flat.size, k, dtype=np.int64))
    return {n: (np.concatenate(idx[n]), np.concatenate(ids[n])) for n in idx}


def masks_from_removed(
    model: nn.Module,
    params: Sequence[str],
    membership: Membership,
    removed: np.ndarray,
    previous: Mapping[str, torch.Tensor] | None = None,
) -> Masks:
    """Masks that drop the weights of every removed structure.

    ``membership`` says which weights belong to which structure; ``removed[k]`` is True
    when structure ``k`` is pruned. Weights not in any removed structure stay kept, unless
    ``previous`` masks already dropped them.
    """
    removed = np.asarray(removed, dtype=bool)
    masks = full_masks(model, params) if previous is None else clone_masks(previous)
    for name, (flat, ids) in membership.items():
        if ids.size and ids.max() >= removed.size:
            raise ValueError(
                f"{removed.size} removal flags, but structures up to id {int(ids.max())}"
            )
        drop = flat[removed[ids]]
        masks[name].view(-1)[torch.as_tensor(drop)] = False
    return masks


def clone_masks(masks: Mapping[str, torch.Tensor]) -> Masks:
    return {k: v.detach().to("cpu", torch.bool).clone() for k, v in masks.items()}


def masks_hold(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> bool:
    """True when every masked weight of ``model`` is exactly 0."""
    named = dict(model.named_parameters())
    return all(
        bool((named[k].detach()[~v.to(named[k].device)] == 0).all()) for k, v in masks.items()
    )


def sparsity(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of pruned weights per parameter and in total (key ``total``), in [0, 1]."""
    counts = {k: (int((~v).sum()), v.numel()) for k, v in masks.items()}
    out = {k: p / n if n else 0.0 for k, (p, n) in counts.items()}
    pruned, n = sum(p for p, _ in counts.values()), sum(n for _, n in counts.values())
    out["total"] = pruned / n if n else 0.0
    return out
