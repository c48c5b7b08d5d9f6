"""Parsers of the vendor reports an HLS run leaves behind, returning numbers, not strings.

Two formats:

- ``<top>_csynth.xml``: the C-synthesis report of Vivado HLS / Vitis HLS
  (``<project>_prj/solution1/syn/report/``). Whole-design figures sit under
  ``<PerformanceEstimates>`` (latency in clock cycles, clock periods in ns) and
  ``<AreaEstimates><Resources>`` (``BRAM_18K``, ``DSP48E`` (Vivado HLS) or ``DSP``
  (Vitis HLS), ``FF``, ``LUT``, ``URAM``: counts of primitives). Per-module figures come
  from ``<ModuleInformation><Module>`` entries (Vitis HLS) or, for Vivado HLS, from the
  ``<module>_csynth.xml`` file every sub-module gets next to the top report; the
  instance tree is ``<RTLDesignHierarchy>``.
- ``vivado_synth.rpt``: Vivado's ``report_utilization`` text after logic synthesis
  (hls4ml's ``vivado_synth.tcl``). Tables with a ``Site Type | Used | ...`` header;
  rows ``CLB LUTs`` / ``Slice LUTs``, ``CLB Registers`` / ``Slice Registers``,
  ``Block RAM Tile`` and ``DSPs``. A Block RAM *tile* is one RAMB36 = 2 BRAM_18K, and the
  tile count is a multiple of 0.5 (a lone RAMB18 is half a tile), so
  ``bram_18k = 2 x tiles``.

hls4ml's own :func:`hls4ml.report.parse_vivado_report` reads the same files but returns
strings and takes ``Block RAM Tile`` as BRAM_18K (a factor 2 off); :func:`hls4ml_report`
wraps it (a test checks both agree on the totals), the parsers here are what the workflow
uses. Malformed or truncated reports raise :class:`ReportParseError` naming the file and
the missing or bad entry.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Resource tags of a csynth.xml ``<Resources>`` block -> our column names.
_CSYNTH_RESOURCES = {
    "BRAM_18K": "bram_18k",
    "DSP48E": "dsp",
    "DSP": "dsp",
    "FF": "ff",
    "LUT": "lut",
    "URAM": "uram",
}
_REQUIRED_RESOURCES = ("bram_18k", "dsp", "ff", "lut")
_UNKNOWN_VALUES = {"undef", "-", "", "n/a", "na"}
#: hls4ml names every layer's kernel after its config struct (``config2``,
#: ``relu_config3``) and Resource_Unrolled kernels ``dense_resource_unrolled_<index>``.
_LAYER_INDEX_RE = re.compile(r"(?:config|_unrolled_)(\d+)(?=_|$)")


class ReportParseError(ValueError):
    """A vendor report that is missing, truncated or not in the expected format."""


# ----------------------------------------------------------------------------- csynth.xml


@dataclass(frozen=True)
class ModuleReport:
    """Resources (counts of primitives) and latency (clock cycles) of one RTL module.

    ``None`` where the report has no value (``undef`` latency of a module with
    data-dependent timing, or a missing tag).
    """

    name: str
    dsp: int | None
    bram_18k: int | None
    lut: int | None
    ff: int | None
    uram: int | None = None
    latency_best: int | None = None
    latency_worst: int | None = None
    interval_min: int | None = None
    interval_max: int | None = None


@dataclass(frozen=True)
class CsynthReport:
    """A parsed ``<top>_csynth.xml``: whole design (``total``) and its modules.

    ``modules`` maps RTL module name -> :class:`ModuleReport`; ``children`` maps module
    name -> names of the modules it instantiates (from ``<RTLDesignHierarchy>``; empty
    when the report has none). Clock periods are in ns.
    """

    path: str
    top: str
    tool_version: str | None
    part: str | None
    target_clock_ns: float | None
    estimated_clock_ns: float | None
    total: ModuleReport
    available: dict[str, int]
    modules: dict[str, ModuleReport] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)


def _number(text: str | None, what: str, path: Path, kind: type = int) -> Any:
    """Convert a report cell to ``kind``; unknown markers give None, garbage raises."""
    if text is None:
        return None
    value = text.strip()
    if value.lower() in _UNKNOWN_VALUES:
        return None
    # Vitis writes real-time latencies with a unit ("55.000 ns"); strip a trailing unit.
    value = re.sub(r"\s*(ns|us|ms|cycles?)$", "", value)
    try:
        number = float(value)
    except ValueError:
        raise ReportParseError(f"{path}: {what} is {text!r}, not a number") from None
    if not math.isfinite(number):
        raise ReportParseError(f"{path}: {what} is {text!r}, not a finite number")
    if kind is int:
        if number != int(number):
            raise ReportParseError(f"{path}: {what} is {text!r}, expected an integer count")
        return int(number)
    return number


def _load_xml(path: Path) -> ET.Element:
    if not path.is_file():
        raise ReportParseError(f"{path} does not exist: did C synthesis run and finish?")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ReportParseError(
            f"{path} is not well-formed XML ({err}); the synthesis run was probably "
            "interrupted: rerun it"
        ) from None
    if root.tag != "profile":
        raise ReportParseError(f"{path}: root element is <{root.tag}>, expected <profile> "
                               "(is this a csynth.xml report?)")
    return root


def _resources(node: ET.Element | None, where: str, path: Path, required: bool) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    if node is None:
        if required:
            raise ReportParseError(f"{path}: {where} is missing")
        return out
    for child in node:
        key = _CSYNTH_RESOURCES.get(child.tag)
        if key is not None:
            out[key] = _number(child.text, f"{where}/{child.tag}", path)
    if required:
        missing = [k for k in _REQUIRED_RESOURCES if k not in out]
        if missing:
            raise ReportParseError(
                f"{path}: {where} lacks {missing} (found tags {[c.tag for c in node]}); "
                "expected BRAM_18K, DSP48E or DSP, FF and LUT"
            )
    return out


def _latency(node: ET.Element | None, path: Path, where: str) -> dict[str, int | None]:
    keys = {"Best-caseLatency": "latency_best", "Worst-caseLatency": "latency_worst",
            "Interval-min": "interval_min", "Interval-max": "interval_max"}
    return {key: None if node is None else _number(node.findtext(tag), f"{where}/{tag}", path)
            for tag, key in keys.items()}


def _module_from_root(root: ET.Element, name: str, path: Path, required: bool) -> ModuleReport:
    area = root.find("AreaEstimates/Resources")
    res = _resources(area, "AreaEstimates/Resources", path, required)
    lat = _latency(root.find("PerformanceEstimates/SummaryOfOverallLatency"), path,
                   "PerformanceEstimates/SummaryOfOverallLatency")
    return ModuleReport(name=name, dsp=res.get("dsp"), bram_18k=res.get("bram_18k"),
                        lut=res.get("lut"), ff=res.get("ff"), uram=res.get("uram"), **lat)


def _hierarchy(root: ET.Element) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}

    def walk(module: str, instances: ET.Element | None) -> None:
        kids = children.setdefault(module, [])
        if instances is None:
            return
        for inst in instances.findall("Instance"):
            child = (inst.findtext("ModuleName") or "").strip()
            if not child:
                continue
            if child not in kids:
                kids.append(child)
            walk(child, inst.find("InstancesList"))

    top = root.find("RTLDesignHierarchy/TopModule")
    if top is not None:
        walk((top.findtext("ModuleName") or "").strip(), top.find("InstancesList"))
    return children


def parse_csynth_xml(path: str | Path, module_files: bool = True) -> CsynthReport:
    """Parse a ``<top>_csynth.xml`` (Vivado HLS 2019+ or Vitis HLS 2020+).

    ``module_files``: for modules without a ``<ModuleInformation>`` entry, read the
    ``<module>_csynth.xml`` next to the top report when it exists (Vivado HLS layout).
    Raises :class:`ReportParseError` for a missing file, malformed XML, or a report
    without whole-design ``BRAM_18K``/``DSP``/``FF``/``LUT`` counts.
    """
    path = Path(path)
    root = _load_xml(path)
    top = (root.findtext("UserAssignments/TopModelName") or "").strip()
    if not top:
        top = path.name.removesuffix("_csynth.xml")
    if root.find("AreaEstimates") is None:
        raise ReportParseError(f"{path}: no <AreaEstimates> element; this is not a complete "
                               "csynth.xml report")
    total = _module_from_root(root, top, path, required=True)
    available = {k: v for k, v in _resources(root.find("AreaEstimates/AvailableResources"),
                                             "AreaEstimates/AvailableResources", path,
                                             required=False).items() if v is not None}
    modules: dict[str, ModuleReport] = {}
    for mod in root.findall("ModuleInformation/Module"):
        name = (mod.findtext("Name") or "").strip()
        if not name:
            raise ReportParseError(f"{path}: a <ModuleInformation>/<Module> has no <Name>")
        modules[name] = _module_from_root(mod, name, path, required=False)
    children = _hierarchy(root)
    if module_files:
        listed = {m for kids in children.values() for m in kids}
        for name in sorted(listed - set(modules)):
            sub = path.parent / f"{name}_csynth.xml"
            if sub.is_file():
                modules[name] = _module_from_root(_load_xml(sub), name, sub, required=True)
    return CsynthReport(
        path=str(path),
        top=top,
        tool_version=(root.findtext("ReportVersion/Version") or "").strip() or None,
        part=(root.findtext("UserAssignments/Part") or "").strip() or None,
        target_clock_ns=_number(root.findtext("UserAssignments/TargetClockPeriod"),
                                "UserAssignments/TargetClockPeriod", path, float),
        estimated_clock_ns=_number(
            root.findtext("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
            "EstimatedClockPeriod", path, float),
        total=total,
        available=available,
        modules=modules,
        children=children,
    )


def find_csynth_report(project_dir: str | Path, project_name: str = "myproject") -> Path:
    """Path of ``<project>_prj/<solution>/syn/report/<project>_csynth.xml`` in an hls4ml project."""
    root = Path(project_dir)
    hits = sorted(root.glob(f"{project_name}_prj/*/syn/report/{project_name}_csynth.xml"))
    if not hits:
        raise ReportParseError(
            f"no {project_name}_csynth.xml under {root}/{project_name}_prj/*/syn/report/: C "
            "synthesis did not run or failed (see the build log in the project folder)"
        )
    return hits[0]


def layer_index_of_module(module: str) -> int | None:
    """hls4ml layer index encoded in an RTL module name (``..._config2_s`` -> 2), or None."""
    hits = {int(m) for m in _LAYER_INDEX_RE.findall(module)}
    return hits.pop() if len(hits) == 1 else None


def layer_modules(report: CsynthReport, layer_indices: dict[str, int]) -> dict[str, ModuleReport]:
    """Resources of each hls4ml layer, from the modules whose names carry its index.

    ``layer_indices``: hls4ml layer name -> layer index (``config<index>``). Of the
    modules of one layer only the outermost are counted (a module instantiated by
    another module of the same layer is already included in its parent's figures);
    resources are summed, latency is the maximum. Layers without a module (inlined into
    the top function by HLS) are absent from the result.
    """
    parents: dict[str, set[str]] = {}
    for parent, kids in report.children.items():
        for kid in kids:
            parents.setdefault(kid, set()).add(parent)

    def ancestors(name: str) -> set[str]:
        seen: set[str] = set()
        todo = list(parents.get(name, ()))
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(parents.get(p, ()))
        return seen

    by_index: dict[int, list[str]] = {}
    for name in report.modules:
        idx = layer_index_of_module(name)
        if idx is not None:
            by_index.setdefault(idx, []).append(name)
    out: dict[str, ModuleReport] = {}
    for layer, idx in layer_indices.items():
        names = by_index.get(int(idx), [])
        outer = [n for n in names if not (ancestors(n) & set(names))]
        if not outer:
            continue
        # resources summed, latencies and intervals the maximum; None if any module lacks it
        values = {f.name: [getattr(report.modules[n], f.name) for n in outer]
                  for f in fields(ModuleReport) if f.name != "name"}
        out[layer] = ModuleReport(name="+".join(outer), **{
            k: None if None in v else (max if k.startswith(("latency", "interval")) else sum)(v)
            for k, v in values.items()})
    return out


# ----------------------------------------------------------------------------- report_utilization


@dataclass(frozen=True)
class UtilizationReport:
    """Whole-design utilisation after Vivado logic synthesis (counts of primitives).

    ``bram_tiles`` is the report's ``Block RAM Tile`` figure (RAMB36 units, may end in
    .5); ``bram_18k`` = 2 x ``bram_tiles``. ``ramb36`` / ``ramb18`` are the sub-rows when
    present (then ``bram_18k == 2 * ramb36 + ramb18``).
    """

    path: str
    lut: int
    ff: int
    bram_tiles: float
    bram_18k: int
    dsp: int
    uram: int | None = None
    ramb36: int | None = None
    ramb18: int | None = None
    design: str | None = None
    device: str | None = None


_ROWS = {
    "lut": ("CLB LUTs", "Slice LUTs"),
    "ff": ("CLB Registers", "Slice Registers"),
    "bram_tiles": ("Block RAM Tile",),
    "dsp": ("DSPs",),
    "uram": ("URAM",),
    "ramb36": ("RAMB36/FIFO",),
    "ramb18": ("RAMB18",),
}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_utilization_report(path: str | Path) -> UtilizationReport:
    """Parse Vivado ``report_utilization`` text (``vivado_synth.rpt`` of an hls4ml project).

    Reads the ``Used`` column of the ``Site Type`` tables (any number of extra columns
    such as ``Prohibited`` is fine). Raises :class:`ReportParseError` when the file is
    missing, when ``LUTs``, ``Registers``, ``Block RAM Tile`` or ``DSPs`` is absent, or a
    value is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportParseError(f"{path} does not exist: did Vivado logic synthesis run?")
    text = path.read_text(errors="replace")
    header: dict[str, str] = {}
    for line in text.splitlines()[:40]:
        m = re.match(r"^\|\s*(Design|Device)\s*:\s*(.*?)\s*$", line)
        if m:
            header[m.group(1).lower()] = m.group(2)
    used: dict[str, str] = {}
    used_col: int | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            if not line.startswith("+"):
                used_col = None  # a table ends at the first line that is not part of it
            continue
        cells = _cells(line)
        if cells and cells[0] == "Site Type":
            used_col = cells.index("Used") if "Used" in cells else None
            if used_col is None:
                raise ReportParseError(f"{path}: a 'Site Type' table has no 'Used' column: {line!r}")
            continue
        if used_col is None or len(cells) <= used_col:
            continue
        name = cells[0].rstrip("*").strip()
        used.setdefault(name, cells[used_col])
    values: dict[str, Any] = dict.fromkeys(_ROWS)
    for key, names in _ROWS.items():
        hit = next((n for n in names if n in used), None)
        if hit is not None:
            kind = float if key == "bram_tiles" else int
            values[key] = _number(used[hit], f"row {hit!r}", path, kind)
    missing = [names[0] for key, names in _ROWS.items()
               if key in ("lut", "ff", "bram_tiles", "dsp") and values[key] is None]
    if missing:
        raise ReportParseError(
            f"{path}: rows {missing} not found in any 'Site Type | Used | ...' table; is this "
            "the output of Vivado's report_utilization?"
        )
    tiles = float(values["bram_tiles"])
    if abs(tiles * 2 - round(tiles * 2)) > 1e-9:
        raise ReportParseError(f"{path}: Block RAM Tile = {tiles} is not a multiple of 0.5")
    bram_18k = int(round(tiles * 2))
    if values["ramb36"] is not None and values["ramb18"] is not None:
        if 2 * values["ramb36"] + values["ramb18"] != bram_18k:
            raise ReportParseError(
                f"{path}: Block RAM Tile = {tiles} disagrees with RAMB36 = {values['ramb36']} "
                f"and RAMB18 = {values['ramb18']} (expected 2 x tiles = 2 x RAMB36 + RAMB18)"
            )
    return UtilizationReport(
        path=str(path), lut=values["lut"], ff=values["ff"], bram_tiles=tiles,
        bram_18k=bram_18k, dsp=values["dsp"], uram=values["uram"], ramb36=values["ramb36"],
        ramb18=values["ramb18"], design=header.get("design"), device=header.get("device"),
    )


def hls4ml_report(project_dir: str | Path) -> dict[str, Any]:
    """hls4ml's own :func:`hls4ml.report.parse_vivado_report` of a project (strings inside).

    Kept for reference and debugging; note that it reports ``Block RAM Tile`` as
    ``BRAM_18K`` (RAMB36 tiles, a factor 2 below the BRAM_18K count).
    """
    import contextlib
    import io

    from hls4ml.report import parse_vivado_report

    with contextlib.redirect_stdout(io.StringIO()):
        report = parse_vivado_report(str(project_dir))
    if report is None:
        raise ReportParseError(f"hls4ml could not read the reports of {project_dir} "
                               "(no project.tcl or no <project>_prj folder)")
    return report
