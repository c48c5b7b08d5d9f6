"""SYNTHETIC knapsack instances shaped like hls4ml pruning problems (for tests/benchmarks).

Nothing here comes from a trained network: the numbers only imitate the shape of real
pruning instances so that solver speed and greedy quality can be measured before real
instances exist. Construction, per layer:

- reuse factor RF from ``rf_choices``; weight width W from (9, 12, 16, 18) bits; patterns
  per BRAM column = 36 // W when W divides 36, else 72 // W (so 2 to 4 patterns);
- weights: random sign times a log-normal magnitude whose scale differs per layer (so
  unnormalised norms would favour some layers); a pattern's value is the L2 (or L1) norm of
  its RF weights divided by the layer's mean pattern norm ("normalised per layer");
- DSP cost per pattern: 1 for most layers, 2 for layers drawn as wide products
  (probability ``p_wide``); BRAM_18K per column: ceil(RF / 1024) (one block per 1024
  words of depth);
- optional LUT-like second resource for plain two-resource instances: an integer 20..80
  per pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rasp.knapsack.coupled import CoupledDspBramProblem, coupled_dsp_bram_problem
from rasp.knapsack.problem import KnapsackProblem


@dataclass(frozen=True)
class SyntheticPruningInstance:
    """Patterns and BRAM columns of a synthetic network (see module docstring).

    Arrays: ``values`` (P,) dimensionless normalised importance; ``dsp`` (P,) DSP blocks;
    ``lut`` (P,) LUT-like cost; ``column`` (P,) column index; ``column_bram`` (K,)
    BRAM_18K blocks; ``layer`` (P,) layer index. ``seed`` is the generator seed.
    """

    values: np.ndarray
    dsp: np.ndarray
    lut: np.ndarray
    column: np.ndarray
    column_bram: np.ndarray
    layer: np.ndarray
    seed: int

    def coupled(self, dsp_fraction: float, bram_fraction: float) -> CoupledDspBramProblem:
        """Joint DSP + BRAM problem with budgets as fractions of the unpruned totals."""
        return coupled_dsp_bram_problem(
            self.values,
            self.dsp,
            self.column,
            self.column_bram,
            dsp_budget=float(np.floor(dsp_fraction * self.dsp.sum())),
            bram_budget=float(np.floor(bram_fraction * self.column_bram.sum())),
        )

    def plain(self, n_resources: int, fraction: float) -> KnapsackProblem:
        """Pattern-only problem: DSP (and LUT when ``n_resources`` = 2) budgets."""
        if n_resources not in (1, 2):
            raise ValueError(f"n_resources must be 1 or 2, got {n_resources}")
        costs = np.vstack([self.dsp, self.lut][:n_resources])
        caps = np.floor(fraction * costs.sum(axis=1))
        names = ("dsp", "lut")[:n_resources]
        return KnapsackProblem.create(self.values, costs, caps, resource_names=names)


def synthetic_pruning_instance(
    n_patterns: int,
    *,
    seed: int,
    n_layers: int = 4,
    rf_choices: tuple[int, ...] = (2, 4, 8, 16, 32),
    norm: str = "l2",
    p_wide: float = 0.25,
    min_wide_layers: int = 0,
) -> SyntheticPruningInstance:
    """Generate a synthetic instance with exactly ``n_patterns`` patterns.

    ``p_wide`` is the probability that a layer's products need 2 DSPs; at least
    ``min_wide_layers`` layers do (so one-resource instances do not all have equal costs).
    """
    if n_patterns < n_layers:
        raise ValueError(f"n_patterns ({n_patterns}) must be >= n_layers ({n_layers})")
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(n_layers, 2.0))
    sizes = np.maximum(1, np.floor(share * n_patterns).astype(int))
    sizes[-1] += n_patterns - sizes.sum()
    while sizes[-1] < 1:  # rounding pushed the last layer below one pattern
        j = int(np.argmax(sizes))
        sizes[j] -= 1
        sizes[-1] += 1
    wide = rng.random(n_layers) < p_wide
    if wide.sum() < min_wide_layers:
        wide[rng.permutation(np.flatnonzero(~wide))[: min_wide_layers - wide.sum()]] = True
    values, dsp, lut, column, bram, layer = [], [], [], [], [], []
    n_cols = 0
    for li, size in enumerate(sizes.tolist()):
        rf = int(rng.choice(rf_choices))
        width = int(rng.choice([9, 12, 16, 18]))
        per_col = 36 // width if 36 % width == 0 else 72 // width
        scale = rng.lognormal(0.0, 1.0)
        mag = rng.lognormal(np.log(scale), 1.0, size=(size, rf))
        w = mag * rng.choice([-1.0, 1.0], size=(size, rf))
        group = np.sqrt((w**2).sum(axis=1)) if norm == "l2" else np.abs(w).sum(axis=1)
        values.append(group / group.mean())
        dsp.append(np.full(size, 2.0 if wide[li] else 1.0))
        lut.append(rng.integers(20, 81, size=size).astype(np.float64))
        cols = np.arange(size) // per_col
        column.append(n_cols + cols)
        k = int(cols.max()) + 1
        bram.append(np.full(k, float(-(-rf // 1024))))
        n_cols += k
        layer.append(np.full(size, li))
    return SyntheticPruningInstance(
        values=np.concatenate(values),
        dsp=np.concatenate(dsp),
        lut=np.concatenate(lut),
        column=np.concatenate(column).astype(np.int64),
        column_bram=np.concatenate(bram),
        layer=np.concatenate(layer),
        seed=seed,
    )
