"""The per-step conda environments agree with the pins in pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from conftest import REPO

STEPS = ["data", "train", "prune", "hls", "plots"]
# conda-forge names that differ from the PyPI distribution names
CONDA_TO_PYPI = {"pytorch": "torch"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        deps += extra
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^;\s]+)", dep.strip())
        assert m, f"pyproject dependency {dep!r} is not an exact pin (name==version)"
        pins[_norm(m.group(1))] = m.group(3)
    return pins


def env_pins(step: str) -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / f"{step}.yaml").read_text())
    assert "conda-forge" in env["channels"]
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                if line.startswith("-"):
                    continue
                name, _, version = line.partition("==")
                assert version, f"envs/{step}.yaml pip entry {line!r} is not pinned with =="
                pins[_norm(name)] = version
            continue
        name, _, version = dep.partition("=")
        if name in ("python", "pip") or not version:
            continue
        pins[_norm(CONDA_TO_PYPI.get(name, name))] = version.lstrip("=")
    return pins


def test_pyproject_pins_are_exact():
    pins = pyproject_pins()
    assert pins["torch"] == "2.13.0"
    assert pins["hls4ml"] == "1.3.0"
    assert pins["snakemake"] == "9.27.1"


@pytest.mark.parametrize("step", STEPS)
def test_env_file_agrees_with_pyproject(step):
    pins = pyproject_pins()
    env = env_pins(step)
    assert env, f"envs/{step}.yaml pins nothing"
    for name, version in env.items():
        assert name in pins, f"envs/{step}.yaml pins {name}, which pyproject.toml does not declare"
        assert pins[name] == version, (
            f"envs/{step}.yaml pins {name}=={version} but pyproject.toml has {pins[name]}"
        )


def test_every_rule_env_exists():
    """Each `conda:` directive in the rules points at one of the step environments."""
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(r'conda:\s*\n?\s*"([^"]+)"', smk.read_text()):
            target = (smk.parent / m.group(1)).resolve()
            assert target.exists(), f"{smk.name}: conda env {m.group(1)} does not exist"
            assert target.stem in STEPS
