"""What showing regwiz's first screen costs in Textual alone, group by group, in instructions.

``python -m benchmarks.startup_groups [GROUP ...]`` counts, under callgrind as
``benchmarks.startup_counts`` does (same pty, same typed word), the issue's floor
(``benchmarks/floor_app.py``), then the floor app of ``benchmarks/floor_groups.py`` (which pushes a
screen, as regwiz does) with each group of regwiz's first-screen widgets added in turn (Textual's
stock widgets). Each line: the cumulative count, what the group added, and the ratios to both floors.
The last line is the cost of the first screen's widgets with next to no regwiz code: if it is above
1.25x the floor, the goal cannot be met by changing regwiz's own code alone. Not part of
``./dev bench`` (needs valgrind; some 40 s a line).
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.floor_groups import GROUPS
from benchmarks.startup import ROOT
from benchmarks.startup_counts import counting_env, instructions


def main() -> int:
    wanted = sys.argv[1:] or list(GROUPS)
    env = counting_env()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "benchmarks"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, check=False)
    # The floor (benchmarks/floor_app.py: one Input composed into the default screen), then this
    # floor, which pushes a screen of its own as regwiz does.
    floor_app = instructions("benchmarks.floor_app", b"floor input", env)
    print(f"{'floor_app':10} {floor_app:>15,} instructions  {'':>14}  {'':5}  1.00x floor_app", flush=True)
    floor = before = 0
    groups: list[str] = []
    for step in [""] + [g for g in GROUPS if g in wanted]:
        if step:
            groups.append(step)
        count = instructions("benchmarks.floor_groups", b"floor input", {**env, "FLOOR_GROUPS": ",".join(groups)})
        floor = floor or count
        label = "+" + step if step else "floor"
        print(f"{label:10} {count:>15,} instructions  {count - before:>+14,}  {count / floor:.2f}x"
              f"  {count / floor_app:.2f}x floor_app", flush=True)
        before = count
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
