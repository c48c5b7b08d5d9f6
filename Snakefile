# Resource-aware structured pruning for hls4ml (arXiv:2308.05170), end to end:
# data -> baseline training -> knapsack pruning at several budgets -> hls4ml -> figures.
# Run `snakemake --cores N` (default config: offline stand-in data) or
# `snakemake --cores N --configfile config/paper.yaml` for the real-data reproduction.
from snakemake.utils import min_version, validate

from rasp.schemas import ROOT_SCHEMA  # src/rasp/schemas/: the library reads the same files

min_version("9.0")


configfile: "config/config.yaml"


validate(config, str(ROOT_SCHEMA))


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/hls.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/layerwise.smk"


rule all:
    input:
        all_targets(),
    default_target: True
