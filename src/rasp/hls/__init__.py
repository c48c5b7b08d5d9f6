"""HLS stage: hls4ml conversion, bit-accurate C simulation, synthesis or estimate.

Modules (each usable on its own, e.g. from a notebook):

- :mod:`rasp.hls.convert`: PyTorch / QONNX conversion with the pruning's exact config;
  reuse factor, strategy and weight type asserted after conversion.
- :mod:`rasp.hls.csim`: cached C compilation, prediction, agreement with PyTorch and
  the per-layer diagnosis of a failing agreement.
- :mod:`rasp.hls.synth`: vendor synthesis when ``vivado_hls`` / ``vitis-run`` is there.
- :mod:`rasp.hls.reports`: csynth.xml and ``report_utilization`` parsers (numbers).
- :mod:`rasp.hls.resources`: ``resources.csv`` and the estimated-vs-generated
  multiplier check.
- :mod:`rasp.hls.archive`: ``project.tar.gz``.
- :mod:`rasp.hls.pipeline`: one run end to end (:func:`run_hls`, rule ``hls``).
- :mod:`rasp.hls.summary`: ``results/summary.csv`` and ``results/summary_da.csv``
  (rule ``summary``).
- :mod:`rasp.hls.da`: the distributed-arithmetic design (da4ml trace of the converted
  model, bit-exact check, Verilog) and :mod:`rasp.hls.yosys`: its Yosys ``synth_xilinx``
  synthesis and ``stat`` parser.

Typical use::

    from rasp.hardware import HardwareSettings, make_hls_config
    from rasp.hls import convert_model, compile_library, run_csim

    cfg = make_hls_config(model, model.input_shape, HardwareSettings.from_dict(hw), 4)
    converted = convert_model(model, cfg, "build/prj")   # raises if hls4ml changed anything
    compile_library(converted, cache_dir="results/hls_cache")
    result = run_csim(converted, model, x_test, y_test, min_agreement=0.98)
"""

from rasp.hls.archive import archive_project
from rasp.hls.convert import (
    ConversionError,
    ConvertedModel,
    PrecisionMismatchError,
    ReuseFactorChangedError,
    StrategyError,
    canonical_strategy,
    check_converted,
    check_strategy_names,
    convert_model,
)
from rasp.hls.csim import (
    AgreementError,
    CompileError,
    CompileInfo,
    CsimResult,
    LayerDeviation,
    compile_library,
    diagnose_layers,
    predict,
    run_csim,
    torch_outputs,
    trace_layers,
)
from rasp.hls.da import DaAgreementError, UnsupportedDaLayerError, run_da_flow, trace_hls_model
from rasp.hls.pipeline import (
    AGREEMENT_CHECKS,
    CSIM_MODES,
    HlsInputError,
    HlsOptions,
    best_in_series,
    must_agree,
    parse_run,
    run_hls,
    should_simulate,
)
from rasp.hls.reports import (
    CsynthReport,
    ModuleReport,
    ReportParseError,
    UtilizationReport,
    find_csynth_report,
    layer_modules,
    parse_csynth_xml,
    parse_utilization_report,
)
from rasp.hls.resources import (
    RESOURCE_COLUMNS,
    MultiplierMismatchError,
    check_multipliers,
    generated_multipliers,
    resources_table,
)
from rasp.hls.summary import (
    SUMMARY_COLUMNS,
    RunFiles,
    build_da_summary,
    build_summary,
    write_summary,
)
from rasp.hls.synth import SynthesisToolError, plan_synthesis, run_synthesis
from rasp.hls.yosys import YosysError, YosysNotFoundError, YosysStat, parse_stat_json, run_yosys

__all__ = [
    "AGREEMENT_CHECKS",
    "CSIM_MODES",
    "RESOURCE_COLUMNS",
    "SUMMARY_COLUMNS",
    "AgreementError",
    "CompileError",
    "CompileInfo",
    "ConversionError",
    "ConvertedModel",
    "CsimResult",
    "CsynthReport",
    "DaAgreementError",
    "HlsInputError",
    "HlsOptions",
    "LayerDeviation",
    "ModuleReport",
    "MultiplierMismatchError",
    "PrecisionMismatchError",
    "ReportParseError",
    "ReuseFactorChangedError",
    "RunFiles",
    "StrategyError",
    "SynthesisToolError",
    "UnsupportedDaLayerError",
    "UtilizationReport",
    "YosysError",
    "YosysNotFoundError",
    "YosysStat",
    "archive_project",
    "best_in_series",
    "must_agree",
    "build_da_summary",
    "build_summary",
    "canonical_strategy",
    "check_converted",
    "check_multipliers",
    "check_strategy_names",
    "compile_library",
    "convert_model",
    "diagnose_layers",
    "find_csynth_report",
    "generated_multipliers",
    "layer_modules",
    "parse_csynth_xml",
    "parse_run",
    "parse_stat_json",
    "parse_utilization_report",
    "plan_synthesis",
    "predict",
    "resources_table",
    "run_csim",
    "run_da_flow",
    "run_hls",
    "run_synthesis",
    "run_yosys",
    "should_simulate",
    "torch_outputs",
    "trace_hls_model",
    "trace_layers",
    "write_summary",
]
