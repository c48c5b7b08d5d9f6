"""Reuse-factor rules of hls4ml 1.3.0 (Vivado/Vitis backends), checked instead of snapped.

hls4ml replaces an invalid reuse factor by the closest valid one and only prints a
warning; the pruning structures would then describe a different circuit. Here such an
RF is an error that names the valid choices. The valid list and the substitute come from
hls4ml itself (``get_valid_reuse_factors``, ``get_closest_reuse_factor`` of its FPGA
backend); this module adds the strategy rules.

For a layer with ``n_in`` inputs and ``n_out`` outputs (Conv2d: ``n_in = kh*kw*C_in``,
``n_out`` = filters) and ``N = n_in * n_out``, hls4ml accepts RF for the Resource
strategies when (all three): ``N % RF == 0``; ``RF < n_in`` implies
``ceil(N / RF) % n_out == 0``; ``RF >= n_in`` implies ``RF % n_in == 0``. That is:
RF divides ``n_in``, or RF is a multiple of ``n_in`` that divides ``N``.
Resource_Unrolled additionally excludes ``RF = N`` and ``RF = 1`` (it falls back to
Resource), and for Conv2d it needs io_stream. Latency accepts any RF >= 1.
"""

from __future__ import annotations

from functools import cache


class InvalidReuseFactorError(ValueError):
    """hls4ml would silently change this reuse factor or strategy."""


@cache
def _fpga_backend():
    """hls4ml's Vitis backend: its ``FPGABackend`` reuse-factor rule is the one Vivado and
    Vitis apply (imported on first use: hls4ml takes seconds to import)."""
    from hls4ml.backends import get_backend

    return get_backend("Vitis")


@cache
def _hls4ml_valid(n_in: int, n_out: int) -> tuple[int, ...]:
    return tuple(_fpga_backend().get_valid_reuse_factors(int(n_in), int(n_out)))


def valid_reuse_factors(n_in: int, n_out: int, strategy: str = "Resource") -> list[int]:
    """All reuse factors hls4ml keeps unchanged for this layer shape and strategy."""
    if strategy == "Latency":
        raise ValueError("Latency accepts every RF >= 1; there is no finite list")
    rfs = list(_hls4ml_valid(n_in, n_out))
    if strategy == "Resource_Unrolled":
        rfs = [rf for rf in rfs if rf not in (1, n_in * n_out)]
    return rfs


def nearest_valid_reuse_factor(n_in: int, n_out: int, rf: int, strategy: str) -> int:
    """The reuse factor hls4ml would substitute for ``rf`` (``rf`` itself when valid)."""
    if strategy == "Latency":
        return rf
    valid = valid_reuse_factors(n_in, n_out, strategy)
    if not valid:
        raise InvalidReuseFactorError(
            f"layer shape n_in={n_in}, n_out={n_out} has no valid reuse factor for {strategy}"
        )
    return rf if rf in valid else int(_fpga_backend().get_closest_reuse_factor(valid, rf))


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
        f"{strategy}; hls4ml would silently use {nearest_valid_reuse_factor(n_in, n_out, rf, strategy)} instead. Valid reuse "
        f"factors near {rf}: {sorted(near)} (rule: RF divides n_in, or is a multiple of n_in "
        f"dividing n_in*n_out{'; not 1 or n_in*n_out when unrolled' if strategy == 'Resource_Unrolled' else ''})"
    )
