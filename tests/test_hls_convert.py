"""hls4ml conversion: the design is the one the pruning configuration asked for.

Silent hls4ml changes become errors: an unknown strategy name (hls4ml builds Latency),
a reuse factor hls4ml snaps to another one, an unrolled layer at RF 1 (falls back to
Resource). Brevitas models with float scales are refused; a fixed-point Brevitas model
goes through QONNX and its C simulation agrees with Brevitas (one g++ compilation).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from rasp.hardware import (
    HardwareSettings,
    check_estimate_matches_generated,
    describe_model,
    dsp_patterns,
    estimate_layers,
    make_hls_config,
    parse_generated,
)
from rasp.hardware.estimate import effective_weights
from rasp.hls import (
    ReuseFactorChangedError,
    StrategyError,
    check_multipliers,
    compile_library,
    convert_model,
    diagnose_layers,
    run_csim,
)
from rasp.hls.resources import aligned_estimate
from rasp.models import NonPowerOfTwoScaleError, build_model

SETTINGS = HardwareSettings.from_dict({"backend": "Vitis", "io_type": "io_parallel"})


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 12)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(12, 4)

    def forward(self, x):
        return self.fc2(self.relu1(self.fc1(x)))


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    model = TinyMLP().eval()
    return model, make_hls_config(model, (8,), SETTINGS, 2)


def test_config_is_used_unchanged(tiny, tmp_path):
    model, cfg = tiny
    conv = convert_model(model, cfg, tmp_path / "prj")
    layers = {la.name: la for la in conv.hls_model.get_layers()}
    for name in ("fc1", "fc2"):
        assert layers[name].get_attr("reuse_factor") == 2
        assert layers[name].get_attr("strategy") == "resource_unrolled"
    assert conv.layer_names == {"fc1": "fc1", "fc2": "fc2"}
    assert conv.hls_config["LayerName"]["fc1"]["Trace"] is True
    assert conv.flow == "pytorch" and conv.input_layout == "same"


def test_unknown_strategy_name_raises_before_conversion(tiny, tmp_path):
    model, cfg = tiny
    cfg = copy.deepcopy(cfg)
    cfg["LayerName"]["fc1"]["Strategy"] = "Unrolled"
    with pytest.raises(StrategyError, match=r"LayerName.fc1.Strategy: strategy 'Unrolled'.*Latency"):
        convert_model(model, cfg, tmp_path / "prj")


def test_reuse_factor_hls4ml_would_change_raises(tiny, tmp_path):
    model, cfg = tiny
    cfg = copy.deepcopy(cfg)
    cfg["LayerName"]["fc1"]["ReuseFactor"] = 3  # 8 x 12 layer: 3 is not valid
    with pytest.raises(ReuseFactorChangedError,
                       match=r"layer 'fc1'.*requested reuse factor 3, hls4ml set 2.*Valid reuse "
                             r"factors.*\[1, 2, 4, 8"):
        convert_model(model, cfg, tmp_path / "prj")


def test_silent_strategy_fallback_raises(tiny, tmp_path):
    model, cfg = tiny
    cfg = copy.deepcopy(cfg)
    cfg["LayerName"]["fc2"]["ReuseFactor"] = 1  # Resource_Unrolled at RF 1 -> Resource
    with pytest.raises(StrategyError, match="layer 'fc2'.*requested strategy Resource_Unrolled.*"
                                            "built Resource"):
        convert_model(model, cfg, tmp_path / "prj")


def test_float_scale_brevitas_model_is_refused(tmp_path):
    from brevitas import nn as qnn

    torch.manual_seed(0)
    fixed = build_model("jet_mlp", n_features=6, hidden=[8], n_classes=3, quantized=True)
    cfg = make_hls_config(fixed.eval(), (6,), SETTINGS, 1)

    class FloatScale(nn.Module):  # Brevitas defaults: per-tensor *float* scales
        def __init__(self):
            super().__init__()
            self.quant_in = qnn.QuantIdentity(return_quant_tensor=True)
            self.fc1 = qnn.QuantLinear(6, 8, bias=True, return_quant_tensor=False)
            self.relu1 = qnn.QuantReLU(return_quant_tensor=True)
            self.fc2 = qnn.QuantLinear(8, 3, bias=True, return_quant_tensor=False)

        def forward(self, x):
            return self.fc2(self.relu1(self.fc1(self.quant_in(x))))

    with pytest.raises(NonPowerOfTwoScaleError, match="power-of-two"):
        convert_model(FloatScale().eval(), cfg, tmp_path / "prj")
    assert not (tmp_path / "prj" / "model_qonnx.onnx").exists()


@pytest.mark.slow
def test_fixed_point_brevitas_model_through_qonnx_agrees(tmp_path):
    torch.manual_seed(1)
    model = build_model("jet_mlp", n_features=6, hidden=[10], n_classes=3, quantized=True,
                        weight_bits=8, act_bits=8)
    with torch.no_grad():  # let the activation quantisers see data
        model.train()
        model(torch.randn(512, 6))
        model.eval()
    cfg = make_hls_config(model, (6,), SETTINGS, 2)
    rng = np.random.default_rng(0)
    masks = {}
    for layer in describe_model(model, cfg):
        pats = dsp_patterns(layer)
        masks[layer.param_name] = torch.as_tensor(pats.kept_mask(rng.random(len(pats)) > 0.4))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in masks:
                p.mul_(masks[name].to(p.dtype))
    conv = convert_model(model, cfg, tmp_path / "prj")
    assert conv.flow == "qonnx"
    assert conv.layer_names == {"fc1": "Dense_MatMul_0", "fc2": "Dense_MatMul_1"}
    assert conv.hls_config["LayerName"]["MatMul_0"]["Strategy"] == "Resource_Unrolled"
    # the estimate (quantised weights) matches what hls4ml generated from the QONNX graph
    est = aligned_estimate(estimate_layers(describe_model(model, cfg), effective_weights(model),
                                           masks), conv.layer_names)
    generated = parse_generated(conv.output_dir)
    check_multipliers(est, generated)
    check_estimate_matches_generated(est, generated)

    compile_library(conv, tmp_path / "cache")
    x = torch.randn(400, 6).numpy()
    y = rng.integers(0, 3, 400)
    result = run_csim(conv, model, x, y, min_agreement=0.99)
    assert result.agreement >= 0.99 and result.max_abs_diff < 0.05
    assert 0.0 <= result.accuracy_csim <= 1.0
    devs = {d.layer: d for d in diagnose_layers(conv, model, x[:32])}
    assert set(devs) == {"Dense_MatMul_0", "Dense_MatMul_1"}
    assert all(d.rel_error < 0.05 and not d.overflow for d in devs.values())
