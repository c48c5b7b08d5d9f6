"""Resource estimate from raw weight arrays (rasp.hardware.array_layer / estimate_arrays):
the same numbers as the PyTorch path, from weights in the order hls4ml writes them, and
Conv1D layers read from a real hls4ml project."""

from __future__ import annotations

import copy

import hls4ml
import numpy as np
import pytest
import torch
from torch import nn

from rasp.hardware import (
    HardwareSettings,
    InvalidReuseFactorError,
    array_layer,
    describe_model,
    estimate_arrays,
    estimate_resources,
    make_hls_config,
    parse_generated,
)

#: Columns compared between the model path and the arrays path.
COLUMNS = ["n_in", "n_out", "weights", "nonzero_weights", "patterns", "zero_patterns",
           "multiplier_limit", "multipliers", "dsp", "dsp_multipliers", "bram_18k",
           "bram_18k_hls", "lut", "latency_cycles"]


def _pruned_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 5))
    with torch.no_grad():
        for layer in (model[0], model[2], model[4]):
            layer.weight.mul_((torch.rand_like(layer.weight) > 0.4).float())
            layer.weight[::3, :4] = 0.25  # shared, two-digit constants
    return model


def _hls4ml_order(weight: torch.Tensor, strategy: str) -> np.ndarray:
    """The flat array hls4ml writes for a Linear (Latency keeps Keras's (n_in, n_out))."""
    w = weight.detach().numpy()
    return (w.T if strategy == "Latency" else w).ravel()


@pytest.mark.parametrize("rf", [1, 4])
def test_dense_arrays_give_the_model_estimate(rf):
    model = _pruned_mlp()
    settings = HardwareSettings.from_dict({"precision": "ap_fixed<16,6>",
                                           "weight_precision": "ap_fixed<14,4>"})
    cfg = make_hls_config(model, (16,), settings, rf)
    expected = estimate_resources(model, cfg)
    params = dict(model.named_parameters())
    arrays = [
        array_layer(hw.name, _hls4ml_order(params[hw.param_name], hw.strategy),
                    n_in=hw.n_in, n_out=hw.n_out, weight_type=str(hw.weight_type),
                    input_type=str(hw.input_type), accum_type=str(hw.accum_type),
                    reuse_factor=rf, strategy=hw.strategy)
        for hw in describe_model(model, cfg)
    ]
    got = estimate_arrays(arrays)
    assert got.layers[COLUMNS].equals(expected.layers[COLUMNS])
    assert got.totals["dsp"] == expected.totals["dsp"] > 0
    # a mask by layer name prunes like a mask by parameter name
    mask = np.zeros((64, 16), dtype=bool)
    mask[:8] = True
    masked = estimate_arrays(arrays, {"0": mask})
    assert masked.layers.loc["0", "nonzero_weights"] <= 8 * 16
    assert masked.totals["dsp"] < got.totals["dsp"]


def test_layouts_are_transposes_of_each_other():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 5))  # PyTorch Conv1d (F, C, k)
    common = dict(kind="conv1d", n_chan=3, n_filt=4, kernel_size=5, in_size=20,
                  weight_type="ap_fixed<16,6>", input_type="ap_fixed<16,6>")
    ref = array_layer("c", w, layout="pytorch", **common)
    assert np.array_equal(array_layer("c", w.transpose(2, 1, 0), layout="keras", **common).weight,
                          ref.weight)
    res = array_layer("c", w.transpose(0, 2, 1).ravel(), strategy="Resource", reuse_factor=5,
                      **common)  # hls4ml's (F, k, C) for Resource
    assert np.array_equal(res.weight, ref.weight)
    assert ref.layer.out_hw == (1, 16) and ref.layer.n_in == 15 and ref.layer.n_out == 4
    w2 = rng.normal(size=(4, 3, 2, 2))  # Conv2d (F, C, kh, kw)
    c2 = dict(kind="conv2d", n_chan=3, n_filt=4, kernel_size=2,
              weight_type="ap_fixed<16,6>", input_type="ap_fixed<16,6>")
    assert np.array_equal(
        array_layer("d", w2.transpose(2, 3, 1, 0).ravel(), **c2).weight,  # Latency: keras
        array_layer("d", w2, layout="pytorch", **c2).weight)


def test_bad_arrays_are_refused_with_the_fix():
    kw = dict(weight_type="ap_fixed<16,6>", input_type="ap_fixed<16,6>")
    with pytest.raises(ValueError, match="needs 20"):
        array_layer("fc", np.zeros(21), n_in=4, n_out=5, **kw)
    with pytest.raises(ValueError, match="needs n_in and n_out"):
        array_layer("fc", np.zeros(20), **kw)
    with pytest.raises(ValueError, match="kind='lstm'"):
        array_layer("fc", np.zeros(20), n_in=4, n_out=5, kind="lstm", **kw)
    with pytest.raises(InvalidReuseFactorError, match="not valid"):
        array_layer("fc", np.zeros(20), n_in=4, n_out=5, reuse_factor=3,
                    strategy="Resource", **kw)
    with pytest.raises(InvalidReuseFactorError, match="cannot unroll a conv1d"):
        array_layer("c", np.zeros(36), kind="conv1d", n_chan=3, n_filt=4, kernel_size=3,
                    reuse_factor=3, strategy="Resource_Unrolled", **kw)


@pytest.mark.parametrize(("strategy", "rf"), [("Latency", 1), ("Resource", 3)])
def test_conv1d_from_a_written_hls4ml_project(tmp_path, strategy, rf):
    """The user flow: weights from firmware/weights/w2.txt, numbers from parameters.h."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(24, 5))
    with torch.no_grad():
        model[0].weight[0, 1] = 0  # 3 zeros
        model[0].weight[2] = 0.5   # one shared one-digit constant per input
    cfg = hls4ml.utils.config_from_pytorch_model(
        model, (3, 8), granularity="name", default_precision="ap_fixed<16,6>",
        default_reuse_factor=rf)
    cfg["Model"]["Strategy"] = strategy
    for entry in cfg["LayerName"].values():
        entry["Strategy"] = strategy
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        copy.deepcopy(model), hls_config=cfg, output_dir=str(tmp_path), backend="Vitis",
        io_type="io_parallel")
    hls_model.write()
    w2 = np.loadtxt(tmp_path / "firmware/weights/w2.txt", delimiter=",")
    layer = array_layer("conv", w2, kind="conv1d", n_chan=3, n_filt=4, kernel_size=3,
                        in_size=8, weight_type="ap_fixed<16,6>", input_type="ap_fixed<16,6>",
                        reuse_factor=rf, strategy=strategy)
    assert np.allclose(layer.weight, model[0].weight.detach().numpy(), atol=1e-9)
    row = estimate_arrays([layer]).layers.loc["conv"]
    written = next(g for g in parse_generated(tmp_path).values() if g.n_in == 9)
    assert (row.n_in, row.n_out) == (written.n_in, written.n_out)
    assert row.n_zeros == written.n_zeros == 3
    assert row.multiplier_limit == written.multiplier_limit
    if strategy == "Latency":
        # 33 products; filter 2 is 0.5 on each of the 9 inputs: a shift, no DSP
        assert row.multipliers == 33 and row.dsp < 33 - 9 + 1
    else:
        assert row.dsp == row.multipliers == 12  # ceil(36 / 3), zeros not skipped
