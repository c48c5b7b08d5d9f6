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
