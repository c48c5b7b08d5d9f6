# Helpers shared by every rules file: config accessors, path builders, wildcard
# constraints and the registry of final targets. No rule lives here.
import copy
import json
import re
from pathlib import Path

import yaml


DATASETS = ["jets", "svhn"]
OBJECTIVES = [
    "dsp", "csd", "bram", "dsp+bram", "lut_da", "neurons", "unstructured", "layerwise",
    "layerwise+quant",
]


wildcard_constraints:
    dataset="|".join(DATASETS),
    source="[a-z]+",
    variant="[A-Za-z0-9_]+",
    objective="|".join(o.replace("+", r"\+") for o in OBJECTIVES),
    rf=r"\d+",
    budget=r"\d+(\.\d+)?",
    shard=r"\d+",
    replicate=r"[1-9]\d*",


def _resolve_ref(schema, schema_file, root):
    """Follow `$ref` (another schema file and/or a `#/$defs/...` pointer)."""
    while "$ref" in schema:
        ref_file, _, pointer = schema["$ref"].partition("#")
        if ref_file:
            schema_file = (schema_file.parent / ref_file).resolve()
            root = yaml.safe_load(schema_file.read_text())
        node = root
        for part in [p for p in pointer.split("/") if p]:
            node = node[part]
        schema = node
    return schema, schema_file, root


def apply_schema_defaults(node, schema, schema_file, root=None):
    """Fill the `default` of every absent property, recursively, following `$ref`s.

    Snakemake's validate() sets defaults only in the root schema file: a `$ref`ed
    section file declares its own `$schema`, which switches jsonschema to its plain
    validator. The section schemas in workflow/schemas/ are therefore applied here.
    """
    schema, schema_file, root = _resolve_ref(schema, schema_file, root or schema)
    if not isinstance(node, dict):
        return
    props = schema.get("properties", {})
    for key, sub in props.items():
        sub_resolved = _resolve_ref(sub, schema_file, root)[0]
        if key not in node and "default" in sub_resolved:
            node[key] = copy.deepcopy(sub_resolved["default"])
        if key in node:
            apply_schema_defaults(node[key], sub, schema_file, root)
    extra = schema.get("additionalProperties")
    patterns = schema.get("patternProperties", {})
    for key, value in node.items():
        if key in props:
            continue
        for pattern, sub in patterns.items():
            if re.search(pattern, key):
                apply_schema_defaults(value, sub, schema_file, root)
        if isinstance(extra, dict):
            apply_schema_defaults(value, extra, schema_file, root)


_SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
apply_schema_defaults(config, yaml.safe_load(_SCHEMA.read_text()), _SCHEMA)


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
    return list(range(int(config.get("replicates", 1))))


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
