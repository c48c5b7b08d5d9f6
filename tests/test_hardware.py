"""Unit tests of the hardware model (no hls4ml project is written here)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from rasp.hardware import (
    BramModel,
    DspModel,
    HardwareSettings,
    InvalidReuseFactorError,
    SettingsError,
    bram_columns,
    check_reuse_factor,
    describe_model,
    dsp_patterns,
    estimate_layers,
    estimate_resources,
    layer_structures,
    make_hls_config,
    neurons,
    parse_precision,
    single_weights,
    valid_reuse_factors,
    weight_memory,
)
from rasp.hardware.fixed import FixedType, PrecisionError, csd_digits, quantize_to_int
from rasp.hardware.reuse import nearest_valid_reuse_factor
from rasp.models import build_model

from conftest import REPO


class TinyCNN(nn.Module):
    def __init__(self, c_in: int = 3, f1: int = 4, f2: int = 6, n_out: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, f1, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(f1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(f1, f2, (3, 2))
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(f2 * 2 * 3, n_out)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        return self.fc1(self.flatten(self.relu2(self.conv2(x))))


CNN_INPUT = (3, 10, 10)


def jets_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("jet_mlp").eval()


def settings(**kw) -> HardwareSettings:
    return HardwareSettings.from_dict(kw)


# --------------------------------------------------------------------------------------
# fixed-point types
# --------------------------------------------------------------------------------------


def test_parse_precision_forms():
    assert parse_precision("ap_fixed<16,6>") == FixedType(16, 6, True)
    assert parse_precision("fixed<18,8,RND,SAT>") == FixedType(18, 8, True, "AP_RND", "AP_SAT")
    assert parse_precision("ap_ufixed<8,0>") == FixedType(8, 0, False)
    assert parse_precision("ap_int<6>") == FixedType(6, 6, True)
    assert parse_precision("fixed<18,8,TRN,WRAP,0>").width == 18
    assert parse_precision("ap_ufixed<8,0>").signed_width == 9
    # every mode hls4ml knows, as hls4ml's own parser reads it
    conv = parse_precision(" ap_fixed<16,6,AP_RND_CONV,AP_SAT_SYM> ")
    assert (conv.rounding, conv.saturation) == ("AP_RND_CONV", "AP_SAT_SYM")
    for bad in ("auto", "float", "ap_fixed<16>", "ap_fixed<16,6,FOO>", "ap_fixed<0,0>", "x"):
        with pytest.raises(PrecisionError):
            parse_precision(bad)


def test_quantize_modes():
    t = parse_precision("ap_fixed<8,3>")  # 5 fractional bits, range [-4, 4)
    assert quantize_to_int(np.array([0.51, -0.51]), t).tolist() == [16, -17]  # TRN floors
    r = parse_precision("ap_fixed<8,3,AP_RND,AP_SAT>")
    assert quantize_to_int(np.array([0.51, 100.0, -100.0]), r).tolist() == [16, 127, -128]
    assert quantize_to_int(np.array([4.0]), t).tolist() == [-128]  # wraps


def test_csd_digits_match_brute_force_naf():
    def naf_weight(n: int) -> int:
        count = 0
        while n:
            if n & 1:
                digit = 2 - (n % 4)
                n -= digit
                count += 1
            n //= 2
        return count

    values = np.arange(-2048, 2049)
    expected = [naf_weight(abs(int(v))) for v in values]
    assert csd_digits(values).tolist() == expected
    assert csd_digits(np.array([7, 3, 5, 11])).tolist() == [2, 2, 2, 3]


# --------------------------------------------------------------------------------------
# settings and schema
# --------------------------------------------------------------------------------------


def test_settings_defaults_and_round_trip():
    s = HardwareSettings.from_dict({})
    assert s.backend == "Vitis" and s.strategy == "auto" and s.weight_type == "ap_fixed<16,6>"
    assert HardwareSettings.from_dict(s.to_dict()) == s
    assert s.resolve_strategy(1) == "Latency"
    assert s.resolve_strategy(4) == "Resource_Unrolled"
    assert s.resolve_strategy(4, "conv2d") == "Resource"  # hls4ml cannot unroll io_parallel conv
    assert settings(io_type="io_stream").resolve_strategy(4, "conv2d") == "Resource_Unrolled"


@pytest.mark.parametrize(
    "block, fragment",
    [
        ({"bogus": 1}, r"unknown hardware keys \['bogus'\]; allowed: \['backend', 'bram'"),
        ({"dsp": {"mult_c_bits": 3}}, "hardware.dsp"),
        ({"bram": {"width": 36}}, "hardware.bram"),
        ({"strategy": "Unrolled"}, "hardware.strategy: 'Unrolled' is not one of .*Exact spelling"),
        ({"backend": "Quartus"}, "backend"),
        ({"io_type": "io_serial"}, "io_type"),
        ({"precision": "float"}, "precision"),
        ({"rf_policy": "closest"}, "rf_policy"),
        ({"bram": {"width_bits": 144, "depth": 512}}, "RAMB36"),
        ({"clock_period_ns": 0}, "clock_period_ns"),
        ({"dsp": {"mult_a_bits": True}}, "hardware.dsp.mult_a_bits: True is not of type 'integer'"),
        ({"bram": {"depth": 0}}, "hardware.bram.depth: 0 is less than the minimum of 1"),
    ],
)
def test_settings_reject_bad_blocks(block, fragment):
    with pytest.raises(SettingsError, match=fragment):
        HardwareSettings.from_dict(block)


def test_config_blocks_and_schema_defaults_agree_with_dataclass():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for dataset, block in cfg["hardware"].items():
        HardwareSettings.from_dict(block, where=f"hardware.{dataset}")
    schema = yaml.safe_load((REPO / "src/rasp/schemas/hardware.schema.yaml").read_text())
    props = schema["$defs"]["target"]["properties"]
    d = HardwareSettings().to_dict()
    for key, spec in props.items():
        if key in ("dsp", "bram"):
            for sub, subspec in spec["properties"].items():
                assert subspec["default"] == d[key][sub], (key, sub)
            assert set(spec["properties"]) == set(d[key])
        else:
            assert spec["default"] == d[key], key
    assert set(props) == set(d)


def test_dsp_rule():
    rule = DspModel()
    f = parse_precision
    assert rule.dsp_per_multiplication(f("ap_fixed<16,6>"), f("ap_fixed<16,6>")) == 1
    assert rule.dsp_per_multiplication(f("ap_fixed<27,6>"), f("ap_fixed<18,6>")) == 1
    # 8-bit weights fed by 16-bit data use a DSP (published hls4ml reports); only a narrow
    # x narrow product (input <= 6 bits AND weight <= 8 bits) goes to fabric
    assert rule.dsp_per_multiplication(f("ap_fixed<16,6>"), f("ap_fixed<8,3>")) == 1
    assert rule.dsp_per_multiplication(f("ap_fixed<6,2>"), f("ap_fixed<8,3>")) == 0
    assert rule.dsp_per_multiplication(f("ap_fixed<6,2>"), f("ap_fixed<9,3>")) == 1
    assert rule.dsp_per_multiplication(f("ap_fixed<8,3>"), f("ap_fixed<8,3>")) == 1
    assert rule.dsp_per_multiplication(f("ap_fixed<20,6>"), f("ap_fixed<20,6>")) == 2
    assert rule.dsp_per_multiplication(f("ap_fixed<16,6>"), f("ap_fixed<28,6>")) == 2
    assert rule.dsp_per_multiplication(f("ap_ufixed<18,6>"), f("ap_fixed<18,6>")) == 1  # 19 x 18
    assert rule.dsp_per_multiplication(f("ap_ufixed<18,6>"), f("ap_ufixed<18,6>")) == 2  # 19 x 19
    assert rule.dsp_per_multiplication(f("ap_ufixed<6,0>"), f("ap_fixed<16,6>")) == 1
    fabric, dsp = DspModel(impl="fabric"), DspModel(impl="dsp")
    assert fabric.dsp_per_multiplication(f("ap_fixed<16,6>"), f("ap_fixed<16,6>")) == 0
    assert dsp.dsp_per_multiplication(f("ap_fixed<4,2>"), f("ap_fixed<4,2>")) == 1
    with pytest.raises(SettingsError, match="fabric_max_weight_bits"):
        DspModel.from_dict({"lut_max_weight_bits": 8})
    with pytest.raises(SettingsError, match="impl"):
        DspModel.from_dict({"impl": "lut"})
    assert BramModel().bram18k_per_unit == 1
    assert BramModel(width_bits=72).bram18k_per_unit == 2


# --------------------------------------------------------------------------------------
# reuse factors
# --------------------------------------------------------------------------------------


def test_valid_reuse_factors_follow_the_documented_rule():
    """hls4ml's list (asked of its backend) is the rule the docs state: RF divides n_in,
    or RF is a multiple of n_in dividing n_in * n_out; Resource_Unrolled drops 1 and N."""
    for n_in in range(1, 13):
        for n_out in range(1, 11):
            n = n_in * n_out
            rule = [rf for rf in range(1, n + 1)
                    if n_in % rf == 0 or (rf % n_in == 0 and n % rf == 0)]
            assert valid_reuse_factors(n_in, n_out, "Resource") == rule, (n_in, n_out)
            assert valid_reuse_factors(n_in, n_out, "Resource_Unrolled") == [
                rf for rf in rule if rf not in (1, n)]
    # what hls4ml substitutes: the closest valid RF, ties to the smaller
    assert nearest_valid_reuse_factor(16, 64, 3, "Resource") == 2
    assert nearest_valid_reuse_factor(16, 64, 6, "Resource") == 4


def test_invalid_reuse_factor_errors():
    with pytest.raises(InvalidReuseFactorError, match="silently use 2"):
        check_reuse_factor("fc1", 16, 64, 3, "Resource_Unrolled")
    with pytest.raises(InvalidReuseFactorError, match="RF > 1"):
        check_reuse_factor("fc1", 16, 64, 1, "Resource_Unrolled")
    with pytest.raises(InvalidReuseFactorError, match="io_parallel"):
        check_reuse_factor("conv1", 27, 4, 9, "Resource_Unrolled", kind="conv2d")
    with pytest.raises(InvalidReuseFactorError, match="n_in\\*n_out"):
        check_reuse_factor("fc4", 32, 5, 160, "Resource_Unrolled")  # RF = N: not unrollable
    check_reuse_factor("fc4", 32, 5, 160, "Resource")
    check_reuse_factor("fc1", 16, 64, 3, "Latency")  # hls4ml never changes a Latency RF
    m = jets_model()
    with pytest.raises(InvalidReuseFactorError, match="'fc1'.*reuse factor 3"):
        make_hls_config(m, m.input_shape, settings(), 3)
    cfg = make_hls_config(m, m.input_shape, settings(rf_policy="nearest"), 3)
    assert cfg["RaspHardware"]["reuse_factors"] == {"fc1": 2, "fc2": 2, "fc3": 2, "fc4": 2}
    assert cfg["LayerName"]["fc2"]["ReuseFactor"] == 2
    # a hand-edited config is checked too
    cfg = make_hls_config(m, m.input_shape, settings(), 4)
    cfg["LayerName"]["fc2"]["ReuseFactor"] = 5
    with pytest.raises(InvalidReuseFactorError, match="'fc2'"):
        describe_model(m, cfg)
    cfg["LayerName"]["fc2"]["ReuseFactor"] = 4
    cfg["LayerName"]["fc2"]["Strategy"] = "Unrolled"
    with pytest.raises(ValueError, match="silently build Latency"):
        describe_model(m, cfg)


# --------------------------------------------------------------------------------------
# layers, structures, costs
# --------------------------------------------------------------------------------------


def test_jet_mlp_unpruned_multipliers():
    m = jets_model()
    est1 = estimate_resources(m, make_hls_config(m, m.input_shape, settings(), 1))
    est4 = estimate_resources(m, make_hls_config(m, m.input_shape, settings(), 4))
    assert est1.totals["multipliers"] == 4256 and est1.totals["dsp_multipliers"] == 4256
    assert est4.totals["multipliers"] == 1064 and est4.totals["dsp"] == 1064
    assert (est1.layers["strategy"] == "Latency").all()
    assert (est4.layers["strategy"] == "Resource_Unrolled").all()
    # Latency at RF 1: weights are constants, no BRAM; after constant folding fewer DSPs
    # than multiplications (shared |w| per input, <= 2 CSD digits -> shift/add)
    assert est1.totals["bram_18k"] == 0 and 0 < est1.totals["dsp"] < 4256
    assert est1.totals["dsp_csd"] == est1.totals["dsp"]
    # 16-bit weights at RF 4: ceil(ceil(N/4) * 16 / 36) BRAM_18K per layer in the HLS
    # report; 4 words deep is LUTRAM after logic synthesis (default lutram_max_depth 32)
    expected = [math.ceil(n // 4 * 16 / 36) for n in (1024, 2048, 1024, 160)]
    assert est4.layers["bram_18k_hls"].tolist() == expected
    assert (est4.layers["memory"] == "lutram").all() and est4.totals["bram_18k"] == 0
    hls_view = settings(bram={"lutram_max_depth": 0})
    est4_hls = estimate_resources(m, make_hls_config(m, m.input_shape, hls_view, 4))
    assert est4_hls.layers["bram_18k"].tolist() == expected
    assert "total" in str(est4)


def test_conv_layout_and_dimensions():
    torch.manual_seed(1)
    m = TinyCNN().eval()
    cfg = make_hls_config(m, CNN_INPUT, settings(io_type="io_stream"), 3)
    layers = {layer.name: layer for layer in describe_model(m, cfg)}
    conv2 = layers["conv2"]
    assert (conv2.n_in, conv2.n_out) == (3 * 2 * 4, 6)
    assert conv2.in_hw == (4, 4) and conv2.out_hw == (2, 3)
    f, c, kh, kw = conv2.weight_shape
    order = conv2.hls_order
    # position (filter, h, w, channel) of hls4ml's layout holds torch weight[f, c, h, w]
    for fi, hi, wi, ci in [(0, 0, 0, 1), (5, 2, 1, 3), (3, 1, 0, 2)]:
        pos = ((fi * kh + hi) * kw + wi) * c + ci
        assert order[pos] == np.ravel_multi_index((fi, ci, hi, wi), (f, c, kh, kw))
    assert sorted(order.tolist()) == list(range(conv2.n_weights))
    assert layers["fc1"].input_type == parse_precision("ap_fixed<16,6>")


@pytest.mark.parametrize("kind", ["weights", "patterns", "bram_columns", "neurons"])
def test_structures_cover_every_weight(kind):
    m = jets_model()
    cfg = make_hls_config(m, m.input_shape, settings(bram={"lutram_max_depth": 0}), 4)
    for layer in describe_model(m, cfg):
        s = layer_structures(layer, kind)
        covered = np.zeros(layer.n_weights, dtype=bool)
        covered[s.flat_index] = True
        assert covered.all(), (layer.name, kind)
        assert s.kept_mask(np.ones(len(s), bool)).all()
        assert s.costs.shape == (len(s), 3)
        if kind != "bram_columns":  # patterns/neurons/weights partition the weights
            assert s.flat_index.size == layer.n_weights
        w = dict(m.named_parameters())[layer.param_name]
        if kind != "bram_columns":
            assert np.isclose(s.reduce(w.abs()).sum(), w.abs().sum().item())


def test_partial_pattern_saves_nothing_and_full_pattern_saves_one():
    m = jets_model()
    cfg = make_hls_config(m, m.input_shape, settings(), 4)
    layers = describe_model(m, cfg)
    fc2 = next(layer for layer in layers if layer.name == "fc2")
    patterns = dsp_patterns(fc2)
    base = estimate_layers(layers, m).layers.loc["fc2"]
    mask = torch.ones(fc2.weight_shape, dtype=torch.bool)
    flat = mask.view(-1)
    flat[torch.as_tensor(patterns.index_set(7)[:3])] = False  # 3 of the 4 weights
    part = estimate_layers(layers, m, {"fc2.weight": mask}).layers.loc["fc2"]
    assert part["nonzero_weights"] == base["nonzero_weights"] - 3
    assert part["dsp"] == base["dsp"] and part["bram_18k"] == base["bram_18k"]
    flat[torch.as_tensor(patterns.index_set(7))] = False
    full = estimate_layers(layers, m, {"fc2.weight": mask}).layers.loc["fc2"]
    assert full["dsp"] == base["dsp"] - 1 and full["zero_patterns"] == 1


@pytest.mark.parametrize("rf, strategy, expected", [
    (1, "Latency", 0),
    (4, "Resource", 512),  # plain Resource never skips zeros
    (4, "Resource_Unrolled", 0),
    (64, "Resource_Unrolled", 0),
    (128, "Resource_Unrolled", 16),  # RF > n_in: hls4ml's limit is n_out - zero patterns
])
def test_all_zero_layer(rf, strategy, expected):
    m = jets_model()
    hw = settings(strategy=strategy, bram={"lutram_max_depth": 0})  # the HLS view: BRAM
    cfg = make_hls_config(m, m.input_shape, hw, {"default": 4, "fc2": rf})
    mask = {"fc2.weight": torch.zeros(32, 64, dtype=torch.bool)}
    row = estimate_resources(m, cfg, mask).layers.loc["fc2"]
    assert row["nonzero_weights"] == 0 and row["zero_patterns"] == row["patterns"] == 2048 // rf
    assert row["multipliers"] == expected
    if strategy == "Resource":
        assert row["bram_18k"] == row["bram_18k_hls"] > 0
    elif strategy == "Latency":
        assert row["dsp_csd"] == 0 and row["bram_18k_hls"] == 0
    else:
        assert row["bram_18k"] == 0 < row["bram_18k_hls"]


@pytest.mark.parametrize("width", [10, 14, 16, 18])
def test_bram_savings_exist_for_every_weight_width(width):
    m = jets_model()
    s = settings(weight_precision=f"ap_fixed<{width},4>", bram={"lutram_max_depth": 0})
    layers = describe_model(m, make_hls_config(m, m.input_shape, s, 4))
    fc2 = next(layer for layer in layers if layer.name == "fc2")
    mem = weight_memory(fc2)
    assert mem.kind == "bram" and mem.n_columns == math.ceil(512 * width / 36)
    cols, pats = bram_columns(fc2), dsp_patterns(fc2)
    assert len(cols) == mem.n_columns
    base = estimate_layers(layers, m).layers.loc["fc2"]
    assert base["bram_18k"] == mem.n_columns
    # zero every pattern of column 1: exactly that column's BRAM goes (more when a pattern
    # straddles into a column whose other patterns are already zero: none here)
    members = cols.members[1]
    kept = np.ones(len(pats), dtype=bool)
    kept[members] = False
    mask = torch.as_tensor(pats.kept_mask(kept))
    row = estimate_layers(layers, m, {"fc2.weight": mask}).layers.loc["fc2"]
    assert row["bram_18k"] == base["bram_18k"] - 1
    assert row["dsp"] == base["dsp"] - len(members)
    # the coupled model (column kept iff any of its patterns is kept) is exact
    alive_cols = {c for k in np.flatnonzero(kept) for c in pats.pattern_columns[k] if c >= 0}
    assert pats.total_cost(kept)[0] == row["dsp"]
    assert len(alive_cols) * mem.bram18k_per_column == row["bram_18k"]
    # straddling: with W not dividing 36 some pattern sits in two columns
    straddles = (pats.pattern_columns >= 0).sum(axis=1).max() == 2
    assert straddles == (36 % width != 0)


def test_structure_costs_add_up_to_the_estimate():
    rng = np.random.default_rng(0)
    m = jets_model()
    layers = describe_model(m, make_hls_config(m, m.input_shape, settings(), 8))
    for layer in layers:
        pats, cols = dsp_patterns(layer), bram_columns(layer)
        base = estimate_layers([layer], m).layers.iloc[0]
        np.testing.assert_allclose(pats.fixed_cost + pats.costs.sum(0),
                                   [base["dsp"], base["bram_18k"], base["lut"]])
        kept = rng.random(len(pats)) < 0.4
        row = estimate_layers([layer], m, {layer.param_name: pats.kept_mask(kept)}).layers.iloc[0]
        assert pats.total_cost(kept)[0] == row["dsp"]
        assert pats.total_cost(kept)[2] == row["lut"]
        col_kept = np.array([kept[mem].any() for mem in cols.members])
        assert cols.total_cost(col_kept)[1] == row["bram_18k"]
    # neurons are a lower bound on the saving (exact when RF divides n_in)
    fc1 = layers[0]
    neu = neurons(fc1)
    kept = np.ones(fc1.n_out, dtype=bool)
    kept[[0, 5, 9]] = False
    row = estimate_layers([fc1], m, {fc1.param_name: neu.kept_mask(kept)}).layers.iloc[0]
    assert neu.total_cost(kept)[0] == row["dsp"]
    # Latency single weights: every weight costs one DSP
    lat = describe_model(m, make_hls_config(m, m.input_shape, settings(), 1))
    sw = single_weights(lat[3])
    assert (sw.costs[:, 0] == 1).all() and sw.fixed_cost[0] == 0
    cols = bram_columns(lat[3])  # Latency weights are not in BRAM
    assert len(cols) == 0 and (dsp_patterns(lat[3]).pattern_columns == -1).all()
    with pytest.raises(ValueError, match="not in BRAM"):
        cols.kept_mask(np.zeros(0, dtype=bool))


def test_plain_resource_keeps_every_multiplier():
    m = jets_model()
    layers = describe_model(m, make_hls_config(m, m.input_shape, settings(strategy="Resource"), 4))
    pats = dsp_patterns(layers[1])
    assert (pats.costs == 0).all() and pats.fixed_cost[0] == 512
    mask = {"fc2.weight": torch.zeros(32, 64, dtype=torch.bool)}
    assert estimate_layers(layers, m, mask).layers.loc["fc2", "dsp"] == 512


def test_masks_are_checked():
    m = jets_model()
    cfg = make_hls_config(m, m.input_shape, settings(), 4)
    with pytest.raises(KeyError, match="unknown weight"):
        estimate_resources(m, cfg, {"fc9.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(ValueError, match="mask of fc1.weight"):
        estimate_resources(m, cfg, {"fc1.weight": torch.ones(3, dtype=torch.bool)})


def test_lutram_threshold_and_deep_memories():
    m = jets_model()
    s = settings(bram={"lutram_max_depth": 32})
    row = estimate_resources(m, make_hls_config(m, m.input_shape, s, 4)).layers.loc["fc2"]
    # LUTRAM after logic synthesis; the HLS C-synthesis report still counts the BRAM
    assert row["memory"] == "lutram" and row["bram_18k"] == 0
    assert row["bram_18k_hls"] == math.ceil(2048 // 4 * 16 / 36)
    # deeper than one BRAM unit: units stack (18-bit units 1024 deep)
    s = settings(strategy="Resource", bram={"width_bits": 18, "depth": 1024})
    layer = describe_model(m, make_hls_config(m, m.input_shape, s, {"default": 4, "fc2": 2048}))[1]
    mem = weight_memory(layer)
    assert mem.units_per_column == 2 and mem.n_columns == 1 and mem.bram_18k == 2


def test_brevitas_layers_take_their_quantiser_width():
    torch.manual_seed(0)
    m = build_model("jet_mlp", quantized=True, weight_bits=6, act_bits=8, bias_bits=16).eval()
    cfg = make_hls_config(m, m.input_shape, settings(), 4)
    layers = describe_model(m, cfg)
    assert [layer.weight_type.width for layer in layers] == [6, 6, 6, 6]
    assert {layer.weight_source for layer in layers} == {"brevitas"}
    assert layers[1].input_type == FixedType(8, layers[1].input_type.integer, False)
    # 6-bit weights on 8-bit activations: a DSP each (fabric needs inputs <= 6 bits too)
    assert [layer.dsp_per_mult for layer in layers[1:]] == [1, 1, 1]
    est = estimate_resources(m, cfg)
    assert est.totals["multipliers"] == 1064
    assert est.layers["dsp"].iloc[1:].tolist() == est.layers["multipliers"].iloc[1:].tolist()
    narrow = build_model("jet_mlp", quantized=True, weight_bits=6, act_bits=6, bias_bits=16).eval()
    narrow_layers = describe_model(narrow, make_hls_config(narrow, narrow.input_shape, settings(), 4))
    assert [layer.dsp_per_mult for layer in narrow_layers[1:]] == [0, 0, 0]  # 6 x 6: fabric
    assert cfg["LayerName"]["fc1"]["Precision"]["weight"].startswith("ap_fixed<6,")


def test_model_training_flag_is_restored():
    m = jets_model().train()
    make_hls_config(m, m.input_shape, settings(), 4)
    assert m.training
    m2 = copy.deepcopy(m)
    estimate_resources(m2, make_hls_config(m2, m2.input_shape, settings(), 4))
    assert m2.training


def test_qat_estimate_counts_zeros_of_the_quantised_weights():
    """A Brevitas weight that rounds to zero is a zero in the QONNX model hls4ml builds, so
    the estimate must not give it a multiplier (float weights would overcount)."""
    from rasp.hardware.estimate import estimate_resources

    torch.manual_seed(0)
    model = build_model("jet_mlp", quantized=True, weight_bits=4, act_bits=8)
    settings = HardwareSettings.from_dict({
        "backend": "Vitis", "part": "xcvu9p-flga2104-2L-e", "io_type": "io_parallel",
        "precision": "ap_fixed<16,6>", "strategy": "auto"})
    cfg = make_hls_config(model, (16,), settings, 1)
    est = estimate_resources(model, cfg, settings=settings)
    quant_nonzero = sum(int((m.quant_weight().value != 0).sum()) for m in
                        (model.fc1, model.fc2, model.fc3, model.fc4))
    float_nonzero = sum(int((p != 0).sum()) for n, p in model.named_parameters()
                        if n.endswith(".weight") and n.startswith("fc"))
    assert quant_nonzero < float_nonzero  # 4-bit rounding zeroes some weights
    assert int(est.totals["nonzero_weights"]) == quant_nonzero
    assert int(est.totals["multipliers"]) == quant_nonzero  # Latency, RF 1: one per weight


def test_batchnorm_scale_and_bias_types_hold_large_scales():
    """A BatchNorm channel with a tiny running variance (a neuron left with few weights)
    has a scale far beyond ap_fixed<16,6>'s [-32, 32): its type gets integer bits, the
    fractional bits stay."""
    from rasp.hardware.fixed import parse_precision
    from rasp.hardware.hls_config import batchnorm_types

    bn = nn.BatchNorm1d(4).eval()
    with torch.no_grad():
        bn.running_var[:] = torch.tensor([1.0, 1e-4, 1.0, 1.0])  # scale 100 in channel 1
        bn.running_mean[:] = torch.tensor([0.0, 0.5, 0.0, 0.0])  # bias -50
    types = batchnorm_types(bn, "ap_fixed<16,6>")
    scale_t, bias_t = parse_precision(types["scale"]), parse_precision(types["bias"])
    assert scale_t.fractional == bias_t.fractional == 10
    assert 2 ** (scale_t.integer - 1) > 99.9
    assert 2 ** (bias_t.integer - 1) > 50
    assert scale_t.integer == 8 and bias_t.integer == 7  # 100 < 128, 50 < 64
    # ordinary statistics keep the model precision
    assert batchnorm_types(nn.BatchNorm1d(4).eval(), "ap_fixed<16,6>") == {
        "scale": "ap_fixed<16,6>", "bias": "ap_fixed<16,6>"}


def test_make_hls_config_sizes_batchnorm_types_of_the_svhn_cnn():
    torch.manual_seed(0)
    model = build_model("svhn_cnn").eval()
    with torch.no_grad():
        model.bn4.running_var[0] = 1e-4
    s = HardwareSettings.from_dict({
        "backend": "Vitis", "part": "xcvu9p-flga2104-2L-e", "io_type": "io_stream",
        "precision": "ap_fixed<16,6>", "weight_precision": "ap_fixed<18,8>",
        "strategy": "auto", "rf_policy": "nearest"})
    cfg = make_hls_config(model, model.input_shape, s, 36)
    assert cfg["LayerName"]["bn4"]["Precision"]["scale"] == "ap_fixed<18,8>"
    assert cfg["LayerName"]["bn1"]["Precision"]["scale"] == "ap_fixed<16,6>"
