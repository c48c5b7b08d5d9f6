"""rasp: resource-aware structured pruning of neural networks for hls4ml FPGA designs.

Pruning is posed as a knapsack problem over hardware-shaped groups of weights (the
weights sharing one DSP at a reuse factor, the weights sharing one BRAM, whole neurons
and filters) so that a network fits a DSP / BRAM budget while keeping its accuracy.
Method: Ramhorst, Constantinides, Loncar, arXiv:2308.05170.

The library has no Snakemake imports; every module is usable from a notebook.
"""

__version__ = "0.1.0"
