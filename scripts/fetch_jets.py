"""Download the OpenML jet table (rule fetch_jets): ARFF + description JSON, MD5 verified."""

from rasp.data.openml import fetch_openml_table
from rasp.data.runlog import log_to_file

log = log_to_file(snakemake.log[0], "fetch_jets")
p = snakemake.params
net = snakemake.config["datasets"]["jets"]["openml"]  # retries, timeout_s
with open(snakemake.log[0], "a") as progress:
    desc = fetch_openml_table(
        snakemake.output.table,
        snakemake.output.description,
        data_id=p.data_id,
        api_url=p.api_url,
        retries=net["retries"],
        timeout_s=net["timeout_s"],
        progress=progress,
    )
log.info("fetched OpenML %s version %s (md5 %s)", desc.get("name"), desc.get("version"),
         desc.get("md5_checksum"))
