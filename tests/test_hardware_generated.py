"""Ground truth: the estimate equals what hls4ml 1.3.0 generates (``write()`` only).

Each case builds the config with ``make_hls_config``, zeroes weights with a random
mask (whole DSP patterns, single weights, whole neurons), writes the hls4ml project and
parses ``parameters.h`` / ``nnet_code_gen.h`` / ``defines.h``. ``n_zeros``,
``n_nonzeros``, ``multiplier_limit``, the Resource_Unrolled ``ALLOCATION`` limit, the
reuse factor, the strategy and the weight width must all be equal.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from test_hardware import CNN_INPUT, TinyCNN
from torch import nn

from rasp.hardware import (
    HardwareSettings,
    InvalidReuseFactorError,
    check_estimate_matches_generated,
    describe_model,
    dsp_patterns,
    estimate_resources,
    hls4ml_convert_kwargs,
    load_hls_config,
    make_hls_config,
    neurons,
    parse_generated,
    save_hls_config,
)
from rasp.models import build_model

hls4ml = pytest.importorskip("hls4ml")


class MLP(nn.Module):
    def __init__(self, sizes: list[int]):
        super().__init__()
        self.n = len(sizes) - 1
        for i in range(self.n):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))
            if i < self.n - 1:
                setattr(self, f"relu{i + 1}", nn.ReLU())

    def forward(self, x):
        for i in range(1, self.n):
            x = getattr(self, f"relu{i}")(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.n}")(x)


def _model(name: str, seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    torch.manual_seed(seed)
    if name == "jets":
        return build_model("jet_mlp").eval(), (16,)
    if name == "mlp":
        return MLP([12, 20, 8, 6]).eval(), (12,)
    if name == "mlp_odd":
        return MLP([9, 15, 10]).eval(), (9,)
    model = TinyCNN().eval()
    with torch.no_grad():  # non-trivial BatchNorm: hls4ml folds it into conv1
        model.bn1.weight.uniform_(0.5, 1.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    return model, CNN_INPUT


def _random_masks(model: nn.Module, cfg: dict, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    masks = {}
    for layer in describe_model(model, cfg):
        pats = dsp_patterns(layer)
        kept = rng.random(len(pats)) >= rng.choice([0.0, 0.2, 0.5, 0.8])
        mask = pats.kept_mask(kept)
        mask &= rng.random(mask.shape) >= rng.choice([0.0, 0.05, 0.3])
        if rng.random() < 0.3:
            neu = neurons(layer)
            mask &= neu.kept_mask(rng.random(len(neu)) >= 0.25)
        if rng.random() < 0.05:
            mask[:] = False  # an all-zero layer now and then
        masks[layer.param_name] = torch.as_tensor(mask)
    return masks


def _write(model: nn.Module, cfg: dict, out) -> dict:
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=copy.deepcopy(cfg), output_dir=str(out), **hls4ml_convert_kwargs(cfg)
    )
    hls_model.write()
    return parse_generated(out)


def _zeroed(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    pruned = copy.deepcopy(model)
    params = dict(pruned.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].dtype))
    return pruned


def _cases(n: int, seed: int = 20230810) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        model = ["jets", "mlp", "mlp_odd", "cnn"][i % 4]
        strategy = ["Resource_Unrolled", "Resource", "Latency", "auto"][(i // 4) % 4]
        io_type = "io_stream" if model == "cnn" and i % 3 else "io_parallel"
        if model == "cnn" and io_type == "io_parallel" and strategy == "Resource_Unrolled":
            strategy = "auto"  # hls4ml cannot unroll io_parallel Conv2d (tested elsewhere)
        rf = int(rng.choice([1, 2, 3, 4, 5, 8, 9, 16, 30]))
        if strategy == "Resource_Unrolled" and rf == 1:
            rf = 2
        width = int(rng.choice([10, 14, 16, 18]))
        cases.append({
            "id": i,
            "model": model,
            "rf": rf,
            "settings": {
                "backend": ["Vitis", "Vivado"][int(rng.integers(2))],
                "io_type": io_type,
                "strategy": strategy,
                "precision": "ap_fixed<16,6>",
                "weight_precision": f"ap_fixed<{width},{width // 3}>",
                "rf_policy": "nearest",  # every random RF becomes a valid one per layer
            },
        })
    return cases


def _fixed_cases() -> list[dict]:
    """Unrolled layers with RF > n_in, where hls4ml's limit has base n_out (rule M3)."""
    base = {"backend": "Vitis", "precision": "ap_fixed<16,6>", "strategy": "Resource_Unrolled",
            "rf_policy": "nearest"}
    return [
        {"id": 40, "model": "mlp_odd", "rf": 30, "settings": {**base, "io_type": "io_parallel"}},
        {"id": 41, "model": "jets", "rf": 32, "settings": {**base, "io_type": "io_parallel"}},
        {"id": 42, "model": "cnn", "rf": 54, "settings": {**base, "io_type": "io_stream",
                                                          "backend": "Vivado"}},
    ]


CASES = _cases(40) + _fixed_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['id']}-{c['model']}-{c['settings']['strategy']}-rf{c['rf']}")
def test_random_masks_match_generated_code(case, tmp_path):
    model, input_shape = _model(case["model"], case["id"])
    cfg = make_hls_config(model, input_shape, HardwareSettings.from_dict(case["settings"]), case["rf"])
    masks = _random_masks(model, cfg, np.random.default_rng(case["id"]))
    estimate = estimate_resources(model, cfg, masks)
    generated = _write(_zeroed(model, masks), cfg, tmp_path / "prj")
    table = check_estimate_matches_generated(estimate, generated)
    assert len(generated) == len(estimate.layers)
    assert table["match"].all() and len(table) >= 7 * len(generated)


def test_random_cases_are_not_vacuous():
    """The random cases prune whole patterns in many unrolled layers, at several RFs."""
    zero_patterns = unrolled = above_n_in = 0
    rfs, strategies = set(), set()
    for case in CASES:
        model, input_shape = _model(case["model"], case["id"])
        cfg = make_hls_config(model, input_shape, HardwareSettings.from_dict(case["settings"]),
                              case["rf"])
        masks = _random_masks(model, cfg, np.random.default_rng(case["id"]))
        layers = estimate_resources(model, cfg, masks).layers
        unrolled_rows = layers[layers["strategy"] == "Resource_Unrolled"]
        zero_patterns += int(unrolled_rows["zero_patterns"].sum())
        unrolled += len(unrolled_rows)
        above_n_in += int((unrolled_rows["reuse_factor"] > unrolled_rows["n_in"]).sum())
        rfs.update(layers["reuse_factor"].tolist())
        strategies.update(layers["strategy"].tolist())
    assert zero_patterns > 100 and unrolled >= 15 and above_n_in >= 3
    assert len(rfs) >= 6 and strategies == {"Latency", "Resource", "Resource_Unrolled"}


@pytest.mark.parametrize("rf, expected", [(1, 4256), (4, 1064)])
def test_jet_mlp_unpruned_and_pruned(rf, expected, tmp_path):
    model, shape = _model("jets", 0)
    cfg = make_hls_config(model, shape, HardwareSettings.from_dict({}), rf)
    est = estimate_resources(model, cfg)
    assert est.totals["multipliers"] == expected
    generated = _write(model, cfg, tmp_path / "base")
    check_estimate_matches_generated(est, generated)
    limit = "multiplier_limit" if rf == 1 else "allocation_limit"
    assert sum(getattr(g, limit) for g in generated.values()) == expected
    for seed in range(3):
        masks = _random_masks(model, cfg, np.random.default_rng(100 + seed))
        est = estimate_resources(model, cfg, masks)
        generated = _write(_zeroed(model, masks), cfg, tmp_path / f"pruned{seed}")
        check_estimate_matches_generated(est, generated)
        assert est.totals["multipliers"] < expected
        assert sum(getattr(g, limit) for g in generated.values()) == est.totals["multipliers"]


def test_partial_pattern_and_all_zero_layer_in_generated_code(tmp_path):
    model, shape = _model("jets", 1)
    cfg = make_hls_config(model, shape, HardwareSettings.from_dict({}), 4)
    fc2 = describe_model(model, cfg)[1]
    pats = dsp_patterns(fc2)
    mask = torch.ones(fc2.weight_shape, dtype=torch.bool)
    mask.view(-1)[torch.as_tensor(pats.index_set(3)[:3])] = False  # 3 of 4 weights
    masks = {"fc2.weight": mask, "fc3.weight": torch.zeros(32, 32, dtype=torch.bool)}
    generated = _write(_zeroed(model, masks), cfg, tmp_path / "prj")
    est = estimate_resources(model, cfg, masks)
    check_estimate_matches_generated(est, generated)
    assert generated["fc2"].allocation_limit == 512  # a partly zero pattern saves nothing
    assert generated["fc2"].n_zeros == 3
    assert generated["fc3"].allocation_limit == 0 and generated["fc3"].n_nonzeros == 0


def test_hls4ml_silently_changes_an_invalid_rf_that_we_reject(tmp_path):
    model, shape = _model("jets", 0)
    cfg = make_hls_config(model, shape, HardwareSettings.from_dict({}), 4)
    cfg["LayerName"]["fc1"]["ReuseFactor"] = 3
    with pytest.raises(InvalidReuseFactorError, match="silently use 2"):
        describe_model(model, cfg)
    generated = _write(model, cfg, tmp_path / "prj")
    assert generated["fc1"].reuse_factor == 2  # hls4ml only printed a warning


@pytest.mark.parametrize("strategy, io_type", [("Resource", "io_stream"), ("Latency", "io_parallel")])
def test_conv_weight_layout_matches_written_weights(strategy, io_type, tmp_path):
    model, shape = _model("cnn", 3)
    with torch.no_grad():  # distinct, exactly representable values: 1/64 .. n/64
        w = model.conv2.weight
        w.copy_(torch.arange(1, w.numel() + 1, dtype=w.dtype).reshape(w.shape) / 64)
    settings = HardwareSettings.from_dict({"io_type": io_type, "strategy": strategy,
                                           "precision": "ap_fixed<24,12>"})
    cfg = make_hls_config(model, shape, settings, 1 if strategy == "Latency" else 3)
    out = tmp_path / "prj"
    _write(model, cfg, out)
    call = re.search(r", (w\d+), b\d+\); // conv2", (out / "firmware" / "myproject.cpp").read_text())
    values = np.loadtxt(out / "firmware" / "weights" / f"{call.group(1)}.txt", delimiter=",")
    written = np.rint(values * 64).astype(int) - 1  # torch flat index stored at each position
    layer = next(x for x in describe_model(model, cfg) if x.name == "conv2")
    if strategy == "Latency":  # (kh, kw, C_in, F): the transpose of the (F, n_in) layout
        expected = layer.hls_order.reshape(layer.n_out, layer.n_in).T.ravel()
    else:
        expected = layer.hls_order
    np.testing.assert_array_equal(written, expected)


def test_config_round_trips_through_yaml(tmp_path):
    model, shape = _model("cnn", 0)
    settings = HardwareSettings.from_dict({"io_type": "io_stream", "weight_precision": "ap_fixed<18,8>"})
    cfg = make_hls_config(model, shape, settings, 3)
    save_hls_config(cfg, tmp_path / "hls_config.yml")
    loaded = load_hls_config(tmp_path / "hls_config.yml")
    assert loaded["InputShape"] == CNN_INPUT
    est = estimate_resources(model, loaded)
    check_estimate_matches_generated(est, _write(model, loaded, tmp_path / "prj"))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_dense_after_flatten_layout_matches_written_weights(io_type, tmp_path):
    """io_parallel: hls4ml permutes the Dense inputs to channels-last instead of transposing."""
    model, shape = _model("cnn", 4)
    with torch.no_grad():
        w = model.fc1.weight
        w.copy_(torch.arange(1, w.numel() + 1, dtype=w.dtype).reshape(w.shape) / 64)
    settings = HardwareSettings.from_dict({"io_type": io_type, "strategy": "Resource",
                                           "precision": "ap_fixed<24,12>"})
    cfg = make_hls_config(model, shape, settings, 3)
    out = tmp_path / "prj"
    _write(model, cfg, out)
    call = re.search(r", (w\d+), b\d+\); // fc1", (out / "firmware" / "myproject.cpp").read_text())
    values = np.loadtxt(out / "firmware" / "weights" / f"{call.group(1)}.txt", delimiter=",")
    written = np.rint(values * 64).astype(int) - 1
    layer = next(x for x in describe_model(model, cfg) if x.name == "fc1")
    np.testing.assert_array_equal(written, layer.hls_order)
    assert (layer.input_order is not None) == (io_type == "io_parallel")
