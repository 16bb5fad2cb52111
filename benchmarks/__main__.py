"""python -m benchmarks [--only NAME ...] [--repeat N]: run the benchmarks, print one table.

Beside each tool the table shows a floor where one is measured (benchmarks/floor.py; live logs: asyncssh
alone): the best any tool could do here, and whether the goal is reachable at all. The floors alone,
with the baselines they are measured against: REGWIZ_BENCH_TOOLS=floor,ansible,pyinfra,openssh
(REGWIZ_BENCH_DELAYS=0 or 25, REGWIZ_BENCH_FANOUT_SIZES=8 narrow end_to_end and fanout further)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from benchmarks.common import Figure, table

BENCHMARKS = ("startup", "live_logs", "end_to_end", "fanout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--repeat", type=int, default=0,
                        help="interleaved repeats per benchmark (default: each benchmark's own)")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        repeat = args.repeat or module.DEFAULT_REPEAT
        print(f"[bench] {name} ({repeat} interleaved repeats)…", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            figures += module.run(repeat)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            print(f"[bench] {name} failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            figures.append(Figure(name, float("nan"), float("nan"), "", "error", 0, notes=[str(exc)[:500]],
                                  extra_pass=False))
        print(f"[bench] {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(table(figures))
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
