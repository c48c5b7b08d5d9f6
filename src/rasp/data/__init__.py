"""Datasets: real downloads, offline stand-ins, and the one processed format.

- :mod:`rasp.data.processed` - the processed ``.npz`` format every downstream step reads.
- :mod:`rasp.data.download` - verified (size, MD5), resumable HTTP downloads.
- :mod:`rasp.data.openml` - the real jet table (OpenML 42468) via its description JSON.
- :mod:`rasp.data.svhn` - SVHN download, the ``.mat`` layout, label 10 -> 0, NCHW [0, 1].
- :mod:`rasp.data.arff` - dense ARFF tables (read and write).
- :mod:`rasp.data.jet_features` - the 16 jet features (numpy and fjcontrib).
- :mod:`rasp.data.pythia` - the Pythia 8 + FastJet jet stand-in.
- :mod:`rasp.data.render_digits` - the rendered street-number digit stand-in.
- :mod:`rasp.data.prepare` - raw files -> processed splits (tutorial recipe for jets).
- :mod:`rasp.data.provenance` - provenance records, checksums, atomic JSON.
- :mod:`rasp.data.runlog` - job logging into one file (C++ console output included).
"""
