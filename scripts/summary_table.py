"""results/summary.md: the paper-style table built from results/summary.csv."""

import logging

from rasp.plots.summary_table import write_summary_markdown

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("summary_table")
table = write_summary_markdown(
    snakemake.input.summary, snakemake.output.markdown, snakemake.params.tolerance,
    snakemake.params.select_by, snakemake.params.accuracy, snakemake.params.confidence,
)
log.info("wrote %s: %d rows (%d best models)", snakemake.output.markdown, len(table),
         int(table["best"].sum()))
