"""The composable API: HardwareTarget + importance + KnapsackPruner with the user's own loop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from rasp.hardware.estimate import estimate_layers
from rasp.prune.knapsack_pruner import KnapsackPruner, MagnitudeImportance, TaylorImportance
from rasp.prune.target import HardwareTarget

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- readme-example: start -->\s*```python\n(.*?)```\s*"
                  r"<!-- readme-example: end -->", text, flags=re.S)
    assert m, "README lost its example block"
    return m.group(1)


def test_readme_example_runs_and_meets_its_budgets():
    code = _readme_example()
    assert len([ln for ln in code.splitlines() if ln.strip()]) < 20  # issue 17: under 20
    ns: dict = {}
    torch.manual_seed(0)
    exec(compile(code, str(README), "exec"), ns)  # noqa: S102 - the README's own code
    pruner, model, sel = ns["pruner"], ns["model"], ns["selection"]
    assert sel.meets_budget
    assert sel.achieved["dsp"] <= 0.4 * pruner.baseline["dsp"]
    # remove() left plain parameters whose zeros are the pruned weights, and the model
    # still learned the toy task (chance is 20%)
    assert isinstance(model[0].weight, nn.Parameter) and not hasattr(model[0], "weight_mask")
    assert 0.3 < float((model[0].weight == 0).float().mean()) < 1
    accuracy = float((model(ns["x"]).argmax(1) == ns["y"]).float().mean())
    assert accuracy > 0.6, accuracy


def _toy(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(512, 8)
    y = x[:, :4].argmax(1)
    return model, x, y


@pytest.mark.parametrize("objective", ["dsp", "neurons", "unstructured"])
def test_masks_survive_the_users_training_and_never_grow(objective):
    model, x, y = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=2,
                            input_shape=(8,))
    pruner = KnapsackPruner(target, objective=objective, importance=MagnitudeImportance())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = None
    for budget in (0.6, 0.4):
        sel = pruner.step(budget)
        assert sel.meets_budget
        for _ in range(5):  # a user's loop: weights move, masked ones stay zero
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        masks = pruner.masks
        assert all(bool((target.weights()[p][~m] == 0).all()) for p, m in masks.items())
        if before is not None:
            assert all(bool((masks[p] <= before[p]).all()) for p in masks)
        before = masks
    # the resources the pruner reports are the hardware estimate of the weights it left
    est = estimate_layers(target.layers, target.weights(), pruner.masks).totals
    assert pruner.resources_now()["dsp"] == pytest.approx(float(est["dsp"]))
    assert pruner.resources_now()["dsp"] <= 0.4 * pruner.baseline["dsp"] + 1e-9


def test_taylor_importance_reads_through_torch_pruning():
    model, x, y = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=1,
                            input_shape=(8,))
    loader = [(x[:128], y[:128]), (x[128:256], y[128:256])]
    pruner = KnapsackPruner(target, objective="dsp", importance=TaylorImportance(loader))
    pruner.step(0.5)
    scores = TaylorImportance(loader)(target)
    for p, m in pruner.masks.items():
        assert scores[p].shape == m.shape
        assert bool((scores[p][~m] == 0).all())  # pruned weights score nothing
        assert float(scores[p][m].sum()) > 0


def test_pruner_refuses_objectives_it_cannot_solve_and_bad_budgets():
    model, _, _ = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=2,
                            input_shape=(8,))
    with pytest.raises(ValueError, match="expected one of"):
        KnapsackPruner(target, objective="filters")
    with pytest.raises(ValueError, match="fraction in"):
        KnapsackPruner(target).step(1.5)
    with pytest.raises(ValueError, match="uses no"):
        KnapsackPruner(target, objective="bram")  # weights in LUTs/registers at RF 2
    with pytest.raises(ValueError, match="input_shape"):
        HardwareTarget(nn.Sequential(nn.Linear(8, 4)), {"precision": "ap_fixed<16,6>"})


def test_lut_da_budget_is_met_by_the_re_traced_design():
    pytest.importorskip("da4ml")
    model, _, _ = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<12,4>"}, reuse_factor=1,
                            input_shape=(8,))
    pruner = KnapsackPruner(target, objective="lut_da")
    sel = pruner.step(0.5)
    assert sel.meets_budget and pruner.baseline["lut_da"] > 0
    assert target.lut_da(pruner.masks) <= 0.5 * pruner.baseline["lut_da"] + 1e-9


def test_unstructured_keeps_the_globally_best_single_weights_within_the_dsp_budget():
    """The comparison method in a user's loop: the same budget, single weights ranked by
    the same (layer-mean normalised) importance; every pruned hidden weight scores below
    every kept one."""
    from rasp.prune.importance import normalise

    model, _, _ = _toy(seed=1)
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=2,
                            input_shape=(8,))
    importance = MagnitudeImportance()
    scores = normalise(importance(target), importance.normalisation, None)
    pruner = KnapsackPruner(target, objective="unstructured", importance=importance)
    sel = pruner.step(0.5)
    assert sel.meets_budget and pruner.resources_now()["dsp"] <= 0.5 * pruner.baseline["dsp"]
    hidden = target.params[0]  # the output layer is kept whole (keep_output_layer)
    kept, s = pruner.masks[hidden], scores[hidden]
    assert 0 < int(kept.sum()) < kept.numel()
    assert float(s[kept].min()) >= float(s[~kept].max())


def test_csd_writes_the_chosen_roundings_into_the_weights():
    """csd in a user's loop: the step rounds some kept weights onto a value with at most
    two CSD digits (a DSP-free shift-add) and reports which items it rounded."""
    from rasp.hardware.fixed import csd_digits

    model, _, _ = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=1,
                            input_shape=(8,))
    pruner = KnapsackPruner(target, objective="csd", importance=MagnitudeImportance())
    assert pruner.step(0.7).meets_budget
    # the second step runs on the layers under PyTorch's pruning (weight_orig x weight_mask)
    before = {p: w.detach().clone() for p, w in target.weights().items()}
    sel = pruner.step(0.5)
    assert sel.meets_budget and sel.rounded.size > 0
    changed = [(p, w.detach()[(w.detach() != before[p]) & pruner.masks[p]])
               for p, w in target.weights().items()]
    moved = torch.cat([v for _, v in changed])
    assert moved.numel() > 0  # rounded weights hold new values
    lsb = 2.0 ** -10  # ap_fixed<16,6>: 10 fractional bits
    assert bool((csd_digits(torch.round(moved / lsb).long().numpy()) <= 2).all())


def test_the_workflow_importance_is_fisher_per_structure():
    from rasp.prune.knapsack_pruner import SeededBatches, WeightImportance

    model, x, y = _toy()
    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=2,
                            input_shape=(8,))
    batches = SeededBatches(x.numpy(), y.numpy(), batch_size=64, max_batches=2)
    with pytest.raises(ValueError, match="unknown importance method"):
        WeightImportance("l3")
    with pytest.raises(ValueError, match="needs training mini-batches"):
        WeightImportance("taylor")
    fisher = WeightImportance("fisher", batches)
    assert fisher.per_structure and fisher.normalisation == "none"
    pruner = KnapsackPruner(target, objective="dsp", importance=fisher)
    assert pruner.step(0.7).meets_budget
    # on layers under PyTorch's pruning the kept structures still have Fisher values
    items = pruner.items
    values = fisher.structure_values(target, items)
    alive = items.alive(pruner.masks)
    assert values[alive].sum() > 0 and not values[~alive].any()
    sel = pruner.step(0.5)
    assert sel.meets_budget
    # the batches are drawn again from their seed: the same seed, the same batches
    first = [b[1].tolist() for b in batches]
    assert first == [b[1].tolist() for b in batches]
    batches.seed = 1
    assert first != [b[1].tolist() for b in batches]
