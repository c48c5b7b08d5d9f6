"""Resource formulas of one layer (docs/hardware_model.md states each with its source).

Units: DSP = DSP48E2 slices; BRAM_18K = 18 Kb block-RAM primitives (a RAMB36 counts 2);
LUT = 6-input look-up tables; latency in clock cycles. Everything here is a pure function
of a :class:`~rasp.hardware.layers.LayerHardware` and, where zeros matter, of the
boolean non-zero pattern of its weights in hls4ml's flat (n_out, n_in) order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rasp.hardware.fixed import csd_digits, quantize_to_int
from rasp.hardware.layers import LayerHardware

#: Resource names of every cost vector, in this order.
RESOURCES = ("dsp", "bram_18k", "lut")
LUTRAM_BITS_PER_LUT = 64  # one LUT6 holds a 64 x 1 ROM


@dataclass(frozen=True)
class WeightMemory:
    """Where a layer's weights live and how its BRAM word is cut into columns.

    The Resource kernels reshape the weight array into ``depth = RF`` words of
    ``word_bits = ceil(N/RF) * W`` bits; word ``j`` holds weight ``j`` of every DSP
    pattern, pattern ``k`` at bits ``[k*W, (k+1)*W)``. BRAM column ``c`` is the bit slice
    ``[c*B, (c+1)*B)`` of that word (B = ``bram.width_bits``); it is ``units_per_column =
    ceil(RF / bram.depth)`` BRAM units deep. A pattern whose bits straddle a column border
    belongs to both columns.
    """

    kind: str  # "bram" | "lutram" | "none" (Latency / RF 1: constants in logic)
    depth: int  # words (= RF) when stored in memory
    word_bits: int
    n_columns: int
    units_per_column: int
    bram18k_per_column: int
    column_patterns: tuple[np.ndarray, ...]  # DSP-pattern indices of each column
    savable: bool  # an all-zero column is removed (Resource_Unrolled only)

    @property
    def bram_18k(self) -> int:
        """BRAM_18K of the whole array (no column removed)."""
        return self.n_columns * self.bram18k_per_column if self.kind == "bram" else 0


def weight_memory(layer: LayerHardware) -> WeightMemory:
    """Weight storage of ``layer`` (rules B1-B4 of docs/hardware_model.md)."""
    rf = layer.reuse_factor
    w = layer.weight_type.width
    bf = layer.block_factor
    word = bf * w
    if layer.strategy == "Latency" or rf == 1:
        return WeightMemory("none", 0, word, 0, 0, 0, (), False)
    geo = layer.bram
    lutram = (geo.lutram_max_depth > 0 and rf <= geo.lutram_max_depth) or (
        geo.lutram_max_bits > 0 and layer.n_weights * w <= geo.lutram_max_bits
    )
    if lutram:
        return WeightMemory("lutram", rf, word, 0, 0, 0, (), False)
    width = geo.width_bits
    n_columns = -(-word // width)
    columns = tuple(np.arange(c * width // w, (min((c + 1) * width, word) - 1) // w + 1)
                    for c in range(n_columns))
    units = -(-rf // geo.depth)
    return WeightMemory(
        "bram", rf, word, n_columns, units, units * geo.bram18k_per_unit, columns,
        layer.strategy == "Resource_Unrolled",
    )


def pattern_nonzero(layer: LayerHardware, nonzero_hls: np.ndarray) -> np.ndarray:
    """Per DSP pattern (RF consecutive weights of the hls layout): any weight non-zero.

    The last pattern is shorter when RF does not divide N (Latency only).
    """
    rf = layer.reuse_factor
    bf = layer.block_factor
    padded = np.zeros(bf * rf, dtype=bool)
    padded[: nonzero_hls.size] = nonzero_hls
    return padded.reshape(bf, rf).any(axis=1)


def multiplier_counts(layer: LayerHardware, nonzero_hls: np.ndarray) -> dict[str, int | None]:
    """Multiplier bounds exactly as hls4ml 1.3.0 writes them (rules M1-M4).

    ``multiplier_limit``: ``parameters.h``'s ``DIV_ROUNDUP(N, RF) - n_zeros / RF`` (C
    integer division). ``allocation_limit``: Resource_Unrolled's ``#pragma HLS ALLOCATION
    ... limit=`` = ``ceil(N / min(n_in, RF))`` minus the all-zero DSP patterns.
    ``multipliers``: the bound the strategy's kernel obeys: Latency -> multiplier_limit,
    Resource -> ceil(N/RF) (zeros are not skipped), Resource_Unrolled -> allocation_limit.
    """
    n = layer.n_weights
    rf = layer.reuse_factor
    nnz = int(np.count_nonzero(nonzero_hls))
    n_zeros = n - nnz
    bf = layer.block_factor
    multiplier_limit = bf - n_zeros // rf
    zero_patterns = int(bf - np.count_nonzero(pattern_nonzero(layer, nonzero_hls)))
    allocation_limit = None
    if layer.strategy == "Resource_Unrolled":
        allocation_limit = -(-n // min(layer.n_in, rf)) - zero_patterns
        multipliers = allocation_limit
    elif layer.strategy == "Resource":
        multipliers = bf
    else:
        multipliers = multiplier_limit
    return {
        "nonzero_weights": nnz,
        "n_zeros": n_zeros,
        "patterns": bf,
        "zero_patterns": zero_patterns,
        "multiplier_limit": multiplier_limit,
        "allocation_limit": allocation_limit,
        "multipliers": multipliers,
    }


def bram_18k(layer: LayerHardware, nonzero_hls: np.ndarray, memory: WeightMemory | None = None) -> int:
    """BRAM_18K after logic synthesis removes all-zero columns (Resource_Unrolled only)."""
    memory = memory or weight_memory(layer)
    if memory.kind != "bram":
        return 0
    if not memory.savable:
        return memory.bram_18k
    alive = pattern_nonzero(layer, nonzero_hls)
    used = sum(1 for cols in memory.column_patterns if alive[cols].any())
    return used * memory.bram18k_per_column


def lut_per_multiplier(layer: LayerHardware) -> int:
    """LUTs that come and go with one multiplier instance of a layer whose weights are
    read from memory (Resource strategies; rule L1): the adder that accumulates its
    product (one LUT per accumulator bit, carry chain) plus, when the product is built
    in fabric (0 DSP), about ``a*b/2`` LUTs for an ``a x b``-bit array multiplier."""
    lut = layer.accum_type.width
    if layer.dsp_per_mult == 0:
        lut += math.ceil(layer.input_type.width * layer.weight_type.width / 2)
    return lut


def lut_estimate(layer: LayerHardware, multipliers: int, memory: WeightMemory | None = None,
                 products: ConstantProducts | None = None) -> int:
    """Approximate LUTs of the layer's datapath (rules L1-L3).

    Latency layers with ``products`` (constants folded, rule L3): the shift/add networks
    of the folded constants plus one adder-tree input (accumulator width) per non-zero
    weight. Otherwise (L1): ``multipliers`` x :func:`lut_per_multiplier`, plus
    ``word_bits * ceil(depth / 64)`` for LUTRAM weights (L2).
    """
    if products is not None and layer.strategy == "Latency":
        return int(products.weight_lut.sum() + products.group_lut.sum())
    memory = memory or weight_memory(layer)
    lut = multipliers * lut_per_multiplier(layer)
    if memory.kind == "lutram":
        lut += memory.word_bits * -(-memory.depth // LUTRAM_BITS_PER_LUT)
    return lut


def latency_cycles(layer: LayerHardware) -> int:
    """Approximate latency of the layer in clock cycles (rule T1).

    Kernel calls: 1 for Linear; the output pixels for Conv2d io_parallel; the input pixels
    for Conv2d io_stream (one call per pixel read). Each call takes RF cycles (the
    initiation interval), plus a pipeline depth of ``ceil(log2(n_in)) + 2`` (adder tree,
    multiply, cast) for Latency and 3 (multiply, accumulate, cast) for Resource.
    """
    if layer.kind == "linear":
        calls = 1
    elif layer.io_type == "io_stream":
        calls = layer.in_hw[0] * layer.in_hw[1]
    else:
        calls = layer.out_hw[0] * layer.out_hw[1]
    depth = math.ceil(math.log2(max(layer.n_in, 1))) + 2 if layer.strategy == "Latency" else 3
    return calls * layer.reuse_factor + depth


@dataclass(frozen=True)
class ConstantProducts:
    """What HLS builds for the constant multiplications of a Latency layer (rules D4, L3).

    Weights are quantised to the layer's weight type (mantissa ``q``); on each input, all
    weights with the same ``|q|`` share one product (the sign goes into the adder tree).
    A shared product of ``|q|`` with ``d`` non-zero canonical-signed-digit (CSD) digits is
    a wire/shift (``d = 1``), one adder (``d = 2``), or a multiplier (``d >= 3``: on a DSP
    unless the product is built in fabric, then ``d - 1`` adders). Arrays are in hls4ml's
    flat ``(n_out, n_in)`` order (per weight) or per shared product ("group").

    ``group``: per weight, the id of its shared product (-1: the weight quantises to 0);
    ``group_input`` / ``group_magnitude`` / ``group_digits``: per group; ``group_dsp``:
    DSP48E2 of each group (``dsp_per_mult`` when ``d >= 3``, else 0); ``group_lut``: LUT6
    of its shift/add network; ``weight_lut``: per weight, its adder-tree input (one LUT per
    accumulator bit; 0 for weights that quantise to 0).
    """

    group: np.ndarray
    group_input: np.ndarray
    group_magnitude: np.ndarray
    group_digits: np.ndarray
    group_dsp: np.ndarray
    group_lut: np.ndarray
    weight_lut: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.group_input.size)

    def dsp(self, multiplier_limit: int, dsp_per_mult: int) -> int:
        """DSPs of the layer: groups that need a multiplier, capped by ``multiplier_limit``
        (x DSPs per multiplication)."""
        if dsp_per_mult == 0:
            return 0
        needs = int(np.count_nonzero(self.group_dsp))
        return min(needs, int(multiplier_limit)) * dsp_per_mult


def _bit_span(m: np.ndarray) -> np.ndarray:
    """Bits between the lowest and the highest set bit of ``m`` (0 for 0 and powers of 2)."""
    m = np.asarray(m, dtype=np.int64)
    safe = np.where(m > 0, m, 1)
    high = np.floor(np.log2(safe)).astype(np.int64)
    low = np.floor(np.log2(safe & -safe)).astype(np.int64)
    return np.where(m > 0, high - low, 0)


def constant_products(layer: LayerHardware, weights_hls: np.ndarray) -> ConstantProducts:
    """Shared constant products of a Latency layer (see :class:`ConstantProducts`).

    ``weights_hls``: the float weights in hls4ml's flat (n_out, n_in) order. A shift/add
    network of ``a`` adders costs ``a x (input width + bit span of |q|)`` LUTs (one LUT6
    per result bit with the carry chain).
    """
    q = np.abs(quantize_to_int(np.asarray(weights_hls, dtype=np.float64).reshape(-1),
                               layer.weight_type))
    nz = q > 0
    base = int(q.max(initial=0)) + 1  # key = input * base + |q|
    key = (np.arange(q.size) % layer.n_in).astype(np.int64) * base + q
    group = np.full(q.size, -1, dtype=np.int64)
    uniq, inverse = np.unique(key[nz], return_inverse=True)
    group[nz] = inverse
    g_mag, g_in = uniq % base, uniq // base
    g_dig = csd_digits(g_mag)
    mult = g_dig >= 3
    dsp = np.where(mult, layer.dsp_per_mult, 0).astype(np.int64)
    adders = np.where(g_dig == 2, 1, 0)
    if layer.dsp_per_mult == 0:
        adders = np.where(mult, g_dig - 1, adders)
    g_lut = adders * (layer.input_type.width + _bit_span(g_mag))
    w_lut = np.where(nz, layer.accum_type.width, 0).astype(np.int64)
    return ConstantProducts(group, g_in, g_mag, g_dig, dsp, g_lut.astype(np.int64), w_lut)
