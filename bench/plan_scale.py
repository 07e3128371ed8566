"""`plan` and `validate` at the scale of a large organisation, against the floor under them.

The scenario (bench/scenario.py): a spec of 10,000 declared tokens in one namespace; an emulator
holding 50,000 tokens in 5 namespaces; 1% of the spec namespace's tokens revoked and 1% expired
out of band; a file store holding the value and metadata of every other one. The plan must be
exactly the 200 recreates, or the script stops.

Then, `--repeat` times, interleaved so that a busy machine slows each alike:
- `ppm-tokens plan` and `ppm-tokens validate`, each a whole process: wall time (median) and
  peak RSS (the largest, from wait4's rusage of that process alone);
- the floor (bench/floor.py, also a whole process): parse the spec with libyaml and fetch and
  decode every token page, 8 pages in flight, at the largest page size the server accepts;
- a bare libyaml parse of the spec as a whole process, which `validate` is measured against.
It prints the HTTP requests of one plan by endpoint (from the emulator's request log) and the
ratios plan/floor and validate/parse. Both sides of each ratio include interpreter start-up.

    .venv/bin/python bench/plan_scale.py [--tokens 10000] [--live 50000] [--repeat 3]
                                         [--profile 15]

`--profile N` runs one more `plan` under cProfile after the measured ones and prints its N
entries of most own time on stderr (the figures are taken without the profiler).

Takes 2 to 3 minutes at the default sizes on a busy 2-core machine (building the scenario 6 to
15 s); `--tokens 1000 --live 5000 --repeat 1` takes about 10 s.
"""

from __future__ import annotations

import argparse
import io
import json
import pstats
import sys
import tempfile
from collections import Counter
from pathlib import Path

from scenario import (
    MEASURED,
    Built,
    Run,
    Shape,
    assert_no_leaks,
    built,
    check_plan,
    cli_env,
    expect_code,
    figure,
    median,
    note,
    requests_by_endpoint,
    run_process,
)

FLOOR = Path(__file__).with_name("floor.py")


def profile(scenario: Built, workdir: Path, top: int) -> None:
    """One more plan under cProfile: where the time between plan and the floor goes."""
    env = cli_env(scenario.emulator, workdir / "home")
    stats = workdir / "plan.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "reconciler"]
    run = run_process([*command, "plan", "-f", str(scenario.spec_path)], env=env, cwd=workdir)
    check_plan(run, scenario.seeded, codes=(0, 2))  # cProfile's own exit replaces plan's
    assert_no_leaks(scenario.emulator.app.db.issued_values(), [run])
    out = io.StringIO()
    pstats.Stats(str(stats), stream=out).sort_stats("tottime").print_stats(top)
    note(f"profile of one plan, {top} entries of most own time:\n{out.getvalue().strip()}")


def measure(scenario: Built, workdir: Path, repeat: int, in_flight: int) -> None:
    emulator, spec = scenario.emulator, str(scenario.spec_path)
    db = emulator.app.db
    env = cli_env(emulator, workdir / "home")
    runs: dict[str, list[Run]] = {"plan": [], "validate": [], "floor": [], "parse": []}
    requests: dict[str, Counter[str]] = {}
    floors: list[dict[str, float]] = []
    for attempt in range(1, repeat + 1):
        note(f"round {attempt} of {repeat}: plan, validate, floor, bare parse")
        for command, measured in MEASURED.items():
            db.clear_log()
            runs[command].append(measured(scenario, env, workdir))
            requests[command] = requests_by_endpoint(db.request_log())
        floor = expect_code(
            run_process(
                [sys.executable, str(FLOOR), spec, "--in-flight", str(in_flight)],
                env=env,
                cwd=workdir,
            ),
            0,
        )
        runs["floor"].append(floor)
        floors.append(json.loads(floor.stdout))
        parse = [sys.executable, str(FLOOR), spec, "--parse-only"]
        runs["parse"].append(expect_code(run_process(parse, env=env, cwd=workdir), 0))
    assert_no_leaks(db.issued_values(), [run for group in runs.values() for run in group])

    listed = scenario.seeded.live + 1  # and the emulator's bootstrap admin token
    if any(f["tokens"] != listed for f in floors):
        raise SystemExit(f"the floor fetched {[f['tokens'] for f in floors]}, not {listed}")

    wall = {command: median(r.seconds for r in group) for command, group in runs.items()}
    for command in ("plan", "validate"):
        figure(f"{command} wall", wall[command], "s")
        figure(f"{command} peak rss", max(r.peak_rss_mib for r in runs[command]), "MiB", 1)
    figure("plan recreates", scenario.seeded.recreates, "actions")
    for name, count in sorted(requests["plan"].items()):
        figure(f"plan requests {name}", count, "requests")
    figure("plan requests total", sum(requests["plan"].values()), "requests")
    figure("validate requests total", sum(requests["validate"].values()), "requests")
    figure("floor wall", wall["floor"], "s")
    figure("floor parse", median(f["parse_s"] for f in floors), "s")
    figure("floor fetch", median(f["fetch_s"] for f in floors), "s")
    figure("floor page size", int(floors[0]["page_size"]), "tokens")
    figure("floor pages", int(floors[0]["pages"]), "pages")
    figure("floor in flight", in_flight, "pages")
    figure("libyaml parse wall", wall["parse"], "s")
    figure("plan/floor", wall["plan"] / wall["floor"], "x")
    figure("validate/libyaml parse", wall["validate"] / wall["parse"], "x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=10_000, help="declared tokens")
    parser.add_argument("--live", type=int, default=50_000, help="tokens on the server")
    parser.add_argument("--namespaces", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median counts")
    parser.add_argument("--in-flight", type=int, default=8, help="the floor's pages in flight")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print one plan's top N entries"
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.in_flight < 1:
        parser.error("--repeat and --in-flight must be at least 1")
    try:
        shape = Shape(args.tokens, args.live, args.namespaces)
    except ValueError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory(prefix="ppm-tokens-bench-") as tmp:
        workdir = Path(tmp)
        note(f"building: {shape.declared} declared, {shape.live} live in {shape.namespaces} ns")
        with built(shape, workdir) as scenario:
            seeded = scenario.seeded
            figure("declared tokens", shape.declared, "tokens")
            figure("live tokens", seeded.live, "tokens")
            figure("revoked out of band", seeded.revoked, "tokens")
            figure("expired out of band", seeded.expired, "tokens")
            figure("stored secrets", seeded.stored, "secrets")
            figure("scenario build", scenario.seconds, "s")
            measure(scenario, workdir, args.repeat, args.in_flight)
            if args.profile > 0:
                profile(scenario, workdir, args.profile)


if __name__ == "__main__":
    main()
