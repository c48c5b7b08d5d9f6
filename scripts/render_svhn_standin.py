"""Render one shard of the SVHN stand-in digits as an SVHN-layout .mat file."""

from rasp.data.provenance import package_versions, write_json_atomic
from rasp.data.render_digits import DigitRenderSettings, available_fonts, render_digits
from rasp.data.runlog import log_to_file
from rasp.data.svhn import write_svhn_mat

log = log_to_file(snakemake.log[0], "render_svhn_standin")
p = snakemake.params
fonts = available_fonts(p.font_dir)
log.info("rendering %d images with %d fonts: %s", p.n_images, len(fonts),
         ", ".join(f.name for f in fonts))
x, y, meta = render_digits(p.n_images, p.seed, DigitRenderSettings.from_dict(p.settings), fonts)
write_svhn_mat(snakemake.output.mat, x, y)
meta.update(split=snakemake.wildcards.split, shard=int(snakemake.wildcards.shard),
            versions=package_versions())
write_json_atomic(snakemake.output.meta, meta)
