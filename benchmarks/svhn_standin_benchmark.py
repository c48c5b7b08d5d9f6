"""How hard the rendered SVHN stand-in is: the SVHN CNN's test accuracy at several seeds.

Renders ``--n-train`` + ``--n-test`` digits (``--render`` JSON overrides
:class:`rasp.data.render_digits.DigitRenderSettings`; default: its defaults) in
``--procs`` processes, prepares them like the workflow's ``prepare_svhn`` (10 %
validation), trains ``svhn_cnn`` with the ``training.svhn`` block of ``--config`` once per
seed, and prints per-seed test accuracy (%), the mean, standard deviation and 95 %
t-interval, the binomial standard error of one run, and the rendering speed
(images/s per core). The band the issue asks for is 88-96 % (real SVHN: about 94 %).

    .venv/bin/python benchmarks/svhn_standin_benchmark.py --seeds 0 1 2 --out /tmp/svhn
"""

from __future__ import annotations

import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import yaml

from rasp.data.prepare import prepare_svhn
from rasp.data.processed import save_processed
from rasp.data.render_digits import DigitRenderSettings, render_digits
from rasp.data.svhn import write_svhn_mat
from rasp.stats import binomial_se, t_interval


def _render(job: tuple[str, int, int, dict, str]) -> tuple[str, float]:
    split, shard, n, render, out = job
    t = time.process_time()
    x, y, _ = render_digits(n, seed=1000 * (split == "test") + shard,
                            settings=DigitRenderSettings.from_dict(render))
    rate = n / (time.process_time() - t)
    return str(write_svhn_mat(Path(out) / f"{split}_{shard}.mat", x, y)), rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=2, help="render processes")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--render", default="{}", help="JSON of DigitRenderSettings overrides")
    ap.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    ap.add_argument("--out", type=Path, required=True, help="scratch directory")
    args = ap.parse_args()

    from rasp.train import train_baseline  # torch: after the render processes fork

    args.out.mkdir(parents=True, exist_ok=True)
    render = json.loads(args.render)
    DigitRenderSettings.from_dict(render)  # fail before rendering anything
    jobs = [(split, shard, total // args.procs + (shard < total % args.procs), render,
             str(args.out))
            for split, total in (("train", args.n_train), ("test", args.n_test))
            for shard in range(args.procs)]
    with Pool(args.procs) as pool:
        rendered = pool.map(_render, jobs)
    rates = sorted(rate for _, rate in rendered)
    print(f"rendering: {rates[len(rates) // 2]:.0f} images/s per core (median of "
          f"{len(rates)} shards)")
    files = [path for path, _ in rendered]
    data = prepare_svhn([f for f in files if "/train_" in f], [f for f in files if "/test_" in f],
                        source="synthetic", val_fraction=0.1, val_seed=0)
    save_processed(args.out / "dataset.npz", data)

    config = yaml.safe_load(args.config.read_text())
    training = dict(config["training"]["svhn"])
    model_kwargs = dict(config["models"]["svhn"]["variants"]["float"])
    accuracies = []
    for seed in args.seeds:
        t = time.perf_counter()
        metrics = train_baseline(
            args.out / "dataset.npz", dataset="svhn", variant="float", arch="svhn_cnn",
            model_kwargs=model_kwargs, training=training, seed=seed,
            out_model=args.out / f"model_{seed}.pt", out_metrics=args.out / f"m_{seed}.json",
            out_history=args.out / f"h_{seed}.csv", out_roc=args.out / f"roc_{seed}.csv",
            threads=args.threads, device="cpu")
        accuracies.append(100.0 * metrics["accuracy"])
        print(f"seed {seed}: test accuracy {accuracies[-1]:.2f} % "
              f"({metrics['epochs_run']} epochs, {time.perf_counter() - t:.0f} s)", flush=True)
    ci = t_interval(accuracies)
    se = 100.0 * binomial_se(ci.mean / 100.0, args.n_test)
    print(f"mean {ci.mean:.2f} %, std {ci.std:.2f}, 95 % t-interval [{ci.low:.2f}, "
          f"{ci.high:.2f}] over {ci.n} seeds; one run's binomial SE {se:.2f} points")


if __name__ == "__main__":
    main()
