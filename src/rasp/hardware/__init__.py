"""Hardware resource model: what hls4ml 1.3.0 builds for each Linear / Conv2d layer.

The model agrees with hls4ml by construction: the same config dict drives the estimate
and the converter, and :mod:`rasp.hardware.generated` reads back the code hls4ml
writes so tests (and the HLS stage) can check that estimated multiplier counts equal
the generated ones. Every formula and its source: docs/hardware_model.md.

Typical use (the pruning step)::

    from rasp.hardware import (HardwareSettings, make_hls_config, describe_model,
                               layer_structures, estimate_resources)

    settings = HardwareSettings.from_dict(config["hardware"]["jets"])
    hls_config = make_hls_config(model, model.input_shape, settings, reuse_factor=4)
    layers = describe_model(model, hls_config)          # list[LayerHardware]
    for layer in layers:
        s = layer_structures(layer, "patterns")           # or weights/bram_columns/neurons
        w = dict(model.named_parameters())[layer.param_name]
        value = s.reduce(w.abs())                         # importance per structure
        s.costs            # (n_structures, 3) over s.resources = (dsp, bram_18k, lut)
        s.fixed_cost       # what the layer uses whatever is pruned
        s.pattern_columns  # patterns only: BRAM column(s) of each pattern, -1 = none
        kept = value > value.mean()
        mask = s.kept_mask(kept)                          # bool, weight-shaped
    est = estimate_resources(model, hls_config, masks)    # masks: {"fc1.weight": bool}
    est.layers          # per-layer pandas table
    est.totals["dsp"], est.totals["bram_18k"]

    # HLS stage: same config, then check the generated code against the estimate
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=hls_config, output_dir=out, **hls4ml_convert_kwargs(hls_config))
    hls_model.write()
    check_estimate_matches_generated(est, parse_generated(out))

Command line: ``python -m rasp.hardware CHECKPOINT --hardware-config FILE.yaml --rf N
[--masks masks.pt]`` prints the resource table of a saved checkpoint.
"""

from rasp.lazy import lazy_exports

# Public names -> defining submodule. Loaded on first use (PEP 562), so that
# ``python -m rasp.hardware --help`` does not pay for importing torch and pandas.
_EXPORTS = {
    "ArrayLayer": "arrays",
    "array_layer": "arrays",
    "estimate_arrays": "arrays",
    "RESOURCES": "costs",
    "ConstantProducts": "costs",
    "constant_products": "costs",
    "WeightMemory": "costs",
    "weight_memory": "costs",
    "ResourceEstimate": "estimate",
    "estimate_layers": "estimate",
    "estimate_resources": "estimate",
    "FixedType": "fixed",
    "parse_precision": "fixed",
    "GeneratedLayer": "generated",
    "GeneratedMismatchError": "generated",
    "check_estimate_matches_generated": "generated",
    "compare_with_generated": "generated",
    "parse_generated": "generated",
    "hls4ml_convert_kwargs": "hls_config",
    "load_hls_config": "hls_config",
    "make_hls_config": "hls_config",
    "save_hls_config": "hls_config",
    "LayerHardware": "layers",
    "describe_model": "layers",
    "InvalidReuseFactorError": "reuse",
    "check_reuse_factor": "reuse",
    "valid_reuse_factors": "reuse",
    "BramModel": "settings",
    "DspModel": "settings",
    "HardwareSettings": "settings",
    "SettingsError": "settings",
    "settings_from_hls_config": "settings",
    "KINDS": "structures",
    "Structures": "structures",
    "bram_columns": "structures",
    "default_kind": "structures",
    "dsp_patterns": "structures",
    "layer_structures": "structures",
    "neurons": "structures",
    "single_weights": "structures",
    "shared_products": "structures",
    "WEIGHT_DEPENDENT_KINDS": "structures",
}

__all__, __getattr__, __dir__ = lazy_exports("rasp.hardware", _EXPORTS)
