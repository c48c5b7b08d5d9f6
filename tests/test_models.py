"""Models: shapes, parameter counts, stable names, hls4ml ingestion, QONNX export with
power-of-two scales, BatchNorm folding and checkpoints."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from rasp.models import (
    NonPowerOfTwoScaleError,
    build_model,
    check_power_of_two_scales,
    count_weights,
    export_qonnx,
    fold_batchnorm,
    load_checkpoint,
    save_checkpoint,
    with_softmax,
)

JET_WEIGHTS = {"fc1": 1024, "fc2": 2048, "fc3": 1024, "fc4": 160}
SVHN_WEIGHTS = {"conv1": 432, "conv2": 2304, "conv3": 3456, "fc1": 4032, "fc2": 2688, "fc3": 640}


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=gen))
            m.bias.data.copy_(torch.randn(n, generator=gen))


@pytest.mark.parametrize("quantized", [False, True])
def test_jet_mlp_shapes_and_counts(quantized):
    torch.manual_seed(0)
    model = build_model("jet_mlp", quantized=quantized)
    assert count_weights(model) == JET_WEIGHTS
    assert sum(JET_WEIGHTS.values()) == 4256
    assert model.weight_layers == ["fc1", "fc2", "fc3", "fc4"]
    out = model.eval()(torch.randn(7, 16))
    assert tuple(out.shape) == (7, 5)
    if not quantized:
        assert sum(p.numel() for p in model.parameters()) == 4256 + 64 + 32 + 32 + 5


@pytest.mark.parametrize("quantized", [False, True])
def test_svhn_cnn_shapes_and_counts(quantized):
    torch.manual_seed(0)
    model = build_model("svhn_cnn", quantized=quantized)
    assert count_weights(model) == SVHN_WEIGHTS
    assert model.weight_layers == list(SVHN_WEIGHTS)
    out = model.eval()(torch.rand(3, 3, 32, 32))
    assert tuple(out.shape) == (3, 10)
    if not quantized:
        bn = 2 * (16 + 16 + 24 + 42 + 64)
        dense_bias = 42 + 64 + 10
        assert sum(p.numel() for p in model.parameters()) == sum(SVHN_WEIGHTS.values()) + bn + dense_bias


def test_parameter_names_match_between_float_and_qat():
    for arch in ("jet_mlp", "svhn_cnn"):
        f = {n: p.shape for n, p in build_model(arch).named_parameters()}
        q = {n: p.shape for n, p in build_model(arch, quantized=True).named_parameters()}
        for layer in build_model(arch).weight_layers:
            assert q[f"{layer}.weight"] == f[f"{layer}.weight"]


def test_build_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown model arch"):
        build_model("resnet")
    with pytest.raises(ValueError, match="weight_bits"):
        build_model("jet_mlp", quantized=True, weight_bits=1)
    with pytest.raises(TypeError, match="jet_mlp"):
        build_model("jet_mlp", filters=(1, 2, 3))


def test_float_models_are_fx_traceable_and_batchnorm_folds_exactly():
    torch.manual_seed(0)
    for arch, shape in (("jet_mlp", (4, 16)), ("svhn_cnn", (4, 3, 32, 32))):
        model = build_model(arch)
        _randomise_batchnorm(model)
        model.eval()
        traced = torch.fx.symbolic_trace(model)
        x = torch.rand(shape)
        torch.testing.assert_close(traced(x), model(x))
        folded = fold_batchnorm(model)
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
        assert not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in folded.modules())
    with pytest.raises(ValueError, match="float models only"):
        fold_batchnorm(build_model("svhn_cnn", quantized=True))


def test_softmax_variant_keeps_weights_and_outputs_probabilities():
    torch.manual_seed(0)
    model = build_model("jet_mlp").eval()
    soft = with_softmax(model)
    x = torch.randn(5, 16)
    torch.testing.assert_close(soft(x), torch.softmax(model(x), dim=1))
    assert "softmax" in dict(torch.fx.symbolic_trace(soft).named_modules())


def test_float_models_convert_with_hls4ml_pytorch_converter(tmp_path):
    hls4ml = pytest.importorskip("hls4ml")
    torch.manual_seed(0)
    for arch, io_type in (("jet_mlp", "io_parallel"), ("svhn_cnn", "io_stream")):
        model = build_model(arch).eval()
        cfg = hls4ml.utils.config_from_pytorch_model(
            model, model.input_shape, granularity="name", backend="Vivado",
            default_precision="ap_fixed<16,6>", default_reuse_factor=1,
        )
        hls_model = hls4ml.converters.convert_from_pytorch_model(
            model, hls_config=cfg, output_dir=str(tmp_path / arch), backend="Vivado",
            io_type=io_type,
        )
        layers = {layer.name: layer.class_name for layer in hls_model.get_layers()}
        # torch module names survive as hls4ml layer names; BatchNorm is fused away.
        for name in model.weight_layers:
            assert name in layers, (arch, name, layers)
        assert "BatchNormalization" not in layers.values()


def _quant_scales(path) -> list[np.ndarray]:
    proto = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    return [consts[n.input[1]] for n in proto.graph.node if n.op_type == "Quant"]


@pytest.mark.parametrize("arch", ["jet_mlp", "svhn_cnn"])
def test_qat_model_exports_to_qonnx_with_power_of_two_scales(tmp_path, arch):
    torch.manual_seed(0)
    model = build_model(arch, quantized=True, weight_bits=6, act_bits=5)
    model.train()
    x = torch.rand(16, *model.input_shape)
    model(x)  # one training step's worth of activation statistics
    checked = check_power_of_two_scales(model)
    assert any(name.endswith("weight_quant") for name in checked)
    path = export_qonnx(model, tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # one file, no side data
    scales = _quant_scales(path)
    n_layers = len(model.weight_layers)
    assert len(scales) >= 2 * n_layers  # weights + activations (+ biases)
    for s in scales:
        exps = np.log2(np.asarray(s, dtype=np.float64))
        assert np.allclose(exps, np.round(exps))
    assert len(check_power_of_two_scales(path)) == len(scales)
    # The QONNX clean-up chain of hls4ml's ONNX path (tooling.md) accepts the graph.
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    wrapped = cleanup_model(ModelWrapper(str(path)))
    wrapped = cleanup_model(wrapped.transform(ConvertToChannelsLastAndClean())
                            .transform(GemmToMatMul()))
    ops = [n.op_type for n in wrapped.graph.node]
    assert "Gemm" not in ops and ops.count("MatMul") == arch_dense_layers(model)


def arch_dense_layers(model) -> int:
    return sum(1 for name in model.weight_layers if name.startswith("fc"))


def test_power_of_two_check_refuses_float_scale_quantisers():
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat

    class FloatScaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant_in = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat,
                                              return_quant_tensor=True)
            self.fc1 = qnn.QuantLinear(4, 3, weight_quant=Int8WeightPerTensorFloat)

        def forward(self, x):
            return self.fc1(self.quant_in(x))

    with pytest.raises(NonPowerOfTwoScaleError, match=r"fc1\.weight_quant"):
        check_power_of_two_scales(FloatScaled())
    with pytest.raises(NonPowerOfTwoScaleError, match=r"quant_in\.act_quant"):
        check_power_of_two_scales(FloatScaled())
    assert check_power_of_two_scales(build_model("jet_mlp")) == []  # float: nothing to check


def _quant_graph(scale: float, zero_point: float = 0.0) -> onnx.ModelProto:
    inits = [
        numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array(zero_point, dtype=np.float32), "zp"),
        numpy_helper.from_array(np.array(8.0, dtype=np.float32), "bits"),
    ]
    node = helper.make_node("Quant", ["x", "scale", "zp", "bits"], ["y"], name="q0",
                            domain="qonnx.custom_op.general", signed=1, narrow=0,
                            rounding_mode="ROUND")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=inits,
    )
    return helper.make_model(graph)


def test_power_of_two_check_on_qonnx_graphs():
    assert check_power_of_two_scales(_quant_graph(0.125)) == ["q0"]
    with pytest.raises(NonPowerOfTwoScaleError, match="q0"):
        check_power_of_two_scales(_quant_graph(0.3))
    with pytest.raises(NonPowerOfTwoScaleError, match="zero point"):
        check_power_of_two_scales(_quant_graph(0.25, zero_point=3.0))
    with pytest.raises(TypeError, match="expects a torch model"):
        check_power_of_two_scales(42)


@pytest.mark.parametrize("arch,quantized", [("jet_mlp", False), ("jet_mlp", True),
                                            ("svhn_cnn", True)])
def test_checkpoint_round_trip(tmp_path, arch, quantized):
    torch.manual_seed(0)
    model = build_model(arch, quantized=quantized, weight_bits=7)
    model.eval()  # a freshly built QAT model (no statistics yet) must round-trip too
    masks = {"fc1.weight": torch.rand_like(model.fc1.weight) > 0.5}
    meta = {"variant": "v", "seed": 3, "data_source": "pythia", "masks": masks}
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint(path, model, meta)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    loaded, got = load_checkpoint(path)
    assert got["arch"] == arch and got["model_kwargs"] == model.model_kwargs
    assert got["seed"] == 3 and got["data_source"] == "pythia"
    assert torch.equal(got["masks"]["fc1.weight"], masks["fc1.weight"])
    x = torch.rand(4, *model.input_shape)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_checkpoint_rejects_incomplete_meta(tmp_path):
    model = build_model("jet_mlp")
    with pytest.raises(ValueError, match="data_source"):
        save_checkpoint(tmp_path / "m.pt", model, {"variant": "float", "seed": 1})
    with pytest.raises(ValueError, match="do not describe"):
        save_checkpoint(tmp_path / "m.pt", model, {"variant": "float", "seed": 1,
                                                   "data_source": "x", "arch": "svhn_cnn"})
    assert not list(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="train_baseline"):
        load_checkpoint(tmp_path / "missing.pt")


def _with_dead_channels(model):
    """Zero the weights of fc1 neuron 0 and conv2 filter 3 and give their BatchNorms the
    near-zero variance that fine-tuning a constant channel produces."""
    with torch.no_grad():
        model.fc1.weight[0] = 0.0
        model.conv2.weight[3] = 0.0
        model.bn4.running_var[0] = 1e-7
        model.bn4.running_mean[0] = float(model.fc1.bias[0]) - 1e-4
        model.bn2.running_var[3] = 1e-7
        for bn in (model.bn4, model.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return model


def test_dead_channels_become_exact_constants_without_changing_the_function():
    from rasp.models import silence_dead_channels

    torch.manual_seed(0)
    model = _with_dead_channels(build_model("svhn_cnn")).eval()
    x = torch.rand(8, *model.input_shape)
    before = model(x)
    changed = silence_dead_channels(model)
    assert changed == ["bn2[3]", "bn4[0]"]
    # the overflow-prone scale gamma / sqrt(var + eps) is gone, the output is the same
    assert model.bn4.weight[0].item() == 0.0 and model.bn2.weight[3].item() == 0.0
    assert float(model.bn4.running_var[0]) == 1.0
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
    assert silence_dead_channels(model) == []  # idempotent
    # live channels are untouched
    assert model.bn4.weight[1].item() != 0.0


def test_masked_fine_tuning_keeps_dead_channels_constant():
    from rasp.train import TrainConfig, fit

    torch.manual_seed(0)
    model = build_model("svhn_cnn")
    masks = {"fc1.weight": torch.ones_like(model.fc1.weight, dtype=torch.bool)}
    masks["fc1.weight"][:5] = False
    rng = np.random.default_rng(0)
    data = {"x_train": rng.random((64, 3, 32, 32), dtype=np.float32),
            "y_train": rng.integers(0, 10, 64), "x_val": rng.random((32, 3, 32, 32),
                                                                     dtype=np.float32),
            "y_val": rng.integers(0, 10, 32)}
    fit(model, data, TrainConfig.from_dict({"epochs": 2, "batch_size": 16, "seed": 0,
                                            "device": "cpu"}), masks=masks)
    assert torch.all(model.fc1.weight[:5] == 0)
    assert torch.all(model.bn4.weight[:5] == 0)  # constant channel: exact in fixed point
    assert torch.all(model.bn4.weight[5:] != 0)
