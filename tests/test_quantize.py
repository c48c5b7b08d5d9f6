"""Uniform post-pruning quantisation: power-of-two types from statistics, masks kept."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rasp.data.processed import ProcessedData
from rasp.models import NonPowerOfTwoScaleError, build_model, check_power_of_two_scales
from rasp.quantize import (
    QuantConfig,
    exponent_for_range,
    float_copy,
    quantize_and_finetune,
    quantize_model,
    quantized_masks_hold,
    range_statistic,
    set_activation_exponent,
)


def _data(n: int = 300, seed: int = 0) -> ProcessedData:
    rng = np.random.default_rng(seed)
    x = (2.0 * rng.normal(size=(n, 16))).astype(np.float32)
    y = np.argmax(x[:, :5] + 0.2 * rng.normal(size=(n, 5)), axis=1).astype(np.int64)
    a, b = int(0.6 * n), int(0.8 * n)
    return ProcessedData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:],
                         class_names=list("gqtwz"), provenance={"source": "synthetic-test"})


def _pruned_mlp() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A 16-10-6-5 MLP with channels 2 and 7 of fc1 removed (rows and fc2 columns)."""
    torch.manual_seed(0)
    model = build_model("jet_mlp", hidden=[10, 6])
    masks = {f"fc{i}.weight": torch.ones_like(getattr(model, f"fc{i}").weight, dtype=torch.bool)
             for i in (1, 2, 3)}
    for c in (2, 7):
        masks["fc1.weight"][c] = False
        masks["fc2.weight"][:, c] = False
    with torch.no_grad():
        for name, m in masks.items():
            getattr(model, name.split(".")[0]).weight.mul_(m)
        model.fc1.bias[2] = 100.0  # a dead channel with a huge constant output
    return model.eval(), masks


def test_exponent_and_statistics():
    assert [exponent_for_range(v) for v in (0.0, 0.3, 0.5, 1.0, 1.01, 5.0, 8.0)] == \
        [0, -1, -1, 0, 1, 3, 3]
    with pytest.raises(ValueError, match="finite"):
        exponent_for_range(float("nan"))
    v = torch.tensor([-4.0, 1.0, 2.0, 3.0])
    assert range_statistic(v, "max", 99) == 4.0
    assert range_statistic(v, "percentile", 50) == pytest.approx(np.percentile([4, 1, 2, 3], 50))


@pytest.mark.parametrize("signed_name", ["quant_in", "relu1"])
def test_activation_exponent_gives_the_exact_power_of_two(signed_name):
    model = build_model("jet_mlp", hidden=[4], quantized=True, weight_bits=6, act_bits=5,
                        input_bits=7)
    mod = getattr(model, signed_name)
    bits, signed = (7, True) if signed_name == "quant_in" else (5, False)
    for e in (-2, 0, 3):
        scale = set_activation_exponent(mod, e)
        assert scale == 2.0 ** (e + int(signed) - bits)
        x = torch.linspace(-20, 20, 401)
        out = mod(x)
        qmax = float(getattr(out, "value", out).detach().max())
        assert qmax <= 2.0 ** e and qmax > 2.0 ** e * 0.9  # the range is ~2^e, not beyond


def test_ranges_come_from_statistics_and_skip_removed_channels():
    model, masks = _pruned_mlp()
    data = _data()
    x = torch.as_tensor(data.x_train)
    cfg = QuantConfig(weight_bits=6, act_bits=6, input_bits=8, act_range="max")
    q, ranges = quantize_model(model, x, cfg, masks=masks)
    by_name = {r.name: r for r in ranges}
    with torch.no_grad():
        h1 = torch.relu(model.fc1(x))
    alive = torch.ones(10, dtype=torch.bool)
    alive[[2, 7]] = False
    expected = float(h1[:, alive].abs().max())  # the dead channel (output 100) is left out
    assert by_name["relu1"].range == pytest.approx(expected)
    assert by_name["relu1"].integer_bits == math.ceil(math.log2(expected))
    assert by_name["quant_in"].integer_bits == math.ceil(math.log2(float(x.abs().max()))) + 1
    w_max = float(model.fc2.weight.detach().abs().max())
    assert by_name["fc2.weight"].integer_bits == math.ceil(math.log2(w_max)) + 1
    assert by_name["relu1"].ap_type == f"ap_ufixed<6,{by_name['relu1'].integer_bits}>"
    assert check_power_of_two_scales(q)
    assert quantized_masks_hold(q, masks)
    # the quantised twin computes (nearly) what the float model does
    with torch.no_grad():
        agree = (q(x).argmax(1) == model(x).argmax(1)).float().mean()
    assert agree > 0.8


def test_percentile_ranges_clip_weights_and_activations():
    model, masks = _pruned_mlp()
    x = torch.as_tensor(_data().x_train)
    cfg = QuantConfig(weight_range="percentile", act_range="percentile", percentile=90.0)
    q, ranges = quantize_model(model, x, cfg, masks=masks)
    w = model.fc1.weight.detach()
    p90 = float(np.percentile(w[w != 0].abs().numpy(), 90))
    assert float(q.fc1.weight.abs().max()) == pytest.approx(p90)
    assert bool((q.fc1.weight[~masks["fc1.weight"]] == 0).all())
    r = {r.name: r for r in ranges}
    assert r["quant_in"].range == pytest.approx(float(np.percentile(x.abs().numpy(), 90)))
    assert "clipped" in r["fc1.weight"].note


def test_qat_finetune_keeps_masks_and_power_of_two_scales():
    model, masks = _pruned_mlp()
    data = _data()
    res = quantize_and_finetune(model, data, {"finetune_epochs": 2, "act_bits": 6},
                                masks=masks, calibration_samples=100,
                                finetune={"batch_size": 32}, seed=0)
    assert len(res.history) == 2
    assert check_power_of_two_scales(res.model)
    assert quantized_masks_hold(res.model, masks)
    assert res.report["calibration_samples"] == 100
    frozen = {r["name"]: r["scale"] for r in res.report["initial_quantizers"]
              if r["kind"] != "weight"}
    final = {r["name"]: r["scale"] for r in res.report["quantizers"] if r["kind"] != "weight"}
    assert frozen == final  # learn_act_scales false: the statistics' ranges stay


def test_float_copy_of_qat_model_and_bad_configs():
    q = build_model("jet_mlp", hidden=[4], quantized=True)
    f = float_copy(q)
    assert not f.quantized and torch.equal(f.fc1.weight, q.fc1.weight)
    with pytest.raises(ValueError, match="unknown quantization keys"):
        QuantConfig.from_dict({"bits": 4})
    with pytest.raises(ValueError, match="weight_bits"):
        QuantConfig(weight_bits=1)
    with pytest.raises(ValueError, match="act_range"):
        QuantConfig(act_range="mse")
    with pytest.raises(TypeError, match="build_model"):
        quantize_model(torch.nn.Linear(2, 2), torch.zeros(1, 2))


def test_power_of_two_check_still_catches_float_scales():
    # guard: the check our quantised models pass is a real one
    from brevitas.nn import QuantLinear
    from brevitas.quant import Int8WeightPerTensorFloat

    bad = torch.nn.Sequential(QuantLinear(4, 2, weight_quant=Int8WeightPerTensorFloat))
    with pytest.raises(NonPowerOfTwoScaleError):
        check_power_of_two_scales(bad)
