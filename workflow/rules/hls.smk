# Rules of the HLS stage: one `hls` job per baseline and pruned model, converting it with
# hls4ml under the configuration its pruning used (hardware.<dataset> + the run's reuse
# factor), checking the generated code against the hardware model, C-simulating it when
# selected (hls.csim) and synthesising it when the vendor tool is on PATH; for datasets in
# hls.da, the C-simulated models also get their distributed-arithmetic design (da4ml
# Verilog, synthesised by Yosys). Which pruned model of a series is C-simulated comes from
# `csim_selection` (one small JSON per series); then `summary` collects every run into
# results/summary.csv (one row per seed replicate: replicates r >= 1 have no HLS run and
# their rows come from the pruning metrics), the seed statistics into
# results/summary_agg.csv / summary_compare.csv / summary_tolerance.csv (rasp.stats) and
# the DA designs into results/summary_da.csv. Settings: config section `hls`
# (config/README.md). Library code: rasp.hls.
#
# Runs per dataset come from the pruning sweep (`pruning.<dataset>`, see prune.smk): one
# baseline per (variant, reuse factor) and one run per pruned model:
#   results/{dataset}/hls/{variant}/baseline_rf{rf}/
#   results/{dataset}/hls/{variant}/{objective}_rf{rf}_b{budget}/

include: "hls_common.smk"


# Collecting CSV rows is cheap: on a cluster it runs on the submit host.
localrules:
    summary,
    csim_selection,


rule hls:
    wildcard_constraints:
        run=HLS_RUN_RE,
    input:
        model=hls_model_input,
        masks=hls_pruned_input("masks.pt"),
        metrics=hls_pruned_input("metrics.json"),
        selection=hls_selection_input,
        data=lambda wc: processed_data(wc.dataset),
        provenance=lambda wc: processed_provenance(wc.dataset),
    output:
        hls_config="results/{dataset}/hls/{variant}/{run}/hls_config.yml",
        csim="results/{dataset}/hls/{variant}/{run}/csim.json",
        resources="results/{dataset}/hls/{variant}/{run}/resources.csv",
        project="results/{dataset}/hls/{variant}/{run}/project.tar.gz",
    params:
        hardware=lambda wc: hls_hardware(wc.dataset),
        reuse_factor=lambda wc: hls_run_rf(wc.run),
        options=lambda wc: hls_options(wc.dataset),
        # one seed per dataset: every model is simulated on the same test subset
        seed=lambda wc: rule_seed("hls", wc.dataset),
    log:
        "logs/hls/{dataset}_{variant}_{run}.log",
    benchmark:
        "benchmarks/hls/{dataset}_{variant}_{run}.tsv"
    threads: 1
    resources:
        mem_mb=int(hls_section()["mem_mb"]),
        runtime=int(hls_section()["runtime_min"]),
    envmodules:
        *hls_section()["envmodules"],
    conda:
        "../../envs/hls.yaml"
    script:
        "../../scripts/hls.py"


checkpoint csim_selection:
    """Which pruned model of a series is C-simulated (`hls.csim: best`): the one best-model
    rule on the pruning estimates, written as a small JSON that every hls job of the
    series reads."""
    wildcard_constraints:
        objective="|".join(o.replace("+", r"\+") for o in OBJECTIVES),
    input:
        metrics=hls_series_metrics,
    output:
        selection="results/{dataset}/hls/{variant}/csim_selection/{objective}_rf{rf}.json",
    params:
        tolerance=lambda wc: hls_options(wc.dataset)["best_tolerance"],
        select_by=lambda wc: hls_options(wc.dataset)["select_by"],
    log:
        "logs/csim_selection/{dataset}_{variant}_{objective}_rf{rf}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=2,
    conda:
        "../../envs/hls.yaml"
    script:
        "../../scripts/csim_selection.py"


rule summary:
    input:
        csim=[r["csim"] for r in hls_summary_runs()],
        resources=[r["resources"] for r in hls_summary_runs()],
        metrics=[r["metrics"] for r in hls_summary_runs() if r["metrics"]],
        replicates=[
            path
            for g in summary_replicate_groups()
            for path in [g["baseline"], *g["pruned"]]
        ],
    output:
        summary="results/summary.csv",
        da="results/summary_da.csv",
        agg=SUMMARY_STATS_OUTPUTS[0],
        compare=SUMMARY_STATS_OUTPUTS[1],
        tolerance=SUMMARY_STATS_OUTPUTS[2],
    params:
        runs=hls_summary_runs(),
        replicate_groups=summary_replicate_groups(),
        # figures_common.smk is included after this file: read when the job is built
        tolerance=lambda wc: figure_setting("tolerance"),
        confidence=lambda wc: figure_setting("confidence"),
    log:
        "logs/summary/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    localrule: True
    conda:
        "../../envs/hls.yaml"
    script:
        "../../scripts/summarize.py"


TARGETS.extend(hls_targets())
