"""The lut_da resource: da4ml's cost of the re-traced design, and pruning to a LUT budget."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

pytest.importorskip("da4ml")

from rasp.hardware.da_cost import (  # noqa: E402
    CachedDaCost,
    DaCostError,
    digit_structures,
    model_biases,
    trace_layers,
)
from rasp.hardware.estimate import effective_weights  # noqa: E402
from rasp.hardware.fixed import csd_digits, quantize_to_int  # noqa: E402
from rasp.hardware.hls_config import make_hls_config  # noqa: E402
from rasp.hardware.layers import describe_model  # noqa: E402
from rasp.hardware.settings import HardwareSettings  # noqa: E402
from rasp.models import build_model  # noqa: E402
from rasp.prune.pruner import prune  # noqa: E402
from rasp.prune.results import write_trajectory  # noqa: E402
from rasp.prune.selection import build_items, calibrate_costs  # noqa: E402

from conftest import FAST_PRUNE, copy_tiny_mlp, trained_tiny_mlp  # noqa: E402

HARDWARE = {"io_type": "io_parallel", "precision": "ap_fixed<12,4>", "strategy": "auto"}
FAST = {**FAST_PRUNE, "importance_batches": 2}


def _layers(model, rf=1, settings=HARDWARE):
    hs = HardwareSettings.from_dict(settings)
    cfg = make_hls_config(model, model.input_shape, hs, rf)
    return describe_model(model, cfg, settings=hs)


@pytest.fixture(scope="module")
def tiny():
    """A small jet-style MLP (16-12-8-5) trained for a few epochs on separable data."""
    return trained_tiny_mlp(epochs=10)


_copy = copy_tiny_mlp


def test_traced_cost_matches_the_hls4ml_flow_and_falls_when_weights_are_pruned(tiny):
    """The cost the pruner budgets is the cost the HLS stage's DA flow reports."""
    pytest.importorskip("hls4ml")
    import tempfile
    from pathlib import Path

    from rasp.hls.convert import convert_model
    from rasp.hls.da import trace_hls_model

    model = _copy(tiny[0]).eval()
    layers = _layers(model)
    full = trace_layers(layers, effective_weights(model), biases=model_biases(model, layers))
    hs = HardwareSettings.from_dict(HARDWARE)
    cfg = make_hls_config(model, model.input_shape, hs, 1)
    conv = convert_model(model, cfg, Path(tempfile.mkdtemp()) / "prj", trace=False)
    assert full.cost == pytest.approx(trace_hls_model(conv.hls_model).cost)

    w = model.fc1.weight
    masks = {"fc1.weight": w.abs() > w.abs().median()}
    half = trace_layers(layers, effective_weights(model), masks, model_biases(model, layers))
    assert 0 < half.cost < full.cost


def test_digit_structures_cost_the_csd_digits_of_each_quantised_weight(tiny):
    model = _copy(tiny[0])
    layer = _layers(model)[0]
    s = digit_structures(layer, model.fc1.weight)
    q = quantize_to_int(model.fc1.weight.detach().double().numpy().reshape(-1),
                        layer.weight_type)
    assert len(s) == layer.n_weights and s.resources == ("lut_da",)
    np.testing.assert_array_equal(s.costs[:, 0], csd_digits(q))
    masked = digit_structures(layer, model.fc1.weight,
                              {"fc1.weight": torch.zeros_like(model.fc1.weight, dtype=bool)})
    assert masked.costs.sum() == 0


def test_calibrated_item_costs_sum_to_the_traced_cost(tiny):
    model = _copy(tiny[0])
    layers = _layers(model)
    items = build_items(layers, "lut_da", ("lut_da",), effective_weights(model))
    assert items.weight_dependent and items.n == sum(ly.n_weights for ly in layers)
    total = trace_layers(layers, effective_weights(model), biases=model_biases(model, layers))
    items = calibrate_costs(items, "lut_da", total.cost)
    assert items.costs[0].sum() == pytest.approx(total.cost)


def test_lut_da_refuses_what_distributed_arithmetic_does_not_build(tiny):
    model = _copy(tiny[0])
    with pytest.raises(DaCostError, match="reuse factor 1"):
        trace_layers(_layers(model, rf=4), effective_weights(model))
    cnn = build_model("svhn_cnn")
    hs = HardwareSettings.from_dict(HARDWARE)
    cfg = make_hls_config(cnn, cnn.input_shape, hs, 1)
    with pytest.raises(DaCostError, match="Linear layers only"):
        trace_layers(describe_model(cnn, cfg, settings=hs), effective_weights(cnn))


def test_lut_da_prune_meets_the_budget_by_a_re_trace(tiny, tmp_path):
    model, data = tiny
    budget = 0.35
    res = prune(_copy(model), data, objective="lut_da", reuse_factor=1, budget=budget,
                hardware=HARDWARE, config=FAST, seed=3)
    m = res.metrics
    assert m["budget_resources"] == ["lut_da"] and m["meets_budget"]
    layers = _layers(res.model)
    traced = trace_layers(layers, effective_weights(res.model), res.masks,
                          model_biases(res.model, layers)).cost
    assert traced == pytest.approx(m["resources"]["lut_da"])
    assert traced <= budget * m["baseline_resources"]["lut_da"] + 1e-9
    assert m["baseline_resources"]["lut_da"] > 0
    assert all("achieved_lut_da" in row for row in res.trajectory)
    assert m["da_traces"] > 0 and m["da_cache_hits"] > 0 and m["da_trace_seconds"] > 0
    write_trajectory(tmp_path / "t.csv", res.trajectory)
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["achieved_lut_da"]) == pytest.approx(traced)


def test_unstructured_can_budget_lut_da_for_a_like_for_like_baseline(tiny):
    model, data = tiny
    res = prune(_copy(model), data, objective="unstructured", reuse_factor=1, budget=0.35,
                hardware=HARDWARE, config={**FAST, "budget_resources": ["lut_da"]}, seed=3)
    m = res.metrics
    assert m["meets_budget"]
    assert m["resources"]["lut_da"] <= 0.35 * m["baseline_resources"]["lut_da"] + 1e-9


def test_cached_cost_traces_each_design_once(tiny):
    model = _copy(tiny[0])
    layers = _layers(model)
    cost = CachedDaCost(layers)
    w, b = effective_weights(model), model_biases(model, layers)
    first = cost(w, None, b)
    assert cost(w, None, b) == first and (cost.traces, cost.hits) == (1, 1)
    keep = {"fc2.weight": model.fc2.weight.abs() > model.fc2.weight.abs().median()}
    assert cost(w, keep, b).cost < first.cost and cost.traces == 2
