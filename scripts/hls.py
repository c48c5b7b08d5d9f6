"""One HLS run (rule hls): convert, check, C-simulate, synthesise or estimate, write results."""

import logging
import os
import sys

from rasp.hls import run_hls

# Everything (hls4ml prints, g++ and vendor tool output, our logging) goes to the log.
_log_fh = open(snakemake.log[0], "a", buffering=1)
os.dup2(_log_fh.fileno(), 1)
os.dup2(_log_fh.fileno(), 2)
sys.stdout = sys.stderr = _log_fh
logging.basicConfig(stream=_log_fh, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.captureWarnings(True)
for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
log = logging.getLogger("hls")


def _one(files):
    """A named input that is a list of zero or one path -> path or None."""
    files = list(files) if not isinstance(files, str) else [files]
    return files[0] if files else None


inp, out, wc, p = snakemake.input, snakemake.output, snakemake.wildcards, snakemake.params
run_hls(
    checkpoint=inp.model,
    data=inp.data,
    out_hls_config=out.hls_config,
    out_csim=out.csim,
    out_resources=out.resources,
    out_project=out.project,
    dataset=wc.dataset,
    variant=wc.variant,
    run=wc.run,
    hardware=p.hardware,
    reuse_factor=p.reuse_factor,
    options=p.options,
    seed=p.seed,
    masks=_one(inp.masks),
    prune_metrics=_one(inp.metrics),
    selection=_one(inp.selection),
    logger=log,
)
