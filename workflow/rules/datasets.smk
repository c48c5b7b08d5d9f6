# Rules of the datasets stage: real downloads (OpenML jets, SVHN) or offline stand-ins
# (Pythia 8 + FastJet jets, rendered digits), then one processed format for both.
# Settings: config section `datasets` (config/README.md); library code: rasp.data.
#
#   jets  openml : fetch_jets                 -> resources/jets/openml/
#         pythia : simulate_jets (class,shard) -> results/data/jets/pythia/raw/
#                  prepare_jets                -> results/data/jets/{source}/dataset.npz
#   svhn  svhn   : fetch_svhn (split)          -> resources/svhn/svhn/
#         synthetic: render_svhn_standin (split,shard) -> results/data/svhn/synthetic/raw/
#                  prepare_svhn                -> results/data/svhn/{source}/dataset.npz
#
# The source comes from `datasets.<dataset>.source` only: a download that fails stops the
# run with a message that says how to switch to the offline stand-in; there is no
# automatic fallback.

include: "datasets_common.smk"


# Downloads run on the submit host (cluster nodes often have no internet).
localrules:
    fetch_jets,
    fetch_svhn,
    plot_jet_features,


rule fetch_jets:
    output:
        table=OPENML_TABLE,
        description=OPENML_DESCRIPTION,
    params:
        # only what changes the result: retries and timeouts are read from the config by
        # the script, so changing them never re-triggers a download
        data_id=lambda wc: dataset_block("jets", "openml", "data_id"),
        api_url=lambda wc: dataset_block("jets", "openml", "api_url"),
    retries: 2
    log:
        "logs/fetch_jets/fetch_jets.log",
    benchmark:
        "benchmarks/fetch_jets/fetch_jets.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/fetch_jets.py"


rule fetch_svhn:
    output:
        mat="resources/svhn/svhn/{split}_32x32.mat",
    wildcard_constraints:
        split="train|test|extra",
    params:
        base_url=lambda wc: dataset_block("svhn", "svhn", "base_url"),
    retries: 2
    log:
        "logs/fetch_svhn/{split}.log",
    benchmark:
        "benchmarks/fetch_svhn/{split}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/fetch_svhn.py"


rule simulate_jets:
    output:
        table="results/data/jets/pythia/raw/{jet_class}_{shard}.arff",
        meta="results/data/jets/pythia/raw/{jet_class}_{shard}.json",
    wildcard_constraints:
        jet_class="|".join(JET_CLASSES),
    params:
        n_jets=lambda wc: int(dataset_block("jets", "pythia", "jets_per_shard")),
        seed=lambda wc: rule_seed("simulate_jets", wc.jet_class, wc.shard),
        settings=lambda wc: {
            k: dataset_block("jets", "pythia")[k]
            for k in PYTHIA_PHYSICS_KEYS
            if k in dataset_block("jets", "pythia")
        },
    log:
        "logs/simulate_jets/{jet_class}_{shard}.log",
    benchmark:
        "benchmarks/simulate_jets/{jet_class}_{shard}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        # minutes: about 90-165 jets/s per core, with a safety factor of 3
        runtime=lambda wc: 5 + int(dataset_block("jets", "pythia", "jets_per_shard")) // 1600,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/simulate_jets.py"


rule render_svhn_standin:
    output:
        mat="results/data/svhn/synthetic/raw/{split}_{shard}.mat",
        meta="results/data/svhn/synthetic/raw/{split}_{shard}.json",
    wildcard_constraints:
        split="train|test",
    params:
        n_images=lambda wc: svhn_shard_sizes(wc.split)[int(wc.shard)],
        seed=lambda wc: rule_seed("render_svhn_standin", wc.split, wc.shard),
        font_dir=lambda wc: dataset_block("svhn", "synthetic", "font_dir"),
        settings=lambda wc: dict(dataset_block("svhn", "synthetic", "render")),
    log:
        "logs/render_svhn_standin/{split}_{shard}.log",
    benchmark:
        "benchmarks/render_svhn_standin/{split}_{shard}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=lambda wc: 5 + svhn_shard_sizes(wc.split)[int(wc.shard)] // 10000,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/render_svhn_standin.py"


rule prepare_jets:
    input:
        unpack(prepare_jets_inputs),
    output:
        dataset="results/data/jets/{source}/dataset.npz",
        provenance="results/data/jets/{source}/provenance.json",
        scaler="results/data/jets/{source}/scaler.json",
    wildcard_constraints:
        source="openml|pythia",
    params:
        val_fraction=lambda wc: dataset_block("jets", "validation_fraction"),
        val_seed=lambda wc: rule_seed("prepare_jets", wc.source, "validation_split"),
        test_fraction=lambda wc: dataset_block("jets", "test_fraction"),
        test_random_state=lambda wc: dataset_block("jets", "test_random_state"),
        nan_policy=lambda wc: dataset_block("jets", "nan_policy"),
        upstream_kind=lambda wc: (
            "OpenML data set description" if wc.source == "openml" else "Pythia 8 shards"
        ),
    log:
        "logs/prepare_jets/{source}.log",
    benchmark:
        "benchmarks/prepare_jets/{source}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc: 6000 if wc.source == "openml" else 2000,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/prepare_jets.py"


rule prepare_svhn:
    input:
        unpack(prepare_svhn_inputs),
    output:
        dataset="results/data/svhn/{source}/dataset.npz",
        provenance="results/data/svhn/{source}/provenance.json",
    wildcard_constraints:
        source="svhn|synthetic",
    params:
        val_fraction=lambda wc: dataset_block("svhn", "validation_fraction"),
        val_seed=lambda wc: rule_seed("prepare_svhn", wc.source, "validation_split"),
        base_url=lambda wc: dataset_block("svhn", "svhn", "base_url"),
    log:
        "logs/prepare_svhn/{source}.log",
    benchmark:
        "benchmarks/prepare_svhn/{source}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc: 8000 if wc.source == "svhn" else 3000,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/prepare_svhn.py"


rule plot_jet_features:
    input:
        data=lambda wc: processed_data("jets"),
        scaler=lambda wc: f"results/data/jets/{data_source('jets')}/scaler.json",
    output:
        expand("results/figures/jets_features.{ext}", ext=datasets_figure_formats()),
    log:
        "logs/plot_jet_features/plot_jet_features.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_jet_features.py"


TARGETS.extend(processed_data(d) for d in enabled_datasets())
if "jets" in enabled_datasets():
    TARGETS.extend(expand("results/figures/jets_features.{ext}", ext=datasets_figure_formats()))
