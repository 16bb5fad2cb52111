"""What every benchmark shares: results, interleaved repeats, the table.

A figure may carry a floor: the best any tool could do for the same end state on the same hosts (for
a time, the least time; for a rate, the most lines per second). Its ratio to the baseline, set against
the goal, says whether the goal is reachable at all: a goal below the floor is out of reach for any
tool doing this work here."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Callable

NAN = float("nan")


def selected(tools: tuple[str, ...], env: str = "REGWIZ_BENCH_TOOLS") -> tuple[str, ...]:
    """The contenders to run: all of ``tools``, or those $REGWIZ_BENCH_TOOLS names (e.g. "floor,ansible"
    for the floors and the baseline they are measured against alone); the others' figures are n/a."""
    wanted = [name.strip() for name in os.environ.get(env, "").split(",") if name.strip()]
    return tuple(t for t in tools if t in wanted) if wanted else tools


@dataclass
class Figure:
    """One line of the table: regwiz's figure, the baseline's, their ratio and the goal."""

    name: str
    regwiz: float
    baseline: float
    unit: str
    goal: str  # e.g. "<= 1.25x"
    limit: float
    higher_is_better: bool = False  # throughput: ratio must be >= limit
    notes: list[str] = field(default_factory=list)
    extra_pass: bool = True  # a second condition (e.g. the UI stall) that must hold too
    floor: float = NAN  # the best any tool could do here (see the module's docstring); NaN: none measured

    @property
    def ratio(self) -> float:
        return self.regwiz / self.baseline if self.baseline else float("inf")

    @property
    def not_run(self) -> bool:
        """regwiz was left out on purpose ($REGWIZ_BENCH_TOOLS): no result, and no failure."""
        return self.regwiz != self.regwiz and self.extra_pass

    @property
    def passed(self) -> bool:
        if self.not_run:
            return True
        ok = self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit
        return ok and self.extra_pass

    @property
    def floor_ratio(self) -> float:
        return self.floor / self.baseline if self.baseline else float("inf")

    @property
    def reachable(self) -> bool | None:
        """Whether the floor meets the goal (None: no floor measured). False: the goal is out of reach
        for any tool that does this work on these hosts."""
        ratio = self.floor_ratio
        if ratio != ratio:
            return None
        return ratio >= self.limit if self.higher_is_better else ratio <= self.limit


def interleaved(runs: dict[str, Callable[[], float]], repeat: int) -> dict[str, list[float]]:
    """Run each contender once per round, the order flipped each round (A B, B A, ...), so noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeat):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            samples[name].append(runs[name]())
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt(value: float, unit: str) -> str:
    if value != value:  # NaN: not measured
        return "n/a"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "lines/s":
        return f"{value:,.0f} lines/s"
    return f"{value:g} {unit}"


def _ratio(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}x"


def _reachable(figure: Figure) -> str:
    reachable = figure.reachable
    return "" if reachable is None else "yes" if reachable else "NO (out of reach)"


def table(figures: list[Figure]) -> str:
    head = ("benchmark", "regwiz", "baseline", "ratio", "goal", "result", "floor", "floor ratio", "goal reachable")
    rows = [head] + [
        (f.name, fmt(f.regwiz, f.unit), fmt(f.baseline, f.unit), _ratio(f.ratio), f.goal,
         "not run" if f.not_run else "pass" if f.passed else "FAIL",
         fmt(f.floor, f.unit) if f.floor == f.floor else "", _ratio(f.floor_ratio) if f.floor == f.floor else "",
         _reachable(f))
        for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for f in figures:
        lines += [f"  {f.name}: {note}" for note in f.notes]
    return "\n".join(lines)
