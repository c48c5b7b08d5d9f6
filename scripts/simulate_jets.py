"""Simulate one (class, shard) of the Pythia 8 + FastJet jet stand-in (rule simulate_jets)."""

from rasp.data.provenance import package_versions, write_json_atomic
from rasp.data.pythia import JetSimulationSettings, simulate_jets, write_shard
from rasp.data.runlog import log_to_file

log = log_to_file(snakemake.log[0], "simulate_jets")
p = snakemake.params
settings = JetSimulationSettings.from_dict(p.settings)
result = simulate_jets(snakemake.wildcards.jet_class, p.n_jets, p.seed, settings)
write_shard(result, snakemake.output.table)
meta = dict(result.meta, shard=int(snakemake.wildcards.shard), versions=package_versions())
write_json_atomic(snakemake.output.meta, meta)
log.info("%d %s jets from %d events, %d with NaN features", meta["n_jets"], meta["jet_class"],
         meta["n_events"], meta["n_jets_with_nan_features"])
