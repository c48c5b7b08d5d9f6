"""Benchmark of the Pythia 8 + FastJet jet stand-in: jets per second per core.

For each jet class, simulates ``--jets`` jets ``--repeats`` times (different seeds) in
this single process (one core) and reports the median over the repeats of

- jets/s (CPU): jets / process CPU seconds (insensitive to other load on the machine),
- jets/s (wall): jets / elapsed seconds,

both including Pythia initialisation, event generation, clustering, truth matching and
the 16 features. It also times the two feature implementations alone (fjcontrib and
numpy, ms per jet) on the jets of the last repeat. Prints a table; ``--out`` also
writes the rows as CSV.

    .venv/bin/python benchmarks/jet_simulation_benchmark.py --jets 300 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from rasp.data.jet_features import JET_CLASSES, compute_jet_features
from rasp.data.pythia import JetSimulationSettings, generate_jets, simulate_jets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", nargs="+", default=list(JET_CLASSES), choices=JET_CLASSES)
    ap.add_argument("--jets", type=int, default=300, help="jets per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--feature-jets", type=int, default=100,
                    help="jets for timing the feature implementations alone")
    ap.add_argument("--out", type=Path, default=None, help="optional CSV output")
    args = ap.parse_args()

    settings = JetSimulationSettings()
    rows = []
    for cls in args.classes:
        cpu_rates, wall_rates, events = [], [], []
        for r in range(args.repeats):
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            res = simulate_jets(cls, args.jets, seed=1000 + r, settings=settings)
            cpu = time.process_time() - t_cpu
            wall = time.perf_counter() - t_wall
            cpu_rates.append(args.jets / cpu)
            wall_rates.append(args.jets / wall)
            events.append(res.meta["n_events"])
        jets, _ = generate_jets(cls, args.feature_jets, seed=999, settings=settings)
        feat_ms = {}
        for backend in ("fjcontrib", "numpy"):
            t = time.process_time()
            compute_jet_features(jets, backend)
            feat_ms[backend] = 1000 * (time.process_time() - t) / len(jets)
        row = {
            "class": cls,
            "jets_per_repeat": args.jets,
            "repeats": args.repeats,
            "jets_per_s_cpu_median": round(statistics.median(cpu_rates), 1),
            "jets_per_s_wall_median": round(statistics.median(wall_rates), 1),
            "events_per_jet": round(statistics.median(events) / args.jets, 3),
            "features_ms_per_jet_fjcontrib": round(feat_ms["fjcontrib"], 2),
            "features_ms_per_jet_numpy": round(feat_ms["numpy"], 2),
            "mean_multiplicity": round(float(jets.offsets[-1]) / len(jets), 1),
        }
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    overall = statistics.median(r["jets_per_s_cpu_median"] for r in rows)
    harmonic = len(rows) / sum(1 / r["jets_per_s_cpu_median"] for r in rows)
    print(f"median over classes: {overall:.1f} jets/s per core (CPU time); "
          f"equal mix of classes: {harmonic:.1f} jets/s per core")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
