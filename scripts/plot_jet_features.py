"""Figure of the 16 jet features per class (rule plot_jet_features)."""

import logging

from rasp.data.runlog import log_to_file
from rasp.plots.data import NOMINAL_MASS_GEV, load_jet_features, plot_jet_features

log = log_to_file(snakemake.log[0], "plot_jet_features")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter
x, y, class_names, feature_names, source = load_jet_features(snakemake.input.data,
                                                            snakemake.input.scaler)
peaks = plot_jet_features(x, y, class_names, feature_names, source, list(snakemake.output))
for cls, nominal in NOMINAL_MASS_GEV.items():
    log.info("mass_mmdt peak of %s jets: %.1f GeV (nominal %.1f GeV)", cls, peaks[cls], nominal)
