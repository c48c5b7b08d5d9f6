"""Train one baseline model (rule train_baseline): checkpoint, metrics, history, ROC."""

import logging
import os

# Idle OpenMP threads sleep instead of spinning: with the default policy a 2-thread job on
# a busy machine trains up to 50x slower (measured; see config/README.md "training").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from rasp.train import train_baseline  # noqa: E402  (torch must see the policy above)

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, filemode="a",
                    format="%(asctime)s %(levelname)s %(message)s")
logging.captureWarnings(True)
log = logging.getLogger("train_baseline")
p = snakemake.params
out = snakemake.output
train_baseline(
    snakemake.input.data,
    dataset=snakemake.wildcards.dataset,
    variant=snakemake.wildcards.variant,
    arch=p.arch,
    model_kwargs=p.model_kwargs,
    training=p.training,
    seed=p.seed,
    out_model=out.model,
    out_metrics=out.metrics,
    out_history=out.history,
    out_roc=out.roc,
    threads=snakemake.threads,
    device=p.device,
    resume_dir=p.resume_dir,
    logger=log,
)
