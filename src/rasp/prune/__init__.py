"""Resource-aware pruning: the composable pieces and the workflow's recipes on them.

Prune your own model with your own training loop::

    from rasp.prune import HardwareTarget, KnapsackPruner, TaylorImportance

    target = HardwareTarget(model, {"precision": "ap_fixed<16,6>"}, reuse_factor=4)
    pruner = KnapsackPruner(target, objective="dsp", importance=TaylorImportance(loader))
    pruner.step(0.5)   # then fine-tune with your loop; pruner.remove() at the end

:func:`prune` (the knapsack objectives) and :func:`prune_layerwise` are what the
workflow's prune rule runs (README, "Your own model and training loop").
"""

from rasp.lazy import lazy_exports

# Public names -> defining submodule, loaded on first use (PEP 562): the workflow reads
# rasp.prune.config at parse time without importing torch.
_EXPORTS = {
    "HardwareTarget": "target",
    "KnapsackPruner": "knapsack_pruner",
    "MagnitudeImportance": "knapsack_pruner",
    "TaylorImportance": "knapsack_pruner",
    "WeightImportance": "knapsack_pruner",
    "SeededBatches": "knapsack_pruner",
    "PRUNER_OBJECTIVES": "knapsack_pruner",
    "PruneConfig": "config",
    "prune": "pruner",
    "PruneResult": "pruner",
    "prune_layerwise": "layerwise",
}

__all__, __getattr__, __dir__ = lazy_exports("rasp.prune", _EXPORTS)
