"""Accuracy vs Yosys LUTs of the distributed-arithmetic designs, beside the estimate
(rule plot_da)."""

import logging

from rasp.plots.da import load_da_summary, plot_accuracy_vs_yosys_lut

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.getLogger("fontTools").setLevel(logging.WARNING)
wc = snakemake.wildcards
written = plot_accuracy_vs_yosys_lut(load_da_summary(snakemake.input.summary_da), wc.dataset,
                                     wc.variant, list(snakemake.output), dpi=snakemake.params.dpi)
logging.getLogger("plot_da").info("wrote %s", ", ".join(map(str, written)))
