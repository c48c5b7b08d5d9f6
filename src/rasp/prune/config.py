"""Settings of one iterative prune (one objective, reuse factor and budget).

The workflow's ``pruning.<dataset>`` config block holds these keys next to the sweep keys
(variants, reuse_factors, objectives, budgets) that only the workflow reads; see
config/README.md for the documented list. Defaults and limits come from the block's schema
(``$defs/dataset_block`` of src/rasp/schemas/pruning.schema.yaml, :mod:`rasp.schemas`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rasp import schemas

#: Pruning objectives: which hardware structures the knapsack chooses among, and which
#: resources it budgets.
OBJECTIVES = ("dsp", "csd", "bram", "dsp+bram", "lut_da", "neurons", "unstructured")
#: Objectives of :mod:`rasp.prune.layerwise` (greedy layer-by-layer channel pruning).
LAYERWISE_OBJECTIVES = ("layerwise", "layerwise+quant")
#: Resources an objective's budget applies to (neurons and unstructured: configurable).
OBJECTIVE_RESOURCES = {"dsp": ("dsp",), "csd": ("dsp",), "bram": ("bram_18k",),
                       "dsp+bram": ("dsp", "bram_18k"), "lut_da": ("lut_da",)}
#: Resources a budget can name: DSP48 slices, BRAM_18K blocks, and ``lut_da`` (da4ml's
#: LUT cost of the distributed-arithmetic design, :mod:`rasp.hardware.da_cost`).
RESOURCES = ("dsp", "bram_18k", "lut_da")
#: The schema of a ``pruning.<dataset>`` block.
BLOCK = schemas.PRUNING_BLOCK
SOLVER_METHODS = schemas.enum(BLOCK, "solver", "method")
#: Keys of a ``pruning.<dataset>`` block that describe the sweep, not one prune.
SWEEP_KEYS = ("variants", "reuse_factors", "objectives", "objective_reuse_factors", "budgets")
#: Keys of a ``pruning.<dataset>`` block read by :mod:`rasp.prune.layerwise` only.
LAYERWISE_KEYS = ("layerwise", "quantization")
#: Keys of a ``pruning.<dataset>`` block that size the workflow's job for the scheduler
#: (memory in MB, wall time in minutes, GPUs); they never change a result.
JOB_KEYS = ("mem_mb", "runtime_min", "gpu")


@dataclass(frozen=True)
@schemas.defaults_from(BLOCK, "solver")
class SolverConfig(schemas.Settings):
    """Knapsack solver: ``method`` (milp | dp | greedy), ``time_limit`` (seconds per solve),
    ``gap`` (relative optimality gap at which a MILP solve may stop, 0.001 = 0.1%)."""

    method: str
    time_limit: float
    gap: float

    WHERE = "pruning solver"

    def __post_init__(self) -> None:
        schemas.check_fields(self, BLOCK, "solver", where="pruning.solver")


@dataclass(frozen=True)
@schemas.defaults_from(BLOCK)
class PruneConfig(schemas.Settings):
    """Hyper-parameters of :func:`rasp.prune.pruner.prune` (units in brackets).

    - ``importance``: l1 | l2 | taylor; ``normalisation``: auto | mean | total | none
      (see :mod:`rasp.prune.importance`).
    - ``importance_batches`` / ``importance_batch_size``: mini-batches (at most) and samples
      per mini-batch of the training set for Taylor scores.
    - ``solver``: :class:`SolverConfig`.
    - ``schedule``: constant | polynomial | geometric | binary; ``steps``: steps (fixed
      schedules) or probes (binary) before the target; ``power``: polynomial exponent;
      ``binary_tolerance``: binary search stops when the smallest accepted and largest
      rejected budgets are within this ratio.
    - ``finetune_epochs``: epochs of masked fine-tuning after each step;
      ``final_finetune_epochs``: epochs after the step that reaches the target (None = same).
    - ``finetune``: overrides of :class:`rasp.train.TrainConfig` for fine-tuning
      (learning_rate, batch_size, scheduler, weight_decay, ...; epochs come from above).
    - ``finetune_samples``: at most this many training samples per fine-tuning step (a
      random subset, drawn anew each step from the step's seed); None = the whole split.
    - ``rtol``: a step is accepted when validation accuracy >= rtol x baseline's.
    - ``group_lasso``: coefficient (per nat of loss) of the group-lasso penalty on the kept
      structures during fine-tuning; 0 disables it.
    - ``budget_resources``: resources the budget applies to for objectives ``neurons`` and
      ``unstructured`` (dsp, bram_18k); dsp/bram/dsp+bram budget their own resources.
    - ``keep_output_layer``: never prune the output layer (otherwise at least one weight per
      output neuron is kept).
    - ``repair_iterations``: re-solves with a tightened capacity when the estimated resources
      of the selected masks exceed the budget (non-additive costs, e.g. neurons).
    """

    importance: str
    normalisation: str
    importance_batches: int
    importance_batch_size: int
    solver: SolverConfig = field(default_factory=SolverConfig)
    schedule: str
    steps: int
    power: float
    binary_tolerance: float
    finetune_epochs: int
    final_finetune_epochs: int | None
    finetune: dict[str, Any] = field(default_factory=dict)
    finetune_samples: int | None
    rtol: float
    group_lasso: float
    budget_resources: tuple[str, ...]
    keep_output_layer: bool
    repair_iterations: int

    WHERE = "pruning"

    def __post_init__(self) -> None:
        schemas.check_fields(self, BLOCK, where="pruning", ignore=("solver",))

    @property
    def last_epochs(self) -> int:
        """Fine-tune epochs after the step that reaches the target budget."""
        final = self.final_finetune_epochs
        return self.finetune_epochs if final is None else int(final)

    def resources_for(self, objective: str) -> tuple[str, ...]:
        """Resources whose budget ``objective`` must meet."""
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown pruning objective {objective!r}; expected one of "
                             f"{OBJECTIVES}")
        return OBJECTIVE_RESOURCES.get(objective, tuple(self.budget_resources))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PruneConfig:
        """Build from a ``pruning.<dataset>`` block; sweep keys, job sizes and the layerwise
        objectives' keys are ignored, unknown keys raise a ``ValueError`` naming them."""
        ignored = (*SWEEP_KEYS, *LAYERWISE_KEYS, *JOB_KEYS)
        values = {k: v for k, v in dict(values).items() if k not in ignored}
        if "solver" in values and not isinstance(values["solver"], SolverConfig):
            values["solver"] = SolverConfig.from_dict(values["solver"])
        if "finetune" in values:
            values["finetune"] = dict(values["finetune"] or {})
        return super().from_dict(values)
