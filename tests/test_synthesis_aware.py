"""Synthesis-aware DSP at Latency (constant folding, shared products), its knapsack items,
the operand-width rule and the LUTRAM threshold (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rasp.hardware import HardwareSettings, describe_model, estimate_resources, make_hls_config
from rasp.hardware.costs import constant_products, weight_memory
from rasp.hardware.estimate import estimate_layers
from rasp.hardware.fixed import csd_digits, parse_precision
from rasp.hardware.structures import layer_structures, shared_products
from rasp.prune.selection import build_items

STEP = 2.0 ** -10  # one LSB of ap_fixed<16,6>


class Tiny(nn.Module):
    def __init__(self, n_in: int = 4, hidden: int = 3, n_out: int = 2):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_out)
        self.input_shape = (n_in,)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _tiny_with(values1: np.ndarray, values2: np.ndarray) -> Tiny:
    m = Tiny(values1.shape[1], values1.shape[0], values2.shape[0])
    with torch.no_grad():
        m.fc1.weight.copy_(torch.tensor(values1 * STEP, dtype=torch.float32))
        m.fc2.weight.copy_(torch.tensor(values2 * STEP, dtype=torch.float32))
    return m.eval()


def _layers(m: nn.Module, rf: int = 1, **hw):
    s = HardwareSettings.from_dict(hw)
    return describe_model(m, make_hls_config(m, m.input_shape, s, rf), settings=s)


def _dsp(layers, m, masks=None) -> float:
    return float(estimate_layers(layers, m, masks).totals["dsp"])


def test_csd_digits_by_hand():
    # 7 = 8 - 1 (2 digits), 11 = 8 + 2 + 1 (3 digits: 1011 -> 10-1-01 has 3 non-zero), 21 = 16+4+1
    assert csd_digits(np.array([0, 1, 2, 3, 7, 11, 21, 23, 64])).tolist() == [0, 1, 1, 2, 2, 3, 3, 3, 1]


def test_shared_and_cheap_constants_take_no_dsp():
    # fc1 (n_out 3, n_in 4) in integer LSBs: input 0 sees 11, -11, 11 (one shared product);
    # input 1 sees 3, 7, 64 (all <= 2 CSD digits: shifts/adds); input 2: 11, 21, 23 (three
    # products); input 3: zeros and 13 (13 = 16 - 4 + 1: 3 digits)
    w1 = np.array([[11, 3, 11, 0], [-11, 7, 21, 0], [11, 64, 23, 13]], dtype=float)
    w2 = np.array([[1, 2, 4], [8, 16, 32]], dtype=float)  # powers of two: no DSP
    m = _tiny_with(w1, w2)
    layers = _layers(m)
    est = estimate_layers(layers, m)
    assert est.layers.loc["fc1", "multipliers"] == 10  # one multiplication per non-zero
    assert est.layers.loc["fc1", "dsp"] == 1 + 3 + 1
    assert est.layers.loc["fc2", "dsp"] == 0 and est.layers.loc["fc2", "multipliers"] == 6
    assert est.layers.loc["fc1", "dsp_multipliers"] == 10


def _random_latency_model(seed: int) -> Tiny:
    rng = np.random.default_rng(seed)
    # small integer weights so that sharing and <= 2-digit constants are frequent
    w1 = rng.integers(-24, 25, size=(5, 6)).astype(float)
    w1[rng.random(w1.shape) < 0.2] = 0
    w2 = rng.integers(-24, 25, size=(3, 5)).astype(float)
    return _tiny_with(w1, w2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_item_cost_is_the_dsp_its_removal_frees(seed):
    """Brute force: removing one structure changes the synthesis-aware DSP count by exactly
    its cost; and for every subset of structures of a layer, fixed + kept costs = the count."""
    m = _random_latency_model(seed)
    layers = _layers(m)
    base = _dsp(layers, m)
    for layer in layers:
        w = getattr(m, layer.name).weight
        s = shared_products(layer, w)
        assert s.fixed_cost[0] == 0
        for i in range(len(s)):
            keep = np.ones(len(s), dtype=bool)
            keep[i] = False
            mask = {layer.param_name: torch.as_tensor(s.kept_mask(keep))}
            assert base - _dsp(layers, m, mask) == s.costs[i, 0], (layer.name, i)
        # every single weight: frees a DSP only when it is alone on its input with its |w|
        # and that |w| needs >= 3 CSD digits
        flat = w.detach().reshape(-1)
        for j in range(flat.numel()):
            mask = torch.ones(flat.numel(), dtype=torch.bool)
            mask[j] = False
            freed = base - _dsp(layers, m, {layer.param_name: mask.reshape(w.shape)})
            q = abs(round(float(flat[j]) / STEP))
            alone = sum(1 for k in range(flat.numel())
                        if k % layer.n_in == j % layer.n_in and abs(round(float(flat[k]) / STEP)) == q)
            expected = 1 if (q and alone == 1 and csd_digits(np.array([q]))[0] >= 3) else 0
            assert freed == expected, (layer.name, j, q)
    # random subsets of the structures of fc2: additive model = estimate
    layer = layers[1]
    s = shared_products(layer, m.fc2.weight)
    rest = _dsp(layers, m, {layer.param_name: torch.zeros_like(m.fc2.weight, dtype=torch.bool)})
    rng = np.random.default_rng(seed)
    for _ in range(60):
        keep = rng.random(len(s)) < rng.random()
        mask = {layer.param_name: torch.as_tensor(s.kept_mask(keep))}
        assert _dsp(layers, m, mask) - rest == s.total_cost(keep)[0]


def test_lut_model_is_additive_over_products():
    m = _random_latency_model(3)
    layers = _layers(m)
    est = estimate_layers(layers, m)
    for layer in layers:
        s = shared_products(layer, getattr(m, layer.name).weight)
        assert s.total_cost(np.ones(len(s), bool))[2] == est.layers.loc[layer.name, "lut"]
        assert s.fixed_cost[2] == 0
    # LUTs scale with what is built: removing weights lowers them
    mask = {"fc1.weight": torch.zeros_like(m.fc1.weight, dtype=torch.bool)}
    assert estimate_layers(layers, m, mask).layers.loc["fc1", "lut"] == 0


def test_fabric_products_cost_adders_not_dsps():
    m = _random_latency_model(4)
    layers = _layers(m, dsp={"impl": "fabric"})
    est = estimate_layers(layers, m)
    assert est.totals["dsp"] == 0 and est.totals["multipliers"] > 0
    layer = layers[0]
    w_hls = m.fc1.weight.detach().double().numpy().reshape(-1)[layer.hls_order]
    cp = constant_products(layer, w_hls)
    wide = cp.group_digits >= 3
    assert (cp.group_lut[wide] > 0).all()  # d - 1 adders instead of a DSP
    dsp_layers = _layers(m)
    assert estimate_layers(dsp_layers, m).totals["lut"] < est.totals["lut"]


def test_knapsack_items_of_a_latency_layer_need_the_weights():
    m = _random_latency_model(5)
    layers = _layers(m)
    with pytest.raises(ValueError, match="weights"):
        build_items(layers, "dsp", ["dsp"])
    with pytest.raises(ValueError, match="products"):
        layer_structures(layers[0], "products")
    items = build_items(layers, "dsp", ["dsp"], {n: p for n, p in m.named_parameters()})
    assert items.weight_dependent
    assert items.costs.sum() == _dsp(layers, m)  # every DSP is one item


def test_operand_widths_decide_fabric_or_dsp():
    m = _random_latency_model(6)
    wide = _layers(m, precision="ap_fixed<16,6>", weight_precision="ap_fixed<8,3>")
    assert [layer.dsp_per_mult for layer in wide] == [1, 1]  # 8-bit weights x 16-bit data
    narrow = _layers(m, precision="ap_fixed<6,3>", weight_precision="ap_fixed<8,3>")
    assert [layer.dsp_per_mult for layer in narrow] == [0, 0]  # 8 x 6 bits: LUTs
    forced = _layers(m, precision="ap_fixed<6,3>", weight_precision="ap_fixed<8,3>",
                     dsp={"impl": "dsp"})
    assert [layer.dsp_per_mult for layer in forced] == [1, 1]


def test_four_deep_weight_array_is_lutram():
    torch.manual_seed(0)
    m = Tiny(16, 8, 4)
    layers = _layers(m, 4)
    mem = weight_memory(layers[0])
    assert layers[0].strategy == "Resource_Unrolled" and mem.kind == "lutram" and mem.depth == 4
    row = estimate_resources(m, make_hls_config(m, m.input_shape, HardwareSettings(), 4)).layers
    assert (row["bram_18k"] == 0).all() and (row["bram_18k_hls"] > 0).all()
    # deeper than the threshold: BRAM
    deep = _layers(m, 16, bram={"lutram_max_depth": 8})
    assert weight_memory(deep[0]).kind == "bram"


def test_weight_type_rounding_decides_the_constant():
    # AP_TRN floors: 10.9 LSB -> 10 (2 digits, no DSP); AP_RND rounds to 11 (3 digits)
    m = _tiny_with(np.array([[10.9, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]), np.zeros((2, 3)))
    trn = _layers(m, weight_precision="ap_fixed<16,6>")
    rnd = _layers(m, weight_precision="ap_fixed<16,6,AP_RND,AP_WRAP>")
    assert parse_precision("ap_fixed<16,6,AP_RND,AP_WRAP>").rounding == "AP_RND"
    assert estimate_layers(trn, m).layers.loc["fc1", "dsp"] == 0
    assert estimate_layers(rnd, m).layers.loc["fc1", "dsp"] == 1


# --------------------------------------------------------------------------------------
# the csd objective: keep / round onto <= 2 CSD digits / prune, a multiple-choice knapsack
# --------------------------------------------------------------------------------------

FAST = {
    "importance": "taylor", "importance_batches": 4, "importance_batch_size": 64,
    "schedule": "polynomial", "steps": 2, "finetune_epochs": 1,
    "finetune": {"batch_size": 64, "learning_rate": 0.003},
    "solver": {"method": "milp", "time_limit": 10},
}
HW = {"io_type": "io_parallel", "precision": "ap_fixed<16,6>", "strategy": "auto"}


@pytest.fixture(scope="module")
def tiny_mlp():
    from rasp.models import build_model
    from rasp.train import TrainConfig, fit

    from conftest import tiny_jet_data

    data = tiny_jet_data()
    torch.manual_seed(0)
    model = build_model("jet_mlp", hidden=[12, 8])
    fit(model, data, TrainConfig(epochs=15, batch_size=64, learning_rate=0.01, seed=0, threads=1))
    return model, data


def _clone(model):
    from rasp.models import build_model

    clone = build_model("jet_mlp", hidden=[12, 8])
    clone.load_state_dict(model.state_dict())
    return clone


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_csd_meets_the_dsp_budget_by_rounding_not_pruning(tiny_mlp, method):
    from rasp.prune.pruner import prune

    model, data = tiny_mlp
    cfg = {**FAST, "solver": {"method": method, "time_limit": 10}}
    csd = prune(_clone(model), data, objective="csd", reuse_factor=1, budget=0.2, hardware=HW,
                config=cfg, seed=3)
    dsp = prune(_clone(model), data, objective="dsp", reuse_factor=1, budget=0.2, hardware=HW,
                config=cfg, seed=3)
    for res in (csd, dsp):
        est = estimate_resources(res.model, res.hls_config, res.masks)
        assert est.totals["dsp"] <= 0.2 * res.metrics["baseline_dsp"] + 1e-9
        assert res.metrics["meets_budget"] and res.metrics["dsp"] == est.totals["dsp"]
    m = csd.metrics
    assert m["rounded_weights"] > 0 and dsp.metrics["rounded_weights"] == 0
    # rounding instead of pruning keeps (many) more non-zero weights at the same DSP budget
    assert m["resources"]["nonzero_weights"] > dsp.metrics["resources"]["nonzero_weights"]
    # the rounded weights sit exactly on a <= 2-digit value of the weight type after the
    # final fine-tuning (they were frozen there): at least that many weights are on the grid
    layers = describe_model(csd.model, csd.hls_config)
    est = estimate_layers(layers, csd.model, csd.masks)
    on_grid = 0
    for layer in layers:
        q = getattr(csd.model, layer.name).weight.detach().double().numpy().reshape(-1) * 2.0 ** 10
        exact = (q != 0) & np.isclose(q, np.round(q), rtol=0, atol=1e-6)
        on_grid += int((exact & (csd_digits(np.round(q).astype(np.int64)) <= 2)).sum())
    assert on_grid >= m["rounded_weights"]
    assert est.totals["dsp"] == m["dsp"]


def test_csd_refuses_layers_that_do_not_fold_constants(tiny_mlp):
    from rasp.prune.pruner import prune

    model, data = tiny_mlp
    with pytest.raises(ValueError, match="Latency"):
        prune(_clone(model), data, objective="csd", reuse_factor=4, budget=0.5, hardware=HW,
              config=FAST, seed=1)


def test_rounding_is_exclusive_with_keeping():
    m = _random_latency_model(7)
    layers = _layers(m)
    items = build_items(layers, "csd", ["dsp"], {n: p for n, p in m.named_parameters()})
    pairs = items.exclusive_pairs(np.ones(items.n, dtype=bool))
    assert pairs and all(items.costs[0, k] > 0 and items.costs[0, r] == 0 for k, r in pairs)
    for target in items.round_values.values():
        t = target[~np.isnan(target)] * 2.0 ** 10
        assert np.allclose(t, np.round(t)) and (csd_digits(np.round(t).astype(int)) <= 2).all()
