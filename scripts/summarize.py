"""Collect every run into results/summary.csv (one row per seed replicate), the seed
statistics into results/summary_agg.csv, summary_compare.csv and summary_tolerance.csv,
and the distributed-arithmetic designs into results/summary_da.csv (rule summary)."""

import logging

from rasp.hls import RunFiles, build_da_summary, build_summary, write_summary
from rasp.hls.summary import replicate_rows
from rasp.stats import aggregate_summary, compare_objectives, smallest_budget_within_tolerance

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="a",
                    format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("summary")
runs = [RunFiles(r["csim"], r["resources"], r["metrics"]) for r in snakemake.params.runs]
extra = [row for g in snakemake.params.replicate_groups
         for row in replicate_rows(g["baseline"], g["pruned"], g["replicate"])]
table = build_summary(runs, extra)
agg = aggregate_summary(table, snakemake.params.tolerance, snakemake.params.confidence)
compare = compare_objectives(table, "unstructured", snakemake.params.confidence)
smallest = smallest_budget_within_tolerance(agg)
da_table = build_da_summary(runs, table)
for frame, path in ((table, snakemake.output.summary), (agg, snakemake.output.agg),
                    (compare, snakemake.output.compare), (smallest, snakemake.output.tolerance),
                    (da_table, snakemake.output.da)):
    write_summary(frame, path)
log.info("wrote %d rows (%d baselines, %d seed replicates) to %s", len(table),
         int((table["objective"] == "baseline").sum()), table["replicate"].nunique(),
         snakemake.output.summary)
log.info("wrote %d aggregated points to %s, %d comparisons to %s", len(agg),
         snakemake.output.agg, len(compare), snakemake.output.compare)
log.info("wrote %d distributed-arithmetic rows (Yosys) to %s", len(da_table), snakemake.output.da)
