"""Prune one baseline to one resource budget (rule prune): model, masks, metrics, trajectory."""

import logging

from rasp.prune.job import prune_job

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="a",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.captureWarnings(True)
log = logging.getLogger("prune")
wc = snakemake.wildcards
p = snakemake.params
out = snakemake.output
prune_job(
    snakemake.input.model,
    snakemake.input.data,
    dataset=wc.dataset,
    variant=wc.variant,
    objective=wc.objective,
    reuse_factor=int(wc.rf),
    budget_percent=float(wc.budget),
    hardware=p.hardware,
    pruning=p.pruning,
    seed=p.seed,
    out_model=out.model,
    out_masks=out.masks,
    out_metrics=out.metrics,
    out_trajectory=out.trajectory,
    threads=snakemake.threads,
    device=p.device,
    logger=log,
)
