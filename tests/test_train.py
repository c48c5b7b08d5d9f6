"""Training loop: learning, bit-exact determinism, exact resume, exact masks, best-epoch
selection, evaluation metrics, the baseline job and its figures."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from rasp.data.processed import ProcessedData, save_processed
from rasp.models import build_model, load_checkpoint
from rasp.train import (
    TrainConfig,
    evaluate,
    fit,
    predict_proba,
    state_fingerprint,
    train_baseline,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["g", "q", "t", "w", "z"]
TIMING_KEYS = ("train_seconds", "samples_per_second")


def _blobs(n: int, seed: int, n_features: int = 16, n_classes: int = 5):
    """Gaussian blobs around fixed class centres (the same centres for every split)."""
    centres = np.random.default_rng(1234).normal(size=(n_classes, n_features)) * 0.8
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = centres[y] + rng.normal(size=(n, n_features))
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def data() -> dict:
    x_tr, y_tr = _blobs(640, 1)
    x_va, y_va = _blobs(200, 2)
    return {"x_train": x_tr, "y_train": y_tr, "x_val": x_va, "y_val": y_va}


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=5, batch_size=64, learning_rate=3e-3, seed=11, threads=1, device="cpu",
                early_stopping_patience=0)
    return TrainConfig.from_dict({**base, **kw})


def _model(quantized: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("jet_mlp", quantized=quantized)


def _strip_timing(history):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history]


def test_fit_learns_and_keeps_the_best_epoch(data):
    result = fit(_model(), data, _cfg(epochs=8))
    hist = result.history
    assert len(hist) == result.epochs_run == 8
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]
    val_losses = [r["val_loss"] for r in hist]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    final = evaluate(result.model, data["x_val"], data["y_val"])
    assert final["loss"] == pytest.approx(min(val_losses), abs=1e-6)
    assert final["accuracy"] > 0.6  # chance is 0.2
    assert result.samples_per_second > 0 and result.device == "cpu"


def test_fit_is_bit_identical_for_the_same_seed(data):
    a = fit(_model(), data, _cfg())
    b = fit(_model(), data, _cfg())
    c = fit(_model(), data, _cfg(seed=12))
    assert state_fingerprint(a.model) == state_fingerprint(b.model)
    assert _strip_timing(a.history) == _strip_timing(b.history)
    assert state_fingerprint(a.model) != state_fingerprint(c.model)


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("quantized,scheduler", [(False, "cosine"), (True, "plateau")])
def test_resume_after_interruption_reaches_the_same_state(data, tmp_path, quantized, scheduler):
    # Scheduler and early-stopping state must resume too; for QAT the interruption falls
    # inside Brevitas' statistics-collection phase (its step counter is not in state_dict).
    cfg = _cfg(epochs=6, scheduler=scheduler, plateau_patience=1, early_stopping_patience=3)
    full = fit(_model(quantized), data, cfg, resume_dir=tmp_path / "full")

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(_model(quantized), data, cfg, resume_dir=tmp_path / "cut", on_epoch_end=stop_after_two)
    resumed = fit(_model(quantized), data, cfg, resume_dir=tmp_path / "cut")
    assert resumed.resumed_from_epoch == 2
    assert state_fingerprint(resumed.model) == state_fingerprint(full.model)
    assert _strip_timing(resumed.history) == _strip_timing(full.history)
    assert (resumed.best_epoch, resumed.epochs_run) == (full.best_epoch, full.epochs_run)


def test_resume_state_of_another_job_is_ignored(data, tmp_path):
    fit(_model(), data, _cfg(epochs=2), resume_dir=tmp_path)
    other = fit(_model(), data, _cfg(epochs=2, learning_rate=1e-3), resume_dir=tmp_path)
    assert other.resumed_from_epoch == 0
    fresh = fit(_model(), data, _cfg(epochs=2, learning_rate=1e-3))
    assert state_fingerprint(other.model) == state_fingerprint(fresh.model)


@pytest.mark.parametrize("quantized", [False, True])
def test_masks_stay_exactly_zero_through_fit(data, quantized):
    model = _model(quantized)
    gen = torch.Generator().manual_seed(5)
    masks = {
        "fc1.weight": torch.rand(model.fc1.weight.shape, generator=gen) > 0.5,
        "fc2.weight": torch.rand(model.fc2.weight.shape, generator=gen) > 0.7,
        "fc2.bias": torch.rand(model.fc2.bias.shape, generator=gen) > 0.5,
    }
    before = model.fc1.weight.detach().clone()
    params = dict(model.named_parameters())
    steps = []

    def regularizer(m):
        # Called before every forward pass: pruned weights must be exactly zero here.
        for name, mask in masks.items():
            assert torch.all(params[name].detach()[~mask] == 0), name
        steps.append(1)
        # A term that pulls every weight (pruned ones included) away from zero.
        return -1e-3 * sum(p.sum() for n, p in m.named_parameters() if n in masks)

    def grads_are_zero(record):
        # Gradients of the epoch's last step are still attached: pruned entries must be 0.
        for name, mask in masks.items():
            assert torch.all(params[name].grad[~mask] == 0), name

    result = fit(model, data, _cfg(epochs=3, weight_decay=1e-3), masks=masks,
                 regularizer=regularizer, on_epoch_end=grads_are_zero)
    assert len(steps) == 3 * (640 // 64)
    final = dict(result.model.named_parameters())
    for name, mask in masks.items():
        w = final[name].detach()
        assert torch.all(w[~mask] == 0) and not torch.any(torch.signbit(w[~mask])), name
    kept = masks["fc1.weight"]
    assert not torch.equal(final["fc1.weight"].detach()[kept], before[kept])
    assert all(r["reg_loss"] != 0 for r in result.history)


def test_bad_masks_and_config_are_rejected(data):
    model = _model()
    with pytest.raises(KeyError, match="fc9.weight"):
        fit(model, data, _cfg(), masks={"fc9.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="shape"):
        fit(model, data, _cfg(), masks={"fc1.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(TypeError, match="bool"):
        fit(model, data, _cfg(), masks={"fc1.weight": torch.ones(64, 16)})
    with pytest.raises(ValueError, match="unknown training keys"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="scheduler"):
        TrainConfig(scheduler="step")
    with pytest.raises(ValueError, match="expects"):
        fit(model, {**data, "x_train": np.zeros((640, 3, 32, 32), np.float32)}, _cfg())


class _Logits(nn.Module):
    """Returns its input as logits (lets the test know every prediction)."""

    def forward(self, x):
        return x


def test_evaluate_metrics_match_hand_computation():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 3)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    res = evaluate(_Logits(), logits, y, batch_size=64, roc_auc=True, class_names=["a", "b", "c"])
    pred = logits.argmax(1)
    assert res["accuracy"] == pytest.approx(np.mean(pred == y))
    assert res["per_class_accuracy"]["b"] == pytest.approx(np.mean(pred[y == 1] == 1))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert res["roc_auc"]["c"] == pytest.approx(roc_auc_score(y == 2, proba[:, 2]))
    nll = -np.log(proba[np.arange(300), y]).mean()
    assert res["loss"] == pytest.approx(nll, rel=1e-5)
    np.testing.assert_allclose(predict_proba(_Logits(), logits, 50), proba, rtol=1e-5)


def test_schema_defaults_match_train_config():
    schema = yaml.safe_load((REPO / "src/rasp/schemas/training.schema.yaml").read_text())
    props = schema["$defs"]["settings"]["properties"]
    defaults = asdict(TrainConfig())
    for f in fields(TrainConfig):
        if f.name in ("seed", "threads", "device"):
            assert f.name not in props  # set by the rule, not the training block
            continue
        assert props[f.name]["default"] == defaults[f.name], f.name


def test_train_baseline_writes_outputs_and_figures(tmp_path):
    x_tr, y_tr = _blobs(400, 1)
    x_va, y_va = _blobs(150, 2)
    x_te, y_te = _blobs(150, 3)
    npz = tmp_path / "data" / "dataset.npz"
    save_processed(npz, ProcessedData(x_tr, y_tr, x_va, y_va, x_te, y_te, CLASSES,
                                      [f"f{i}" for i in range(16)], {"source": "pythia"}))
    out = tmp_path / "out"
    metrics = train_baseline(
        npz, dataset="jets", variant="float", arch="jet_mlp",
        model_kwargs={"quantized": False, "weight_bits": 8},
        training={"epochs": 3, "batch_size": 32, "learning_rate": 5e-3}, seed=5, threads=1, device="cpu",
        out_model=out / "model.pt", out_metrics=out / "metrics.json",
        out_history=out / "history.csv", out_roc=out / "roc.csv", resume_dir=out / ".resume",
    )
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "metrics.json", "model.pt",
                                                     "roc.csv"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["data_source"] == "pythia" and saved["seed"] == 5
    assert saved["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(saved["roc_auc"]) == set(CLASSES) and set(saved["per_class_accuracy"]) == set(CLASSES)
    assert saved["accuracy"] == metrics["test"]["accuracy"] > 0.5
    assert 0.5 < saved["val"]["roc_auc_macro"] <= 1.0
    model, meta = load_checkpoint(out / "model.pt")
    assert meta["variant"] == "float" and meta["data_source"] == "pythia" and meta["seed"] == 5
    again = evaluate(model, x_te, y_te, class_names=CLASSES)
    assert again["accuracy"] == saved["test"]["accuracy"]
    hist = pd.read_csv(out / "history.csv")
    assert list(hist["epoch"]) == [1, 2, 3]
    roc = pd.read_csv(out / "roc.csv")
    assert set(roc["class"]) == set(CLASSES)
    assert roc["mistag_rate"].between(0, 1).all()

    from rasp.plots.training import plot_roc, plot_training_curves

    figs = tmp_path / "figs"
    written = plot_training_curves(out / "history.csv", out / "metrics.json",
                                   [figs / "t.png", figs / "t.pdf"])
    written += plot_roc(out / "roc.csv", out / "metrics.json", [figs / "roc.png"])
    assert all(p.stat().st_size > 1000 for p in written)
