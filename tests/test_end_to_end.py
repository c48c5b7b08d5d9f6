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

    summary = pd.read_csv(wf / "results" / "summary.csv")
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
