"""Layerwise channel pruning: greedy order, budgets, masks through fine-tuning and hls4ml,
the quantised variant, the rank-correlation ablation and the figures."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

import rasp.prune.layerwise as lw
from rasp.data.processed import ProcessedData, save_processed
from rasp.hardware.estimate import estimate_resources
from rasp.hardware.hls_config import hls4ml_convert_kwargs, make_hls_config
from rasp.hardware.layers import describe_model
from rasp.models import build_model, check_power_of_two_scales, load_checkpoint, save_checkpoint
from rasp.prune.masks import masks_hold
from rasp.prune.results import TRAJECTORY_COLUMNS, write_json, write_trajectory
from rasp.quantize import quantized_masks_hold
from rasp.train import TrainConfig, fit

from conftest import tiny_jet_data

HARDWARE = {"io_type": "io_parallel", "precision": "ap_fixed<16,6>", "strategy": "auto"}
FAST = {"finetune_epochs": 0, "finetune": {"batch_size": 64, "learning_rate": 0.003},
        "layerwise": {"calibration_samples": 200}}


@pytest.fixture(scope="module")
def tiny():
    """A jet-style MLP 16-12-8-8-5 trained briefly on separable data."""
    data = tiny_jet_data()
    torch.manual_seed(0)
    model = build_model("jet_mlp", hidden=[12, 8, 8])
    fit(model, data, TrainConfig(epochs=12, batch_size=64, learning_rate=0.01, seed=0,
                                 threads=1))
    return model, data


def _check_channel_masks(res, n_layers: int = 4) -> None:
    """Masks are exactly (kept outputs) x (kept inputs) per layer: a removed channel takes its
    whole row and the next layer's column with it; the output layer keeps every output."""
    masks = res.masks
    names = [f"fc{i}.weight" for i in range(1, n_layers + 1)]
    in_alive = torch.ones(masks[names[0]].shape[1], dtype=torch.bool)
    for name in names:
        rows = masks[name].any(dim=1)
        assert rows.sum() >= 1
        assert torch.equal(masks[name], rows[:, None] & in_alive[None, :]), name
        in_alive = rows
    assert bool(masks[names[-1]].any(dim=1).all()), "the output layer's outputs are never removed"


def test_greedy_order_scores_each_layer_with_earlier_layers_pruned(tiny, monkeypatch):
    model, data = tiny
    seen = []
    original = lw.channel_scores

    def spy(m, groups, x, **kw):
        # the model's weights at scoring time: which rows of every layer are all zero
        zero_rows = {f"fc{i}": (getattr(m, f"fc{i}").weight.detach() == 0).all(dim=1).clone()
                     for i in range(1, 5)}
        seen.append((groups[0].index, zero_rows))
        return original(m, groups, x, **kw)

    monkeypatch.setattr(lw, "channel_scores", spy)
    res = lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=1,
                             budget=0.3, hardware=HARDWARE, config=FAST, seed=1)
    assert [s[0] for s in seen] == [0, 1, 2], "one scoring pass per layer, in forward order"
    steps = res.metrics["layerwise"]["steps"]
    assert sum(s["kept"] < s["channels"] for s in steps) >= 2
    for idx, zero_rows in seen:
        for j, step in enumerate(steps):
            removed = torch.zeros(step["channels"], dtype=torch.bool)
            removed[step["removed"]] = True
            got = zero_rows[step["layer"]]
            if j < idx:  # earlier layers are already pruned when layer idx is scored
                assert torch.equal(got & removed, removed), (idx, step["layer"])
            else:  # this and later layers are still whole
                assert not bool(got.any()), (idx, step["layer"])


def test_scores_are_the_documented_statistic(tiny):
    model, data = tiny
    x = torch.as_tensor(data.x_train[:100])
    names = lw.weight_layer_names(model, model.input_shape)
    groups = lw.channel_groups(model, names)
    act, axw = (lw.channel_scores(model, groups[:2], x, score=s)
                for s in ("activation", "activation_x_weight"))
    with torch.no_grad():
        h1 = torch.relu(model.fc1(x))
        h2 = torch.relu(model.fc2(h1))
    np.testing.assert_allclose(act[0], h1.abs().mean(0).double().numpy(), rtol=1e-5)
    np.testing.assert_allclose(act[1], h2.abs().mean(0).double().numpy(), rtol=1e-5)
    norm = model.fc3.weight.detach().double().norm(dim=0).numpy()
    np.testing.assert_allclose(axw[1], act[1] * norm, rtol=1e-6)


@pytest.mark.parametrize(("split", "rf", "resource"), [
    ("channels", 1, "dsp"), ("resource", 4, "dsp"), ("channels", 4, "weight_bits"),
])
def test_pruned_model_meets_the_estimated_budget(tiny, split, rf, resource):
    model, data = tiny
    budget = 0.25
    cfg = {**FAST, "layerwise": {**FAST["layerwise"], "budget_split": split,
                                 "budget_resources": [resource]}}
    res = lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=rf,
                             budget=budget, hardware=HARDWARE, config=cfg, seed=2)
    est = estimate_resources(res.model, res.hls_config, res.masks)
    value = {"dsp": est.totals["dsp"], "weight_bits": float(
        (est.layers["nonzero_weights"] * est.layers["weight_bits"]).sum())}[resource]
    assert value <= budget * res.metrics["baseline_resources"][resource] + 1e-9
    assert res.metrics["meets_budget"] and res.metrics["resources"][resource] == value
    _check_channel_masks(res)
    assert list(res.trajectory[0]) == list(TRAJECTORY_COLUMNS)


def test_removed_channels_stay_removed_through_finetuning_and_hls4ml(tiny, tmp_path):
    import hls4ml

    model, data = tiny
    cfg = {**FAST, "finetune_epochs": 1}
    res = lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=4,
                             budget=0.4, hardware=HARDWARE, config=cfg, seed=3)
    assert masks_hold(res.model, res.masks)
    assert all(r["finetune_epochs"] == 1 for r in res.trajectory)
    _check_channel_masks(res)
    pruned = res.model.eval()
    hls_config = make_hls_config(pruned, pruned.input_shape, HARDWARE, 4)
    layers = {lay.name: lay for lay in describe_model(pruned, hls_config)}
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        pruned, hls_config=hls_config, output_dir=str(tmp_path / "hls"),
        **hls4ml_convert_kwargs(hls_config))
    hls_model.write()
    n_removed = 0
    for name, mask in res.masks.items():
        layer = name.split(".")[0]
        var = hls_model.graph[layers[layer].hls_name].get_weights("weight")
        # in-memory weights of the converted layer and the file hls4ml writes (its flat layout)
        assert bool((np.asarray(var.data).reshape(-1)[~mask.reshape(-1).numpy()] == 0).all())
        text = (tmp_path / "hls" / "firmware" / "weights" / f"{var.name}.txt").read_text()
        flat = np.array([float(v) for v in text.replace("\n", "").split(",") if v.strip()])
        removed_positions = ~mask.reshape(-1).numpy()[layers[layer].hls_order]
        assert flat.size == mask.numel()
        assert bool((flat[removed_positions] == 0).all()), layer
        n_removed += int(removed_positions.sum())
    assert n_removed > 0


def test_layerwise_quant_model_is_power_of_two_and_keeps_channels_removed(tiny, tmp_path):
    model, data = tiny
    cfg = {**FAST, "quantization": {"weight_bits": 6, "act_bits": 6, "finetune_epochs": 1}}
    res = lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise+quant",
                             reuse_factor=1, budget=0.3, hardware=HARDWARE, config=cfg, seed=4)
    q = res.model
    assert q.quantized and q.model_kwargs["weight_bits"] == 6
    assert check_power_of_two_scales(q)
    assert quantized_masks_hold(q, res.masks)
    _check_channel_masks(res)
    assert res.metrics["meets_budget"]
    assert all(row["weight_bits"] == 6 for row in res.metrics["layers"].values())
    assert res.metrics["weight_memory_bits"] == 6 * res.metrics["resources"]["nonzero_weights"]
    assert res.trajectory[-1]["solver_method"] == "uniform-quantisation"
    types = {r["name"]: r for r in res.metrics["quantization"]["quantizers"]}
    assert types["relu1"]["ap_type"].startswith("ap_ufixed<6,")
    # the checkpoint the prune rule writes reloads to the same function
    path = tmp_path / "model.pt"
    save_checkpoint(path, q, {"variant": "float", "seed": 4, "data_source": "synthetic-test"})
    again, _ = load_checkpoint(path)
    x = torch.as_tensor(data.x_test[:64])
    with torch.no_grad():
        assert torch.equal(q.eval()(x), again(x))


def test_bad_settings_are_refused_with_the_key_named(tiny):
    model, data = tiny
    with pytest.raises(ValueError, match="layerwise.score"):
        lw.LayerwiseConfig.from_dict({"score": "taylor"})
    with pytest.raises(ValueError, match="unknown layerwise keys"):
        lw.split_block({"layerwise": {"budget": 3}})
    with pytest.raises(ValueError, match="budgets bram_18k"):
        lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=1,
                           budget=0.5, hardware=HARDWARE,
                           config={**FAST, "layerwise": {"budget_resources": ["bram_18k"]}})
    with pytest.raises(ValueError, match="objectives"):
        lw.prune_layerwise(model, data, objective="dsp", reuse_factor=1, budget=0.5,
                           hardware=HARDWARE)


def test_rank_correlation_ablation_matches_a_hand_computation(tiny):
    from scipy.stats import spearmanr

    model, data = tiny
    x = data.x_train[:150]
    rows = lw.rank_correlation_ablation(model, x, [0.5], scores=["activation"])
    assert [(r["layer"], r["previous_layer"]) for r in rows] == [("fc2", "fc1"), ("fc3", "fc2")]
    xt = torch.as_tensor(x)
    with torch.no_grad():
        h1 = torch.relu(model.fc1(xt))
        dense2 = torch.relu(model.fc2(h1)).abs().mean(0).numpy()
        drop = np.argsort(h1.abs().mean(0).numpy(), kind="stable")[:6]  # 50% of 12
        w2 = model.fc2.weight.detach().clone()
        w2[:, drop] = 0
        cond2 = torch.relu(h1 @ w2.T + model.fc2.bias).abs().mean(0).numpy()
    assert rows[0]["previous_removed"] == 6
    assert rows[0]["spearman"] == pytest.approx(spearmanr(dense2, cond2)[0], abs=1e-9)
    assert 0 <= rows[0]["kept_overlap"] <= 1


def test_ablation_job_and_figures(tiny, tmp_path):
    from rasp.plots.layerwise import (
        plot_accuracy_vs_weight_bits,
        plot_rank_correlation,
        read_rank_correlation,
        weight_memory_points,
    )
    from rasp.plots.summary_table import SUMMARY_COLUMNS, normalise_summary
    from rasp.prune.job import ablation_job

    model, data = tiny
    save_processed(tmp_path / "data" / "dataset.npz", data)
    save_checkpoint(tmp_path / "base.pt", model,
                    {"variant": "float", "seed": 0, "data_source": "synthetic-test"})
    csv = tmp_path / "rank_correlation.csv"
    df = ablation_job(str(tmp_path / "base.pt"), str(tmp_path / "data" / "dataset.npz"),
                      dataset="jets", variant="float", sparsities=[0.25, 0.75],
                      calibration_samples=100, seed=0, out_csv=str(csv),
                      logger=logging.getLogger("t"))
    assert list(df.columns) == list(lw.ABLATION_COLUMNS) and len(df) == 2 * 2 * 2
    figs = plot_rank_correlation(read_rank_correlation(csv),
                                 [tmp_path / "rc.png", tmp_path / "rc.pdf"], dpi=50)
    assert all(p.stat().st_size > 0 for p in figs)

    # accuracy vs weight memory: a layerwise+quant run next to a run of the knapsack pruner
    res = lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=1,
                             budget=0.5, hardware=HARDWARE, config=FAST, seed=5)
    run_dir = tmp_path / "pruned" / "layerwise_rf1_b50"
    write_json(run_dir / "metrics.json", res.metrics)
    write_trajectory(run_dir / "trajectory.csv", res.trajectory)
    other = tmp_path / "pruned" / "dsp_rf1_b50" / "metrics.json"
    write_json(other, {"resources": {"nonzero_weights": 1000},
                       "baseline_resources": {"nonzero_weights": 4256},
                       "hardware": {"precision": "ap_fixed<16,6>", "weight_precision": None}})
    rows = []
    for obj, budget, acc in (("baseline", None, 0.8), ("layerwise", 50, 0.7), ("dsp", 50, 0.75)):
        row = dict.fromkeys(SUMMARY_COLUMNS)
        row.update(dataset="jets", data_source="synthetic-test", variant="float",
                   precision="ap_fixed<16,6>", reuse_factor=1, strategy="Latency",
                   objective=obj, budget=budget, accuracy_torch=acc, resource_source="estimate")
        rows.append(row)
    summary = normalise_summary(pd.DataFrame(rows))
    files = [run_dir / "metrics.json", other]
    pts = weight_memory_points(summary, files, "jets", "float", 1).set_index("objective")
    assert pts.loc["dsp", "weight_bits"] == 16_000
    assert pts.loc["layerwise", "weight_bits"] == res.metrics["weight_memory_bits"]
    out = plot_accuracy_vs_weight_bits(summary, files, "jets", "float", 1,
                                       [tmp_path / "wb.png"], dpi=50)
    assert out[0].stat().st_size > 0
    json.loads((run_dir / "metrics.json").read_text())  # strict JSON


def test_conv_channels_map_through_bn_pool_and_flatten():
    from rasp.prune.masks import full_masks

    torch.manual_seed(0)
    model = build_model("svhn_cnn", filters=[4, 4, 6], dense=[8, 8]).eval()
    names = lw.weight_layer_names(model, model.input_shape)
    assert names == ["conv1", "conv2", "conv3", "fc1", "fc2", "fc3"]
    groups = lw.channel_groups(model, names)
    g = groups[2]  # conv3 -> pool -> flatten of (6, 2, 2) -> fc1
    assert (g.next_kind, g.features_per_channel) == ("linear", 4)
    masks = full_masks(model, [f"{n}.weight" for n in names])
    g.remove(masks, [1, 4])
    groups[0].remove(masks, [2])
    assert not masks["conv3.weight"][[1, 4]].any() and masks["conv3.weight"][[0, 2, 3, 5]].all()
    dead_cols = torch.zeros(24, dtype=torch.bool)
    dead_cols[4:8] = dead_cols[16:20] = True
    assert torch.equal(~masks["fc1.weight"].any(dim=0), dead_cols)
    assert not masks["conv2.weight"][:, 2].any() and masks["conv2.weight"][:, [0, 1, 3]].all()

    x = torch.rand(16, 3, 32, 32)
    scores = lw.channel_scores(model, groups, x)
    with torch.no_grad():
        h = model.pool1(model.relu1(model.bn1(model.conv1(x))))
        h = model.pool2(model.relu2(model.bn2(model.conv2(h))))
        np.testing.assert_allclose(scores[1], h.abs().mean(dim=(0, 2, 3)).double().numpy(),
                                   rtol=1e-5)
        h = model.pool3(model.relu3(model.bn3(model.conv3(h))))
    np.testing.assert_allclose(scores[2], h.abs().mean(dim=(0, 2, 3)).double().numpy(), rtol=1e-5)


def test_layerwise_on_a_cnn_meets_the_budget():
    rng = np.random.default_rng(0)
    x = rng.random((60, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 60)
    data = ProcessedData(x[:40], y[:40], x[40:50], y[40:50], x[50:], y[50:],
                         class_names=list("0123456789"), provenance={"source": "t"})
    torch.manual_seed(0)
    model = build_model("svhn_cnn", filters=[4, 4, 6], dense=[8, 8])
    hw = {**HARDWARE, "io_type": "io_stream", "rf_policy": "nearest"}
    res = lw.prune_layerwise(model, data, objective="layerwise", reuse_factor=1, budget=0.3,
                             hardware=hw, config={**FAST, "layerwise": {"calibration_samples": 20}},
                             seed=0)
    assert res.metrics["meets_budget"]
    assert res.metrics["dsp"] <= 0.3 * res.metrics["baseline_dsp"]
    conv3 = res.masks["conv3.weight"].reshape(6, -1).any(dim=1)
    assert torch.equal(res.masks["fc1.weight"].any(dim=0), conv3.repeat_interleave(4))
    assert bool(res.masks["fc3.weight"].any(dim=1).all())


def test_finetuning_uses_the_blocks_finetune_samples(tiny, caplog):
    """The pruning block's fine-tune settings apply to layerwise too: finetune_samples
    caps the samples of every step's fine-tune (the knapsack objectives' subset rule)."""
    model, data = tiny
    cfg = {**FAST, "finetune_epochs": 1, "finetune_samples": 100}
    with caplog.at_level("INFO"):
        lw.prune_layerwise(copy.deepcopy(model), data, objective="layerwise", reuse_factor=1,
                           budget=0.5, hardware=HARDWARE, config=cfg, seed=3)
    lines = [r.getMessage() for r in caplog.records if "fine-tuning" in r.getMessage()]
    assert lines and all("on 100 samples" in ln for ln in lines), lines
