"""Rank-correlation ablation of layerwise pruning (rule layerwise_ablation): how much a
layer's channel ranking changes once the previous layer is pruned; CSV and figure."""

import logging

import torch

from rasp.plots.layerwise import plot_rank_correlation
from rasp.prune.job import ablation_job

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="w",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.captureWarnings(True)
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
log = logging.getLogger("layerwise_ablation")
torch.set_num_threads(snakemake.threads)
p = snakemake.params
df = ablation_job(
    snakemake.input.model,
    snakemake.input.data,
    dataset=snakemake.wildcards.dataset,
    variant=p.variant,
    sparsities=p.sparsities,
    calibration_samples=p.calibration_samples,
    batch_size=p.batch_size,
    scores=p.scores,
    seed=p.seed,
    out_csv=snakemake.output.csv,
    logger=log,
)
written = plot_rank_correlation(df, list(snakemake.output.figures), dpi=p.dpi)
log.info("wrote %s and %s", snakemake.output.csv, ", ".join(map(str, written)))
