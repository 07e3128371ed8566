"""The benchmark scripts run at tiny sizes, so they cannot rot: each must finish, print only
`name: value unit` lines, and print the figures it promises, with values that make sense."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPO_ROOT / "bench"
FIGURE = re.compile(r"^(?P<name>[^:]+): (?P<value>-?\d+(?:\.\d+)?) (?P<unit>\S+)$")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def figures(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[float, str]]:
    assert result.returncode == 0, result.stderr[-2000:]
    found: dict[str, tuple[float, str]] = {}
    for line in result.stdout.splitlines():
        match = FIGURE.match(line)
        assert match, f"not a `name: value unit` line: {line!r}"
        assert match["name"] not in found, f"figure printed twice: {match['name']}"
        found[match["name"]] = (float(match["value"]), match["unit"])
    return found


def test_plan_scale_prints_every_figure() -> None:
    found = figures(run_script("plan_scale.py", "--tokens", "50", "--live", "250", "--repeat", "1"))
    expected = {
        "declared tokens": "tokens",
        "live tokens": "tokens",
        "revoked out of band": "tokens",
        "expired out of band": "tokens",
        "stored secrets": "secrets",
        "scenario build": "s",
        "plan wall": "s",
        "plan peak rss": "MiB",
        "validate wall": "s",
        "validate peak rss": "MiB",
        "plan recreates": "actions",
        "plan requests GET /__api__/tokens": "requests",
        "plan requests total": "requests",
        "validate requests total": "requests",
        "floor wall": "s",
        "floor parse": "s",
        "floor fetch": "s",
        "floor page size": "tokens",
        "floor pages": "pages",
        "floor in flight": "pages",
        "libyaml parse wall": "s",
        "plan/floor": "x",
        "validate/libyaml parse": "x",
    }
    assert {name: found[name][1] for name in expected if name in found} == expected
    assert found["declared tokens"][0] == 50
    assert found["live tokens"][0] == 250
    # 1% of 50 rounds up to one revoked and one expired: the plan recreates both, stores the rest.
    assert found["plan recreates"][0] == 2
    assert found["stored secrets"][0] == 48
    assert found["validate requests total"][0] == 0
    assert found["plan requests total"][0] >= found["plan requests GET /__api__/tokens"][0] >= 1
    # 251 tokens (with the admin token) fit in one page of the emulator's largest size.
    assert found["floor page size"][0] == 251
    assert found["plan peak rss"][0] > 10


def test_apply_latency_prints_every_figure_and_one_end_state() -> None:
    found = figures(
        run_script("apply_latency.py", "--tokens", "6", "--latency", "0", "--concurrency", "1,4")
    )
    for concurrency in ("c=1", "c=4"):
        assert found[f"apply wall {concurrency}"][1] == "s"
        assert found[f"apply end state {concurrency}"] == (6.0, "tokens")
        # Each create is one POST, however the proof is made.
        posts = found[f"apply requests per create {concurrency} POST /__api__/tokens"]
        assert posts == (1.0, "requests")
        assert found[f"apply requests per create {concurrency}"][0] >= 2
    assert found["apply creates"] == (6.0, "tokens")
    assert found["apply latency"] == (0.0, "ms")
    assert found["apply speedup c=4 over c=1"][1] == "x"
    assert "apply speedup c=1 over c=1" not in found


def test_scaling_prints_per_token_and_marginal_figures() -> None:
    found = figures(run_script("scaling.py", "--sizes", "20,40", "--repeat", "1"))
    for command in ("plan", "validate"):
        for size in (20, 40):
            wall, per_token = (
                found[f"{command} wall at {size}"],
                found[f"{command} per token at {size}"],
            )
            assert (wall[1], per_token[1]) == ("s", "ms")
            assert per_token[0] == pytest.approx(wall[0] / size * 1000, rel=0.05, abs=0.01)
        assert found[f"{command} marginal per token 20-40"][1] == "ms"


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("plan_scale.py", ["--tokens", "100", "--live", "50"], "--live (50) must be at least"),
        ("apply_latency.py", ["--concurrency", "0"], "at least 1"),
        ("scaling.py", ["--sizes", "10,x"], "--sizes"),
    ],
    ids=["live-below-declared", "zero-concurrency", "bad-sizes"],
)
def test_bad_options_are_refused_before_any_work(
    script: str, args: list[str], message: str
) -> None:
    result = run_script(script, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_existing_benchmarks_still_run() -> None:
    listing = run_script("emulator_list.py", "--seconds", "0.2", "--threads", "2", "--tokens", "50")
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert re.search(r"^_limit=1000 .* errors=0$", listing.stdout, flags=re.MULTILINE)
    scale = run_script("reconcile_scale.py", "--tokens", "20", "--apply-tokens", "3")
    assert scale.returncode == 0, scale.stderr[-2000:]
    assert "-> 3 created, 0 failed" in scale.stdout
    assert "-> 0 changes" in scale.stdout
    day2 = run_script("day2_scale.py", "--tokens", "40")
    assert day2.returncode == 0, day2.stderr[-2000:]
    # A quarter of the tokens managed, two generations per declared name.
    assert day2.stdout.startswith("40 live tokens, 5 declared\n")
    assert re.search(r"^report: HTML size +\d+\.\d KiB$", day2.stdout, flags=re.M)
    stores = run_script("store_apply.py", "--tokens", "3", "--stores", "file,command")
    assert stores.returncode == 0, stores.stderr[-2000:]
    for kind in ("file", "command"):
        assert re.search(rf"^{kind} +apply of 3 new tokens: ", stores.stdout, flags=re.M)
        assert re.search(rf"^{kind} +re-plan with nothing to do: ", stores.stdout, flags=re.M)


def test_make_bench_runs_every_script_and_the_readme_lists_each_with_its_help() -> None:
    """bench/README.md: `make bench` runs them all, each is in its table, and `--help` shows
    the script's docstring (what it measures, how long it takes, how to make it smaller)."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    run = set(re.findall(r"bench/(\w+\.py)", recipe))
    helpers = {"scenario.py", "floor.py"}  # imported or started by the others
    assert run == {p.name for p in BENCH.glob("*.py")} - helpers
    table = set(re.findall(r"^\| `(\w+\.py)` \|", (BENCH / "README.md").read_text(), re.M))
    assert table == run
    for name in sorted(run):
        shown = run_script(name, "--help")
        assert shown.returncode == 0, shown.stderr
        doc = (BENCH / name).read_text(encoding="utf-8").split('"""', 2)[1]
        assert " ".join(doc.split()) in " ".join(shown.stdout.split()), name
        assert re.search(r"\bTakes [^.]*?\d (s|minutes)\b", doc), f"{name}: how long it takes"
