"""``resources.csv``: per-layer and total resources of one HLS run, and the multiplier check.

Columns (units: DSP48 slices, BRAM_18K primitives, LUT6, flip-flops, clock cycles,
multipliers = multiplication instances):

``layer`` (torch module name, or ``total``), ``dsp``, ``bram_18k``, ``lut``, ``ff``,
``latency_cycles``, ``multipliers_generated`` (what hls4ml wrote into the project:
``multiplier_limit`` of Latency layers, the ``#pragma HLS ALLOCATION ... limit`` of
Resource_Unrolled kernels, ``ceil(n_in*n_out/RF)`` for plain Resource),
``multipliers_estimated`` (:func:`rasp.hardware.estimate_resources`), ``source``
(``estimate`` | ``vivado`` | ``vitis`` | ``yosys``: who produced the resource numbers of
the row), then ``hls_name``, ``strategy``, ``reuse_factor``, ``nonzero_weights``,
``dsp_csd_estimated`` (the synthesis-aware DSP estimate of Latency layers) and, on the
distributed-arithmetic row only, ``carry`` (CARRY4/8 cells), ``lutram`` and ``da_cost``
(da4ml's own cost estimate).

With the distributed-arithmetic flow (``hls.da``) a second ``total`` row follows the
HLS design's: ``source = yosys``, ``strategy = distributed_arithmetic``, the cell counts
of Yosys ``synth_xilinx`` on da4ml's Verilog (combinational: ``ff`` counts registers,
none without pipelining; ``latency_cycles`` empty). :func:`design_total` picks either.

Where the numbers come from: without synthesis, the hardware model's estimate (``ff``
is not modelled: empty). With C synthesis, the modules of each layer in the csynth
report (:func:`rasp.hls.reports.layer_modules`; empty where HLS inlined the layer) and
the whole design for ``total``. With Vivado logic synthesis, the ``total`` row's DSP,
BRAM_18K, LUT and FF are the post-synthesis utilisation (``source = vivado``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasp.atomic import write_text_atomic

RESOURCE_COLUMNS = ("layer", "dsp", "bram_18k", "lut", "ff", "latency_cycles",
                    "multipliers_generated", "multipliers_estimated", "source")
EXTRA_COLUMNS = ("hls_name", "strategy", "reuse_factor", "nonzero_weights", "dsp_csd_estimated",
                 "carry", "lutram", "da_cost")
TOTAL = "total"
#: ``source`` of the distributed-arithmetic design's row (Yosys synth_xilinx cell counts).
YOSYS = "yosys"
#: ``strategy`` of that row (hls4ml's name of the flow).
DA_STRATEGY = "distributed_arithmetic"


class MultiplierMismatchError(AssertionError):
    """The estimated and the generated number of multipliers of a layer differ."""


def generated_multipliers(layer: Any) -> int:
    """Multiplication instances hls4ml generated for one layer (a ``GeneratedLayer``)."""
    if layer.strategy == "Resource_Unrolled":
        if layer.allocation_limit is None:
            raise MultiplierMismatchError(
                f"layer {layer.name!r}: strategy Resource_Unrolled but no '#pragma HLS "
                "ALLOCATION ... limit' was found in nnet_code_gen.h"
            )
        return int(layer.allocation_limit)
    if layer.strategy == "Resource":
        return math.ceil(layer.n_in * layer.n_out / layer.reuse_factor)
    return int(layer.multiplier_limit)


def aligned_estimate(estimate: Any, layer_names: Mapping[str, str]) -> Any:
    """A copy of ``estimate`` whose ``hls_name`` column holds the converted model's names."""
    from rasp.hardware import ResourceEstimate

    layers = estimate.layers.copy()
    layers["hls_name"] = [layer_names.get(name, row) for name, row in
                          zip(layers.index, layers["hls_name"], strict=True)]
    return ResourceEstimate(layers, estimate.totals.copy())


def _multiplier_row(torch_name: str, row: pd.Series, generated: Mapping[str, Any]) -> dict[str, Any]:
    """Estimated and generated multipliers of one estimate row (None: no generated layer)."""
    gen = generated.get(row["hls_name"])
    return {
        "layer": torch_name,
        "hls_name": row["hls_name"],
        "strategy": row["strategy"],
        "multipliers_estimated": int(row["multipliers"]),
        "multipliers_generated": None if gen is None else generated_multipliers(gen),
    }


def check_multipliers(estimate: Any, generated: Mapping[str, Any]) -> pd.DataFrame:
    """Per layer: estimated vs generated multipliers; raises naming every mismatching layer.

    ``estimate``: a ``ResourceEstimate`` whose ``hls_name`` column holds the converted
    model's layer names (:func:`aligned_estimate`); ``generated``: from
    :func:`rasp.hardware.parse_generated`.
    """
    table = pd.DataFrame([_multiplier_row(torch_name, row, generated)
                          for torch_name, row in estimate.layers.iterrows()])
    bad = table[table["multipliers_estimated"] != table["multipliers_generated"]]
    if len(bad):
        lines = [
            f"layer {r.layer!r} (hls4ml {r.hls_name!r}, {r.strategy}): estimated "
            f"{r.multipliers_estimated} multipliers, hls4ml generated "
            f"{'no layer' if r.multipliers_generated is None else r.multipliers_generated}"
            for r in bad.itertuples()
        ]
        raise MultiplierMismatchError(
            "the hardware model and the code hls4ml generated disagree on the number of "
            "multipliers:\n  " + "\n  ".join(lines)
            + "\nThe pruning structures assumed a different circuit: check that the pruned "
            "model was converted with the reuse factor, strategy and precision it was pruned for."
        )
    return table


def _int_or_nan(value: Any) -> Any:
    return math.nan if value is None else value


def resources_table(
    estimate: Any,
    generated: Mapping[str, Any],
    *,
    synthesis: Any | None = None,
    layer_indices: Mapping[str, int] | None = None,
    hls_source: str = "vitis",
) -> pd.DataFrame:
    """Build the ``resources.csv`` table (see the module docstring).

    ``estimate``: aligned ``ResourceEstimate``; ``generated``: parsed project;
    ``synthesis``: a :class:`rasp.hls.synth.SynthesisResult` or None; ``layer_indices``:
    hls4ml layer name -> index (needed with synthesis); ``hls_source``: ``vivado`` or
    ``vitis`` (the HLS tool that wrote the csynth report).
    """
    from rasp.hls.reports import layer_modules

    est = estimate.layers
    modules = {}
    if synthesis is not None:
        modules = layer_modules(synthesis.csynth, dict(layer_indices or {}))
    rows = []
    for torch_name, row in est.iterrows():
        out: dict[str, Any] = {
            **_multiplier_row(torch_name, row, generated),
            "reuse_factor": int(row["reuse_factor"]),
            "nonzero_weights": int(row["nonzero_weights"]),
            "dsp_csd_estimated": int(row["dsp_csd"]),
        }
        if synthesis is None:
            out.update(dsp=int(row["dsp"]), bram_18k=int(row["bram_18k"]), lut=int(row["lut"]),
                       ff=np.nan, latency_cycles=int(row["latency_cycles"]), source="estimate")
        else:
            mod = modules.get(row["hls_name"])  # None: HLS inlined the layer
            out.update({col: _int_or_nan(getattr(mod, attr, None)) for col, attr in
                        (("dsp", "dsp"), ("bram_18k", "bram_18k"), ("lut", "lut"), ("ff", "ff"),
                         ("latency_cycles", "latency_worst"))}, source=hls_source)
        rows.append(out)
    gen_total = sum(r["multipliers_generated"] or 0 for r in rows)
    total: dict[str, Any] = {
        "layer": TOTAL,
        "multipliers_generated": gen_total,
        "multipliers_estimated": int(sum(r["multipliers_estimated"] for r in rows)),
        "hls_name": "",
        "strategy": "+".join(sorted({r["strategy"] for r in rows})),
        "reuse_factor": int(max(r["reuse_factor"] for r in rows)) if rows else np.nan,
        "nonzero_weights": int(sum(r["nonzero_weights"] for r in rows)),
        "dsp_csd_estimated": int(sum(r["dsp_csd_estimated"] for r in rows)),
    }
    if synthesis is None:
        t = estimate.totals
        total.update(dsp=int(t["dsp"]), bram_18k=int(t["bram_18k"]), lut=int(t["lut"]), ff=np.nan,
                     latency_cycles=int(t["latency_cycles"]), source="estimate")
    else:
        top = synthesis.csynth.total
        total.update(dsp=top.dsp, bram_18k=top.bram_18k, lut=top.lut, ff=top.ff,
                     latency_cycles=_int_or_nan(top.latency_worst), source=hls_source)
        util = synthesis.utilization
        if util is not None:
            total.update(dsp=util.dsp, bram_18k=util.bram_18k, lut=util.lut, ff=util.ff,
                         source="vivado")
    rows.append(total)
    table = pd.DataFrame(rows)
    return table.reindex(columns=list(RESOURCE_COLUMNS) + list(EXTRA_COLUMNS))


def da_total_row(da: Mapping[str, Any], hls_total: Mapping[str, Any]) -> dict[str, Any]:
    """The ``total`` row of the distributed-arithmetic design (``da``: csim.json's block)."""
    stat = da["yosys"]
    return {
        "layer": TOTAL, "dsp": stat["dsp"], "bram_18k": stat["bram_18k"], "lut": stat["lut"],
        "ff": stat["ff"], "latency_cycles": np.nan, "multipliers_generated": np.nan,
        "multipliers_estimated": np.nan, "source": YOSYS, "hls_name": "da_model",
        "strategy": DA_STRATEGY, "reuse_factor": hls_total["reuse_factor"],
        "nonzero_weights": hls_total["nonzero_weights"], "dsp_csd_estimated": np.nan,
        "carry": stat["carry"], "lutram": stat["lutram"], "da_cost": da["cost"],
    }


def design_total(table: pd.DataFrame, flow: str = "hls") -> pd.Series | None:
    """The ``total`` row of the HLS design (``flow="hls"``) or of the distributed-arithmetic
    design (``flow="da"``, None when the run has none)."""
    totals = table[table["layer"].astype(str) == TOTAL]
    is_da = totals["source"].astype(str) == YOSYS
    rows = totals[is_da] if flow == "da" else totals[~is_da]
    if rows.empty:
        if flow == "da":
            return None
        raise ValueError(f"resources table has no {TOTAL!r} row of the HLS design")
    return rows.iloc[0]


def write_resources(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table as CSV atomically (temporary file, then rename)."""
    missing = [c for c in RESOURCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"resources table lacks columns {missing}")
    write_text_atomic(path, table.to_csv(index=False), newline="")


def read_resources(path: str | Path) -> pd.DataFrame:
    """Read a ``resources.csv`` and check its columns."""
    table = pd.read_csv(path)
    missing = [c for c in RESOURCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}: not written by the HLS stage")
    if TOTAL not in set(table["layer"].astype(str)):
        raise ValueError(f"{path} has no '{TOTAL}' row")
    return table
