"""Fixed-point types as hls4ml writes them (``ap_fixed<16,6>``), quantisation and CSD digits.

Only the declared types matter to the hardware model: the bit width of the weight type
sets the BRAM word layout and, with the input type, the DSPs per multiplication.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np


class PrecisionError(ValueError):
    """A precision string that is not an ``ap_fixed``/``ap_int`` type this model understands."""


@dataclass(frozen=True)
class FixedType:
    """A two's-complement (or unsigned) fixed-point type.

    ``width``: total bits; ``integer``: integer bits including the sign bit (as in
    ``ap_fixed<W,I>``); ``signed``; ``rounding`` / ``saturation``: the ``AP_*`` modes
    (hls4ml's defaults ``AP_TRN`` / ``AP_WRAP``).
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "AP_TRN"
    saturation: str = "AP_WRAP"

    @property
    def fractional(self) -> int:
        """Number of fractional bits (may be negative)."""
        return self.width - self.integer

    @property
    def signed_width(self) -> int:
        """Bits of a signed operand that holds every value of this type (unsigned adds 1)."""
        return self.width if self.signed else self.width + 1

    def __str__(self) -> str:
        name = "ap_fixed" if self.signed else "ap_ufixed"
        extra = ""
        if self.rounding != "AP_TRN" or self.saturation != "AP_WRAP":
            extra = f",{self.rounding},{self.saturation}"
        return f"{name}<{self.width},{self.integer}{extra}>"


@cache
def _hls4ml_precision_parser() -> Callable[[str], Any]:
    """hls4ml's own precision-string parser (the one its converter applies to configs)."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    return FPGABackend.convert_precision_string


def parse_precision(text: str | FixedType) -> FixedType:
    """Parse ``ap_fixed<W,I[,RND,SAT[,N]]>``, ``ap_ufixed<...>``, ``ap_int<W>``, ``ap_uint<W>``.

    hls4ml's own parser reads the string (so the short spellings ``fixed<16,6>``,
    ``int<8>`` and the modes with or without ``AP_`` are what hls4ml accepts); this adds
    the checks the hardware model needs: ``auto`` and float types are rejected (the model
    needs the declared width) and the width must be >= 1.
    """
    if isinstance(text, FixedType):
        return text
    if not isinstance(text, str):
        raise PrecisionError(f"precision must be a string like 'ap_fixed<16,6>', got {text!r}")
    hint = ("expected e.g. 'ap_fixed<16,6>', 'ap_ufixed<8,0>', 'ap_int<8>' "
            "(hls4ml 'auto' must be resolved first)")
    try:
        parsed = _hls4ml_precision_parser()(text.strip())
    except (ValueError, KeyError, IndexError) as err:
        raise PrecisionError(f"cannot read precision {text!r} ({err!r}): {hint}") from None
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if not isinstance(parsed, (FixedPrecisionType, IntegerPrecisionType)):
        raise PrecisionError(
            f"cannot read precision {text!r}: hls4ml reads it as {type(parsed).__name__}; {hint}")
    if parsed.width < 1:
        raise PrecisionError(f"precision {text!r} has width {parsed.width} < 1")
    rounding = getattr(parsed, "rounding_mode", None)
    saturation = getattr(parsed, "saturation_mode", None)
    return FixedType(
        int(parsed.width), int(parsed.integer), bool(parsed.signed),
        f"AP_{rounding.name}" if rounding is not None else "AP_TRN",
        f"AP_{saturation.name}" if saturation is not None else "AP_WRAP",
    )


def quantize_to_int(values: np.ndarray, ftype: FixedType) -> np.ndarray:
    """Integer mantissas ``q`` (value = q * 2**-fractional) of ``values`` in type ``ftype``.

    Rounding: ``AP_TRN`` floors, ``AP_TRN_ZERO`` truncates towards zero, every ``AP_RND*``
    mode rounds to nearest (ties away from zero for ``AP_RND_INF``/``AP_RND``, to even for
    ``AP_RND_CONV``; the tie rule rarely matters for trained weights). Overflow: ``AP_WRAP``
    wraps modulo 2**width, the ``AP_SAT*`` modes clip.
    """
    scaled = np.asarray(values, dtype=np.float64) * math.ldexp(1.0, ftype.fractional)
    if ftype.rounding == "AP_TRN":
        q = np.floor(scaled)
    elif ftype.rounding == "AP_TRN_ZERO":
        q = np.trunc(scaled)
    elif ftype.rounding == "AP_RND_CONV":
        q = np.rint(scaled)
    elif ftype.rounding == "AP_RND_MIN_INF":
        q = np.ceil(scaled - 0.5)
    elif ftype.rounding == "AP_RND_ZERO":
        q = np.sign(scaled) * np.ceil(np.abs(scaled) - 0.5)
    else:  # AP_RND, AP_RND_INF
        q = np.floor(scaled + 0.5)
    q = q.astype(np.int64)
    lo = -(1 << (ftype.width - 1)) if ftype.signed else 0
    hi = (1 << (ftype.width - 1)) - 1 if ftype.signed else (1 << ftype.width) - 1
    if ftype.saturation == "AP_WRAP":
        span = 1 << ftype.width
        q = ((q - lo) % span) + lo
    else:
        q = np.clip(q, lo, hi)
    return q


def csd_digits(q: np.ndarray) -> np.ndarray:
    """Number of non-zero digits of ``|q|`` in canonical signed-digit (non-adjacent) form.

    Uses the identity: the NAF of n >= 0 has a non-zero digit exactly at the set bits of
    ``(3n XOR n) >> 1``.
    """
    n = np.abs(np.asarray(q, dtype=np.int64))
    return np.asarray(np.bitwise_count(((3 * n) ^ n) >> 1), dtype=np.int64)


def _two_digit_values(max_value: int) -> np.ndarray:
    """Sorted non-negative integers up to ``max_value`` with at most two non-zero CSD digits
    (0, 2**a, 2**a + 2**b, 2**a - 2**b)."""
    top = max(int(max_value), 1).bit_length() + 1
    powers = [1 << a for a in range(top + 1)]
    values = {0, *powers}
    values.update(a + b for a in powers for b in powers)
    values.update(a - b for a in powers for b in powers if a > b)
    return np.array(sorted(v for v in values if v <= max_value), dtype=np.int64)


def round_to_csd2(q: np.ndarray, max_magnitude: int) -> np.ndarray:
    """Nearest integer to each mantissa ``q`` whose ``|value|`` has at most two non-zero CSD
    digits and at most ``max_magnitude`` (the sign is kept; ties go to the smaller
    magnitude). Such a constant multiplication is a shift or one adder in fabric."""
    q = np.asarray(q, dtype=np.int64)
    grid = _two_digit_values(max_magnitude)
    n = np.abs(q)
    hi = np.clip(np.searchsorted(grid, n, side="left"), 0, grid.size - 1)
    lo = np.clip(hi - 1, 0, grid.size - 1)
    up, down = grid[hi], grid[lo]
    pick = np.where(np.abs(up - n) < np.abs(n - down), up, down)  # a grid value n is its own pick
    return np.sign(q) * pick
