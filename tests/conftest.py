"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_snakemake(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``cwd`` with this interpreter; return the result."""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_jet_data(seed: int = 0, n: int = 600):
    """A small separable 16-feature, 5-class problem (jet-shaped) split 60/20/20."""
    import numpy as np

    from rasp.data.processed import ProcessedData

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    w = rng.normal(size=(16, 5))
    y = np.argmax(x @ w + 0.3 * rng.normal(size=(n, 5)), axis=1).astype(np.int64)
    a, b = int(0.6 * n), int(0.8 * n)
    return ProcessedData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:],
                         class_names=list("gqtwz"), provenance={"source": "synthetic-test"})


@pytest.fixture
def repo() -> Path:
    """Root of the repository (where the Snakefile lives)."""
    return REPO


def trained_tiny_mlp(epochs: int = 15):
    """A jet-style MLP (16-12-8-5) trained for ``epochs`` on :func:`tiny_jet_data`:
    ``(model, data)``. Deterministic (seed 0, one thread)."""
    import torch

    from rasp.models import build_model
    from rasp.train import TrainConfig, fit

    data = tiny_jet_data()
    torch.manual_seed(0)
    model = build_model("jet_mlp", hidden=[12, 8])
    fit(model, data, TrainConfig(epochs=epochs, batch_size=64, learning_rate=0.01, seed=0,
                                 threads=1))
    return model, data


def copy_tiny_mlp(model):
    """A fresh copy of a :func:`trained_tiny_mlp` model (same weights)."""
    from rasp.models import build_model

    clone = build_model("jet_mlp", hidden=[12, 8])
    clone.load_state_dict(model.state_dict())
    return clone


#: Pruning settings small enough for a unit test: 2 steps, 1 fine-tuning epoch.
FAST_PRUNE = {
    "importance": "taylor",
    "importance_batches": 4,
    "importance_batch_size": 64,
    "schedule": "polynomial",
    "steps": 2,
    "finetune_epochs": 1,
    "finetune": {"batch_size": 64, "learning_rate": 0.003},
    "solver": {"method": "milp", "time_limit": 10},
}
