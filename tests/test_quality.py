"""Code quality gates that a contributor would otherwise forget."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: run `make test` (installs the test extras)")
    res = subprocess.run([exe, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


#: Packages of ``rasp`` from the bottom up: a module may import its own package and the
#: packages of lower layers only (README, "Layout").
LAYERS = (
    ("atomic", "lazy", "results", "schemas", "seeds", "stats"),
    ("data", "models"),
    ("train", "hardware", "knapsack"),
    ("quantize",),
    ("prune",),
    ("hls",),
    ("plots",),
)


def _rasp_imports() -> dict[str, set[str]]:
    """Module -> the rasp modules it imports (top level and inside functions)."""
    import ast

    src = REPO / "src"
    out: dict[str, set[str]] = {}
    for f in sorted((src / "rasp").rglob("*.py")):
        mod = ".".join(f.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found |= {n for n in names if n.split(".")[0] == "rasp"}
        out[mod] = found
    modules = set(out)
    # keep only names that are modules (``from rasp.x import f`` names the module rasp.x)
    return {m: {n for n in deps if n in modules and n != m} for m, deps in out.items()}


def test_no_import_cycle_and_no_upward_import():
    """Run as ``pytest tests/test_quality.py -k import``: the layering of the package."""
    graph = _rasp_imports()
    rank = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}

    def package(mod: str) -> str:
        return mod.split(".")[1] if "." in mod else "rasp"

    upward = [(m, d) for m, deps in graph.items() for d in deps
              if package(m) != package(d) and package(d) != "rasp"
              and rank.get(package(d), -1) > rank.get(package(m), len(LAYERS))]
    assert not upward, f"imports from a higher layer: {upward}"
    assert [p for p in {package(m) for m in graph} if p not in rank and p != "rasp"] == []
    # the job module (files, config) sits above the pruning algorithms
    assert [m for m, deps in graph.items() if "rasp.prune.job" in deps] == []
    # no cycle between modules
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            assert state.get(d) != 1, f"import cycle: {' -> '.join(path + [d])}"
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
