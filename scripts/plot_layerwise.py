"""Accuracy vs weight memory (bits) of every objective of one (dataset, variant, reuse
factor): the axis of the layerwise + quantisation source paper."""

import json
import logging

from rasp.plots.layerwise import plot_accuracy_vs_weight_bits
from rasp.plots.summary_table import load_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
log = logging.getLogger("plot_accuracy_vs_weight_bits")
wc = snakemake.wildcards
p = snakemake.params
with open(snakemake.input.baseline_metrics, encoding="utf-8") as fh:
    baseline_metrics = json.load(fh)
written = plot_accuracy_vs_weight_bits(
    load_summary(snakemake.input.summary, snakemake.params.tolerance,
                       snakemake.params.confidence, snakemake.params.accuracy), snakemake.input.metrics, wc.dataset, wc.variant,
    int(wc.rf), list(snakemake.output), tolerance=p.tolerance, accuracy=p.accuracy,
    baseline_metrics=baseline_metrics, dpi=p.dpi,
)
log.info("wrote %s", ", ".join(map(str, written)))
