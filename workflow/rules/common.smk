# Helpers shared by every rules file: config accessors, path builders, wildcard
# constraints and the registry of final targets. No rule lives here.
import re

from rasp.prune.config import LAYERWISE_OBJECTIVES
from rasp.prune.config import OBJECTIVES as KNAPSACK_OBJECTIVES
from rasp.schemas import PRUNING_BLOCK, fill_defaults
from rasp.schemas import enum as schema_enum


DATASETS = ["jets", "svhn"]
OBJECTIVES = [*KNAPSACK_OBJECTIVES, *LAYERWISE_OBJECTIVES]


wildcard_constraints:
    dataset="|".join(DATASETS),
    source="[a-z]+",
    variant="[A-Za-z0-9_]+",
    objective="|".join(o.replace("+", r"\+") for o in OBJECTIVES),
    rf=r"\d+",
    budget=r"\d+(\.\d+)?",
    shard=r"\d+",
    replicate=r"[1-9]\d*",


# Snakemake's validate() fills defaults from the root schema file only; the section
# schemas' defaults are filled by the library (the same files its settings classes read).
fill_defaults(config)


# Final targets registered by each rules file (`TARGETS.extend(...)`); `rule all` asks
# for all of them.
TARGETS = []


def all_targets():
    return TARGETS


def enabled_datasets():
    """Dataset keys present in the config, in a stable order."""
    return [d for d in DATASETS if d in config.get("datasets", {})]


def data_source(dataset):
    """Configured data source of a dataset (e.g. pythia, openml, synthetic, svhn)."""
    return config["datasets"][dataset]["source"]


def processed_data(dataset):
    """Path of the processed dataset (.npz) every downstream rule reads."""
    return f"results/data/{dataset}/{data_source(dataset)}/dataset.npz"


def processed_provenance(dataset):
    return f"results/data/{dataset}/{data_source(dataset)}/provenance.json"


def rule_seed(*parts):
    """Deterministic per-job seed derived from the master seed and the job's identity."""
    import zlib

    key = "/".join(str(p) for p in parts)
    return (int(config["seed"]) + zlib.crc32(key.encode())) % (2**31 - 1)


#: Keys of a `training.<dataset>` / `pruning.<dataset>` block that size the job for the
#: scheduler (memory in MB, wall time in minutes, GPUs) instead of changing results.
JOB_KEYS = ("mem_mb", "runtime_min", "gpu")


def job_resource(section, dataset, key):
    """Scheduler hint `key` (one of JOB_KEYS) of config[section][dataset], defaults filled."""
    return int(config.get(section, {}).get(dataset, {})[key])


def result_settings(section, dataset, exclude=()):
    """config[section][dataset] without the scheduler hints (and `exclude`): what the rule
    passes as params, so that changing a job's memory does not rerun it."""
    block = config.get(section, {}).get(dataset) or {}
    return {k: v for k, v in block.items() if k not in JOB_KEYS and k not in exclude}


def replicates():
    """Indices of the seed replicates: 0 (the usual result paths) and 1.. (replicate<r>/)."""
    return list(range(int(config["replicates"])))


def replicate_root(dataset, replicate):
    """Result folder of one replicate: results/<dataset> for 0, else .../replicate<r>."""
    r = int(replicate)
    return f"results/{dataset}" if r == 0 else f"results/{dataset}/replicate{r}"


def replicate_seed_parts(wc):
    """Extra parts of a replicate's job seed: none for replicate 0 (its seeds are the ones
    a single-seed run uses), ("replicate", r) otherwise."""
    r = int(getattr(wc, "replicate", 0) or 0)
    return () if r == 0 else ("replicate", r)


def model_variants(dataset):
    return list(config["models"][dataset]["variants"])
