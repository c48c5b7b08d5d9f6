# Helpers of the datasets rules (workflow/rules/datasets.smk): config access, the
# shard lists and the source-dependent inputs. Included by datasets.smk; no rules here (Snakemake's linter wants functions apart from rules).

JET_CLASSES = ["g", "q", "t", "w", "z"]
DATASET_SOURCES = {"jets": ["openml", "pythia"], "svhn": ["svhn", "synthetic"]}
# Keys of `datasets.jets.pythia` that are passed to rasp.data.pythia.JetSimulationSettings
PYTHIA_PHYSICS_KEYS = (
    "pthat_min_gev",
    "pthat_max_gev",
    "jet_pt_min_gev",
    "jet_pt_max_gev",
    "max_abs_eta",
    "feature_backend",
    "events_per_batch",
    "boson_production",
    "wprime_mass_gev",
)
OPENML_TABLE = "resources/jets/openml/hls4ml_lhc_jets_hlf.arff"
OPENML_DESCRIPTION = "resources/jets/openml/description.json"


def dataset_block(dataset, *keys):
    """config["datasets"][dataset][keys...], schema defaults included."""
    node = config["datasets"][dataset]
    for k in keys:
        node = node[k]
    return node


def checked_source(dataset, source):
    if source not in DATASET_SOURCES[dataset]:
        raise ValueError(
            f"unknown {dataset} source {source!r}; expected one of "
            f"{DATASET_SOURCES[dataset]} (datasets.{dataset}.source)"
        )
    return source


def jet_shards():
    """(class, shard) of every simulated jet shard."""
    n = int(dataset_block("jets", "pythia", "shards_per_class"))
    return [(c, s) for c in JET_CLASSES for s in range(n)]


def svhn_shard_sizes(split):
    """Images per shard of a rendered split: the total spread evenly over the shards."""
    cfg = dataset_block("svhn", "synthetic")
    total, shards = int(cfg[f"n_{split}"]), int(cfg["shards"])
    if total < shards:
        raise ValueError(f"datasets.svhn.synthetic.n_{split} ({total}) < shards ({shards})")
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def prepare_jets_inputs(wildcards):
    source = checked_source("jets", wildcards.source)
    if source == "openml":
        # ancient(): a download is never redone because of its timestamp
        return {"tables": [ancient(OPENML_TABLE)], "meta": [ancient(OPENML_DESCRIPTION)]}
    raw = "results/data/jets/pythia/raw"
    return {
        "tables": [f"{raw}/{c}_{s}.arff" for c, s in jet_shards()],
        "meta": [f"{raw}/{c}_{s}.json" for c, s in jet_shards()],
    }


def prepare_svhn_inputs(wildcards):
    source = checked_source("svhn", wildcards.source)
    if source == "svhn":
        return {
            "train": [ancient("resources/svhn/svhn/train_32x32.mat")],
            "test": [ancient("resources/svhn/svhn/test_32x32.mat")],
            "meta": [],
        }
    raw = "results/data/svhn/synthetic/raw"
    shards = range(int(dataset_block("svhn", "synthetic", "shards")))
    return {
        "train": [f"{raw}/train_{s}.mat" for s in shards],
        "test": [f"{raw}/test_{s}.mat" for s in shards],
        "meta": [f"{raw}/{split}_{s}.json" for split in ("train", "test") for s in shards],
    }


def datasets_figure_formats():
    return list(config["figures"]["formats"])
