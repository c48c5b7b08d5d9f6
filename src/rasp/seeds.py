"""Derived seeds: one integer per (seed, step, ...) so that every step of a job has its
own reproducible random stream, independent of how many draws earlier steps made."""

from __future__ import annotations

import numpy as np

#: Largest derived seed + 1 when ``modulus`` is used: fits a signed 32-bit int.
INT31 = 2**31 - 1


def derive_seed(seed: int, *keys: int, modulus: int | None = INT31) -> int:
    """A seed derived from ``seed`` and ``keys`` (NumPy's ``SeedSequence``, first word of
    its state), reduced modulo ``modulus`` (``None``: the full 32-bit word)."""
    word = int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])
    return word if modulus is None else word % modulus
