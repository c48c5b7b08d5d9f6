# Helpers of the figures stage (config accessors, the figure groups, input and output
# path builders); the rules are in figures.smk, which includes this file.
import os

#: Rules that only draw figures or tables from result files.
FIGURE_RULES = [
    "plot_group_figures",
    "plot_class_auc",
    "plot_knapsack",
    "plot_da",
    "summary_table",
]

def figure_setting(key):
    """A key of config section `figures` (schema defaults filled by common.smk)."""
    return config["figures"][key]


def figure_formats():
    return list(figure_setting("formats"))


def figure_select_by(dataset):
    """Resource that ranks the pruned models within tolerance of a dataset."""
    return dict(figure_setting("select_by")).get(dataset, "dsp")


def figure_groups():
    """(dataset, variant, rf) of every configured pruning sweep, in a stable order."""
    groups = []
    for dataset in enabled_datasets():
        for variant, _objective, rf, _budget in prune_runs(dataset):
            if (dataset, variant, rf) not in groups:
                groups.append((dataset, variant, rf))
    return groups


def group_runs(dataset, variant, rf):
    """Run ids ({objective}_rf{rf}_b{budget}) of the pruned models of one group."""
    return [
        f"{o}_rf{r}_b{b}"
        for v, o, r, b in prune_runs(dataset)
        if v == variant and int(r) == int(rf)
    ]


def group_files(wc, stage, name, baseline=False):
    """Per-run files of a group: stage 'pruned' or 'hls', file name, optional baseline."""
    runs = group_runs(wc.dataset, wc.variant, wc.rf)
    if baseline:
        runs = [f"baseline_rf{wc.rf}"] + runs
    return [f"results/{wc.dataset}/{stage}/{wc.variant}/{run}/{name}" for run in runs]


def knapsack_benchmark_input(wc):
    """The knapsack benchmark CSV when configured and present (it is not a workflow output)."""
    path = figure_setting("knapsack_benchmark")
    return [path] if path and os.path.exists(path) else []


FIG_DIR = "results/figures/{dataset}/{variant}/rf{rf}"


def figure_outputs(name, label, caption):
    """report() outputs of one figure in every configured format."""
    # (`report` may not start a line outside a rule: Snakemake reads it as the keyword)
    return [report(
        f"{FIG_DIR}/{name}.{fmt}",
        caption=f"../report/{caption}.rst",
        category="{dataset}",
        subcategory="{variant}, reuse factor {rf}",
        labels={"figure": label, "format": fmt},
    ) for fmt in figure_formats()]


def figure_targets():
    """Every figure and table of this stage."""
    out = []
    kinds = ["accuracy_vs_dsp", "accuracy_vs_bram", "layer_resources", "trajectories"]
    for dataset, variant, rf in figure_groups():
        names = kinds + (["class_auc"] if dataset == "jets" else [])
        folder = FIG_DIR.format(dataset=dataset, variant=variant, rf=rf)
        out += [f"{folder}/{name}.{fmt}" for name in names for fmt in figure_formats()]
    da_pairs = []  # (dataset, variant) with distributed-arithmetic designs
    for dataset, variant, _rf in figure_groups():
        if dataset in hls_da_datasets() and (dataset, variant) not in da_pairs:
            da_pairs.append((dataset, variant))
    for dataset, variant in da_pairs:
        out += [f"results/figures/{dataset}/{variant}/accuracy_vs_yosys_lut.{fmt}"
                for fmt in figure_formats()]
    if figure_groups():
        out += [f"results/figures/knapsack.{fmt}" for fmt in figure_formats()]
        out.append("results/summary.md")
    return out
