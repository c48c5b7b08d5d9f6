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


@pytest.mark.parametrize(
    "args",
    [
        ("--configfile", "config/config.yaml"),
        ("--configfile", "config/paper.yaml"),
        ("--configfile", "config/test.yaml", "--replace-workflow-config"),
    ],
    ids=["default", "paper", "test"],
)
def test_dry_run_of_full_dag(tmp_path, args):
    wf = _copy_workflow(tmp_path)
    res = run_snakemake("-n", "--cores", "2", *args, cwd=wf)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    jobs = _dry_run_jobs(out)
    rules = {j["rule"] for j in jobs}
    # every stage is in the DAG of every configuration
    assert {"train_baseline", "prune", "hls", "summary", "summary_table"} <= rules, rules


def _dry_run_jobs(out: str) -> list[dict]:
    """Rule, wildcards, threads and resources of every job a dry run prints."""
    jobs: list[dict] = []
    for line in out.splitlines():
        if line.startswith("rule ") or line.startswith("localrule "):
            name = line.rstrip(":").split(" ", 1)[1]
            jobs.append({"rule": name, "threads": 1, "resources": {}, "wildcards": {}})
        elif jobs and line.startswith("    threads: "):
            jobs[-1]["threads"] = int(line.split(":", 1)[1])
        elif jobs and line.startswith("    resources: "):
            items = [kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", ")]
            jobs[-1]["resources"] = {k: v for k, v in items}
        elif jobs and line.startswith("    wildcards: "):
            items = [kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", ")]
            jobs[-1]["wildcards"] = {k: v for k, v in items}
    return jobs


def test_slurm_profile_dry_run_of_paper_config_carries_resources(tmp_path):
    """The full-size DAG on SLURM: every job gets memory, wall time and the threads the
    profile sets; GPUs go to the SVHN CNN's training and pruning only; downloads and plots
    stay on the submit host."""
    wf = _copy_workflow(tmp_path)
    res = run_snakemake("-n", "--workflow-profile", "profiles/slurm",
                        "--configfile", "config/paper.yaml", cwd=wf)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    jobs = [j for j in _dry_run_jobs(out) if j["rule"] != "all"]
    paper = yaml.safe_load((wf / "config/paper.yaml").read_text())
    by_rule: dict[str, list[dict]] = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    n_prune = sum(
        len(block["reuse_factors"]) * len(block["objectives"]) * len(block["budgets"])
        * len(block["variants"]) for block in paper["pruning"].values()
    )
    assert len(by_rule["prune"]) == n_prune
    for job in jobs:
        res_ = job["resources"]
        assert int(res_["mem_mb"]) > 0 and int(res_["runtime"]) > 0, job
        assert "slurm_account" in res_ and "slurm_partition" in res_, job
    for rule, threads in (("train_baseline", 8), ("prune", 8), ("hls", 4)):
        assert {j["threads"] for j in by_rule[rule]} == {threads}, rule
    for rule in ("train_baseline", "prune"):
        for job in by_rule[rule]:
            dataset = job["wildcards"]["dataset"]
            section = "training" if rule == "train_baseline" else "pruning"
            block = paper[section][dataset]
            assert int(job["resources"]["gpu"]) == block.get("gpu", 0), job
            assert int(job["resources"]["mem_mb"]) == block["mem_mb"], job
            assert int(job["resources"]["runtime"]) == block["runtime_min"], job
    assert any(int(j["resources"]["gpu"]) == 1 for j in by_rule["train_baseline"])
    assert all(int(j["resources"]["runtime"]) == paper["hls"]["runtime_min"] for j in by_rule["hls"])
    local = _declared_localrules(wf)
    plot_rules = {r for r in by_rule if r.startswith("plot_")}
    assert {"fetch_jets", "fetch_svhn", "summary", "summary_table"} | plot_rules <= local
    assert not local & {"train_baseline", "prune", "hls", "simulate_jets"}


def _declared_localrules(wf: Path) -> set[str]:
    """Rule names listed under `localrules:` in the workflow's rules files."""
    names: set[str] = set()
    for smk in (wf / "workflow" / "rules").glob("*.smk"):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "localrules:":
                for item in lines[i + 1:]:
                    if not item.startswith("    ") or not item.strip():
                        break
                    names.add(item.strip().rstrip(","))
    return names


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


def test_prune_jobs_do_not_take_the_sweep_keys_as_params():
    """Adding an objective (or its reuse factors) to the sweep must not rerun every other
    prune: the workflow's list of sweep keys is the library's."""
    import ast
    import re

    from rasp.prune.config import SWEEP_KEYS

    text = (REPO / "workflow" / "rules" / "prune_common.smk").read_text()
    m = re.search(r"^PRUNE_SWEEP_KEYS = (\(.*?\))", text, flags=re.S | re.M)
    assert m, "PRUNE_SWEEP_KEYS not found in prune_common.smk"
    assert set(ast.literal_eval(m.group(1))) == set(SWEEP_KEYS)
