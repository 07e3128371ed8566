"""`apply` of many creates against a server that answers slowly, at several concurrencies.

For each concurrency, a fresh emulator and an empty file store; the emulator delays every
request by `--latency` ms (its fault controls, applied to every path: the token API, the resource
lists and the repository index that proves each new token). One whole
`ppm-tokens apply --auto-approve --concurrency C` process creates `--tokens` tokens. Prints its
wall time, the requests it made to the server per create (by endpoint, from the emulator's request
log), and its speed-up over the first concurrency given. After each run the end state is checked
from the emulator's database and the store: one active managed token per declared name, each
held by the store (metadata naming it, value hash matching); it must be the same every time.

    .venv/bin/python bench/apply_latency.py [--tokens 500] [--latency 50] [--concurrency 1,4,16]

Takes about 3 minutes at the default sizes (concurrency 1 alone is 500 creates x 4 requests
x 50 ms); `--tokens 100` makes it about 40 s.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scenario import (
    SPEC_NAMESPACE,
    assert_no_leaks,
    cli_env,
    emulator_in,
    expect_code,
    figure,
    note,
    positive_int_list,
    requests_by_endpoint,
    run_cli,
    token_name,
    write_spec,
)

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.db import Database, TokenRow
from reconciler.ownership import parse_owner
from reconciler.stores.file import FileStore

# Every path: the fault controls' default covers the token API only, not the repository index.
ALL_PATHS = "^/"


EndState = tuple[tuple[str, str, str, tuple[str, ...], str], ...]


@dataclass(frozen=True)
class Outcome:
    seconds: float
    requests: Counter[str]
    # Per declared name, what the server and the store hold, without the GUIDs that differ
    # from run to run.
    end_state: EndState


def end_state(db: Database, store: FileStore, names: Sequence[str], now: datetime) -> EndState:
    """The end state after apply; SystemExit saying what is wrong when it is not the one
    wanted."""
    active: dict[str, list[TokenRow]] = {}
    for row in db.tokens(limit=len(names) * 10 + 100, offset=0):
        owner = parse_owner(row.description)
        if owner is not None and owner.namespace == SPEC_NAMESPACE and row.active(now):
            active.setdefault(owner.name, []).append(row)
    if sorted(active) != sorted(names):
        raise SystemExit(f"{len(active)} names have active tokens, not the {len(names)} declared")
    state = []
    for name in names:
        if len(active[name]) != 1:
            raise SystemExit(f"{name} has {len(active[name])} active tokens, not 1")
        row = active[name][0]
        meta = store.read_meta(name)
        if meta is None or meta.token_guid != row.guid:
            raise SystemExit(f"the store does not hold the active token of {name}")
        if store.read_value_hash(name) != meta.value_sha256:
            raise SystemExit(f"the value stored for {name} is not the one its metadata names")
        state.append((name, row.user, row.scope, row.resources, row.description))
    return tuple(state)


def one_run(workdir: Path, count: int, latency_ms: int, concurrency: int) -> Outcome:
    store_dir = workdir / "secrets"
    spec = write_spec(workdir / "tokens.yaml", count, store_dir)
    names = [token_name(i) for i in range(count)]
    with emulator_in(workdir) as emulator:
        db = emulator.app.db
        control = EmulatorControl(emulator.url, emulator.admin_token())
        if latency_ms:
            control.set_faults(latency_ms=latency_ms, paths=ALL_PATHS)
        db.clear_log()
        run = run_cli(
            ["apply", "-f", str(spec), "--auto-approve", "--concurrency", str(concurrency)],
            env=cli_env(emulator, workdir / "home"),
            cwd=workdir,
        )
        requests = requests_by_endpoint(db.request_log())
        control.clear_faults()
        expect_code(run, 0)
        assert_no_leaks(db.issued_values(), [run])
        state = end_state(db, FileStore("local", store_dir), names, emulator.app.now())
    return Outcome(run.seconds, requests, state)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=500, help="tokens to create")
    parser.add_argument("--latency", type=int, default=50, help="ms added to every request")
    parser.add_argument(
        "--concurrency",
        type=positive_int_list,
        default=[1, 4, 16],
        help="comma-separated; the first is the baseline of the speed-up",
    )
    args = parser.parse_args()
    if args.tokens < 1 or args.latency < 0:
        parser.error("--tokens must be at least 1 and --latency at least 0")
    figure("apply creates", args.tokens, "tokens")
    figure("apply latency", args.latency, "ms")
    outcomes: dict[int, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="ppm-tokens-bench-") as tmp:
        for concurrency in args.concurrency:
            note(f"apply {args.tokens} creates at concurrency {concurrency}")
            workdir = Path(tmp) / f"concurrency-{concurrency}"
            workdir.mkdir()
            outcome = one_run(workdir, args.tokens, args.latency, concurrency)
            outcomes[concurrency] = outcome
            label = f"c={concurrency}"
            figure(f"apply wall {label}", outcome.seconds, "s")
            # Three decimals: the one listing of a run shows as 0.002 per create, not as 0.00.
            per_create = sum(outcome.requests.values()) / args.tokens
            figure(f"apply requests per create {label}", per_create, "requests", 3)
            for name, count in sorted(outcome.requests.items()):
                share = count / args.tokens
                figure(f"apply requests per create {label} {name}", share, "requests", 3)
            figure(f"apply end state {label}", len(outcome.end_state), "tokens")
    first, *others = args.concurrency
    baseline = outcomes[first]
    for concurrency in others:
        outcome = outcomes[concurrency]
        if outcome.end_state != baseline.end_state:
            raise SystemExit(f"concurrency {concurrency} left another end state than {first}")
        figure(
            f"apply speedup c={concurrency} over c={first}", baseline.seconds / outcome.seconds, "x"
        )


if __name__ == "__main__":
    main()
