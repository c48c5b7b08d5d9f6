"""Which pruned model of one series the HLS stage C-simulates (rule csim_selection)."""

import logging

from rasp.hls.pipeline import write_series_selection

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
record = write_series_selection(list(snakemake.input.metrics), snakemake.output.selection,
                                tolerance=snakemake.params.tolerance,
                                select_by=snakemake.params.select_by)
logging.getLogger("csim_selection").info(
    "best of %d runs (tolerance %s, select_by %s): %s", len(record["runs"]),
    record["tolerance"], record["select_by"], record["best"])
