"""Download one SVHN split (rule fetch_svhn): size and MD5 verified, resumable."""

from rasp.data.runlog import log_to_file
from rasp.data.svhn import fetch_svhn

log = log_to_file(snakemake.log[0], "fetch_svhn")
p = snakemake.params
net = snakemake.config["datasets"]["svhn"]["svhn"]  # retries, timeout_s
with open(snakemake.log[0], "a") as progress:
    path = fetch_svhn(
        snakemake.wildcards.split,
        snakemake.output.mat,
        base_url=p.base_url,
        retries=net["retries"],
        timeout_s=net["timeout_s"],
        progress=progress,
    )
log.info("fetched %s", path)
