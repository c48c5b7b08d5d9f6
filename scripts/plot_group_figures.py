"""The result figures of one (dataset, variant, reuse factor): accuracy vs DSP and vs
BRAM_18K, per-layer resources of the best pruned models, and the pruning trajectories."""

import logging

from rasp.plots.results import (
    best_model_label,
    plot_accuracy_vs_resource,
    plot_layer_resources,
    plot_trajectories,
)
from rasp.plots.summary_table import load_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
log = logging.getLogger("plot_group_figures")
wc = snakemake.wildcards
p = snakemake.params
out = snakemake.output
dataset, variant, rf = wc.dataset, wc.variant, int(wc.rf)
summary = load_summary(snakemake.input.summary, snakemake.params.tolerance,
                       snakemake.params.confidence, snakemake.params.accuracy)
log.info("best model of %s/%s RF %d within %.3g relative loss (by %s): %s", dataset, variant,
         rf, p.tolerance, p.select_by,
         best_model_label(summary, dataset, variant, rf, p.tolerance, p.select_by, p.accuracy))
written = []
written += plot_accuracy_vs_resource(summary, dataset, variant, rf, "dsp", list(out.dsp),
                                     tolerance=p.tolerance, accuracy=p.accuracy, dpi=p.dpi)
written += plot_accuracy_vs_resource(summary, dataset, variant, rf, "bram_18k", list(out.bram),
                                     tolerance=p.tolerance, accuracy=p.accuracy, dpi=p.dpi)
written += plot_layer_resources(summary, snakemake.input.resources, dataset, variant, rf,
                                list(out.layers), tolerance=p.tolerance,
                                select_by=p.select_by, accuracy=p.accuracy, dpi=p.dpi)
written += plot_trajectories(summary, snakemake.input.trajectories, dataset, variant, rf,
                             list(out.trajectories), metrics_files=snakemake.input.metrics,
                             dpi=p.dpi)
log.info("wrote %s", ", ".join(map(str, written)))
