"""Build the processed SVHN-format dataset (rule prepare_svhn) from .mat files."""

from rasp.data.prepare import prepare_svhn
from rasp.data.processed import save_processed
from rasp.data.provenance import read_json
from rasp.data.runlog import log_to_file
from rasp.data.svhn import svhn_upstream

log = log_to_file(snakemake.log[0], "prepare_svhn")
p = snakemake.params
upstream = svhn_upstream(snakemake.wildcards.source, p.base_url)
upstream["records"] = [read_json(m) for m in snakemake.input.meta]
data = prepare_svhn(
    list(snakemake.input.train),
    list(snakemake.input.test),
    source=snakemake.wildcards.source,
    val_fraction=p.val_fraction,
    val_seed=p.val_seed,
    upstream=upstream,
)
save_processed(snakemake.output.dataset, data)
log.info("svhn (%s): %s", data.provenance["source"], data.provenance["counts"])
