"""Group-lasso penalty on hardware structures, for fine-tuning between pruning steps.

``penalty(model) = coefficient * sum_g sqrt(|g|) * ||w_g||_2`` over the kept structures
``g`` (DSP patterns, BRAM columns' patterns, neurons' weights or single weights), the
usual group-lasso weighting by the square root of the group size (Yuan & Lin 2006). It
pushes whole structures towards zero together, so the next knapsack step finds groups
that can be removed at little loss. Unit: added to the mean cross-entropy (nats), so the
coefficient is in nats per unit of weight norm.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

_EPS = 1e-12  # inside the square root: keeps the gradient finite at an all-zero group


class GroupLasso:
    """Callable ``regularizer(model) -> scalar tensor`` for :func:`rasp.train.fit`.

    ``membership``: parameter name -> (flat indices into ``param.flatten()``, group ids in
    ``[0, n_groups)``), see :data:`rasp.prune.masks.Membership`; a weight may belong to
    at most one group. ``active[k]`` False leaves group ``k`` out (pruned or forced-kept
    structures).
    """

    def __init__(
        self,
        model: nn.Module,
        membership: Mapping[str, tuple[np.ndarray, np.ndarray]],
        n_groups: int,
        coefficient: float,
        active: np.ndarray | None = None,
    ):
        self.coefficient = float(coefficient)
        named = dict(model.named_parameters())
        active = np.ones(n_groups, bool) if active is None else np.asarray(active, bool)
        new_id = np.cumsum(active) - 1  # compact ids of the active groups
        self.n_groups = int(active.sum())
        sizes = np.zeros(self.n_groups, dtype=np.float64)
        self.index: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, (flat, ids) in membership.items():
            if name not in named:
                raise KeyError(f"group-lasso groups refer to {name!r}, not a model parameter")
            flat = np.asarray(flat, dtype=np.int64)
            ids = np.asarray(ids, dtype=np.int64)
            if len(np.unique(flat)) != len(flat):
                raise ValueError(
                    f"group-lasso groups overlap in {name!r}: each weight may be in one group"
                )
            keep = active[ids]
            flat, gid = flat[keep], new_id[ids[keep]]
            sizes += np.bincount(gid, minlength=self.n_groups)
            self.index[name] = (torch.as_tensor(flat), torch.as_tensor(gid))
        self.weights = torch.as_tensor(np.sqrt(sizes))
        self.fingerprint = (
            f"group_lasso(c={self.coefficient}, groups={self.n_groups}, "
            f"weights={int(sizes.sum())})"
        )

    def __call__(self, model: nn.Module) -> torch.Tensor:
        named = dict(model.named_parameters())
        device = next(iter(named.values())).device
        if self.coefficient == 0 or self.n_groups == 0:
            return torch.zeros((), device=device)
        sq = torch.zeros(self.n_groups, device=device, dtype=torch.float32)
        for name, (idx, gid) in self.index.items():
            w = named[name].reshape(-1)
            sq = sq.index_add(0, gid.to(device), w[idx.to(device)].pow(2))
        norms = torch.sqrt(sq + _EPS)
        return self.coefficient * (self.weights.to(device, norms.dtype) * norms).sum()
