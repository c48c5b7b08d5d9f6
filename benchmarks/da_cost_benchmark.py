"""How well does a per-weight cost add up to da4ml's cost of the re-traced design?

Not a test. The measurement a ``lut_da`` pruning resource needs (issue 16): a knapsack
wants one additive cost per structure, but da4ml's adder-graph optimiser shares partial
sums across the outputs of a layer, so the cost of a pruned layer is not the sum of its
weights' costs. This script converts a jet MLP once (hls4ml, PyTorch flow, Latency),
then for random and magnitude masks at several densities writes the masked weights into
the converted graph, re-traces it with da4ml (:func:`rasp.hls.da.trace_hls_model`) and
compares the traced cost with two additive models calibrated on the unpruned design:

- ``digits``: cost proportional to the kept weights' CSD digits (one adder per digit);
- ``nonzeros``: cost proportional to the number of kept weights.

Per model it prints the traced cost and each model's relative error; the summary line
gives the median and worst absolute relative error over all masks. Units: da4ml cost
(its LUT-equivalent adder bits), densities as fractions of the weights kept.

Usage::

    python benchmarks/da_cost_benchmark.py                        # random-init jet MLP
    python benchmarks/da_cost_benchmark.py --checkpoint results/jets/baseline/float/model.pt
    python benchmarks/da_cost_benchmark.py --repeats 3 --densities 0.05 0.1 0.25 0.5 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=None, help="a jet MLP model.pt")
    ap.add_argument("--precision", default="ap_fixed<16,6>")
    ap.add_argument("--densities", type=float, nargs="+",
                    default=[0.05, 0.1, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--repeats", type=int, default=2, help="random masks per density")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    args = ap.parse_args(argv)

    from rasp.hardware import HardwareSettings, make_hls_config
    from rasp.hardware.fixed import csd_digits
    from rasp.hls.convert import convert_model
    from rasp.hls.da import constant_values, trace_hls_model
    from rasp.models import build_model, load_checkpoint

    torch.manual_seed(args.seed)
    if args.checkpoint is not None:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        model = build_model("jet_mlp")
    model = model.cpu().eval()
    settings = HardwareSettings.from_dict({
        "backend": "Vitis", "part": "xcvu9p-flga2104-2L-e", "clock_period_ns": 5.0,
        "io_type": "io_parallel", "precision": args.precision, "strategy": "auto"})
    cfg = make_hls_config(model, model.input_shape, settings, 1)
    conv = convert_model(model, cfg, Path(tempfile.mkdtemp(prefix="da_bench_")) / "prj",
                         trace=False)
    dense = [ly for ly in conv.hls_model.get_layers() if ly.class_name == "Dense"]
    full = {ly.name: np.array(ly.weights["weight"].data, dtype=np.float64) for ly in dense}

    def digits(layer, values: np.ndarray) -> np.ndarray:
        prec = layer.weights["weight"].type.precision
        frac = int(prec.width) - int(prec.integer)
        return csd_digits(np.round(values * 2.0 ** frac).astype(np.int64))

    rng = np.random.default_rng(args.seed)
    rows = []
    for density in args.densities:
        kinds = [("random", r) for r in range(args.repeats)] + [("magnitude", 0)]
        for kind, rep in kinds:
            n_keep = n_digits = 0
            for ly in dense:
                w = full[ly.name]
                if kind == "random":
                    keep = rng.random(w.shape) < density
                else:
                    thr = np.quantile(np.abs(w), 1 - density) if density < 1 else -1
                    keep = np.abs(w) > thr
                ly.weights["weight"].data = np.where(keep, w, 0.0)
                q = constant_values(ly.weights["weight"])
                n_keep += int(np.count_nonzero(q))
                n_digits += int(digits(ly, q).sum())
            design = trace_hls_model(conv.hls_model)
            rows.append({"mask": kind, "repeat": rep, "density": density, "nonzeros": n_keep,
                         "csd_digits": n_digits, "cost": design.cost,
                         "latency_max": design.latency[1], "trace_seconds": design.trace_seconds})
    for ly in dense:
        ly.weights["weight"].data = full[ly.name]
    df = pd.DataFrame(rows)
    ref = df.loc[df["density"].idxmax()]
    for model_name, col in (("digits", "csd_digits"), ("nonzeros", "nonzeros")):
        pred = df[col] * (ref["cost"] / ref[col])
        df[f"err_{model_name}"] = (pred - df["cost"]) / df["cost"]
    pd.set_option("display.width", 160)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for model_name in ("digits", "nonzeros"):
        err = df[f"err_{model_name}"].abs()
        print(f"{model_name}: median |relative error| {100 * err.median():.1f}%, worst "
              f"{100 * err.max():.1f}% over {len(df)} masks (calibrated on the unpruned design)")
    print(f"median trace time {df['trace_seconds'].median():.2f} s")
    if args.out is not None:
        df.to_csv(args.out, index=False)
    return df


if __name__ == "__main__":
    main()
