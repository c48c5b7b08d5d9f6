"""Read back what hls4ml generated (after ``write()``) and compare it with the estimate.

Sources in a written project directory:

- ``firmware/parameters.h``: per layer (sections start with a ``// <layer name>``
  comment) the ``nnet::dense_config`` struct (Conv2d: ``config<i>_mult``) with
  ``n_in``, ``n_out``, ``reuse_factor``, ``strategy``, ``n_zeros``, ``n_nonzeros``
  (Dense only) and ``multiplier_limit`` (a C expression, evaluated here with C integer
  division), and the kernel class it uses.
- ``firmware/nnet_utils/nnet_code_gen.h``: the Resource_Unrolled kernels
  ``dense_resource_unrolled_<i>`` with their ``#pragma HLS ALLOCATION operation
  instances=mul limit=<L>``.
- ``firmware/defines.h``: the weight type ``typedef ... <layer>_weight_t``.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_SECTION_RE = re.compile(r"^// (\S+)\s*$", re.MULTILINE)
_STRUCT_RE = re.compile(r"struct (\w+) : nnet::(\w+) \{(.*?)\n\};", re.DOTALL)
_FIELD_RE = re.compile(r"static const (?:unsigned|int|bool|nnet::\w+(?:::\w+)?) (\w+)\s*=\s*(.*?);", re.DOTALL)
_KERNEL_RE = re.compile(r"using kernel = (?:\w+::)*(\w+)<")
_UNROLLED_RE = re.compile(
    r"class (dense_resource_unrolled_\w+)\b.*?#pragma HLS ALLOCATION operation instances=mul "
    r"limit=(-?\d+)", re.DOTALL)
_WEIGHT_T_RE = re.compile(r"typedef (.+?) (\w+)_weight_t;")
_STRATEGIES = {"latency": "Latency", "resource": "Resource", "resource_unrolled": "Resource_Unrolled",
               "distributed_arithmetic": "Distributed_Arithmetic"}
# C integer operators; ``/`` is C integer division of non-negative operands.
_C_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.floordiv}


class GeneratedMismatchError(AssertionError):
    """The estimate disagrees with the code hls4ml generated."""


@dataclass(frozen=True)
class GeneratedLayer:
    """Numbers hls4ml wrote for one Dense / Conv2D layer (counts of weights/multipliers)."""

    name: str  # hls4ml layer name
    layer_type: str  # "Dense" | "Conv2D"
    n_in: int
    n_out: int
    reuse_factor: int
    strategy: str  # Latency | Resource | Resource_Unrolled
    n_zeros: int
    n_nonzeros: int
    multiplier_limit: int
    allocation_limit: int | None  # Resource_Unrolled only
    kernel: str  # kernel class, e.g. dense_resource_unrolled_2 or DenseLatency
    weight_precision: str | None  # from defines.h


def _c_eval(expr: str, env: dict[str, int]) -> int:
    """Evaluate an integer C expression of names, literals, + - * / and DIV_ROUNDUP."""
    tree = ast.parse(expr.replace("\n", " ").strip(), mode="eval")

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise ValueError(f"unknown name {node.id!r} in {expr!r}")
            return env[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _C_OPS:
            return _C_OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DIV_ROUNDUP":
            a, b = (ev(arg) for arg in node.args)
            return (a + b - 1) // b
        raise ValueError(f"unsupported C expression {expr!r}")

    return ev(tree)


def _struct_fields(body: str) -> tuple[dict[str, int | str], str | None]:
    fields: dict[str, int | str] = {}
    ints: dict[str, int] = {}
    for name, value in _FIELD_RE.findall(body):
        value = " ".join(value.split())
        if value.startswith("nnet::"):
            fields[name] = value.split("::")[-1]
            continue
        if value in ("true", "false"):
            fields[name] = value == "true"
            continue
        try:
            ints[name] = _c_eval(value, ints)
            fields[name] = ints[name]
        except (ValueError, SyntaxError):
            fields[name] = value
    kernel = _KERNEL_RE.search(body)
    return fields, kernel.group(1) if kernel else None


def parse_generated(project_dir: str | Path) -> dict[str, GeneratedLayer]:
    """Per hls4ml layer name, the multiplier numbers of a written hls4ml project."""
    root = Path(project_dir)
    params_path = root / "firmware" / "parameters.h"
    if not params_path.is_file():
        raise FileNotFoundError(f"{params_path} not found: run hls_model.write() first")
    params = params_path.read_text()
    codegen_path = root / "firmware" / "nnet_utils" / "nnet_code_gen.h"
    limits = {} if not codegen_path.is_file() else {
        name: int(limit) for name, limit in _UNROLLED_RE.findall(codegen_path.read_text())}
    defines_path = root / "firmware" / "defines.h"
    weight_types = {} if not defines_path.is_file() else {
        name: t.strip() for t, name in _WEIGHT_T_RE.findall(defines_path.read_text())}

    marks = list(_SECTION_RE.finditer(params))
    out: dict[str, GeneratedLayer] = {}
    for i, mark in enumerate(marks):
        name = mark.group(1)
        section = params[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else len(params)]
        structs = {s_name: (base, body) for s_name, base, body in _STRUCT_RE.findall(section)}
        dense = [body for base, body in structs.values() if base == "dense_config"]
        if not dense:
            continue
        fields, kernel = _struct_fields(dense[0])
        layer_type = "Conv2D" if any(b == "conv2d_config" for b, _ in structs.values()) else "Dense"
        n_in, n_out = int(fields["n_in"]), int(fields["n_out"])
        n_zeros = int(fields["n_zeros"])
        strategy = _STRATEGIES.get(str(fields.get("strategy")), str(fields.get("strategy")))
        out[name] = GeneratedLayer(
            name=name,
            layer_type=layer_type,
            n_in=n_in,
            n_out=n_out,
            reuse_factor=int(fields["reuse_factor"]),
            strategy=strategy,
            n_zeros=n_zeros,
            n_nonzeros=int(fields.get("n_nonzeros", n_in * n_out - n_zeros)),
            multiplier_limit=int(fields["multiplier_limit"]),
            allocation_limit=limits.get(kernel) if kernel else None,
            kernel=kernel or "",
            weight_precision=weight_types.get(name),
        )
    return out


def compare_with_generated(estimate, generated: dict[str, GeneratedLayer]) -> pd.DataFrame:
    """One row per (layer, quantity) with the estimated and the generated value.

    ``estimate``: a :class:`~rasp.hardware.estimate.ResourceEstimate`. Quantities:
    reuse_factor, strategy, n_in, n_out, n_zeros, nonzero_weights, multiplier_limit,
    allocation_limit (Resource_Unrolled), weight_bits. Column ``match`` is True when equal.
    """
    from rasp.hardware.fixed import parse_precision

    rows = []
    for torch_name, row in estimate.layers.iterrows():
        hls_name = row["hls_name"]
        gen = generated.get(hls_name)
        if gen is None:
            rows.append({"layer": torch_name, "hls_name": hls_name, "quantity": "present",
                         "estimated": True, "generated": False, "match": False})
            continue
        pairs = {
            "reuse_factor": (row["reuse_factor"], gen.reuse_factor),
            "strategy": (row["strategy"], gen.strategy),
            "n_in": (row["n_in"], gen.n_in),
            "n_out": (row["n_out"], gen.n_out),
            "n_zeros": (row["n_zeros"], gen.n_zeros),
            "nonzero_weights": (row["nonzero_weights"], gen.n_nonzeros),
            "multiplier_limit": (row["multiplier_limit"], gen.multiplier_limit),
        }
        if row["strategy"] == "Resource_Unrolled" or gen.allocation_limit is not None:
            est = row["allocation_limit"]
            pairs["allocation_limit"] = (None if pd.isna(est) else int(est), gen.allocation_limit)
        if gen.weight_precision is not None:
            pairs["weight_bits"] = (row["weight_bits"], parse_precision(gen.weight_precision).width)
        for quantity, (est, got) in pairs.items():
            if isinstance(est, (int, float)) and not isinstance(est, bool):
                est = int(est)
            rows.append({"layer": torch_name, "hls_name": hls_name, "quantity": quantity,
                         "estimated": est, "generated": got, "match": est == got})
    return pd.DataFrame(rows)


def check_estimate_matches_generated(estimate, generated: dict[str, GeneratedLayer]) -> pd.DataFrame:
    """:func:`compare_with_generated`, raising :class:`GeneratedMismatchError` on any mismatch."""
    table = compare_with_generated(estimate, generated)
    bad = table[~table["match"]]
    if len(bad):
        raise GeneratedMismatchError(
            "the resource estimate disagrees with the code hls4ml generated:\n"
            + bad.to_string(index=False)
        )
    return table
