"""Knapsack solve time and gap vs problem size (benchmark CSV and pruning steps)."""

import logging

from rasp.plots.results import plot_knapsack, read_knapsack_benchmark, read_solver_rows

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
log = logging.getLogger("plot_knapsack")
bench_files = list(snakemake.input.benchmark)
bench = read_knapsack_benchmark(bench_files[0]) if bench_files else None
rows = read_solver_rows(snakemake.input.trajectories)
log.info("benchmark rows: %d, pruning solver rows: %d",
         0 if bench is None else len(bench), len(rows))
written = plot_knapsack(list(snakemake.output), benchmark=bench, solver_rows=rows,
                        data_sources=snakemake.params.data_sources, dpi=snakemake.params.dpi)
log.info("wrote %s", ", ".join(map(str, written)))
