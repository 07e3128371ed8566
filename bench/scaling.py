"""How `plan` and `validate` grow with the number of declared tokens: the cost per token should
stay flat (linear growth, nothing quadratic).

For each size, the scenario of bench/plan_scale.py with that many declared tokens and
`--live-factor` times as many on the server; `ppm-tokens plan` and `ppm-tokens validate` run as
whole processes (median of `--repeat`). Prints the wall time and the time per declared token at
each size, and the marginal time per token between consecutive sizes, which leaves out the fixed
cost of starting the process; the marginal spread (largest over smallest) stays near 1 when
growth is linear.

    .venv/bin/python bench/scaling.py [--sizes 1000,5000,10000,20000] [--live-factor 5] [--repeat 1]

Takes 4 to 5 minutes at the default sizes (36,000 declared and 180,000 live tokens are built and
planned in all).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from scenario import (
    MEASURED,
    Built,
    Run,
    Shape,
    assert_no_leaks,
    built,
    cli_env,
    figure,
    median,
    note,
    positive_int_list,
)


def measure(scenario: Built, workdir: Path, repeat: int) -> dict[str, float]:
    env = cli_env(scenario.emulator, workdir / "home")
    runs: dict[str, list[Run]] = {command: [] for command in MEASURED}
    for _ in range(repeat):
        for command, measured in MEASURED.items():
            runs[command].append(measured(scenario, env, workdir))
    assert_no_leaks(
        scenario.emulator.app.db.issued_values(), [r for group in runs.values() for r in group]
    )
    return {command: median(r.seconds for r in group) for command, group in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=positive_int_list,
        default=[1000, 5000, 10_000, 20_000],
        help="declared tokens, comma-separated",
    )
    parser.add_argument("--live-factor", type=int, default=5, help="live tokens per declared")
    parser.add_argument("--repeat", type=int, default=1, help="runs at each size; median")
    args = parser.parse_args()
    if args.live_factor < 1 or args.repeat < 1:
        parser.error("--live-factor and --repeat must be at least 1")
    sizes = sorted(args.sizes)
    walls: dict[int, dict[str, float]] = {}
    for size in sizes:
        shape = Shape(size, size * args.live_factor)
        note(f"size {size}: building {shape.live} live tokens, then plan and validate")
        with tempfile.TemporaryDirectory(prefix="ppm-tokens-bench-") as tmp:
            workdir = Path(tmp)
            with built(shape, workdir) as scenario:
                walls[size] = measure(scenario, workdir, args.repeat)
        for command in MEASURED:
            figure(f"{command} wall at {size}", walls[size][command], "s")
            figure(f"{command} per token at {size}", walls[size][command] / size * 1000, "ms", 3)
    for command in MEASURED:
        marginals = []
        for smaller, larger in itertools.pairwise(sizes):
            extra = walls[larger][command] - walls[smaller][command]
            marginal = extra / (larger - smaller) * 1000
            marginals.append(marginal)
            figure(f"{command} marginal per token {smaller}-{larger}", marginal, "ms", 3)
        if len(marginals) >= 2 and min(marginals) > 0:
            figure(f"{command} marginal spread", max(marginals) / min(marginals), "x")


if __name__ == "__main__":
    main()
