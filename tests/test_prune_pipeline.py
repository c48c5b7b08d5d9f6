"""End-to-end pruning on a tiny model and dataset: budgets, structures, masks, outputs."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
import torch

from rasp.data.processed import ProcessedData, save_processed
from rasp.hardware.estimate import estimate_resources
from rasp.hardware.hls_config import make_hls_config
from rasp.hardware.layers import describe_model
from rasp.hardware.structures import layer_structures
from rasp.models import build_model, load_checkpoint, load_masks, save_checkpoint
from rasp.prune.job import prune_job
from rasp.prune.masks import masks_hold
from rasp.prune.pruner import prune
from rasp.prune.results import TRAJECTORY_COLUMNS
from rasp.train import TrainConfig, fit

from conftest import FAST_PRUNE, copy_tiny_mlp, trained_tiny_mlp

HARDWARE = {"io_type": "io_parallel", "precision": "ap_fixed<16,6>", "strategy": "auto"}
FAST = FAST_PRUNE


@pytest.fixture(scope="module")
def tiny():
    """A small jet-style MLP (16-12-8-5) trained for a few epochs on separable data."""
    return trained_tiny_mlp(epochs=15)


_copy = copy_tiny_mlp


@pytest.mark.parametrize(
    ("objective", "rf", "resource"),
    [("dsp", 1, "dsp"), ("dsp", 4, "dsp"), ("unstructured", 4, "dsp"), ("neurons", 1, "dsp")],
)
def test_pruned_model_meets_the_estimated_budget(tiny, objective, rf, resource):
    model, data = tiny
    budget = 0.4
    res = prune(_copy(model), data, objective=objective, reuse_factor=rf, budget=budget,
                hardware=HARDWARE, config=FAST, seed=3)
    est = estimate_resources(res.model, res.hls_config, res.masks)
    base = res.metrics["baseline_resources"][resource]
    assert est.totals[resource] <= budget * base + 1e-9
    assert res.metrics["meets_budget"]
    assert res.metrics[resource] == est.totals[resource]
    assert masks_hold(res.model, res.masks)
    assert len(res.trajectory) == 2 and res.trajectory[-1]["budget_fraction"] == budget
    assert 0.0 <= res.metrics["test_accuracy"] <= 1.0


def test_dsp_objective_prunes_whole_patterns_at_rf_above_one(tiny):
    model, data = tiny
    res = prune(_copy(model), data, objective="dsp", reuse_factor=4, budget=0.3,
                hardware=HARDWARE, config=FAST, seed=1)
    layers = describe_model(res.model, res.hls_config)
    partial = 0
    removed = 0
    for layer in layers:
        s = layer_structures(layer, "patterns")
        kept = s.reduce(res.masks[layer.param_name].numpy().astype(np.int64))
        partial += int(((kept > 0) & (kept < s.sizes)).sum())
        removed += int((kept == 0).sum())
    assert removed > 0
    assert partial == 0
    # the output layer is forced kept
    assert bool(res.masks[layers[-1].param_name].all())


def test_unstructured_leaves_partial_patterns_that_save_nothing(tiny):
    """The baseline ignores patterns: at the same budget it needs a higher sparsity."""
    model, data = tiny
    kw = dict(reuse_factor=4, budget=0.3, hardware=HARDWARE, config=FAST, seed=1)
    un = prune(_copy(model), data, objective="unstructured", **kw)
    ra = prune(_copy(model), data, objective="dsp", **kw)
    assert un.metrics["meets_budget"] and ra.metrics["meets_budget"]
    assert un.metrics["sparsity"]["total"] > ra.metrics["sparsity"]["total"]


def test_neurons_objective_keeps_a_neuron_per_layer_and_all_outputs(tiny):
    model, data = tiny
    res = prune(_copy(model), data, objective="neurons", reuse_factor=1, budget=0.1,
                hardware=HARDWARE, config=FAST, seed=2)
    m = res.masks
    for name in ("fc1.weight", "fc2.weight"):
        rows_alive = m[name].any(dim=1)
        assert 1 <= int(rows_alive.sum()) < m[name].shape[0]
    # removing a neuron also removes the next layer's input column
    dead = ~m["fc1.weight"].any(dim=1)
    assert not bool(m["fc2.weight"][:, dead].any())
    # the output layer's outputs are never pruned
    assert bool(m["fc3.weight"].any(dim=1).all())


def test_prune_job_writes_all_outputs(tmp_path, tiny, caplog):
    model, data = tiny
    data_path = tmp_path / "data" / "dataset.npz"
    save_processed(data_path, data)
    base = tmp_path / "baseline" / "model.pt"
    save_checkpoint(base, model, {"variant": "float", "seed": 0, "data_source": data.source})
    out = tmp_path / "pruned"
    caplog.set_level(logging.INFO)
    metrics = prune_job(
        base, data_path, dataset="jets", variant="float", objective="dsp", reuse_factor=4,
        budget_percent=25, hardware=HARDWARE, pruning={**FAST, "budgets": [25]}, seed=11,
        out_model=out / "model.pt", out_masks=out / "masks.pt",
        out_metrics=out / "metrics.json", out_trajectory=out / "trajectory.csv", threads=1,
    )
    written = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "baseline_test_accuracy", "layers",
                "resources", "baseline_resources", "sparsity", "seed", "data_source",
                "provenance", "solve_seconds", "gap", "solver_method", "met_tolerance",
                "dsp", "bram_18k", "multipliers", "best_accepted_budget_fraction"):
        assert key in written, key
    assert written["seed"] == 11 and written["data_source"] == "synthetic-test"
    assert written["dsp"] <= 0.25 * written["baseline_dsp"]
    assert metrics["objective"] == "dsp"
    rows = list(csv.DictReader((out / "trajectory.csv").open()))
    assert len(rows) == 2 and tuple(rows[0]) == TRAJECTORY_COLUMNS
    pruned, meta = load_checkpoint(out / "model.pt")
    masks = load_masks(out / "masks.pt")
    assert meta["objective"] == "dsp" and meta["reuse_factor"] == 4
    assert meta["masks_file"] == "masks.pt" and meta["hls"]["reuse_factor"] == 4
    assert masks_hold(pruned, masks)
    assert all(torch.equal(meta["masks"][k], masks[k]) for k in masks)
    # the estimate of the saved model equals the metrics
    cfg = make_hls_config(pruned, pruned.input_shape, HARDWARE, 4)
    assert estimate_resources(pruned, cfg, masks).totals["dsp"] == written["dsp"]
    assert any("step 2" in r.getMessage() for r in caplog.records)


# lutram_max_depth 0: RF-4 arrays stay in BRAM (the HLS C-synthesis view), so the miniature
# CNN has BRAM columns to prune (by default 4-deep arrays are LUTRAM)
CNN_HARDWARE = {"io_type": "io_stream", "precision": "ap_fixed<16,6>",
                "weight_precision": "ap_fixed<18,8>", "strategy": "auto",
                "rf_policy": "nearest", "bram": {"lutram_max_depth": 0}}


@pytest.fixture(scope="module")
def tiny_cnn():
    """A miniature SVHN-style CNN on 22x22 images (every layer Resource_Unrolled, BRAM)."""
    rng = np.random.default_rng(1)
    n = 240
    y = rng.integers(0, 10, size=n).astype(np.int64)
    x = rng.uniform(0, 0.3, size=(n, 3, 22, 22)).astype(np.float32)
    for i, label in enumerate(y):  # a class-dependent bright square
        r, c = divmod(int(label), 5)
        x[i, label % 3, 2 + 8 * r:8 + 8 * r, 1 + 4 * c:5 + 4 * c] += 0.7
    a, b = 160, 200
    data = ProcessedData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:],
                         class_names=[str(i) for i in range(10)],
                         provenance={"source": "synthetic-test"})
    torch.manual_seed(0)
    model = build_model("svhn_cnn", image_size=22, filters=[4, 4, 8], dense=[8, 8])
    fit(model, data, TrainConfig(epochs=4, batch_size=32, learning_rate=0.01, seed=0,
                                 threads=1))
    return model, data


def _cnn_copy(model):
    clone = build_model("svhn_cnn", image_size=22, filters=[4, 4, 8], dense=[8, 8])
    clone.load_state_dict(model.state_dict())
    return clone


CNN_FAST = {**FAST, "steps": 1, "finetune_epochs": 1, "finetune": {"batch_size": 32},
            "group_lasso": 1e-3}


@pytest.mark.parametrize("objective", ["bram", "dsp+bram"])
def test_bram_objectives_free_whole_columns_and_meet_the_budget(tiny_cnn, objective):
    model, data = tiny_cnn
    res = prune(_cnn_copy(model), data, objective=objective, reuse_factor=4, budget=0.4,
                hardware=CNN_HARDWARE, config=CNN_FAST, seed=5)
    m = res.metrics
    assert m["baseline_bram_18k"] > 0
    assert m["bram_18k"] <= 0.4 * m["baseline_bram_18k"]
    if objective == "dsp+bram":
        assert m["dsp"] <= 0.4 * m["baseline_dsp"]
    layers = describe_model(res.model, res.hls_config)
    freed = 0
    for layer in layers:
        cols = layer_structures(layer, "bram_columns")
        if len(cols) == 0:
            continue
        kept = cols.reduce(res.masks[layer.param_name].numpy().astype(np.int64))
        freed += int((kept == 0).sum())
        if objective == "bram":  # whole columns only
            assert not ((kept > 0) & (kept < cols.sizes)).any()
        pats = layer_structures(layer, "patterns")
        kept_p = pats.reduce(res.masks[layer.param_name].numpy().astype(np.int64))
        # DSP patterns are never partly pruned by either objective
        assert not ((kept_p > 0) & (kept_p < pats.sizes)).any()
    assert freed > 0
    assert masks_hold(res.model, res.masks)


def test_baseline_from_other_data_source_is_refused(tmp_path, tiny):
    """A stand-in baseline is never pruned (or ablated) on real data, nor the reverse."""
    from rasp.prune.job import load_baseline_and_data

    model, data = tiny
    save_processed(tmp_path / "dataset.npz", data)
    save_checkpoint(tmp_path / "model.pt", model,
                    {"variant": "float", "seed": 0, "data_source": "openml"})
    with pytest.raises(ValueError, match="trained on data source 'openml'.*retrain the baseline"):
        load_baseline_and_data(tmp_path / "model.pt", tmp_path / "dataset.npz")
