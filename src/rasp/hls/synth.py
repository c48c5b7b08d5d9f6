"""Vendor synthesis of a converted model, when the tools are installed.

C synthesis needs ``vivado_hls`` (hls4ml backend ``Vivado``) or ``vitis-run`` (backend
``Vitis``) on ``PATH``; Vivado logic synthesis (``vsynth``, where BRAM savings show
because ``opt_design`` sweeps constant ROM) additionally needs ``vivado``. The mode
``hls.synthesize`` decides: ``never``; ``auto`` = synthesise when the tool is there, else
use the hardware model's estimate; ``always`` = the tool must be there
(:class:`SynthesisToolError` otherwise).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rasp import schemas
from rasp.hls.convert import ConvertedModel, quiet_stdout
from rasp.hls.reports import (
    CsynthReport,
    UtilizationReport,
    find_csynth_report,
    parse_csynth_xml,
    parse_utilization_report,
)

log = logging.getLogger(__name__)

#: hls4ml backend -> the HLS tool its ``build()`` runs.
HLS_TOOLS = {"Vivado": "vivado_hls", "Vitis": "vitis-run"}
LOGIC_SYNTHESIS_TOOL = "vivado"
SYNTHESIZE_MODES = schemas.enum("hls", "synthesize")


class SynthesisToolError(RuntimeError):
    """Synthesis was required but the vendor tool is not on PATH."""


@dataclass(frozen=True)
class SynthesisPlan:
    """What to run: C synthesis (``csynth``) and Vivado logic synthesis (``vsynth``)."""

    csynth: bool
    vsynth: bool
    tool: str  # vivado_hls | vitis-run
    reason: str  # one sentence for the log and csim.json


def plan_synthesis(mode: str, backend: str, vivado_synth: bool) -> SynthesisPlan:
    """Decide from ``hls.synthesize`` / ``hls.vivado_synth`` and the tools on PATH."""
    if mode not in SYNTHESIZE_MODES:
        raise ValueError(f"hls.synthesize={mode!r}; allowed: {list(SYNTHESIZE_MODES)}")
    tool = HLS_TOOLS[backend]
    if mode == "never":
        return SynthesisPlan(False, False, tool, "hls.synthesize is 'never': resources are estimated")
    have_hls = shutil.which(tool) is not None
    have_vivado = shutil.which(LOGIC_SYNTHESIS_TOOL) is not None
    if mode == "always":
        if not have_hls:
            raise SynthesisToolError(
                f"hls.synthesize is 'always' but {tool} (needed by the {backend} backend) is not "
                "on PATH: source the vendor's settings64.sh, or set hls.synthesize to 'auto' "
                "(estimate when the tool is missing) or 'never'"
            )
        if vivado_synth and not have_vivado:
            raise SynthesisToolError(
                "hls.vivado_synth is true but 'vivado' is not on PATH: source Vivado's "
                "settings64.sh or set hls.vivado_synth to false"
            )
    if not have_hls:
        return SynthesisPlan(False, False, tool,
                             f"{tool} is not on PATH (hls.synthesize 'auto'): resources are estimated")
    vsynth = bool(vivado_synth and have_vivado)
    reason = f"{tool} found: C synthesis" + (" and Vivado logic synthesis" if vsynth else "")
    if vivado_synth and not have_vivado:
        reason += " ('vivado' not on PATH: logic synthesis skipped)"
    return SynthesisPlan(True, vsynth, tool, reason)


@dataclass
class SynthesisResult:
    """Parsed reports of one synthesis run (seconds of wall time)."""

    csynth: CsynthReport
    utilization: UtilizationReport | None
    seconds: float
    tool: str


def run_synthesis(converted: ConvertedModel, plan: SynthesisPlan,
                  logger: logging.Logger | None = None) -> SynthesisResult:
    """Run hls4ml's ``build(synth=True[, vsynth=True])`` and parse its reports."""
    logger = logger or log
    if not plan.csynth:
        raise ValueError("the synthesis plan does not ask for C synthesis")
    hls_model = converted.hls_model
    kwargs = dict(reset=True, csim=False, synth=True, cosim=False, validation=False,
                  export=False, vsynth=plan.vsynth)
    if plan.tool == "vitis-run":
        kwargs["log_to_stdout"] = False  # build_stdout.log / build_stderr.log in the project
    t0 = time.perf_counter()
    logger.info("running %s in %s (%s)", plan.tool, converted.output_dir, plan.reason)
    with quiet_stdout(logger):
        hls_model.build(**kwargs)
    seconds = time.perf_counter() - t0
    project = Path(converted.output_dir)
    csynth = parse_csynth_xml(find_csynth_report(project, converted.project_name))
    util = parse_utilization_report(project / "vivado_synth.rpt") if plan.vsynth else None
    logger.info("synthesis finished in %.0f s: %s", seconds, csynth.total)
    return SynthesisResult(csynth, util, seconds, plan.tool)
