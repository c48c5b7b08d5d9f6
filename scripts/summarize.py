"""Collect every HLS run into results/summary.csv and the distributed-arithmetic designs
into results/summary_da.csv (rule summary)."""

import logging

from rasp.hls import RunFiles, build_da_summary, build_summary, write_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="a",
                    format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("summary")
runs = [RunFiles(r["csim"], r["resources"], r["metrics"]) for r in snakemake.params.runs]
table = build_summary(runs)
write_summary(table, snakemake.output[0])
da_table = build_da_summary(runs, table)
write_summary(da_table, snakemake.output.da)
log.info("wrote %d rows (%d baselines) to %s", len(table),
         int((table["objective"] == "baseline").sum()), snakemake.output[0])
log.info("wrote %d distributed-arithmetic rows (Yosys) to %s", len(da_table), snakemake.output.da)
