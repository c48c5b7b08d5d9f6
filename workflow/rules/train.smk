# Rules of the train stage: one baseline per (dataset, model variant), its training
# curves and, for jets, its ROC curves. Settings: config sections `models` and `training`
# (config/README.md); the library code is rasp.train / rasp.models / rasp.plots.training.
# The keys mem_mb, runtime_min and gpu of a `training.<dataset>` block are scheduler hints,
# not training settings, so they are not passed to the script (common.smk, JOB_KEYS).


# Plots are cheap: on a cluster they run on the submit host, not as jobs.
localrules:
    plot_training_curves,
    plot_roc,


rule train_baseline:
    input:
        data=lambda wc: processed_data(wc.dataset),
        provenance=lambda wc: processed_provenance(wc.dataset),
    output:
        model="results/{dataset}/baseline/{variant}/model.pt",
        metrics="results/{dataset}/baseline/{variant}/metrics.json",
        history="results/{dataset}/baseline/{variant}/history.csv",
        roc="results/{dataset}/baseline/{variant}/roc.csv",
    params:
        arch=lambda wc: config["models"][wc.dataset]["arch"],
        model_kwargs=lambda wc: dict(config["models"][wc.dataset]["variants"][wc.variant]),
        training=lambda wc: result_settings("training", wc.dataset),
        seed=lambda wc: rule_seed("train", wc.dataset, wc.variant),
        device=config["device"],
        # Resume state lives next to the outputs but is not one: a failed or killed job
        # keeps it and the rerun continues from the last finished epoch.
        resume_dir=lambda wc: f"results/{wc.dataset}/baseline/{wc.variant}/.resume",
    log:
        "logs/train_baseline/{dataset}_{variant}.log",
    benchmark:
        "benchmarks/train_baseline/{dataset}_{variant}.tsv"
    # Baselines head the critical path (every prune and HLS job waits for one): start
    # them before cheaper jobs that are ready at the same time.
    priority: 50
    threads: 2
    resources:
        mem_mb=lambda wc: job_resource("training", wc.dataset, "mem_mb"),
        runtime=lambda wc: job_resource("training", wc.dataset, "runtime_min"),
        gpu=lambda wc: job_resource("training", wc.dataset, "gpu"),
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train_baseline.py"


# Seed replicates r >= 1 (config `replicates`): the same training with the seed of
# replicate r, under results/{dataset}/replicate{r}/ (replicate 0 is the rule above).
use rule train_baseline as train_baseline_replicate with:
    output:
        model="results/{dataset}/replicate{replicate}/baseline/{variant}/model.pt",
        metrics="results/{dataset}/replicate{replicate}/baseline/{variant}/metrics.json",
        history="results/{dataset}/replicate{replicate}/baseline/{variant}/history.csv",
        roc="results/{dataset}/replicate{replicate}/baseline/{variant}/roc.csv",
    params:
        seed=lambda wc: rule_seed("train", wc.dataset, wc.variant, *replicate_seed_parts(wc)),
        resume_dir=lambda wc: (
            f"results/{wc.dataset}/replicate{wc.replicate}/baseline/{wc.variant}/.resume"
        ),
    log:
        "logs/train_baseline/{dataset}_{variant}_replicate{replicate}.log",
    benchmark:
        "benchmarks/train_baseline/{dataset}_{variant}_replicate{replicate}.tsv"


rule plot_training_curves:
    input:
        history="results/{dataset}/baseline/{variant}/history.csv",
        metrics="results/{dataset}/baseline/{variant}/metrics.json",
    output:
        expand(
            "results/figures/{{dataset}}_{{variant}}_training.{ext}",
            ext=config["figures"]["formats"],
        ),
    params:
        dpi=config["figures"]["dpi"],
    log:
        "logs/plot_training_curves/{dataset}_{variant}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_training.py"


rule plot_roc:
    input:
        roc="results/jets/baseline/{variant}/roc.csv",
        metrics="results/jets/baseline/{variant}/metrics.json",
    output:
        expand(
            "results/figures/jets_{{variant}}_roc.{ext}",
            ext=config["figures"]["formats"],
        ),
    params:
        dpi=config["figures"]["dpi"],
    log:
        "logs/plot_roc/jets_{variant}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_roc.py"


# Final targets: every configured baseline, its training curves and (jets) ROC curves.
TARGETS.extend(
    path
    for dataset in enabled_datasets()
    for variant in model_variants(dataset)
    for path in [
        f"results/{dataset}/baseline/{variant}/model.pt",
        f"results/{dataset}/baseline/{variant}/metrics.json",
    ]
    + [
        f"{replicate_root(dataset, r)}/baseline/{variant}/metrics.json"
        for r in replicates()[1:]
    ]
    + [
        f"results/figures/{dataset}_{variant}_{kind}.{ext}"
        for kind in (["training", "roc"] if dataset == "jets" else ["training"])
        for ext in config["figures"]["formats"]
    ]
)
