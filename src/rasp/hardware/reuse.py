"""Reuse-factor rules of hls4ml 1.3.0 (Vivado/Vitis backends), checked instead of snapped.

hls4ml replaces an invalid reuse factor by the closest valid one and only prints a
warning; the pruning structures would then describe a different circuit. Here such an
RF is an error that names the valid choices.

For a layer with ``n_in`` inputs and ``n_out`` outputs (Conv2d: ``n_in = kh*kw*C_in``,
``n_out`` = filters) and ``N = n_in * n_out``, hls4ml accepts RF for the Resource
strategies when (all three): ``N % RF == 0``; ``RF < n_in`` implies
``ceil(N / RF) % n_out == 0``; ``RF >= n_in`` implies ``RF % n_in == 0``. That is:
RF divides ``n_in``, or RF is a multiple of ``n_in`` that divides ``N``.
Resource_Unrolled additionally excludes ``RF = N`` and ``RF = 1`` (it falls back to
Resource), and for Conv2d it needs io_stream. Latency accepts any RF >= 1.
"""

from __future__ import annotations

import math
from bisect import bisect_left


class InvalidReuseFactorError(ValueError):
    """hls4ml would silently change this reuse factor or strategy."""


def is_valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's validity rule for Resource-strategy reuse factors (see module docstring)."""
    if rf < 1:
        return False
    n = n_in * n_out
    if n % rf:
        return False
    if rf < n_in:
        return math.ceil(n / rf) % n_out == 0
    return rf % n_in == 0


def valid_reuse_factors(n_in: int, n_out: int, strategy: str = "Resource") -> list[int]:
    """All reuse factors hls4ml keeps unchanged for this layer shape and strategy."""
    n = n_in * n_out
    if strategy == "Latency":
        raise ValueError("Latency accepts every RF >= 1; there is no finite list")
    rfs = [rf for rf in range(1, n + 1) if n % rf == 0 and is_valid_reuse_factor(n_in, n_out, rf)]
    if strategy == "Resource_Unrolled":
        rfs = [rf for rf in rfs if rf not in (1, n)]
    return rfs


def _closest(valid: list[int], rf: int) -> int:
    """The RF hls4ml would substitute (closest; ties go to the smaller)."""
    pos = bisect_left(valid, rf)
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - rf < rf - before else before


def nearest_valid_reuse_factor(n_in: int, n_out: int, rf: int, strategy: str) -> int:
    """The reuse factor hls4ml would substitute for ``rf`` (``rf`` itself when valid)."""
    if strategy == "Latency":
        return rf
    valid = valid_reuse_factors(n_in, n_out, strategy)
    if not valid:
        raise InvalidReuseFactorError(
            f"layer shape n_in={n_in}, n_out={n_out} has no valid reuse factor for {strategy}"
        )
    return rf if rf in valid else _closest(valid, rf)


def check_reuse_factor(
    layer: str, n_in: int, n_out: int, rf: int, strategy: str, kind: str = "linear",
    io_type: str = "io_parallel",
) -> None:
    """Raise :class:`InvalidReuseFactorError` when hls4ml would alter ``rf`` or ``strategy``.

    ``kind`` is ``linear``, ``conv1d`` or ``conv2d``; ``strategy`` one of Latency, Resource,
    Resource_Unrolled (exact spelling).
    """
    if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
        raise InvalidReuseFactorError(f"layer {layer!r}: reuse factor must be an integer >= 1, got {rf!r}")
    if strategy == "Latency":
        return
    if strategy not in ("Resource", "Resource_Unrolled"):
        raise InvalidReuseFactorError(
            f"layer {layer!r}: unknown strategy {strategy!r}; use Latency, Resource or "
            "Resource_Unrolled (hls4ml silently turns unknown names into Latency)"
        )
    if strategy == "Resource_Unrolled":
        if rf == 1:
            raise InvalidReuseFactorError(
                f"layer {layer!r}: Resource_Unrolled needs RF > 1 (hls4ml falls back to "
                "Resource at RF 1); use Latency or Resource at RF 1"
            )
        if kind in ("conv1d", "conv2d") and io_type == "io_parallel":
            raise InvalidReuseFactorError(
                f"layer {layer!r}: hls4ml 1.3.0 cannot unroll a {kind} with io_parallel (it "
                "falls back to Resource); use io_stream, strategy Resource, or strategy auto"
            )
    valid = valid_reuse_factors(n_in, n_out, strategy)
    if rf in valid:
        return
    if not valid:
        raise InvalidReuseFactorError(
            f"layer {layer!r} (n_in={n_in}, n_out={n_out}) has no valid reuse factor for "
            f"{strategy}; use Latency or Resource"
        )
    near = sorted(valid, key=lambda v: (abs(v - rf), v))[:8]
    raise InvalidReuseFactorError(
        f"layer {layer!r} (n_in={n_in}, n_out={n_out}): reuse factor {rf} is not valid for "
        f"{strategy}; hls4ml would silently use {_closest(valid, rf)} instead. Valid reuse "
        f"factors near {rf}: {sorted(near)} (rule: RF divides n_in, or is a multiple of n_in "
        f"dividing n_in*n_out{'; not 1 or n_in*n_out when unrolled' if strategy == 'Resource_Unrolled' else ''})"
    )
