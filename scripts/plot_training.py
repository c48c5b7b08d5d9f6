"""Training curves of one baseline (rule plot_training_curves)."""

import logging

from rasp.plots.training import plot_training_curves

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("plot_training")
written = plot_training_curves(snakemake.input.history, snakemake.input.metrics,
                               list(snakemake.output), dpi=snakemake.params.dpi)
log.info("wrote %s", ", ".join(map(str, written)))
