"""Hardware-shaped groups of weights ("structures") with their resource costs.

Each function returns a :class:`Structures` for one layer: index sets into the layer's
``weight.flatten()`` (PyTorch order) and one cost vector per structure over
:data:`~rasp.hardware.costs.RESOURCES` = (dsp, bram_18k, lut). Costs are what a
structure uses while it is kept; the layer's total is modelled as ``fixed_cost + sum of
the costs of the kept structures`` (exact for DSP patterns and, with the coupling below,
for BRAM columns of Resource_Unrolled layers; an additive approximation otherwise;
docs/hardware_model.md, section "Structures").

Kinds:

- ``products`` (Latency layers; needs the weights): the weights that share one constant
  product after HLS folds the constants (same input, same quantised ``|w|``; rule D4 of
  docs/hardware_model.md). A group costs one multiplication's DSPs when ``|w|`` has >= 3
  CSD digits and 0 otherwise (a shift or one adder), so removing a group frees exactly
  its cost, and removing a weight whose product is shared or cheap frees no DSP.
- ``weights``: every weight alone (a weight costs DSP/RF of the pre-folding count).
- ``patterns``: DSP patterns, the RF weights one multiplier processes, flat positions
  ``[k*RF, (k+1)*RF)`` of hls4ml's (n_out, n_in) layout. A multiplier is removed only
  when all of its RF weights are zero, and only by Resource_Unrolled (plain Resource
  keeps every multiplier, so its patterns cost 0 and everything is fixed).
- ``bram_columns``: the patterns that share one BRAM bit slice; freed only when all
  of them are zero (Resource_Unrolled). ``members`` lists each column's patterns.
  ``dsp_patterns(...).pattern_columns`` gives the reverse map for the coupled DSP+BRAM
  knapsack: keep column c if any pattern in it is kept.
- ``neurons``: one output of a Linear (row of the weight) or one filter of a Conv2d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rasp.hardware.costs import (
    RESOURCES,
    constant_products,
    lut_estimate,
    lut_per_multiplier,
    multiplier_counts,
    weight_memory,
)
from rasp.hardware.layers import LayerHardware, float_array

KINDS = ("products", "weights", "patterns", "bram_columns", "neurons")
#: Kinds whose items depend on the weight values (rebuild them when the weights change).
WEIGHT_DEPENDENT_KINDS = ("products",)


@dataclass(eq=False)
class Structures:
    """Structures of one kind in one layer (CSR layout of the index sets).

    ``flat_index[offsets[i]:offsets[i+1]]`` are the indices into ``weight.flatten()`` of
    structure ``i``; ``costs[i]`` its cost vector over :attr:`resources`;
    ``fixed_cost`` what the layer uses whatever is pruned (so that
    ``fixed_cost + costs.sum(0)`` is the unpruned layer).
    """

    layer: LayerHardware
    kind: str
    flat_index: np.ndarray
    offsets: np.ndarray
    costs: np.ndarray
    fixed_cost: np.ndarray
    members: tuple[np.ndarray, ...] | None = None
    pattern_columns: np.ndarray | None = None
    resources: tuple[str, ...] = RESOURCES

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        """Number of weights in each structure."""
        return np.diff(self.offsets)

    def index_set(self, i: int) -> np.ndarray:
        """Indices into ``weight.flatten()`` of structure ``i``."""
        return self.flat_index[self.offsets[i]:self.offsets[i + 1]]

    def reduce(self, values: np.ndarray | torch.Tensor, how: str = "sum") -> np.ndarray:
        """Per-structure ``sum`` / ``max`` / ``any`` of a weight-shaped array (e.g. |w|)."""
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        v = np.asarray(values).reshape(-1)
        if v.size != self.layer.n_weights:
            raise ValueError(f"{self.layer.name}: expected {self.layer.n_weights} values, got {v.size}")
        if len(self) == 0:
            return np.zeros(0, dtype=v.dtype)
        g = v[self.flat_index]
        if how == "sum":
            return np.add.reduceat(g, self.offsets[:-1])
        if how == "max":
            return np.maximum.reduceat(g, self.offsets[:-1])
        if how == "any":
            return np.logical_or.reduceat(g.astype(bool), self.offsets[:-1])
        raise ValueError(f"how must be sum, max or any, got {how!r}")

    def kept_mask(self, kept: np.ndarray) -> np.ndarray:
        """Boolean mask of the weight's shape: True where a weight is in a kept structure."""
        kept = np.asarray(kept, dtype=bool).reshape(-1)
        if len(self) == 0:
            raise ValueError(
                f"{self.layer.name} has no {self.kind} structures (its weights are not in BRAM); "
                "use default_kind(layer)"
            )
        if kept.size != len(self):
            raise ValueError(f"{self.layer.name}: kept has {kept.size} entries, expected {len(self)}")
        mask = np.zeros(self.layer.n_weights, dtype=bool)
        mask[self.flat_index[np.repeat(kept, self.sizes)]] = True
        return mask.reshape(self.layer.weight_shape)

    def total_cost(self, kept: np.ndarray) -> np.ndarray:
        """Modelled resources of the layer when only ``kept`` structures remain."""
        kept = np.asarray(kept, dtype=bool).reshape(-1)
        return self.fixed_cost + self.costs[kept].sum(axis=0)


def _csr(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.array([g.size for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, dtype=np.int64)
    return flat, offsets


def _baseline(layer: LayerHardware) -> np.ndarray:
    """Resources of the unpruned layer (every weight non-zero)."""
    counts = multiplier_counts(layer, np.ones(layer.n_weights, dtype=bool))
    memory = weight_memory(layer)
    m = counts["multipliers"]
    return np.array([m * layer.dsp_per_mult, memory.bram_18k, lut_estimate(layer, m, memory)],
                    dtype=float)


def _finish(layer: LayerHardware, kind: str, groups: list[np.ndarray], costs: np.ndarray,
            baseline: np.ndarray | None = None, **extra) -> Structures:
    flat, offsets = _csr(groups)
    costs = np.asarray(costs, dtype=float).reshape(len(groups), len(RESOURCES))
    fixed = (_baseline(layer) if baseline is None else baseline) - costs.sum(axis=0)
    fixed[np.abs(fixed) < 1e-9] = 0.0
    return Structures(layer, kind, flat, offsets, costs, fixed, **extra)


def _pattern_groups(layer: LayerHardware) -> list[np.ndarray]:
    order = layer.hls_order
    rf = layer.reuse_factor
    return [order[k * rf:(k + 1) * rf] for k in range(layer.block_factor)]


def _weights_hls(layer: LayerHardware, weights: np.ndarray | torch.Tensor) -> np.ndarray:
    w = float_array(weights).reshape(-1)
    if w.size != layer.n_weights:
        raise ValueError(f"{layer.name}: weights have {w.size} values, expected {layer.n_weights}")
    return w[layer.hls_order]


def _latency_totals(layer: LayerHardware, w_hls: np.ndarray):
    """Constant products of a Latency layer and its (dsp, bram_18k, lut) with these weights."""
    if layer.strategy != "Latency":
        raise ValueError(f"{layer.name}: shared constant products exist in Latency layers only "
                         f"(strategy {layer.strategy})")
    products = constant_products(layer, w_hls)
    limit = multiplier_counts(layer, w_hls != 0)["multiplier_limit"]
    total = np.array([products.dsp(limit, layer.dsp_per_mult), 0.0,
                      lut_estimate(layer, 0, None, products)], dtype=float)
    return products, total


def shared_products(layer: LayerHardware, weights: np.ndarray | torch.Tensor) -> Structures:
    """Weights that share one constant product in a Latency layer (kind ``products``).

    ``weights``: the layer's weight (PyTorch shape or flat). One structure per shared
    product (same input, same quantised ``|w|``), cost = its DSPs (``dsp_per_mult`` for
    >= 3 CSD digits, else 0) and its LUTs (shift/add network plus the members' adder-tree
    inputs); plus one zero-cost structure per weight that quantises to 0. Exact: the
    layer's synthesis-aware DSP (rule D4) is the sum over kept structures while
    ``multiplier_limit`` does not cap it (always at RF 1).
    """
    w_hls = _weights_hls(layer, weights)
    products, total = _latency_totals(layer, w_hls)
    order = layer.hls_order
    g = products.group
    n_groups = products.n_groups
    by_group = np.argsort(np.where(g >= 0, g, n_groups), kind="stable")
    counts = np.bincount(g[g >= 0], minlength=n_groups)
    *groups, zero_q = np.split(order[by_group], np.cumsum(counts))  # zero_q: |q| = 0, alone
    groups += list(zero_q[:, None])
    costs = np.zeros((len(groups), len(RESOURCES)))
    costs[:n_groups, 0] = products.group_dsp
    member_lut = np.bincount(g[g >= 0], weights=products.weight_lut[g >= 0], minlength=n_groups)
    costs[:n_groups, 2] = products.group_lut + member_lut
    return _finish(layer, "products", groups, costs, baseline=total)


def single_weights(layer: LayerHardware) -> Structures:
    """Every weight alone. Cost: DSP/RF and LUT/RF per weight of the pre-folding count
    (one multiplication per non-zero weight) for Latency, else 0. For Latency layers the
    synthesis-aware costs are :func:`shared_products`."""
    n = layer.n_weights
    groups = [np.array([i]) for i in range(n)]
    costs = np.zeros((n, len(RESOURCES)))
    if layer.strategy == "Latency":
        costs[:, 0] = layer.dsp_per_mult / layer.reuse_factor
        costs[:, 2] = lut_per_multiplier(layer) / layer.reuse_factor
    return _finish(layer, "weights", groups, costs)


def dsp_patterns(layer: LayerHardware) -> Structures:
    """DSP patterns; ``pattern_columns[k]`` = BRAM columns holding pattern k (-1 padded;
    all -1 when the weights are not in BRAM)."""
    groups = _pattern_groups(layer)
    costs = np.zeros((len(groups), len(RESOURCES)))
    if layer.strategy == "Resource_Unrolled":
        costs[:, 0] = layer.dsp_per_mult
        costs[:, 2] = lut_per_multiplier(layer)
    elif layer.strategy == "Latency":
        share = np.array([g.size for g in groups]) / layer.reuse_factor
        costs[:, 0] = layer.dsp_per_mult * share
        costs[:, 2] = lut_per_multiplier(layer) * share
    memory = weight_memory(layer)
    count = np.zeros(len(groups), dtype=np.int64)
    for patterns in memory.column_patterns:
        count[patterns] += 1
    cols = np.full((len(groups), max(int(count.max(initial=0)), 1)), -1, dtype=np.int64)
    fill = np.zeros(len(groups), dtype=np.int64)
    for c, patterns in enumerate(memory.column_patterns):
        cols[patterns, fill[patterns]] = c
        fill[patterns] += 1
    return _finish(layer, "patterns", groups, costs, pattern_columns=cols)


def bram_columns(layer: LayerHardware) -> Structures:
    """BRAM columns (empty when the weights are not in BRAM). Cost: the column's
    BRAM_18K for Resource_Unrolled, 0 for plain Resource (never removed)."""
    memory = weight_memory(layer)
    patterns = _pattern_groups(layer)
    groups = [np.concatenate([patterns[k] for k in members]) for members in memory.column_patterns]
    costs = np.zeros((len(groups), len(RESOURCES)))
    if memory.savable:
        costs[:, 1] = memory.bram18k_per_column
    return _finish(layer, "bram_columns", groups, costs, members=memory.column_patterns)


def neurons(layer: LayerHardware, weights: np.ndarray | torch.Tensor | None = None) -> Structures:
    """Outputs of a Linear / filters of a Conv2d. Cost: Latency with ``weights``: each
    member's share of its shared constant product (DSP and LUT divided among the weights
    sharing it; additive approximation, the pruner re-solves against the estimate);
    Latency without weights: DSP and LUT of its n_in weights / RF (pre-folding count);
    Resource_Unrolled: the DSP patterns and BRAM columns lying wholly inside the neuron
    (an RF > n_in pattern spans several neurons and is not counted: additive lower
    bound); Resource: 0."""
    order = layer.hls_order
    n_in, n_out, rf = layer.n_in, layer.n_out, layer.reuse_factor
    groups = [order[o * n_in:(o + 1) * n_in] for o in range(n_out)]
    costs = np.zeros((n_out, len(RESOURCES)))
    baseline = None
    if layer.strategy == "Latency" and weights is not None:
        products, baseline = _latency_totals(layer, _weights_hls(layer, weights))
        g = products.group
        size = np.bincount(g[g >= 0], minlength=products.n_groups)
        dsp_share = np.zeros(g.size)
        lut_share = products.weight_lut.astype(float)
        alive = g >= 0
        dsp_share[alive] = products.group_dsp[g[alive]] / size[g[alive]]
        lut_share[alive] += products.group_lut[g[alive]] / size[g[alive]]
        costs[:, 0] = dsp_share.reshape(n_out, n_in).sum(axis=1)
        costs[:, 2] = lut_share.reshape(n_out, n_in).sum(axis=1)
    elif layer.strategy == "Latency":
        costs[:, 0] = layer.dsp_per_mult * n_in / rf
        costs[:, 2] = lut_per_multiplier(layer) * n_in / rf
    elif layer.strategy == "Resource_Unrolled":
        k = np.arange(layer.block_factor)
        first, last = (k * rf) // n_in, ((k + 1) * rf - 1) // n_in
        owner = np.where(first == last, first, -1)
        inside = np.bincount(owner[owner >= 0], minlength=n_out)
        costs[:, 0] = layer.dsp_per_mult * inside
        costs[:, 2] = lut_per_multiplier(layer) * inside
        memory = weight_memory(layer)
        if memory.savable:
            for members in memory.column_patterns:
                owners = np.unique(owner[members])
                if owners.size == 1 and owners[0] >= 0:
                    costs[owners[0], 1] += memory.bram18k_per_column
    return _finish(layer, "neurons", groups, costs, baseline=baseline)


_BUILDERS = {"weights": single_weights, "patterns": dsp_patterns, "bram_columns": bram_columns}


def layer_structures(layer: LayerHardware, kind: str,
                     weights: np.ndarray | torch.Tensor | None = None) -> Structures:
    """Structures of ``kind`` (one of :data:`KINDS`) for ``layer``. ``weights`` (the
    layer's weight tensor) is required for ``products`` and makes Latency ``neurons``
    synthesis-aware."""
    if kind == "products":
        if weights is None:
            raise ValueError(f"{layer.name}: structures of kind 'products' need the weights "
                             "(their groups are the weights sharing one constant product)")
        return shared_products(layer, weights)
    if kind == "neurons":
        return neurons(layer, weights)
    if kind not in _BUILDERS:
        raise ValueError(f"unknown structure kind {kind!r}; expected one of {KINDS}")
    return _BUILDERS[kind](layer)


def default_kind(layer: LayerHardware) -> str:
    """The structure whose removal frees a DSP: ``products`` (shared constant products,
    needs the weights) for Latency, else ``patterns``."""
    return "products" if layer.strategy == "Latency" else "patterns"
