"""Vendor report parsers against hand-written reports in the real formats (fast).

Fixtures (tests/fixtures/hls_reports/):

- ``vitis_unrolled/``: Vitis HLS 2023.2 csynth.xml of the jet MLP at RF 4
  (Resource_Unrolled), with ``<ModuleInformation>`` and nested wrapper/kernel modules.
- ``vivado_latency/``: Vivado HLS 2019.2 csynth.xml (``DSP48E`` tags) whose modules are
  in separate ``<module>_csynth.xml`` files, one with an ``undef`` latency.
- ``vivado_synth_2020.rpt`` / ``vivado_synth_2023.rpt``: ``report_utilization`` text
  (the 2023 one has the ``Prohibited`` column and half a Block RAM tile).
- ``malformed/``: a truncated csynth.xml, one without a DSP count, a utilisation report
  without the ARITHMETIC table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rasp.hls.reports import (
    ReportParseError,
    find_csynth_report,
    layer_index_of_module,
    layer_modules,
    parse_csynth_xml,
    parse_utilization_report,
)

FIX = Path(__file__).parent / "fixtures" / "hls_reports"
VITIS = FIX / "vitis_unrolled"
VIVADO = FIX / "vivado_latency"


def test_vitis_csynth_totals_are_numbers():
    rep = parse_csynth_xml(find_csynth_report(VITIS))
    assert rep.top == "myproject"
    assert rep.tool_version == "2023.2"
    assert rep.part == "xcvu9p-flga2104-2L-e"
    assert rep.target_clock_ns == 5.0 and rep.estimated_clock_ns == pytest.approx(3.65)
    t = rep.total
    assert (t.dsp, t.bram_18k, t.lut, t.ff, t.uram) == (1064, 198, 44120, 30707, 0)
    assert (t.latency_best, t.latency_worst, t.interval_min, t.interval_max) == (27, 27, 4, 4)
    assert rep.available["dsp"] == 6840 and rep.available["bram_18k"] == 4320
    assert all(isinstance(v, int) for v in (t.dsp, t.bram_18k, t.lut, t.ff))


def test_vitis_layers_count_the_outer_module_only():
    rep = parse_csynth_xml(find_csynth_report(VITIS))
    layers = layer_modules(rep, {"x": 1, "fc1": 2, "relu1": 3, "fc2": 4, "fc3": 6, "fc4": 8})
    assert set(layers) == {"fc1", "relu1", "fc2", "fc3", "fc4"}  # no module for the input
    # the wrapper dense_..._config2_s instantiates the unrolled kernel: not counted twice
    assert layers["fc1"].dsp == 256 and layers["fc1"].bram_18k == 57
    assert layers["fc1"].lut == 10230 and layers["fc1"].latency_worst == 6
    assert layers["fc2"].dsp == 512
    assert sum(layers[n].dsp for n in ("fc1", "fc2", "fc3", "fc4")) == rep.total.dsp
    assert layers["relu1"].dsp == 0 and layers["relu1"].lut == 1472


def test_vivado_hls_reads_module_files_and_undef():
    rep = parse_csynth_xml(VIVADO / "myproject_prj/solution1/syn/report/myproject_csynth.xml")
    assert rep.tool_version == "2019.2"
    assert rep.total.dsp == 97  # DSP48E tag
    assert rep.children["myproject"][0].startswith("dense_latency")
    layers = layer_modules(rep, {"fc1": 2, "relu1": 3, "fc2": 4, "softmax": 5})
    assert layers["fc1"].dsp == 71 and layers["fc2"].dsp == 26
    assert "relu1" not in layers  # no module report (inlined)
    assert layers["softmax"].bram_18k == 2
    assert layers["softmax"].latency_best == 3 and layers["softmax"].latency_worst is None


def test_layer_index_of_module_names():
    assert layer_index_of_module("dense_latency_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_config2_s") == 2
    assert layer_index_of_module("relu_ap_fixed_ap_fixed_relu_config13_s") == 13
    assert layer_index_of_module("dense_resource_unrolled_8_ap_fixed_config8_dense") == 8
    assert layer_index_of_module("myproject") is None


def test_utilization_report_2020_bram_tiles_are_doubled():
    rep = parse_utilization_report(FIX / "vivado_synth_2020.rpt")
    assert (rep.lut, rep.ff, rep.dsp, rep.uram) == (35214, 21077, 896, 0)
    assert rep.bram_tiles == 45.5 and rep.bram_18k == 91  # 2 x 43 RAMB36 + 5 RAMB18
    assert (rep.ramb36, rep.ramb18) == (43, 5)
    assert rep.design == "myproject" and rep.device == "xcvu9pflga2104-2L"


def test_utilization_report_2023_with_prohibited_column():
    rep = parse_utilization_report(FIX / "vivado_synth_2023.rpt")
    assert (rep.lut, rep.ff, rep.dsp) == (8123, 1466, 63)
    assert rep.bram_tiles == 0.5 and rep.bram_18k == 1


def test_truncated_csynth_raises_clear_error():
    with pytest.raises(ReportParseError, match="not well-formed XML.*rerun"):
        parse_csynth_xml(FIX / "malformed" / "truncated_csynth.xml")


def test_csynth_without_dsp_raises_clear_error():
    with pytest.raises(ReportParseError, match=r"lacks \['dsp'\]"):
        parse_csynth_xml(FIX / "malformed" / "no_dsp_csynth.xml")


def test_utilization_without_dsp_table_raises():
    with pytest.raises(ReportParseError, match="DSPs"):
        parse_utilization_report(FIX / "malformed" / "vivado_synth_no_dsp.rpt")


def test_missing_reports_raise(tmp_path):
    with pytest.raises(ReportParseError, match="did C synthesis run"):
        parse_csynth_xml(tmp_path / "nope_csynth.xml")
    with pytest.raises(ReportParseError, match="C synthesis did not run"):
        find_csynth_report(tmp_path)
    with pytest.raises(ReportParseError, match="logic synthesis"):
        parse_utilization_report(tmp_path / "vivado_synth.rpt")


def test_non_numeric_value_raises(tmp_path):
    bad = tmp_path / "x_csynth.xml"
    text = (VIVADO / "myproject_prj/solution1/syn/report/myproject_csynth.xml").read_text()
    bad.write_text(text.replace("<LUT>6985</LUT>", "<LUT>69x5</LUT>"))
    with pytest.raises(ReportParseError, match="LUT is '69x5'"):
        parse_csynth_xml(bad)


def test_inconsistent_bram_rows_raise(tmp_path):
    bad = tmp_path / "vivado_synth.rpt"
    text = (FIX / "vivado_synth_2020.rpt").read_text()
    bad.write_text(text.replace("| Block RAM Tile    | 45.5 |", "| Block RAM Tile    | 44.5 |"))
    with pytest.raises(ReportParseError, match="disagrees with RAMB36"):
        parse_utilization_report(bad)


def test_hls4ml_parser_agrees_on_the_csynth_totals(tmp_path):
    """hls4ml's own parser reads the same file (as strings) in an hls4ml project layout."""
    import shutil

    from rasp.hls.reports import hls4ml_report

    (tmp_path / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    shutil.copytree(VITIS / "myproject_prj", tmp_path / "myproject_prj")
    (tmp_path / "myproject_prj" / "hls.app").write_text(
        '<project name="myproject_prj" top="myproject"><solutions>'
        '<solution name="solution1" status=""/></solutions></project>')
    theirs = hls4ml_report(tmp_path)["CSynthesisReport"]
    ours = parse_csynth_xml(find_csynth_report(tmp_path)).total
    assert int(theirs["DSP"]) == ours.dsp and int(theirs["BRAM_18K"]) == ours.bram_18k
    assert int(theirs["LUT"]) == ours.lut and int(theirs["WorstLatency"]) == ours.latency_worst
    with pytest.raises(ReportParseError, match="hls4ml could not read"):
        hls4ml_report(tmp_path / "missing")
