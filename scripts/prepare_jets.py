"""Build the processed jets dataset (rule prepare_jets) from OpenML or simulated tables."""

from rasp.data.prepare import prepare_jets
from rasp.data.processed import save_processed
from rasp.data.provenance import read_json, write_json_atomic
from rasp.data.runlog import log_to_file

log = log_to_file(snakemake.log[0], "prepare_jets")
p = snakemake.params
upstream = {"kind": p.upstream_kind, "records": [read_json(m) for m in snakemake.input.meta]}
data, scaler = prepare_jets(
    list(snakemake.input.tables),
    source=snakemake.wildcards.source,
    val_fraction=p.val_fraction,
    val_seed=p.val_seed,
    test_size=p.test_fraction,
    test_random_state=p.test_random_state,
    nan_policy=p.nan_policy,
    upstream=upstream,
)
write_json_atomic(snakemake.output.scaler, scaler)
save_processed(snakemake.output.dataset, data)
prov = data.provenance
log.info("jets (%s): %s; dropped %d rows with NaN features", prov["source"], prov["counts"],
         prov["n_rows_dropped_nan"])
