"""Settings of one iterative prune (one objective, reuse factor and budget).

The workflow's ``pruning.<dataset>`` config block holds these keys next to the sweep keys
(variants, reuse_factors, objectives, budgets) that only the workflow reads; see
workflow/schemas/pruning.schema.yaml and config/README.md for the documented list. Every
default here equals the schema's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rasp.prune.importance import METHODS, NORMALISATIONS
from rasp.prune.schedule import SCHEDULES

#: Pruning objectives: which hardware structures the knapsack chooses among, and which
#: resources it budgets.
OBJECTIVES = ("dsp", "csd", "bram", "dsp+bram", "lut_da", "neurons", "unstructured")
#: Resources an objective's budget applies to (neurons and unstructured: configurable).
OBJECTIVE_RESOURCES = {"dsp": ("dsp",), "csd": ("dsp",), "bram": ("bram_18k",),
                       "dsp+bram": ("dsp", "bram_18k"), "lut_da": ("lut_da",)}
#: Resources a budget can name: DSP48 slices, BRAM_18K blocks, and ``lut_da`` (da4ml's
#: LUT cost of the distributed-arithmetic design, :mod:`rasp.hardware.da_cost`).
RESOURCES = ("dsp", "bram_18k", "lut_da")
SOLVER_METHODS = ("milp", "dp", "greedy")
#: Keys of a ``pruning.<dataset>`` block that describe the sweep, not one prune.
SWEEP_KEYS = ("variants", "reuse_factors", "objectives", "objective_reuse_factors", "budgets")
#: Keys of a ``pruning.<dataset>`` block read by :mod:`rasp.prune.layerwise` only.
LAYERWISE_KEYS = ("layerwise", "quantization")
#: Keys of a ``pruning.<dataset>`` block that size the workflow's job for the scheduler
#: (memory in MB, wall time in minutes, GPUs); they never change a result.
JOB_KEYS = ("mem_mb", "runtime_min", "gpu")


@dataclass(frozen=True)
class SolverConfig:
    """Knapsack solver: ``method`` (milp | dp | greedy), ``time_limit`` (seconds per solve),
    ``gap`` (relative optimality gap at which a MILP solve may stop, 0.001 = 0.1%)."""

    method: str = "milp"
    time_limit: float = 20.0
    gap: float = 1e-3

    def __post_init__(self) -> None:
        if self.method not in SOLVER_METHODS:
            raise ValueError(
                f"pruning solver.method={self.method!r}; expected one of {SOLVER_METHODS}"
            )
        if self.time_limit <= 0:
            raise ValueError(f"pruning solver.time_limit must be > 0 s, got {self.time_limit}")
        if not 0 <= self.gap < 1:
            raise ValueError(f"pruning solver.gap must be in [0, 1), got {self.gap}")


@dataclass(frozen=True)
class PruneConfig:
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

    importance: str = "taylor"
    normalisation: str = "auto"
    importance_batches: int = 32
    importance_batch_size: int = 256
    solver: SolverConfig = field(default_factory=SolverConfig)
    schedule: str = "polynomial"
    steps: int = 3
    power: float = 3.0
    binary_tolerance: float = 1.15
    finetune_epochs: int = 2
    final_finetune_epochs: int | None = None
    finetune: dict[str, Any] = field(default_factory=dict)
    finetune_samples: int | None = None
    rtol: float = 0.99
    group_lasso: float = 0.0
    budget_resources: tuple[str, ...] = ("dsp",)
    keep_output_layer: bool = True
    repair_iterations: int = 10

    def __post_init__(self) -> None:
        if self.importance not in METHODS:
            raise ValueError(f"pruning importance={self.importance!r}; expected one of {METHODS}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"pruning normalisation={self.normalisation!r}; expected one of {NORMALISATIONS}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"pruning schedule={self.schedule!r}; expected one of {SCHEDULES}")
        for name in ("importance_batches", "importance_batch_size", "steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"pruning {name} must be >= 1, got {getattr(self, name)}")
        if self.finetune_epochs < 0:
            raise ValueError(f"pruning finetune_epochs must be >= 0, got {self.finetune_epochs}")
        if self.final_finetune_epochs is not None and self.final_finetune_epochs < 0:
            raise ValueError("pruning final_finetune_epochs must be >= 0 or null")
        if self.finetune_samples is not None and int(self.finetune_samples) < 1:
            raise ValueError(
                f"pruning finetune_samples must be >= 1 or null, got {self.finetune_samples}"
            )
        if not 0 < self.rtol <= 1:
            raise ValueError(f"pruning rtol must be in (0, 1], got {self.rtol}")
        if self.group_lasso < 0:
            raise ValueError(f"pruning group_lasso must be >= 0, got {self.group_lasso}")
        bad = [r for r in self.budget_resources if r not in RESOURCES]
        if bad or not self.budget_resources:
            raise ValueError(
                f"pruning budget_resources={list(self.budget_resources)}; give one or more of "
                f"{RESOURCES}"
            )
        if "epochs" in self.finetune or "seed" in self.finetune:
            raise ValueError(
                "pruning finetune must not set epochs or seed: use finetune_epochs (epochs per "
                "step); the seed comes from the job"
            )

    @property
    def last_epochs(self) -> int:
        """Fine-tune epochs after the step that reaches the target budget."""
        return self.finetune_epochs if self.final_finetune_epochs is None else int(
            self.final_finetune_epochs
        )

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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown pruning keys {unknown}; allowed: {sorted(known)}")
        if "solver" in values and not isinstance(values["solver"], SolverConfig):
            solver = dict(values["solver"] or {})
            bad = sorted(set(solver) - {f.name for f in fields(SolverConfig)})
            if bad:
                raise ValueError(f"unknown pruning solver keys {bad}; allowed: method, "
                                 "time_limit, gap")
            values["solver"] = SolverConfig(**solver)
        if "budget_resources" in values:
            values["budget_resources"] = tuple(values["budget_resources"])
        if "finetune" in values:
            values["finetune"] = dict(values["finetune"] or {})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["budget_resources"] = list(self.budget_resources)
        return out
