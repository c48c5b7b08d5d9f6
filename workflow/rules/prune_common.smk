# Helpers of the prune stage (config accessors, the list of runs, path builders, target
# lists); the rules are in prune.smk, which includes this file.

#: Keys of a `pruning.<dataset>` block that define the sweep rather than one prune (never
#: a param of a prune job: adding an objective must not rerun the others). Equal to
#: rasp.prune.config.SWEEP_KEYS (tests/test_workflow.py).
PRUNE_SWEEP_KEYS = (
    "variants", "reuse_factors", "objectives", "objective_reuse_factors", "budgets",
)


def pruning_block(dataset):
    return dict(config.get("pruning", {}).get(dataset) or {})


def budget_label(budget):
    """Budget (percent) as it appears in paths: 50 -> '50', 2.5 -> '2.5'."""
    return f"{float(budget):g}"


def prune_settings(dataset):
    """rasp.prune.PruneConfig keys of a dataset (schema defaults are filled in)."""
    return result_settings("pruning", dataset, exclude=PRUNE_SWEEP_KEYS)


def prune_variants(dataset):
    block = pruning_block(dataset)
    variants = block.get("variants") or model_variants(dataset)
    unknown = [v for v in variants if v not in model_variants(dataset)]
    if unknown:
        raise ValueError(
            f"pruning.{dataset}.variants lists {unknown}, which are not in "
            f"models.{dataset}.variants ({model_variants(dataset)})"
        )
    return list(variants)


def prune_runs(dataset):
    """(variant, objective, rf, budget label) of every configured prune of a dataset."""
    block = pruning_block(dataset)
    if not block:
        return []
    runs = []
    reuse_factors = [int(rf) for rf in block["reuse_factors"]]
    per_objective = dict(block.get("objective_reuse_factors") or {})
    for objective, rfs in per_objective.items():
        # an entry only restricts an objective that runs (a merged config may list others)
        if objective in block["objectives"] and not set(map(int, rfs)) <= set(reuse_factors):
            raise ValueError(
                f"pruning.{dataset}.objective_reuse_factors.{objective}={rfs}: reuse factors "
                f"must be among pruning.{dataset}.reuse_factors ({reuse_factors})"
            )
    for variant in prune_variants(dataset):
        for objective in block["objectives"]:
            for rf in per_objective.get(objective, reuse_factors):
                for budget in block["budgets"]:
                    runs.append((variant, objective, int(rf), budget_label(budget)))
    return runs


def pruned_dir(dataset, variant, objective, rf, budget, replicate=0):
    root = replicate_root(dataset, replicate)
    return f"{root}/pruned/{variant}/{objective}_rf{rf}_b{budget}"


def hardware_settings(dataset):
    hw = config.get("hardware", {}).get(dataset)
    if hw is None:
        raise ValueError(
            f"pruning {dataset!r} needs its hls4ml target in config hardware.{dataset} "
            "(backend, part, precision, strategy, io_type)"
        )
    return dict(hw)


def prune_targets():
    """Final outputs of the prune stage: every configured pruned model."""
    out = []
    for dataset in enabled_datasets():
        for variant, objective, rf, budget in prune_runs(dataset):
            for r in replicates():
                folder = pruned_dir(dataset, variant, objective, rf, budget, r)
                out += [f"{folder}/{name}" for name in
                        ("model.pt", "masks.pt", "metrics.json", "trajectory.csv")]
    return out
