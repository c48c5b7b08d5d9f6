"""ROC curves of a jet-tagging baseline (rule plot_roc)."""

import logging

from rasp.plots.training import plot_roc

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("plot_roc")
written = plot_roc(snakemake.input.roc, snakemake.input.metrics, list(snakemake.output),
                   dpi=snakemake.params.dpi)
log.info("wrote %s", ", ".join(map(str, written)))
