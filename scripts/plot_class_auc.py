"""ROC AUC per class: baseline vs best pruned model of each objective (jets)."""

import logging

from rasp.plots.results import plot_class_auc
from rasp.plots.summary_table import load_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
log = logging.getLogger("plot_class_auc")
wc = snakemake.wildcards
p = snakemake.params
written = plot_class_auc(
    load_summary(snakemake.input.summary, snakemake.params.tolerance,
                       snakemake.params.confidence, snakemake.params.accuracy), snakemake.input.metrics,
    snakemake.input.baseline_metrics, wc.dataset, wc.variant, int(wc.rf),
    list(snakemake.output), tolerance=p.tolerance, select_by=p.select_by,
    accuracy=p.accuracy, dpi=p.dpi,
)
log.info("wrote %s", ", ".join(map(str, written)))
