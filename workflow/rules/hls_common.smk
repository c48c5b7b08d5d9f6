# Helpers of the HLS stage (config accessors, the list of runs, input functions, target
# lists); the rules are in hls.smk, which includes this file.
import re

from rasp.schemas import subschema

#: Keys of the `hls` section that size the jobs or pick the DA datasets; every other key
#: of the section's schema is handed to rasp.hls.HlsOptions.
HLS_JOB_KEYS = ("da", "envmodules", "mem_mb", "runtime_min")
HLS_OPTION_KEYS = tuple(k for k in subschema("hls")[0]["properties"] if k not in HLS_JOB_KEYS)
HLS_OUTPUTS = ("hls_config.yml", "csim.json", "resources.csv", "project.tar.gz")
HLS_RUN_RE = (
    r"baseline_rf\d+|(?:"
    + "|".join(o.replace("+", r"\+") for o in OBJECTIVES)
    + r")_rf\d+_b\d+(?:\.\d+)?"
)


def hls_section():
    return dict(config["hls"])


def hls_options(dataset=None):
    """rasp.hls.HlsOptions keys (schema defaults filled in; best_tolerance defaults to
    figures.tolerance; select_by is figures.select_by of the dataset, so the HLS stage
    C-simulates the model the summary table calls best)."""
    section = hls_section()
    options = {k: section[k] for k in HLS_OPTION_KEYS if k in section}
    if options.get("best_tolerance") is None:
        options["best_tolerance"] = float(config["figures"]["tolerance"])
    if dataset is not None:  # called when jobs are built: figures_common.smk is loaded
        options["select_by"] = figure_select_by(dataset)
        options["distributed_arithmetic"] = dataset in hls_da_datasets()
    return options


def hls_da_datasets():
    """Datasets whose C-simulated models also get the distributed-arithmetic flow."""
    return [str(d) for d in (hls_section().get("da") or [])]


def hls_prune_runs(dataset):
    """(variant, objective, rf, budget label) of every configured prune of a dataset.

    Uses prune.smk's prune_runs (the one definition of the sweep); without it, only
    fully spelled-out pruning.<dataset> blocks are read.
    """
    runs = globals().get("prune_runs")
    if runs is not None:
        return list(runs(dataset))
    block = dict((config.get("pruning") or {}).get(dataset) or {})
    keys = ("variants", "objectives", "reuse_factors", "budgets")
    if not all(block.get(k) for k in keys):
        return []
    return [
        (v, o, int(r), f"{float(b):g}")
        for v in block["variants"]
        for o in block["objectives"]
        for r in block["reuse_factors"]
        for b in block["budgets"]
    ]


def hls_runs(dataset):
    """(variant, run id) of every HLS run of a dataset: baselines first, then pruned."""
    pruned = hls_prune_runs(dataset)
    baselines = []
    for variant, _objective, rf, _budget in pruned:
        if (variant, int(rf)) not in baselines:
            baselines.append((variant, int(rf)))
    runs = [(v, f"baseline_rf{rf}") for v, rf in baselines]
    runs += [(v, f"{o}_rf{int(r)}_b{b}") for v, o, r, b in pruned]
    return runs


def hls_dir(dataset, variant, run):
    return f"results/{dataset}/hls/{variant}/{run}"


def hls_is_baseline(run):
    return run.startswith("baseline_rf")


def hls_run_rf(run):
    return int(re.search(r"_rf(\d+)", run).group(1))


def hls_model_input(wc):
    if hls_is_baseline(wc.run):
        return f"results/{wc.dataset}/baseline/{wc.variant}/model.pt"
    return f"results/{wc.dataset}/pruned/{wc.variant}/{wc.run}/model.pt"


def hls_pruned_input(name):
    """Input function: a file of the pruned model (nothing for a baseline)."""

    def inner(wc):
        if hls_is_baseline(wc.run):
            return []
        return [f"results/{wc.dataset}/pruned/{wc.variant}/{wc.run}/{name}"]

    return inner


def hls_series_metrics(wc):
    """metrics.json of every pruned model of one series (wildcards dataset, variant,
    objective, rf): the input of rule csim_selection."""
    return [
        f"results/{wc.dataset}/pruned/{v}/{o}_rf{r}_b{b}/metrics.json"
        for v, o, r, b in hls_prune_runs(wc.dataset)
        if v == wc.variant and o == wc.objective and int(r) == int(wc.rf)
    ]


def hls_selection_file(dataset, variant, objective, rf):
    """The C-simulation selection of one series (rule csim_selection)."""
    return f"results/{dataset}/hls/{variant}/csim_selection/{objective}_rf{int(rf)}.json"


def hls_selection_input(wc):
    """An hls job's selection file, for `hls.csim: best` (nothing for a baseline). The job
    depends on this small file, not on every metrics.json of its series: Snakemake compares
    checksums, so re-pruning one model reruns only that model's HLS job unless the best
    model of the series changes."""
    if hls_is_baseline(wc.run) or hls_section()["csim"] != "best":
        return []
    objective = wc.run.split("_rf")[0]
    # a checkpoint: once it has run, Snakemake re-evaluates the hls jobs of the series and,
    # comparing the selection file's checksum with the recorded one, skips those whose
    # selection did not change
    sel = checkpoints.csim_selection.get(dataset=wc.dataset, variant=wc.variant,
                                         objective=objective, rf=hls_run_rf(wc.run))
    return [sel.output.selection]


def hls_hardware(dataset):
    hw = (config.get("hardware") or {}).get(dataset)
    if hw is None:
        raise ValueError(
            f"the HLS stage of {dataset!r} needs its hls4ml target in config "
            f"hardware.{dataset} (backend, part, precision, strategy, io_type)"
        )
    return dict(hw)


def hls_targets():
    """Final outputs of the HLS stage: every run's files and results/summary.csv."""
    out = []
    for dataset in enabled_datasets():
        for variant, run in hls_runs(dataset):
            out += [f"{hls_dir(dataset, variant, run)}/{name}" for name in HLS_OUTPUTS]
    if out:
        out += ["results/summary.csv", "results/summary_da.csv", *SUMMARY_STATS_OUTPUTS]
    return out


#: Tables of the seed statistics written by rule summary (rasp.stats; docs/statistics.md).
SUMMARY_STATS_OUTPUTS = (
    "results/summary_agg.csv",
    "results/summary_compare.csv",
    "results/summary_tolerance.csv",
)


def summary_replicate_groups():
    """Training and pruning metrics of every seed replicate r >= 1, per (dataset, variant):
    the rows of summary.csv that have no HLS run."""
    groups = []
    for dataset in enabled_datasets():
        runs = hls_prune_runs(dataset)
        variants = list(dict.fromkeys(v for v, *_ in runs))
        for r in replicates()[1:]:
            root = replicate_root(dataset, r)
            for variant in variants:
                groups.append({
                    "replicate": r,
                    "baseline": f"{root}/baseline/{variant}/metrics.json",
                    "pruned": [
                        f"{root}/pruned/{v}/{o}_rf{int(rf)}_b{b}/metrics.json"
                        for v, o, rf, b in runs if v == variant
                    ],
                })
    return groups


def hls_summary_runs():
    """Result files of every run, as the summary script expects them."""
    runs = []
    for dataset in enabled_datasets():
        for variant, run in hls_runs(dataset):
            folder = hls_dir(dataset, variant, run)
            runs.append({
                "csim": f"{folder}/csim.json",
                "resources": f"{folder}/resources.csv",
                "metrics": None if hls_is_baseline(run)
                else f"results/{dataset}/pruned/{variant}/{run}/metrics.json",
            })
    return runs
