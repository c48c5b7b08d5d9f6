# Helpers of the layerwise rules (config accessors, target list); the rules are in
# layerwise.smk, which includes this file. Needs prune.smk and figures.smk helpers.

LAYERWISE_SCORES = list(schema_enum(PRUNING_BLOCK, "layerwise", "score"))


def layerwise_setting(dataset, key):
    """``pruning.<dataset>.layerwise.<key>`` (defaults filled from the schema)."""
    return pruning_block(dataset)["layerwise"][key]


def layerwise_datasets():
    """Datasets whose pruning sweep includes a layerwise objective."""
    return [
        d for d in enabled_datasets()
        if any(o in LAYERWISE_OBJECTIVES for _v, o, _r, _b in prune_runs(d))
    ]


def layerwise_ablation_variant(dataset):
    variant = layerwise_setting(dataset, "ablation_variant") or prune_variants(dataset)[0]
    if variant not in model_variants(dataset):
        raise ValueError(
            f"pruning.{dataset}.layerwise.ablation_variant={variant!r} is not in "
            f"models.{dataset}.variants ({model_variants(dataset)})"
        )
    return variant


def layerwise_targets():
    """The ablation of every dataset with a layerwise objective, and the weight-memory figure
    of every figure group."""
    out = []
    for dataset in layerwise_datasets():
        out.append(f"results/{dataset}/layerwise/rank_correlation.csv")
        out += [f"results/figures/{dataset}_layerwise_rank_correlation.{fmt}"
                for fmt in figure_formats()]
    for dataset, variant, rf in figure_groups():
        folder = FIG_DIR.format(dataset=dataset, variant=variant, rf=rf)
        out += [f"{folder}/accuracy_vs_weight_bits.{fmt}" for fmt in figure_formats()]
    return out


# the weight-memory figure only reads result files: redraw it with the other figures
FIGURE_RULES.append("plot_accuracy_vs_weight_bits")
