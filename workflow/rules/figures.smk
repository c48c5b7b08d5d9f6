# Rules of the figures stage: result figures per (dataset, variant, reuse factor), the
# knapsack figure and the summary table. They read result files only (summary.csv,
# trajectory.csv, resources.csv, metrics.json), never models, so they redraw in seconds.
# Settings: config section `figures` (config/README.md). Library: rasp.plots.
#
# Redraw every figure and table from existing results, never retraining or re-pruning:
#   snakemake --cores 2 figures --allowed-rules <FIGURE_RULES> figures --forcerun <FIGURE_RULES>
# (FIGURE_RULES in figures_common.smk; `make figures`). Plain `snakemake figures` also
# works and reruns upstream steps only when their results are missing or outdated.
include: "figures_common.smk"


# Plots and tables are cheap: on a cluster they run on the submit host, not as jobs.
localrules:
    plot_group_figures,
    plot_class_auc,
    plot_knapsack,
    plot_da,
    summary_table,


rule plot_group_figures:
    input:
        summary="results/summary.csv",
        resources=lambda wc: group_files(wc, "hls", "resources.csv", baseline=True),
        trajectories=lambda wc: group_files(wc, "pruned", "trajectory.csv"),
        metrics=lambda wc: group_files(wc, "pruned", "metrics.json"),
    output:
        dsp=figure_outputs("accuracy_vs_dsp", "accuracy vs DSP", "accuracy_vs_dsp"),
        bram=figure_outputs("accuracy_vs_bram", "accuracy vs BRAM", "accuracy_vs_bram"),
        layers=figure_outputs("layer_resources", "per-layer resources", "layer_resources"),
        trajectories=figure_outputs("trajectories", "pruning trajectories", "trajectories"),
    params:
        tolerance=figure_setting("tolerance"),
        confidence=figure_setting("confidence"),
        accuracy=figure_setting("accuracy"),
        select_by=lambda wc: figure_select_by(wc.dataset),
        dpi=figure_setting("dpi"),
    log:
        "logs/plot_group_figures/{dataset}_{variant}_rf{rf}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_group_figures.py"


rule plot_class_auc:
    wildcard_constraints:
        dataset="jets",
    input:
        summary="results/summary.csv",
        metrics=lambda wc: group_files(wc, "pruned", "metrics.json"),
        baseline_metrics="results/{dataset}/baseline/{variant}/metrics.json",
    output:
        figure_outputs("class_auc", "ROC AUC per class", "class_auc"),
    params:
        tolerance=figure_setting("tolerance"),
        confidence=figure_setting("confidence"),
        accuracy=figure_setting("accuracy"),
        select_by=lambda wc: figure_select_by(wc.dataset),
        dpi=figure_setting("dpi"),
    log:
        "logs/plot_class_auc/{dataset}_{variant}_rf{rf}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_class_auc.py"


rule plot_knapsack:
    input:
        trajectories=[
            f"results/{d}/pruned/{v}/{o}_rf{r}_b{b}/trajectory.csv"
            for d in enabled_datasets()
            for v, o, r, b in prune_runs(d)
        ],
        benchmark=knapsack_benchmark_input,
    output:
        [
            report(
                f"results/figures/knapsack.{fmt}",
                caption="../report/knapsack.rst",
                category="knapsack solvers",
                labels={"figure": "solve time and gap vs size", "format": fmt},
            )
            for fmt in figure_formats()
        ],
    params:
        data_sources=[data_source(d) for d in enabled_datasets() if prune_runs(d)],
        dpi=figure_setting("dpi"),
    log:
        "logs/plot_knapsack/knapsack.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_knapsack.py"


rule plot_da:
    """Accuracy vs Yosys LUTs of the distributed-arithmetic designs (datasets in hls.da)."""
    input:
        summary_da="results/summary_da.csv",
    output:
        [
            report(
                f"results/figures/{{dataset}}/{{variant}}/accuracy_vs_yosys_lut.{fmt}",
                caption="../report/accuracy_vs_yosys_lut.rst",
                category="{dataset}",
                subcategory="{variant}, distributed arithmetic",
                labels={"figure": "accuracy vs Yosys LUTs", "format": fmt},
            )
            for fmt in figure_formats()
        ],
    params:
        dpi=figure_setting("dpi"),
    log:
        "logs/plot_da/{dataset}_{variant}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/plot_da.py"


rule summary_table:
    input:
        summary="results/summary.csv",
    output:
        markdown=report(
            "results/summary.md",
            caption="../report/summary_table.rst",
            category="summary",
            labels={"table": "baseline and best pruned models"},
        ),
    params:
        tolerance=figure_setting("tolerance"),
        confidence=figure_setting("confidence"),
        accuracy=figure_setting("accuracy"),
        select_by={d: figure_select_by(d) for d in enabled_datasets()},
    log:
        "logs/summary_table/summary_table.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/plots.yaml"
    script:
        "../../scripts/summary_table.py"


TARGETS.extend(figure_targets())


rule result_figures:
    """The figures and the table of this stage only (result files in, no models)."""
    input:
        figure_targets(),
    localrule: True


rule figures:
    """Every figure and table of the workflow (all stages), from existing results."""
    input:
        lambda wc: figure_targets()
        + [t for t in all_targets() if t.startswith("results/figures/")],
    localrule: True
