# Helpers shared by every rules file: config accessors, path builders, wildcard
# constraints and the registry of final targets. No rule lives here.
import json
from pathlib import Path


DATASETS = ["jets", "svhn"]
OBJECTIVES = ["dsp", "bram", "dsp+bram", "neurons", "unstructured", "layerwise", "layerwise+quant"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    source="[a-z]+",
    variant="[A-Za-z0-9_]+",
    objective="|".join(o.replace("+", r"\+") for o in OBJECTIVES),
    rf=r"\d+",
    budget=r"\d+(\.\d+)?",
    shard=r"\d+",


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


def model_variants(dataset):
    return list(config["models"][dataset]["variants"])
