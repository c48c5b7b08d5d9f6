"""HLS stage without compiling: options, run selection, resources table, multiplier check,
synthesis planning, project archive and results/summary.csv (fast)."""

from __future__ import annotations

import json
import math
import os
import stat
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rasp.hardware import GeneratedLayer, ResourceEstimate
from rasp.hls import (
    HlsOptions,
    MultiplierMismatchError,
    RunFiles,
    SynthesisToolError,
    archive_project,
    best_in_series,
    build_summary,
    check_multipliers,
    parse_csynth_xml,
    parse_run,
    parse_utilization_report,
    plan_synthesis,
    resources_table,
    should_simulate,
    write_summary,
)
from rasp.hls.resources import RESOURCE_COLUMNS, read_resources, write_resources
from rasp.hls.summary import SUMMARY_COLUMNS
from rasp.hls.synth import SynthesisResult

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "hls_reports"
LAYERS = {"fc1": (16, 64), "fc2": (64, 32), "fc3": (32, 32), "fc4": (32, 5)}


def test_schema_defaults_equal_option_defaults():
    schema = yaml.safe_load((REPO / "src/rasp/schemas/hls.schema.yaml").read_text())
    defaults = HlsOptions()
    for key, spec in schema["properties"].items():
        if hasattr(defaults, key) and spec.get("default") is not None:
            assert getattr(defaults, key) == spec["default"], key
    assert schema["additionalProperties"] is False


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match=r"unknown hls keys \[.csimm.\]; allowed: \[.agreement_check."):
        HlsOptions.from_dict({"csimm": "all"})
    with pytest.raises(ValueError, match=r"hls.csim: 'some' is not one of \['all', 'best'"):
        HlsOptions.from_dict({"csim": "some"})
    with pytest.raises(ValueError, match="hls.min_agreement: 1.5 is greater than the maximum of 1"):
        HlsOptions(min_agreement=1.5)  # the dataclass itself checks, not only from_dict
    with pytest.raises(ValueError, match="hls.synthesize"):
        HlsOptions.from_dict({"synthesize": "maybe"})
    assert HlsOptions.from_dict({"cache_dir": None}).cache_dir is None
    assert HlsOptions.from_dict({"best_tolerance": None}).best_tolerance == 0.01


def test_parse_run():
    assert parse_run("baseline_rf4") == ("baseline", 4, None)
    assert parse_run("dsp+bram_rf2_b2.5") == ("dsp+bram", 2, 2.5)
    with pytest.raises(ValueError):
        parse_run("rf4")


def _m(acc, base=0.76, dsp=None):
    """metrics.json of a pruned run; by default fewer DSPs at lower accuracy (budget)."""
    dsp = round(1000 * acc) if dsp is None else dsp
    return {"test_accuracy": acc, "baseline_test_accuracy": base,
            "resources": {"dsp": dsp, "bram_18k": 4, "lut": 20 * dsp, "multipliers": dsp},
            "baseline_resources": {"dsp": 2000, "bram_18k": 8}}


def test_best_in_series_and_csim_selection():
    series = {"dsp_rf4_b50": _m(0.760), "dsp_rf4_b25": _m(0.755), "dsp_rf4_b10": _m(0.70)}
    # within 1% of 0.76 -> >= 0.7524: b50 and b25; the fewer DSPs (b25) win
    assert best_in_series(series, 0.01) == "dsp_rf4_b25"
    # nothing within tolerance -> the most accurate
    assert best_in_series({"dsp_rf4_b10": _m(0.5), "dsp_rf4_b5": _m(0.4)}, 0.01) == "dsp_rf4_b10"
    best = HlsOptions(csim="best")
    assert should_simulate(best, "baseline_rf4")[0]
    assert should_simulate(best, "dsp_rf4_b25", series)[0]
    simulate, why = should_simulate(best, "dsp_rf4_b50", series)
    assert not simulate and "dsp_rf4_b25" in why
    assert not should_simulate(HlsOptions(csim="baselines"), "dsp_rf4_b25", series)[0]
    assert should_simulate(HlsOptions(csim="all"), "dsp_rf4_b50", series)[0]
    assert not should_simulate(HlsOptions(csim="none"), "baseline_rf1")[0]


def test_agreement_is_fatal_for_baselines_and_models_within_tolerance_only():
    from rasp.hls import must_agree

    opts = HlsOptions(best_tolerance=0.01)
    metrics = {"baseline_test_accuracy": 0.80}
    assert must_agree(opts, "baseline", 0.10, {})[0]
    # 0.80 * 0.99 = 0.792: 0.7925 is within, 0.79 is not
    ok, why = must_agree(opts, "dsp", 0.7925, metrics)
    assert ok and "within 0.01" in why
    ok, why = must_agree(opts, "unstructured", 0.19, metrics)
    assert not ok and "outside 0.01" in why and "0.8000" in why
    assert must_agree(HlsOptions(best_tolerance=0.8), "unstructured", 0.19, metrics)[0]
    assert must_agree(HlsOptions(agreement_check="all"), "unstructured", 0.19, metrics)[0]
    assert must_agree(opts, "dsp", 0.19, {})[0]  # baseline unknown: held to the threshold
    with pytest.raises(ValueError, match="agreement_check: 'some' is not one of.*within_tolerance"):
        HlsOptions.from_dict({"agreement_check": "some"})


def test_series_selection_file_is_stable_and_checked(tmp_path):
    import json

    from rasp.hls.pipeline import HlsInputError, read_series_selection, write_series_selection

    def write(series):
        paths = []
        for run, m in series.items():
            (tmp_path / run).mkdir(exist_ok=True)
            (tmp_path / run / "metrics.json").write_text(json.dumps(m))
            paths.append(tmp_path / run / "metrics.json")
        out = tmp_path / "sel.json"
        write_series_selection(paths, out, 0.01, "dsp")
        return out.read_bytes()

    series = {"dsp_rf4_b50": _m(0.760), "dsp_rf4_b25": _m(0.755), "dsp_rf4_b10": _m(0.70)}
    first = write(series)
    # re-pruning a model that stays worse rewrites the file byte for byte: no other HLS
    # job of the series is rerun
    assert write({**series, "dsp_rf4_b10": _m(0.71)}) == first
    assert write({**series, "dsp_rf4_b10": _m(0.759, dsp=500)}) != first  # a new best
    opts = HlsOptions(csim="best", best_tolerance=0.01, select_by="dsp")
    assert read_series_selection(tmp_path / "sel.json", opts) == "dsp_rf4_b10"
    assert should_simulate(opts, "dsp_rf4_b10", best="dsp_rf4_b10")[0]
    assert not should_simulate(opts, "dsp_rf4_b25", best="dsp_rf4_b10")[0]
    with pytest.raises(HlsInputError, match="rerun the csim_selection rule"):
        read_series_selection(tmp_path / "sel.json", HlsOptions(best_tolerance=0.05))


def _estimate(multipliers: dict[str, int]) -> ResourceEstimate:
    rows = []
    for name in LAYERS:
        mult = multipliers[name]
        rows.append({"layer": name, "hls_name": name, "strategy": "Resource_Unrolled",
                     "reuse_factor": 4, "multipliers": mult, "nonzero_weights": 4 * mult,
                     "dsp": mult, "dsp_csd": mult, "bram_18k": 3, "lut": 10 * mult,
                     "latency_cycles": 7})
    layers = pd.DataFrame(rows).set_index("layer")
    totals = layers[["multipliers", "dsp", "dsp_csd", "bram_18k", "lut", "latency_cycles"]].sum()
    return ResourceEstimate(layers, totals)


def _generated(limits: dict[str, int]) -> dict[str, GeneratedLayer]:
    out = {}
    for name, (n_in, n_out) in LAYERS.items():
        out[name] = GeneratedLayer(
            name=name, layer_type="Dense", n_in=n_in, n_out=n_out, reuse_factor=4,
            strategy="Resource_Unrolled", n_zeros=0, n_nonzeros=n_in * n_out,
            multiplier_limit=n_in * n_out // 4, allocation_limit=limits[name],
            kernel=f"dense_resource_unrolled_{name}", weight_precision="ap_fixed<16,6>")
    return out


FULL = {"fc1": 256, "fc2": 512, "fc3": 256, "fc4": 40}


def test_multiplier_mismatch_names_the_layer():
    check_multipliers(_estimate(FULL), _generated(FULL))
    bad = dict(FULL, fc3=250)
    with pytest.raises(MultiplierMismatchError, match=r"layer 'fc3' .*estimated 256 multipliers, "
                                                      r"hls4ml generated 250"):
        check_multipliers(_estimate(FULL), _generated(bad))


def test_resources_table_from_estimate(tmp_path):
    table = resources_table(_estimate(FULL), _generated(FULL))
    assert list(table.columns[: len(RESOURCE_COLUMNS)]) == list(RESOURCE_COLUMNS)
    assert list(table["layer"]) == ["fc1", "fc2", "fc3", "fc4", "total"]
    total = table.iloc[-1]
    assert total["dsp"] == 1064 and total["multipliers_generated"] == 1064
    assert set(table["source"]) == {"estimate"} and table["ff"].isna().all()
    path = tmp_path / "resources.csv"
    write_resources(table, path)
    back = read_resources(path)
    assert back.loc[back.layer == "fc2", "multipliers_estimated"].item() == 512
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # readable by others, not 0600


def test_resources_table_from_synthesis_reports():
    csynth = parse_csynth_xml(FIX / "vitis_unrolled/myproject_prj/solution1/syn/report/myproject_csynth.xml")
    synth = SynthesisResult(csynth, None, 1.0, "vitis-run")
    indices = {"fc1": 2, "relu1": 3, "fc2": 4, "relu2": 5, "fc3": 6, "relu3": 7, "fc4": 8}
    table = resources_table(_estimate(FULL), _generated(FULL), synthesis=synth,
                            layer_indices=indices, hls_source="vitis")
    rows = table.set_index("layer")
    assert rows.loc["fc2", "dsp"] == 512 and rows.loc["fc2", "ff"] == 14590
    assert rows.loc["total", "dsp"] == 1064 and rows.loc["total", "lut"] == 44120
    assert rows.loc["total", "latency_cycles"] == 27
    assert set(rows["source"]) == {"vitis"}
    util = parse_utilization_report(FIX / "vivado_synth_2020.rpt")
    synth = SynthesisResult(csynth, util, 1.0, "vitis-run")
    rows = resources_table(_estimate(FULL), _generated(FULL), synthesis=synth,
                           layer_indices=indices, hls_source="vitis").set_index("layer")
    assert rows.loc["total", "source"] == "vivado"
    assert rows.loc["total", "bram_18k"] == 91 and rows.loc["total", "dsp"] == 896
    assert rows.loc["fc1", "source"] == "vitis"


def _fake_tool(folder: Path, name: str) -> None:
    tool = folder / name
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)


def test_plan_synthesis_follows_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not plan_synthesis("auto", "Vitis", False).csynth
    assert not plan_synthesis("never", "Vitis", False).csynth
    with pytest.raises(SynthesisToolError, match="vitis-run.*not on PATH"):
        plan_synthesis("always", "Vitis", False)
    with pytest.raises(SynthesisToolError, match="vivado_hls"):
        plan_synthesis("always", "Vivado", False)
    _fake_tool(tmp_path, "vitis-run")
    plan = plan_synthesis("auto", "Vitis", True)
    assert plan.csynth and not plan.vsynth and "logic synthesis skipped" in plan.reason
    with pytest.raises(SynthesisToolError, match="vivado_synth"):
        plan_synthesis("always", "Vitis", True)
    _fake_tool(tmp_path, "vivado")
    plan = plan_synthesis("always", "Vitis", True)
    assert plan.csynth and plan.vsynth and plan.tool == "vitis-run"
    with pytest.raises(ValueError, match="hls.synthesize"):
        plan_synthesis("sometimes", "Vitis", False)


def test_archive_leaves_out_libraries_and_big_weights(tmp_path):
    prj = tmp_path / "prj"
    (prj / "firmware" / "weights").mkdir(parents=True)
    (prj / "firmware" / "myproject.cpp").write_text("int x;\n")
    (prj / "firmware" / "myproject-abc.so").write_bytes(b"\0" * 100)
    (prj / "firmware" / "weights" / "w2.txt").write_text("1," * 1000)
    info = archive_project(prj, tmp_path / "a.tar.gz", max_weights_bytes=10**6)
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = tar.getnames()
    assert info["weights_included"] and "project/firmware/weights/w2.txt" in names
    assert not any(n.endswith(".so") for n in names)
    info = archive_project(prj, tmp_path / "b.tar.gz", max_weights_bytes=100)
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        names = tar.getnames()
    assert not info["weights_included"] and "project/WEIGHTS_OMITTED.txt" in names
    assert "project/firmware/weights/w2.txt" not in names
    # same content -> same bytes (no time stamps)
    archive_project(prj, tmp_path / "c.tar.gz", max_weights_bytes=100)
    assert (tmp_path / "b.tar.gz").read_bytes() == (tmp_path / "c.tar.gz").read_bytes()


def _run_files(tmp_path: Path, run: str, dsp: int, bram: int, acc: float, csim_acc=None,
               metrics=None) -> RunFiles:
    objective, rf, budget = parse_run(run)
    folder = tmp_path / run
    folder.mkdir()
    csim = {"dataset": "jets", "variant": "float", "run": run, "objective": objective,
            "budget": budget, "reuse_factor": rf, "accuracy_torch": acc, "data_source": "pythia",
            "precision": "ap_fixed<16,6>", "strategy": "Resource_Unrolled", "seed": 3,
            "flow": "pytorch"}
    if csim_acc is not None:
        csim.update(accuracy_csim=csim_acc, n_samples=100, agreement=0.99, compile_seconds=7.0)
    (folder / "csim.json").write_text(json.dumps(csim))
    pd.DataFrame([
        {"layer": "fc1", "dsp": dsp, "bram_18k": bram, "lut": 10, "ff": None, "latency_cycles": 5,
         "multipliers_generated": dsp, "multipliers_estimated": dsp, "source": "estimate"},
        {"layer": "total", "dsp": dsp, "bram_18k": bram, "lut": 10, "ff": None,
         "latency_cycles": 5, "multipliers_generated": dsp, "multipliers_estimated": dsp,
         "source": "estimate"},
    ]).to_csv(folder / "resources.csv", index=False)
    mpath = None
    if metrics is not None:
        mpath = folder / "metrics.json"
        mpath.write_text(json.dumps(metrics))
    return RunFiles(folder / "csim.json", folder / "resources.csv", mpath)


def test_summary_columns_and_reductions(tmp_path):
    runs = [
        _run_files(tmp_path, "baseline_rf4", 1000, 40, 0.76, csim_acc=0.759),
        _run_files(tmp_path, "dsp_rf4_b50", 500, 30, 0.755, metrics={"solve_seconds": 0.5, "gap": 0.0}),
        _run_files(tmp_path, "dsp_rf4_b10", 100, 40, 0.74, csim_acc=0.741,
                   metrics={"solve_seconds": 1.5, "gap": 0.02}),
    ]
    table = build_summary(runs)
    assert list(table.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    rows = table.set_index("run")
    assert rows.loc["baseline_rf4", "objective"] == "baseline"
    assert math.isnan(rows.loc["baseline_rf4", "budget"])
    assert rows.loc["baseline_rf4", "dsp_reduction"] == 0.0
    assert rows.loc["dsp_rf4_b50", "dsp_reduction"] == pytest.approx(50.0)
    assert rows.loc["dsp_rf4_b10", "dsp_reduction"] == pytest.approx(90.0)
    assert rows.loc["dsp_rf4_b50", "bram_reduction"] == pytest.approx(25.0)
    assert rows.loc["dsp_rf4_b10", "baseline_accuracy"] == 0.76
    assert math.isnan(rows.loc["dsp_rf4_b50", "accuracy_csim"])
    assert rows.loc["dsp_rf4_b10", "gap"] == 0.02 and rows.loc["dsp_rf4_b50", "solve_seconds"] == 0.5
    assert table.iloc[0]["objective"] == "baseline"
    out = tmp_path / "summary.csv"
    write_summary(table, out)
    # the figures helper's reader accepts it
    from rasp.plots.summary_table import load_summary

    assert len(load_summary(out)) == 3


def test_summary_needs_the_baseline(tmp_path):
    runs = [_run_files(tmp_path, "dsp_rf4_b50", 500, 30, 0.755, metrics={})]
    with pytest.raises(ValueError, match="no baseline_rf4"):
        build_summary(runs)
