"""C simulation and the whole HLS run (rasp.hls.run_hls) on a tiny pruned MLP.

Two g++ compilations in all: the pruned model (RF 2, Resource_Unrolled; its rerun loads
the library from the cache) and a deliberately too narrow precision whose failure must
name the overflowing layer.
"""

from __future__ import annotations

import json
import logging
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from rasp.data.processed import ProcessedData, save_processed
from rasp.hardware import HardwareSettings, describe_model, dsp_patterns, make_hls_config
from rasp.hls import (
    AgreementError,
    HlsInputError,
    compile_library,
    convert_model,
    run_csim,
    run_hls,
)
from rasp.models import build_model, save_checkpoint

HW = {"backend": "Vitis", "part": "xcvu9p-flga2104-2L-e", "clock_period_ns": 5.0,
      "io_type": "io_parallel", "precision": "ap_fixed<16,6>", "weight_precision": None,
      "strategy": "auto", "rf_policy": "exact"}


def _data(tmp_path, n_features=6, n_classes=3):
    """Separable synthetic classes (standardised), so a few epochs reach a real accuracy."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, (n_classes, n_features))

    def split(n):
        y = rng.integers(0, n_classes, n)
        x = centres[y] + rng.normal(0, 1.0, (n, n_features))
        return x.astype(np.float32), y.astype(np.int64)

    (xtr, ytr), (xva, yva), (xte, yte) = split(1500), split(300), split(600)
    data = ProcessedData(xtr, ytr, xva, yva, xte, yte, class_names=["a", "b", "c"],
                         provenance={"source": "synthetic"})
    path = tmp_path / "data" / "dataset.npz"
    save_processed(path, data)
    return path, data


def _trained_pruned(tmp_path, data, rf=2):
    torch.manual_seed(0)
    model = build_model("jet_mlp", n_features=6, hidden=[12], n_classes=3)
    opt = torch.optim.Adam(model.parameters(), 0.02)
    x, y = torch.tensor(data.x_train), torch.tensor(data.y_train)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    base_ckpt = tmp_path / "baseline" / "model.pt"
    save_checkpoint(base_ckpt, model, {"variant": "float", "seed": 0, "data_source": "synthetic"})
    settings = HardwareSettings.from_dict(HW)
    cfg = make_hls_config(model, (6,), settings, rf)
    rng = np.random.default_rng(1)
    masks = {}
    for layer in describe_model(model, cfg):
        pats = dsp_patterns(layer)
        masks[layer.param_name] = torch.as_tensor(pats.kept_mask(rng.random(len(pats)) > 0.3))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in masks:
                p.mul_(masks[name].to(p.dtype))
    folder = tmp_path / "pruned"
    save_checkpoint(folder / "model.pt", model, {"variant": "float", "seed": 0,
                                                 "data_source": "synthetic"})
    torch.save(masks, folder / "masks.pt")
    acc = float((model(torch.tensor(data.x_test)).argmax(1).numpy() == data.y_test).mean())
    metrics = {"reuse_factor": rf, "hardware": settings.to_dict(),
               "strategies": {"fc1": "Resource_Unrolled", "fc2": "Resource_Unrolled"},
               "test_accuracy": acc, "baseline_test_accuracy": acc, "solve_seconds": 0.01,
               "gap": 0.0}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return model, masks, folder, base_ckpt


def _run(tmp_path, folder, data_path, out, **kw):
    args = dict(
        checkpoint=folder / "model.pt", data=data_path,
        out_hls_config=out / "hls_config.yml", out_csim=out / "csim.json",
        out_resources=out / "resources.csv", out_project=out / "project.tar.gz",
        dataset="jets", variant="float", run="dsp_rf2_b70", hardware=HW, reuse_factor=2,
        options={"csim": "all", "csim_samples": 400, "cache_dir": str(tmp_path / "cache")},
        seed=5, masks=folder / "masks.pt", prune_metrics=folder / "metrics.json",
        workdir=tmp_path,
    )
    args.update(kw)
    return run_hls(**args)


@pytest.mark.slow
def test_pruned_mlp_end_to_end_agrees_and_is_cached(tmp_path):
    data_path, data = _data(tmp_path)
    model, masks, folder, _ = _trained_pruned(tmp_path, data)
    out = tmp_path / "out"
    res = _run(tmp_path, folder, data_path, out)

    assert res["simulated"] and res["n_samples"] == 400
    assert res["agreement"] >= 0.98 and res["max_abs_diff"] < 0.1
    assert res["accuracy_torch"] > 0.6  # a real classifier, not chance
    assert abs(res["accuracy_csim"] - res["accuracy_torch_subset"]) <= 0.02
    assert not res["library_cached"] and res["compile_seconds"] > 0
    assert res["flow"] == "pytorch" and res["strategy"] == "Resource_Unrolled"
    assert res["data_source"] == "synthetic" and res["seed"] == 5
    assert json.loads((out / "csim.json").read_text())["agreement"] == res["agreement"]

    table = pd.read_csv(out / "resources.csv").set_index("layer")
    assert set(table.index) == {"fc1", "fc2", "total"}
    assert (table["multipliers_generated"] == table["multipliers_estimated"]).all()
    assert table.loc["total", "source"] == "estimate"
    # pruned patterns removed multipliers: fewer than the unpruned ceil(N / RF)
    assert table.loc["fc1", "multipliers_generated"] < 6 * 12 / 2
    cfg = yaml.safe_load((out / "hls_config.yml").read_text())
    assert cfg["LayerName"]["fc1"]["ReuseFactor"] == 2
    assert cfg["LayerName"]["fc1"]["Strategy"] == "Resource_Unrolled"
    with tarfile.open(out / "project.tar.gz") as tar:
        names = tar.getnames()
    assert "project/firmware/parameters.h" in names
    assert not any(n.endswith(".so") for n in names)

    # unchanged design: the rerun loads the library from the cache; this time with the
    # distributed-arithmetic flow (da4ml + Yosys)
    da_options = {"csim": "all", "csim_samples": 400, "cache_dir": str(tmp_path / "cache"),
                  "distributed_arithmetic": True}
    res2 = _run(tmp_path, folder, data_path, tmp_path / "out2", options=da_options)
    assert res2["library_cached"] and res2["compile_seconds"] < 2
    assert res2["accuracy_csim"] == res["accuracy_csim"]
    da = res2["da"]
    assert da["agreement"] >= 0.98 and da["n_samples"] == 400 and da["agreement_csim"] >= 0.98
    assert da["yosys"]["lut"] > 0 and da["yosys"]["dsp"] == 0 and not da["yosys_cached"]
    assert da["resource_source"] == "yosys" and da["cost"] > 0
    table2 = pd.read_csv(tmp_path / "out2" / "resources.csv")
    totals = table2[table2["layer"] == "total"]
    assert list(totals["source"]) == ["estimate", "yosys"]
    assert totals.iloc[1]["lut"] == da["yosys"]["lut"]
    assert totals.iloc[1]["strategy"] == "distributed_arithmetic"
    with tarfile.open(tmp_path / "out2" / "project.tar.gz") as tar:
        assert "project/da4ml/src/da_model.v" in tar.getnames()
    # the same design again: Yosys' result comes from the cache
    res3 = _run(tmp_path, folder, data_path, tmp_path / "out3", options=da_options)
    assert res3["da"]["yosys_cached"] and res3["da"]["yosys"] == da["yosys"]


def test_inputs_that_do_not_belong_together_are_refused(tmp_path):
    data_path, data = _data(tmp_path)
    model, masks, folder, base_ckpt = _trained_pruned(tmp_path, data)
    out = tmp_path / "out"
    # the baseline checkpoint has non-zero weights where the masks prune
    with pytest.raises(HlsInputError, match="pruned by the mask but not zero"):
        _run(tmp_path, folder, data_path, out, checkpoint=base_ckpt)
    # other hardware settings than the pruning used
    with pytest.raises(HlsInputError, match=r"other hardware settings.*\['precision'\]"):
        _run(tmp_path, folder, data_path, out, hardware=dict(HW, precision="ap_fixed<18,8>"))
    # the reuse factor of the run id must be the one converted
    with pytest.raises(HlsInputError, match="RF 2 but reuse_factor=4"):
        _run(tmp_path, folder, data_path, out, reuse_factor=4)
    assert not out.exists() or not any(out.iterdir())


def test_too_narrow_precision_fails_naming_the_layer(tmp_path, caplog):
    torch.manual_seed(0)
    model = build_model("jet_mlp", n_features=6, hidden=[12], n_classes=3).eval()
    with torch.no_grad():
        model.fc1.weight.mul_(6.0)  # fc1 outputs reach about +-20
    settings = HardwareSettings.from_dict(dict(HW, precision="ap_fixed<8,3>"))
    cfg = make_hls_config(model, (6,), settings, 1)
    conv = convert_model(model, cfg, tmp_path / "prj")
    compile_library(conv, None)
    x = np.random.default_rng(0).normal(0, 1.5, (300, 6)).astype(np.float32)
    with pytest.raises(AgreementError) as err:
        run_csim(conv, model, x, np.zeros(300, dtype=int), min_agreement=0.95,
                 diagnose_samples=64)
    msg = str(err.value)
    assert "below the threshold 95.00%" in msg
    assert "Widen the precision of layer 'fc1'" in msg
    assert "INTEGER bits" in msg and "OVERFLOW" in msg
    # not enforced: the same diagnosis becomes a warning and the result records the failure
    with caplog.at_level(logging.WARNING, logger="rasp.hls.csim"):
        res = run_csim(conv, model, x, np.zeros(300, dtype=int), min_agreement=0.95,
                       diagnose_samples=64, enforce=False)
    assert not res.agreement_passed and res.agreement < 0.95
    assert res.deviations and res.deviations[0]["layer"] == "fc1"
    assert any("Widen the precision of layer 'fc1'" in r.getMessage() for r in caplog.records)


def _narrow_run(tmp_path, data_path, data, options):
    """run_hls of a model that disagrees in fixed point (fc1 outputs ~ +-20 in
    ap_fixed<8,3>), recorded as a pruned model far below its baseline's accuracy."""
    torch.manual_seed(0)
    model = build_model("jet_mlp", n_features=6, hidden=[12], n_classes=3).eval()
    with torch.no_grad():
        model.fc1.weight.mul_(6.0)
    folder = tmp_path / "narrow"
    save_checkpoint(folder / "model.pt", model, {"variant": "float", "seed": 0,
                                                 "data_source": "synthetic"})
    hw = dict(HW, precision="ap_fixed<8,3>")
    metrics = {"reuse_factor": 1, "hardware": HardwareSettings.from_dict(hw).to_dict(),
               "test_accuracy": 0.3, "baseline_test_accuracy": 0.9}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / f"out_{options['agreement_check']}"
    return out, _run(tmp_path, folder, data_path, out, run="dsp_rf1_b50", reuse_factor=1,
                     hardware=hw, masks=None, options=options)


def test_disagreement_of_a_model_outside_tolerance_is_recorded_not_fatal(tmp_path):
    data_path, data = _data(tmp_path)
    options = {"csim": "all", "csim_samples": 300, "cache_dir": str(tmp_path / "cache"),
               "agreement_check": "within_tolerance"}
    out, res = _narrow_run(tmp_path, data_path, data, options)
    assert res["simulated"] and res["agreement"] < 0.95
    assert not res["agreement_passed"] and not res["agreement_enforced"]
    assert "outside 0.01" in res["agreement_enforced_reason"]
    assert json.loads((out / "csim.json").read_text())["agreement_passed"] is False
    # held to the threshold: the job fails and writes nothing
    with pytest.raises(AgreementError, match="Widen the precision of layer 'fc1'"):
        out, _ = _narrow_run(tmp_path, data_path, data, dict(options, agreement_check="all"))
    assert not (tmp_path / "out_all" / "csim.json").exists()


def test_saturation_below_a_relu_is_not_reported_as_the_overflow(tmp_path):
    """A pruned neuron's constant output far below the type's minimum saturates, and the
    ReLU after it maps it to 0 as it does the true value: no overflow to fix."""
    from rasp.hls.csim import diagnose_layers

    torch.manual_seed(0)
    model = build_model("jet_mlp", n_features=6, hidden=[12], n_classes=3).eval()
    with torch.no_grad():
        model.fc1.weight[3] = 0.0
        model.fc1.bias[3] = -50.0  # a dead neuron: constant -50, below -32
    x = np.random.default_rng(0).normal(0, 1.0, (200, 6)).astype(np.float32)

    def fc1(precision):
        settings = HardwareSettings.from_dict(dict(HW, precision=precision))
        conv = convert_model(model, make_hls_config(model, (6,), settings, 1),
                             tmp_path / precision.replace("<", "_").replace(">", "_").replace(",", "_"))
        compile_library(conv, None)
        return next(d for d in diagnose_layers(conv, model, x) if d.layer == "fc1")

    sat = fc1("ap_fixed<16,6,AP_RND,AP_SAT>")
    assert sat.torch_min == pytest.approx(-50.0) and sat.saturated and not sat.overflow
    assert sat.rel_error > 0  # the constant itself is clipped, it only cannot matter
    wrap = fc1("ap_fixed<16,6>")  # wraps: -50 becomes +14, which the ReLU passes
    assert wrap.overflow and not wrap.saturated


def test_culprit_is_the_first_overflowing_layer_not_the_largest_error_jump():
    from rasp.hls.csim import LayerDeviation, culprit

    def dev(name, rel, jump, overflow):
        return LayerDeviation(layer=name, reference=name, result_type="fixed<16,6>",
                              type_min=-32.0, type_max=32.0, torch_min=-41.0 if overflow else -1,
                              torch_max=1.0, rel_error=rel, max_abs_error=rel, jump=jump,
                              overflow=overflow)

    devs = [dev("fc1", 0.05, 0.05, False), dev("bn5", 1.6, 1.4, True), dev("relu5", 4.0, 2.4, False)]
    assert culprit(devs).layer == "bn5"
    devs[1] = dev("bn5", 1.6, 1.4, False)
    assert culprit(devs).layer == "relu5"
