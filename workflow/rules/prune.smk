# Rules of the prune stage: resource-aware iterative pruning of each baseline, one job per
# (dataset, variant, objective, reuse factor, budget). Settings: config section `pruning`
# (sweep and method) and `hardware` (hls4ml target); see config/README.md. Library code:
# rasp.prune (importance, knapsack selection, masks, schedules), rasp.hardware, rasp.train.

include: "prune_common.smk"


rule prune:
    input:
        model="results/{dataset}/baseline/{variant}/model.pt",
        data=lambda wc: processed_data(wc.dataset),
        provenance=lambda wc: processed_provenance(wc.dataset),
    output:
        model="results/{dataset}/pruned/{variant}/{objective}_rf{rf}_b{budget}/model.pt",
        masks="results/{dataset}/pruned/{variant}/{objective}_rf{rf}_b{budget}/masks.pt",
        metrics="results/{dataset}/pruned/{variant}/{objective}_rf{rf}_b{budget}/metrics.json",
        trajectory="results/{dataset}/pruned/{variant}/{objective}_rf{rf}_b{budget}/trajectory.csv",
    params:
        pruning=lambda wc: prune_settings(wc.dataset),
        hardware=lambda wc: hardware_settings(wc.dataset),
        seed=lambda wc: rule_seed(
            "prune", wc.dataset, wc.variant, wc.objective, wc.rf, wc.budget
        ),
        device=config["device"],
    log:
        "logs/prune/{dataset}_{variant}_{objective}_rf{rf}_b{budget}.log",
    benchmark:
        "benchmarks/prune/{dataset}_{variant}_{objective}_rf{rf}_b{budget}.tsv"
    # Many small jobs: one thread each keeps every core busy (the MLP does not scale over
    # threads; the SLURM profile gives each job 8).
    threads: 1
    resources:
        mem_mb=lambda wc: job_resource("pruning", wc.dataset, "mem_mb"),
        runtime=lambda wc: job_resource("pruning", wc.dataset, "runtime_min"),
        gpu=lambda wc: job_resource("pruning", wc.dataset, "gpu"),
    conda:
        "../../envs/prune.yaml"
    script:
        "../../scripts/prune.py"


# Seed replicates r >= 1 (config `replicates`): replicate r's baseline pruned with the
# pruning seed of replicate r, under results/{dataset}/replicate{r}/pruned/.
use rule prune as prune_replicate with:
    input:
        model="results/{dataset}/replicate{replicate}/baseline/{variant}/model.pt",
        data=lambda wc: processed_data(wc.dataset),
        provenance=lambda wc: processed_provenance(wc.dataset),
    output:
        model="results/{dataset}/replicate{replicate}/pruned/{variant}/{objective}_rf{rf}_b{budget}/model.pt",
        masks="results/{dataset}/replicate{replicate}/pruned/{variant}/{objective}_rf{rf}_b{budget}/masks.pt",
        metrics="results/{dataset}/replicate{replicate}/pruned/{variant}/{objective}_rf{rf}_b{budget}/metrics.json",
        trajectory="results/{dataset}/replicate{replicate}/pruned/{variant}/{objective}_rf{rf}_b{budget}/trajectory.csv",
    params:
        seed=lambda wc: rule_seed(
            "prune", wc.dataset, wc.variant, wc.objective, wc.rf, wc.budget,
            *replicate_seed_parts(wc),
        ),
    log:
        "logs/prune/{dataset}_{variant}_{objective}_rf{rf}_b{budget}_replicate{replicate}.log",
    benchmark:
        "benchmarks/prune/{dataset}_{variant}_{objective}_rf{rf}_b{budget}_replicate{replicate}.tsv"


TARGETS.extend(prune_targets())
