"""The datasets rules: the configured source picks the rule graph (no fallback), and a
tiny end-to-end run of both stand-ins produces the processed datasets and the figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_data_download import ARFF, Server

from rasp.data.processed import load_processed

from conftest import REPO, run_snakemake

TINY_DATASETS = {
    "jets": {
        "source": "pythia",
        "pythia": {"shards_per_class": 1, "jets_per_shard": 12, "events_per_batch": 8},
    },
    "svhn": {"source": "synthetic", "synthetic": {"n_train": 40, "n_test": 20, "shards": 1}},
}


def _copy_workflow(tmp_path: Path) -> Path:
    dst = tmp_path / "wf"
    for name in ("Snakefile", "workflow", "config", "profiles", "scripts", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, symlinks=True)
        elif src.exists():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / name)
    return dst


def _config(tmp_path: Path, datasets: dict) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump({"datasets": datasets}))
    return path


def _dry_run(wf: Path, configfile: Path, *targets: str) -> str:
    res = run_snakemake(*targets, "-n", "--cores", "2", "--configfile", str(configfile), cwd=wf)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    return out


def test_real_sources_fetch_and_never_simulate(tmp_path):
    wf = _copy_workflow(tmp_path)
    out = _dry_run(wf, wf / "config" / "paper.yaml", "results/data/jets/openml/dataset.npz",
                   "results/data/svhn/svhn/dataset.npz", "results/figures/jets_features.png")
    jobs = out.split("Job stats:")[1]
    assert "fetch_jets" in jobs and "fetch_svhn" in jobs
    assert "simulate_jets" not in jobs and "render_svhn_standin" not in jobs
    assert "resources/svhn/svhn/train_32x32.mat" in out
    assert "results/data/jets/openml/scaler.json" in out  # the figure uses the real data


def test_stand_in_sources_simulate_one_job_per_shard(tmp_path):
    cfg = _config(tmp_path, {"jets": {"source": "pythia", "pythia": {"shards_per_class": 3}},
                             "svhn": {"source": "synthetic", "synthetic": {"shards": 4}}})
    out = _dry_run(_copy_workflow(tmp_path), cfg, "results/data/jets/pythia/dataset.npz",
                   "results/data/svhn/synthetic/dataset.npz")
    stats = out.split("Job stats:")[1]
    counts = {line.split()[0]: int(line.split()[1]) for line in stats.splitlines()[3:]
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["simulate_jets"] == 15 and counts["render_svhn_standin"] == 8
    assert "fetch_jets" not in counts and "fetch_svhn" not in counts


def test_bad_datasets_value_names_the_key(tmp_path):
    wf = _copy_workflow(tmp_path)
    cfg = _config(tmp_path, {"jets": {"source": "pythia", "pythia": {"feature_backend": "root"}}})
    res = run_snakemake("-n", "--cores", "1", "--configfile", str(cfg), cwd=wf)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "feature_backend" in out and "'root' is not one of ['fjcontrib', 'numpy']" in out


@pytest.mark.slow
def test_tiny_stand_ins_end_to_end(tmp_path):
    wf = _copy_workflow(tmp_path)
    cfg = _config(tmp_path, TINY_DATASETS)
    targets = ["results/data/jets/pythia/dataset.npz", "results/data/svhn/synthetic/dataset.npz",
               "results/figures/jets_features.png"]
    res = run_snakemake(*targets, "--cores", "2", "--configfile", str(cfg), cwd=wf)
    assert res.returncode == 0, res.stdout + res.stderr
    jets = load_processed(wf / targets[0])
    n = len(jets.y_train) + len(jets.y_val) + len(jets.y_test)
    assert n + jets.provenance["n_rows_dropped_nan"] == 60
    assert jets.source == "pythia" and jets.input_shape == (16,)
    assert len(jets.provenance["upstream"]["records"]) == 5
    scaler = json.loads((wf / "results/data/jets/pythia/scaler.json").read_text())
    assert len(scaler["mean"]) == 16
    digits = load_processed(wf / targets[1])
    assert digits.input_shape == (3, 32, 32) and digits.source == "synthetic"
    assert len(digits.y_train) == 36 and len(digits.y_val) == 4 and len(digits.y_test) == 20
    assert set(np.unique(digits.y_test)) <= set(range(10))
    assert (wf / "results/figures/jets_features.pdf").stat().st_size > 0
    assert (wf / "results/figures/jets_features.png").stat().st_size > 0


def test_real_jets_path_runs_against_a_loopback_openml(tmp_path):
    """fetch_jets -> prepare_jets with the OpenML description and table served locally."""
    import hashlib

    wf = _copy_workflow(tmp_path)
    body = ARFF.read_bytes()
    with Server() as server:
        server.files["/data/jets.arff"] = body
        desc = {"data_set_description": {"id": "42468", "name": "hls4ml_lhc_jets_hlf",
                                         "format": "ARFF", "url": f"{server.url}/data/jets.arff",
                                         "md5_checksum": hashlib.md5(body).hexdigest()}}
        server.files["/api/v1/json/data/42468"] = json.dumps(desc).encode()
        cfg = _config(tmp_path, {"jets": {"source": "openml", "openml": {
            "api_url": f"{server.url}/api/v1/json/data", "retries": 0}}})
        target = "results/data/jets/openml/dataset.npz"
        res = run_snakemake(target, "--cores", "1", "--configfile", str(cfg), cwd=wf)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (wf / "resources/jets/openml/hls4ml_lhc_jets_hlf.arff").read_bytes() == body
    data = load_processed(wf / target)
    assert data.source == "openml" and data.provenance["stand_in"] is False
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (18, 6, 6)
    record = data.provenance["upstream"]["records"][0]
    assert record["md5_checksum"] == hashlib.md5(body).hexdigest()
