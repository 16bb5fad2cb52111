"""What every benchmark shares: results, interleaved repeats, the table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable



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

    @property
    def ratio(self) -> float:
        return self.regwiz / self.baseline if self.baseline else float("inf")

    @property
    def passed(self) -> bool:
        ok = self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit
        return ok and self.extra_pass


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


def table(figures: list[Figure]) -> str:
    head = ("benchmark", "regwiz", "baseline", "ratio", "goal", "result")
    rows = [head] + [
        (f.name, fmt(f.regwiz, f.unit), fmt(f.baseline, f.unit),
         fmt(f.ratio, "") if f.ratio != f.ratio else f"{f.ratio:.2f}x", f.goal,
         "pass" if f.passed else "FAIL")
        for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for f in figures:
        lines += [f"  {f.name}: {note}" for note in f.notes]
    return "\n".join(lines)
