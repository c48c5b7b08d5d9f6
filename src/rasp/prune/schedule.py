"""Budget schedules: the sequence of resource budgets an iterative prune steps through.

A budget is a fraction of the baseline's estimated resources (1.0 = baseline, 0.05 = 5%).
Every schedule starts from the baseline (1.0) and ends AT the target budget, because the
model at the target is the requested result; whether it met the accuracy tolerance is
recorded separately.

- ``constant``: equal steps, ``f_i = 1 - (1 - t) * i / n`` for ``i = 1..n``.
- ``polynomial``: polynomial decay of the budget (Zhu & Gupta 2017, in budget form),
  ``f_i = t + (1 - t) * (1 - i / n) ** power``: large cuts first, while the network is
  still redundant, then smaller ones close to the target.
- ``geometric``: the same ratio every step, ``f_i = t ** (i / n)``; suits small targets
  (5% of the baseline in 3 steps: 37%, 14%, 5%).
- ``binary``: adaptive search for the smallest feasible budget (the largest feasible
  reduction). It first tries the target directly; on rejection it bisects (geometric
  midpoint, since reductions are multiplicative) between the smallest accepted budget and
  the smallest rejected one, each probe starting again from the last accepted model.
  After ``n`` probes, or when the interval is narrower than ``tolerance`` (ratio), it
  finishes with a step to the target from the best accepted model unless the target was
  accepted already.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SCHEDULES = ("constant", "polynomial", "geometric", "binary")


def fixed_budgets(kind: str, target: float, steps: int, power: float = 3.0) -> list[float]:
    """Budget fractions of a non-adaptive schedule (the last one is ``target``)."""
    if not 0.0 < target <= 1.0:
        raise ValueError(
            f"target budget fraction must be in (0, 1], got {target}; budgets are given in "
            "percent of the baseline in the config (e.g. 10 for 10%)"
        )
    n = int(steps)
    if kind == "constant":
        out = [1.0 - (1.0 - target) * i / n for i in range(1, n + 1)]
    elif kind == "polynomial":
        out = [target + (1.0 - target) * (1.0 - i / n) ** power for i in range(1, n + 1)]
    elif kind == "geometric":
        out = [target ** (i / n) for i in range(1, n + 1)]
    else:
        raise ValueError(f"{kind!r} is not a fixed schedule; expected constant, polynomial "
                         "or geometric")
    out[-1] = float(target)
    return [float(f) for f in out]


@dataclass
class Schedule:
    """Iterator over budget fractions that can react to acceptance.

    Use: ``while (f := s.next()) is not None: ...; s.report(f, accepted)``.
    ``restart_from_accepted`` tells the pruner whether a step starts from the last
    accepted model (binary search) or from the current one (fixed schedules).
    """

    kind: str
    target: float
    steps: int
    power: float = 3.0
    tolerance: float = 1.05
    _queue: list[float] = field(default_factory=list, init=False)
    _lo: float = field(default=0.0, init=False)  # smallest rejected budget (binary)
    _hi: float = field(default=1.0, init=False)  # smallest accepted budget (binary)
    _probes: int = field(default=0, init=False)
    _done: bool = field(default=False, init=False)
    _pending: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.tolerance <= 1.0:  # either would never reach the target
            raise ValueError(f"a schedule needs steps >= 1 and a binary-search tolerance "
                             f"ratio > 1, got steps={self.steps}, tolerance={self.tolerance}")
        if self.kind != "binary":
            self._queue = fixed_budgets(self.kind, self.target, self.steps, self.power)

    @property
    def restart_from_accepted(self) -> bool:
        return self.kind == "binary"

    @property
    def best_accepted(self) -> float:
        """Smallest accepted budget so far (1.0 = only the baseline)."""
        return self._hi

    def next(self) -> float | None:
        """The next budget fraction to try, or None when the schedule is finished."""
        if self._pending is not None:
            raise RuntimeError("report() the result of the previous budget before next()")
        if self.kind != "binary":
            if not self._queue:
                return None
            self._pending = self._queue.pop(0)
            return self._pending
        if self._done:
            return None
        t = self.target
        if self._probes == 0:
            f = t
        elif self._hi <= t * (1 + 1e-12):
            return None
        elif self._probes >= self.steps or self._hi / max(self._lo, t) <= self.tolerance:
            self._done = True
            if self._hi >= 1.0:
                return None  # nothing accepted: the first probe (target from baseline) stands
            f = t  # final step to the requested target from the best accepted model
        else:
            f = math.sqrt(self._hi * max(self._lo, t))
        self._pending = float(f)
        return self._pending

    def report(self, fraction: float, accepted: bool) -> None:
        """Record whether the model at ``fraction`` met the accuracy tolerance."""
        if self._pending is None or abs(fraction - self._pending) > 1e-12:
            raise RuntimeError(f"report({fraction}) does not match the pending budget "
                               f"{self._pending}")
        self._pending = None
        if accepted:
            self._hi = min(self._hi, fraction)
        elif self.kind == "binary":
            self._lo = max(self._lo, fraction)
        self._probes += 1
