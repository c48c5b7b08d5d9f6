# Rules of the layerwise objectives' extras: the rank-correlation ablation (does pruning a
# layer change the next layer's channel ranking?) and the accuracy-vs-weight-memory figure
# of every objective. The pruned models themselves come from rule `prune` (objectives
# `layerwise` and `layerwise+quant`, rasp.prune.layerwise). Settings: the `layerwise` and
# `quantization` keys of config section `pruning.<dataset>` (config/README.md,
# docs/layerwise.md). Needs prune.smk (prune_runs, pruning_block, prune_variants) and
# figures.smk (figure helpers): include this file after both.

include: "layerwise_common.smk"


localrules:
    plot_accuracy_vs_weight_bits,


rule layerwise_ablation:
    input:
        model=lambda wc: f"results/{wc.dataset}/baseline/{layerwise_ablation_variant(wc.dataset)}/model.pt",
        data=lambda wc: processed_data(wc.dataset),
        provenance=lambda wc: processed_provenance(wc.dataset),
    output:
        csv="results/{dataset}/layerwise/rank_correlation.csv",
        figures=[
            f"results/figures/{{dataset}}_layerwise_rank_correlation.{fmt}"
            for fmt in figure_formats()
        ],
    params:
        variant=lambda wc: layerwise_ablation_variant(wc.dataset),
        sparsities=lambda wc: [float(s) for s in layerwise_setting(wc.dataset, "ablation_sparsities")],
        calibration_samples=lambda wc: int(layerwise_setting(wc.dataset, "calibration_samples")),
        batch_size=lambda wc: int(layerwise_setting(wc.dataset, "calibration_batch_size")),
        scores=LAYERWISE_SCORES,
        seed=lambda wc: rule_seed("layerwise_ablation", wc.dataset),
        dpi=figure_setting("dpi"),
    log:
        "logs/layerwise_ablation/{dataset}.log",
    benchmark:
        "benchmarks/layerwise_ablation/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    conda:
        "../../envs/prune.yaml"
    script:
        "../../scripts/layerwise_ablation.py"


rule plot_accuracy_vs_weight_bits:
    input:
        summary="results/summary.csv",
        metrics=lambda wc: group_files(wc, "pruned", "metrics.json"),
        baseline_metrics="results/{dataset}/baseline/{variant}/metrics.json",
    output:
        [f"{FIG_DIR}/accuracy_vs_weight_bits.{fmt}" for fmt in figure_formats()],
    params:
        tolerance=figure_setting("tolerance"),
        confidence=figure_setting("confidence"),
        accuracy=figure_setting("accuracy"),
        dpi=figure_setting("dpi"),
    log:
        "logs/plot_accuracy_vs_weight_bits/{dataset}_{variant}_rf{rf}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_layerwise.py"


TARGETS.extend(layerwise_targets())
