"""Pruning building blocks: importance, normalisation, masks, schedules, group lasso."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from rasp.models import load_masks, save_masks
from rasp.prune.config import PruneConfig, SolverConfig
from rasp.prune.importance import (
    iterate_batches,
    normalise,
    structure_values,
    taylor_scores,
    weight_scores,
)
from rasp.prune.masks import (
    masks_from_removed,
    masks_hold,
    membership_from_groups,
    sparsity,
)
from rasp.prune.regularizer import GroupLasso
from rasp.prune.schedule import Schedule, fixed_budgets
from rasp.train import TrainConfig, fit


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_taylor_importance_matches_hand_computation():
    lin = nn.Linear(2, 3, bias=False)
    w = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w, dtype=torch.float32))
    model = nn.Sequential(lin)
    xs = [np.array([[1.0, 2.0]]), np.array([[-1.0, 0.5], [3.0, -2.0]])]
    ys = [np.array([2]), np.array([0, 1])]
    batches = [(torch.tensor(x, dtype=torch.float32), torch.tensor(y)) for x, y in zip(xs, ys, strict=True)]
    got = taylor_scores(model, ["0.weight"], batches)["0.weight"].numpy()

    # Hand computation: dCE/dW = mean_i (softmax(W x_i) - onehot(y_i)) x_i^T per batch.
    expected = np.zeros_like(w)
    for x, y in zip(xs, ys, strict=True):
        g = np.zeros_like(w)
        for xi, yi in zip(x, y, strict=True):
            p = _softmax(w @ xi)
            p[yi] -= 1.0
            g += np.outer(p, xi)
        g /= len(x)
        expected += np.abs(w * g)
    expected /= len(xs)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # the model's own gradients are untouched
    assert lin.weight.grad is None


def test_magnitude_scores_and_structure_values():
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, 0.0]]))
    l1 = weight_scores(model, ["0.weight"], "l1")
    l2 = weight_scores(model, ["0.weight"], "l2")
    groups = [{"0.weight": np.array([0, 1, 2])}, {"0.weight": np.array([3, 4, 5])}]
    member = membership_from_groups(groups)
    np.testing.assert_allclose(structure_values(l1, member, 2), [6.0, 9.0])
    np.testing.assert_allclose(structure_values(l2, member, 2), [14.0, 41.0])
    with pytest.raises(ValueError, match="taylor importance needs"):
        weight_scores(model, ["0.weight"], "taylor")


def test_mean_normalisation_removes_layer_scale():
    """A ReLU net scaled by a in one layer and 1/a in the next gets the same values."""
    torch.manual_seed(0)
    a = torch.randn(8, 4)
    b = torch.randn(3, 8)
    s1 = {"fc1.weight": a.abs(), "fc2.weight": b.abs()}
    s2 = {"fc1.weight": (10 * a).abs(), "fc2.weight": (b / 10).abs()}
    n1 = normalise(s1, "mean")
    n2 = normalise(s2, "mean")
    for k in n1:
        torch.testing.assert_close(n1[k], n2[k])
        assert float(n1[k].mean()) == pytest.approx(1.0)
    raw = normalise(s2, "none")
    assert float(raw["fc1.weight"].mean()) > 50 * float(raw["fc2.weight"].mean())
    # masked weights score 0 and the mean is taken over kept weights only
    mask = {"fc1.weight": torch.ones(8, 4, dtype=torch.bool), "fc2.weight": b.abs() > 0.5}
    nm = normalise(s1, "mean", mask)
    assert float(nm["fc2.weight"][~mask["fc2.weight"]].abs().sum()) == 0.0
    assert float(nm["fc2.weight"][mask["fc2.weight"]].mean()) == pytest.approx(1.0)
    tot = normalise(s1, "total")
    assert float(tot["fc2.weight"].sum()) == pytest.approx(1.0)


def test_iterate_batches_covers_the_data_once():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)
    seen = torch.cat([yb for _, yb in iterate_batches(x, y, 3, seed=1)])
    assert sorted(seen.tolist()) == list(range(10))
    assert len(list(iterate_batches(x, y, 3, max_batches=2))) == 2


def test_masks_from_removed_save_load(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    params = ["0.weight", "2.weight"]
    groups = [
        {"0.weight": np.array([0, 1])},
        {"0.weight": np.array([2, 3]), "2.weight": np.array([0])},
        {"2.weight": np.array([5])},
    ]
    member = membership_from_groups(groups)
    m = masks_from_removed(model, params, member, np.array([False, True, False]))
    assert m["0.weight"].view(-1)[:4].tolist() == [True, True, False, False]
    assert m["2.weight"].view(-1).tolist() == [False, True, True, True, True, True]
    m2 = masks_from_removed(model, params, member, np.array([False, False, True]), previous=m)
    assert not bool(m2["2.weight"].view(-1)[0]) and not bool(m2["2.weight"].view(-1)[5])
    sp = sparsity(m2)
    assert sp["2.weight"] == pytest.approx(2 / 6)
    assert sp["total"] == pytest.approx(4 / 18)
    save_masks(tmp_path / "masks.pt", m2, {"objective": "dsp"})
    back = load_masks(tmp_path / "masks.pt")
    assert all(torch.equal(back[k], m2[k]) for k in m2)
    torch.save({"format": "something-else", "x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a masks file"):
        load_masks(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="removal flags"):
        masks_from_removed(model, params, member, np.array([True]))


def test_masked_weights_stay_exactly_zero_through_finetuning():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    data = {"x_train": x, "y_train": y, "x_val": x[:64], "y_val": y[:64]}
    masks = {
        "0.weight": torch.rand(16, 6) > 0.6,
        "2.weight": torch.rand(3, 16) > 0.5,
    }
    groups = [{"0.weight": np.arange(i * 6, (i + 1) * 6)} for i in range(16)]
    reg = GroupLasso(model, membership_from_groups(groups), 16, 1e-2)
    fit(model, data, TrainConfig(epochs=3, batch_size=32, learning_rate=1e-2, seed=1),
        masks=masks, regularizer=reg)
    assert masks_hold(model, masks)
    for k, m in masks.items():
        p = dict(model.named_parameters())[k]
        assert bool((p[m] != 0).all())  # kept weights moved
        assert int((p == 0).sum()) == int((~m).sum())


def test_group_lasso_value_and_overlap_check():
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    groups = [{"0.weight": np.array([0, 1])}, {"0.weight": np.array([2, 3])}]
    member = membership_from_groups(groups)
    reg = GroupLasso(model, member, 2, 0.5)
    expected = 0.5 * np.sqrt(2) * (5.0 + 1.0)
    assert float(reg(model).detach()) == pytest.approx(expected, rel=1e-5)
    only_first = GroupLasso(model, member, 2, 0.5, active=np.array([True, False]))
    assert float(only_first(model).detach()) == pytest.approx(0.5 * np.sqrt(2) * 5.0, rel=1e-5)
    with pytest.raises(ValueError, match="overlap"):
        overlap = membership_from_groups([{"0.weight": np.array([0, 1])},
                                          {"0.weight": np.array([1])}])
        GroupLasso(model, overlap, 2, 1.0)


@pytest.mark.parametrize("kind", ["constant", "polynomial", "geometric"])
def test_fixed_schedules_step_down_to_the_target(kind):
    f = fixed_budgets(kind, 0.05, 4)
    assert len(f) == 4 and f[-1] == 0.05
    assert all(a > b for a, b in zip([1.0, *f], f, strict=False))
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        fixed_budgets(kind, 5.0, 3)


def test_polynomial_schedule_cuts_most_at_first():
    f = fixed_budgets("polynomial", 0.1, 3, power=3)
    steps = np.diff([1.0, *f])
    assert abs(steps[0]) > abs(steps[1]) > abs(steps[2])


def test_binary_schedule_bisects_and_ends_at_target():
    s = Schedule("binary", 0.05, steps=4)
    feasible = 0.2  # pretend every budget >= 20% is accepted
    tried = []
    while (f := s.next()) is not None:
        tried.append(f)
        s.report(f, f >= feasible - 1e-12)
    assert tried[0] == 0.05  # target first
    assert tried[-1] == 0.05  # and finally the target again, from the best accepted
    assert 0.2 <= s.best_accepted < 0.45
    assert len(tried) <= 4 + 1
    easy = Schedule("binary", 0.3, steps=4)
    f = easy.next()
    easy.report(f, True)
    assert easy.next() is None
    hard = Schedule("binary", 0.3, steps=1)
    f = hard.next()
    hard.report(f, False)
    assert hard.next() is None  # no accepted probe: the first target probe stands


def test_prune_config_rejects_bad_values():
    cfg = PruneConfig.from_dict({"budgets": [50], "solver": {"method": "dp"}, "steps": 2})
    assert cfg.solver.method == "dp" and cfg.steps == 2
    assert cfg.resources_for("dsp+bram") == ("dsp", "bram_18k")
    assert cfg.resources_for("unstructured") == ("dsp",)
    with pytest.raises(ValueError, match=r"unknown pruning keys \['stepz'\]; allowed: .*'steps'"):
        PruneConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="pruning.importance: 'hessian' is not one of"):
        PruneConfig.from_dict({"importance": "hessian"})
    with pytest.raises(ValueError, match=r"pruning.finetune: .*'epochs' was unexpected.*finetune_epochs"):
        PruneConfig.from_dict({"finetune": {"epochs": 3}})
    with pytest.raises(ValueError, match="pruning.solver.gap: 1.5 is greater than or equal to"):
        PruneConfig(solver=SolverConfig(gap=1.5))


def _load_config(*names):
    import yaml
    from snakemake.utils import update_config

    from conftest import REPO

    cfg = {}
    for name in names:
        update_config(cfg, yaml.safe_load((REPO / "config" / name).read_text()))
    return cfg


@pytest.mark.parametrize("files", [("config.yaml",), ("config.yaml", "paper.yaml")])
def test_shipped_pruning_blocks_are_valid(files):
    from snakemake.utils import validate

    from conftest import REPO

    cfg = _load_config(*files)
    validate(cfg, str(REPO / "src/rasp/schemas/config.schema.yaml"))
    for block in cfg["pruning"].values():
        PruneConfig.from_dict(block)  # the library accepts what the schema accepts


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("objectives", ["dsp", "flops"], "'flops' is not one of"),
     ("budgets", [50, 150], "150 is greater than the maximum of 100"),
     ("schedule", "cubic", "'cubic' is not one of"),
     ("stepz", 3, "Additional properties are not allowed ('stepz' was unexpected)")],
)
def test_bad_pruning_config_is_rejected_naming_the_key(key, value, expected):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from conftest import REPO

    cfg = _load_config("config.yaml")
    cfg["pruning"]["jets"][key] = value
    with pytest.raises(WorkflowError) as err:
        validate(cfg, str(REPO / "src/rasp/schemas/config.schema.yaml"))
    assert expected in str(err.value)
    if key in ("schedule",):  # one schema: the library refuses it with the same words
        with pytest.raises(ValueError, match=f"pruning.{key}: {re.escape(expected)}"):
            PruneConfig.from_dict(cfg["pruning"]["jets"])
