"""The one best-model rule (rasp.results): what it picks, and that the HLS stage (which
model to C-simulate, from the pruning metrics.json) and the summary table (from
summary.csv) pick the same row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rasp.hls import RunFiles, best_in_series, build_summary, parse_run
from rasp.plots import summary_table as S
from rasp.results import parse_run_id, rank_models, run_id, select_best

BASE = {"accuracy": 0.76, "dsp": 1000, "bram_18k": 8}


def _models(rows):
    return pd.DataFrame(rows, columns=["run", "accuracy", "dsp", "bram_18k", "lut",
                                       "multipliers", "budget"]).set_index("run")


def test_fewest_dsp_within_tolerance_not_lowest_budget():
    # the b50 run re-selected after fine-tuning and came out with fewer DSPs than b25
    models = _models([("b50", 0.760, 300, 4, 9000, 400, 50),
                      ("b25", 0.756, 350, 4, 9000, 400, 25),
                      ("b10", 0.700, 100, 4, 3000, 100, 10)])  # below 0.7524
    assert select_best(models, BASE, 0.01) == "b50"
    assert select_best(models, BASE, 0.1) == "b10"
    assert select_best(models, BASE, 0.0) == "b50"
    assert select_best(models[models.index == "b10"], BASE, 0.01) is None


def test_ties_broken_by_lut_then_accuracy():
    models = _models([("a", 0.757, 300, 4, 9000, 400, 50),
                      ("b", 0.755, 300, 4, 8000, 400, 25),
                      ("c", 0.759, 300, 4, 8000, 400, 30)])
    assert rank_models(models) == ["c", "b", "a"]


def test_fabric_design_is_compared_on_lut():
    dsp_best = ("dsp", 0.757, 200, 4, 9000, 400, 25)
    costly_fabric = ("fabric", 0.758, 0, 4, 14000, 400, 50)  # 0 DSP but 55% more LUTs
    assert select_best(_models([dsp_best, costly_fabric]), BASE, 0.01) == "dsp"
    cheap_fabric = ("fabric", 0.758, 0, 4, 8500, 400, 50)
    assert select_best(_models([dsp_best, cheap_fabric]), BASE, 0.01) == "fabric"
    # a design without any multiplier is not a fabric design: 0 DSP is really free
    empty = ("empty", 0.758, 0, 4, 14000, 0, 50)
    assert select_best(_models([dsp_best, empty]), BASE, 0.01) == "empty"
    # when every candidate multiplies in fabric, the fewest LUTs win
    assert select_best(_models([costly_fabric, ("f2", 0.757, 0, 4, 13000, 300, 25)]),
                       BASE, 0.01) == "f2"
    # BRAM selection ranks on BRAM first, fabric or not
    fewer_bram = ("fabric", 0.758, 0, 2, 14000, 400, 50)
    assert select_best(_models([dsp_best, fewer_bram]), BASE, 0.01, "bram_18k") == "fabric"
    assert select_best(_models([dsp_best, costly_fabric]), BASE, 0.01, "bram_18k") == "dsp"


def test_run_ids_round_trip_and_hls_parser_agrees():
    for obj, rf, b in (("csd", 1, 10.0), ("layerwise+quant", 4, 2.5)):
        assert parse_run_id(run_id(obj, rf, b)) == parse_run(run_id(obj, rf, b)) == (obj, rf, b)
    with pytest.raises(ValueError, match="is not a run"):
        parse_run("dsp_b10")


#: (run id, test accuracy, DSP, BRAM, LUT, multipliers): one series of one objective at RF 1
SERIES = [
    ("dsp_rf1_b50", 0.7600, 560, 0, 30000, 2100),
    ("dsp_rf1_b25", 0.7575, 480, 0, 26000, 1100),  # within 1%, fewer DSPs than b50
    ("dsp_rf1_b15", 0.7560, 480, 0, 21000, 700),   # same DSPs, fewer LUTs: the best
    ("dsp_rf1_b10", 0.7500, 300, 0, 15000, 400),   # below the floor 0.7524
]


def _write_run(root: Path, run: str, acc: float, dsp: int, bram: int, lut: int, mult: int,
               base: tuple) -> RunFiles:
    objective, rf, budget = parse_run(run)
    folder = root / run
    folder.mkdir()
    csim = {"dataset": "jets", "variant": "float", "run": run, "objective": objective,
            "budget": budget, "reuse_factor": rf, "accuracy_torch": acc, "data_source": "pythia",
            "precision": "ap_fixed<16,6>", "strategy": "Latency", "seed": 3, "flow": "pytorch"}
    (folder / "csim.json").write_text(json.dumps(csim))
    row = {"dsp": dsp, "bram_18k": bram, "lut": lut, "ff": None, "latency_cycles": 5,
           "multipliers_generated": mult, "multipliers_estimated": mult, "source": "estimate"}
    pd.DataFrame([{"layer": "fc1", **row}, {"layer": "total", **row}]).to_csv(
        folder / "resources.csv", index=False)
    metrics = None
    if objective != "baseline":
        metrics = folder / "metrics.json"
        metrics.write_text(json.dumps({
            "test_accuracy": acc, "baseline_test_accuracy": base[0],
            "resources": {"dsp": dsp, "bram_18k": bram, "lut": lut, "multipliers": mult},
            "baseline_resources": {"dsp": base[1], "bram_18k": base[2]}}))
    return RunFiles(folder / "csim.json", folder / "resources.csv", metrics)


@pytest.mark.parametrize(("extra", "expected"), [
    ([], "dsp_rf1_b15"),
    ([("dsp_rf1_b5", 0.7530, 0, 0, 20000, 900)], "dsp_rf1_b5"),   # fabric, fewer LUTs
    ([("dsp_rf1_b5", 0.7530, 0, 0, 40000, 900)], "dsp_rf1_b15"),  # fabric, more LUTs
], ids=["dsp", "cheap-fabric", "costly-fabric"])
def test_hls_stage_and_summary_table_pick_the_same_row(tmp_path, extra, expected):
    base = (0.7600, 2682, 0, 40000, 4256)
    files = [_write_run(tmp_path, "baseline_rf1", *base, base)]
    files += [_write_run(tmp_path, run, *rest, base) for run, *rest in SERIES + extra]
    metrics = {f.csim.parent.name: json.loads(Path(f.metrics).read_text())
               for f in files if f.metrics is not None}
    chosen_for_csim = best_in_series(metrics, 0.01, "dsp")
    summary = S.normalise_summary(build_summary(files))
    table = S.build_table(summary, 0.01, {"jets": "dsp"})
    best = table[table.best].iloc[0]
    assert run_id(best.objective, best.reuse_factor, best.budget) == chosen_for_csim == expected


def test_dsp_figure_lists_fabric_designs_instead_of_drawing_them_free(tmp_path):
    from rasp.plots import results as R

    summary = S.load_summary(Path(__file__).parent / "fixtures/results_small/summary.csv")
    summary["multipliers"] = summary["dsp"]
    fabric = summary[(summary.reuse_factor == 1) & (summary.objective == "dsp")].iloc[[0]].copy()
    fabric[["objective", "dsp", "multipliers", "lut"]] = ["layerwise+quant", 0, 900, 52000]
    summary = pd.concat([summary, fabric], ignore_index=True)
    group = S.group_rows(summary, "jets", "float", 1)
    drawn, listed = R.split_fabric(S.pruned_rows(group), "dsp")
    assert list(listed.objective) == ["layerwise+quant"]
    assert "layerwise+quant" not in set(drawn.objective) and len(drawn) == len(group) - 2
    drawn_bram, none = R.split_fabric(S.pruned_rows(group), "bram_18k")
    assert none.empty and len(drawn_bram) == len(group) - 1
    out = R.plot_accuracy_vs_resource(summary, "jets", "float", 1, "dsp", [tmp_path / "a.png"])
    assert out[0].stat().st_size > 2000
