"""Fixed-point types as hls4ml writes them (``ap_fixed<16,6>``), quantisation and CSD digits.

Only the declared types matter to the hardware model: the bit width of the weight type
sets the BRAM word layout and, with the input type, the DSPs per multiplication.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

_ROUNDING = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF",
             "AP_RND_CONV")
_SATURATION = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")

_FIXED_RE = re.compile(
    r"^\s*(?:ap_)?(?P<kind>u?fixed)\s*<\s*(?P<w>-?\d+)\s*,\s*(?P<i>-?\d+)\s*"
    r"(?:,\s*(?P<rnd>[A-Za-z_]+)\s*)?(?:,\s*(?P<sat>[A-Za-z_]+)\s*)?(?:,\s*\d+\s*)?>\s*$"
)
_INT_RE = re.compile(r"^\s*(?:ap_)?(?P<kind>u?int)\s*<\s*(?P<w>\d+)\s*>\s*$")


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


def _mode(value: str | None, allowed: tuple[str, ...], default: str, text: str) -> str:
    if value is None:
        return default
    name = value.upper()
    if not name.startswith("AP_"):
        name = "AP_" + name
    if name not in allowed:
        raise PrecisionError(f"unknown mode {value!r} in precision {text!r}; allowed: {allowed}")
    return name


def parse_precision(text: str | FixedType) -> FixedType:
    """Parse ``ap_fixed<W,I[,RND,SAT]>``, ``ap_ufixed<...>``, ``ap_int<W>``, ``ap_uint<W>``.

    The short hls4ml spellings ``fixed<16,6>``, ``ufixed<...>``, ``int<8>``, ``uint<8>`` are
    accepted too. ``auto`` and float types are rejected: the hardware model needs the
    declared width.
    """
    if isinstance(text, FixedType):
        return text
    if not isinstance(text, str):
        raise PrecisionError(f"precision must be a string like 'ap_fixed<16,6>', got {text!r}")
    m = _FIXED_RE.match(text)
    if m:
        width, integer = int(m["w"]), int(m["i"])
        rnd = _mode(m["rnd"], _ROUNDING, "AP_TRN", text)
        sat = _mode(m["sat"], _SATURATION, "AP_WRAP", text)
        signed = m["kind"] == "fixed"
    else:
        m = _INT_RE.match(text)
        if not m:
            raise PrecisionError(
                f"cannot read precision {text!r}: expected e.g. 'ap_fixed<16,6>', "
                "'ap_ufixed<8,0>', 'ap_int<8>' (hls4ml 'auto' must be resolved first)"
            )
        width = integer = int(m["w"])
        rnd, sat = "AP_TRN", "AP_WRAP"
        signed = m["kind"] == "int"
    if width < 1:
        raise PrecisionError(f"precision {text!r} has width {width} < 1")
    return FixedType(width, integer, signed, rnd, sat)


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
    h = ((3 * n) ^ n) >> 1
    count = np.zeros_like(n)
    while np.any(h):
        count += h & 1
        h = h >> 1
    return count


def _two_digit_values(max_value: int) -> np.ndarray:
    """Sorted non-negative integers up to ``max_value`` with at most two non-zero CSD digits
    (0, 2**a, 2**a + 2**b, 2**a - 2**b)."""
    top = max(int(max_value), 1).bit_length() + 1
    powers = [1 << a for a in range(top + 1)]
    values = {0, *powers}
    for a in powers:
        for b in powers:
            values.add(a + b)
            if a > b:
                values.add(a - b)
    out = np.array(sorted(v for v in values if v <= max_value), dtype=np.int64)
    return out


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
    pick = np.where(np.abs(up - n) < np.abs(n - down), up, down)
    pick = np.where(grid[hi] == n, n, pick)
    return np.sign(q) * pick
