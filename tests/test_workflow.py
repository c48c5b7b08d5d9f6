"""The workflow skeleton: lint, dry runs of the whole DAG, config validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_snakemake


def test_snakemake_lint_is_clean():
    res = run_snakemake("--lint", "--cores", "1")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("configfile", ["config/config.yaml"])
def test_dry_run_of_full_dag(configfile):
    res = run_snakemake("-n", "--cores", "2", "--configfile", configfile)
    assert res.returncode == 0, res.stdout + res.stderr


def _copy_workflow(tmp_path: Path) -> Path:
    """A copy of the workflow definition (no results) to run Snakemake against."""
    dst = tmp_path / "wf"
    for name in ("Snakefile", "workflow", "config", "profiles", "scripts", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name)
        elif src.exists():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / name)
    return dst


@pytest.mark.parametrize(
    ("key_path", "bad_value", "expected"),
    [
        (("device",), "gpu", "'gpu' is not one of ['auto', 'cpu', 'cuda']"),
        (("datasets", "jets", "source"), "zenodo", "zenodo"),
        (("seed",), -3, "-3"),
    ],
)
def test_bad_config_value_is_rejected_with_readable_error(tmp_path, key_path, bad_value, expected):
    wf = _copy_workflow(tmp_path)
    cfg = yaml.safe_load((wf / "config/config.yaml").read_text())
    node = cfg
    for k in key_path[:-1]:
        node = node[k]
    node[key_path[-1]] = bad_value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    res = run_snakemake("-n", "--cores", "1", "--configfile", str(bad), cwd=wf)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "Error validating config file" in out
    assert expected in out
    # the message names the offending key
    assert key_path[-1] in out
