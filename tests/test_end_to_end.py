"""The whole workflow on the tiny configuration: data -> training -> pruning -> hls4ml ->
summary and figures, in a scratch copy of the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_snakemake


def copy_workflow(dst: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "profiles", "scripts", "envs", "src"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, symlinks=True)
        else:
            shutil.copy(src, dst / name)
    return dst


@pytest.mark.slow
def test_tiny_config_end_to_end(tmp_path):
    wf = copy_workflow(tmp_path)
    res = run_snakemake(
        "--cores", "2", "--configfile", "config/test.yaml", "--replace-workflow-config",
        cwd=wf, timeout=1200,
    )
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-10000:]

    summary_all = pd.read_csv(wf / "results" / "summary.csv")
    # one row per seed replicate; replicate 1 has its own baseline and pruned models
    assert sorted(summary_all["replicate"].unique()) == [0, 1]
    assert summary_all.groupby("replicate")["train_seed"].nunique().eq(1).all()
    assert summary_all["train_seed"].nunique() == 2
    assert (wf / "results/jets/replicate1/pruned/float/dsp_rf4_b25/metrics.json").exists()
    agg = pd.read_csv(wf / "results" / "summary_agg.csv")
    assert len(agg) == 3 and (agg["n_seeds"] == 2).all()
    assert {"accuracy_mean", "accuracy_ci_low", "within_tolerance"} <= set(agg.columns)
    compare = pd.read_csv(wf / "results" / "summary_compare.csv")
    assert list(compare["objective"]) == ["dsp"] and compare["n_pairs"].iloc[0] == 2

    summary = summary_all[summary_all["replicate"] == 0]
    assert set(summary["data_source"]) == {"pythia"}
    baseline = summary[summary["objective"] == "baseline"]
    pruned = summary[summary["objective"] != "baseline"]
    assert len(baseline) == 1 and len(pruned) == 2
    # every pruned model is compared with its own baseline, and the resource-aware one
    # really removes DSPs
    assert (pruned["baseline_dsp"] == baseline["dsp"].iloc[0]).all()
    dsp_pruned = pruned[pruned["objective"] == "dsp"].iloc[0]
    assert dsp_pruned["dsp"] < dsp_pruned["baseline_dsp"]
    assert dsp_pruned["dsp_reduction"] > 0
    assert (wf / "results" / "summary.md").stat().st_size > 0
    assert list((wf / "results" / "figures").rglob("*.png"))
