"""What the benchmarks share: build a large organisation's state, run whole `ppm-tokens`
processes and measure them, count the requests the emulator saw, print figures.

The scenario: one spec namespace declaring N tokens (`Shape.declared`), and a server holding
`Shape.live` tokens spread over `Shape.namespaces` namespaces (the spec's own N included). A share
of the spec namespace's tokens was revoked or expired out of band, and the file store holds a value
and metadata for every other one. So `plan` must propose exactly one recreate per revoked or
expired token and leave the rest unchanged; a figure from a plan that says anything else is refused.

Everything is written straight into the emulator's SQLite database through its own db module, and
straight into the file store's directory layout: creating 50,000 tokens through the API (or
writing 10,000 secrets with the store's fsyncs) would take minutes, this takes seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.apply import ApplyOptions, ApplyReport, apply_plan
from reconciler.backends.private_files import META_SUFFIX
from reconciler.commands.plan import compute_plan
from reconciler.desired.model import Scope, Spec
from reconciler.emulator import tokens
from reconciler.emulator.db import Database, ResourceRow, TokenRow
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.ownership import stored_description
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.stores.base import SecretMeta, SecretStore

SPEC_NAMESPACE = "team-0"
REPOSITORY = "pypi"
LIFETIME = timedelta(days=90)
# Active tokens are younger than rotation.after (60d) and expire more than 30 days ahead, so a
# correct plan neither rotates them nor warns about them.
NEWEST, OLDEST = timedelta(hours=1), timedelta(days=50)
SUMMARY = re.compile(
    r"Plan: (?P<create>\d+) to create, (?P<rotate>\d+) to rotate, (?P<replace>\d+) to replace, "
    r"(?P<repair>\d+) to repair, (?P<revoke>\d+) to revoke\."
)
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def figure(name: str, value: float, unit: str, digits: int = 2) -> None:
    """One figure per line, `name: value unit`, on stdout; everything else goes to stderr."""
    shown = str(value) if isinstance(value, int) else f"{value:.{digits}f}"
    print(f"{name}: {shown} {unit}", flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def positive_int_list(text: str) -> list[int]:
    """argparse type for "1,4,16"."""
    try:
        values = list(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give whole numbers of at least 1, separated by commas"
        )
    return values


# The spec ------------------------------------------------------------------------------------


def token_name(index: int) -> str:
    return f"token-{index:05d}"


def token_user(index: int, namespace: str) -> str:
    return f"user{index}@{namespace}.example.com"


def token_description(index: int) -> str:
    return f"Token number {index} for the benchmark"


def write_spec(path: Path, count: int, store_dir: Path, namespace: str = SPEC_NAMESPACE) -> Path:
    """A spec of `count` repos:read tokens in one namespace, secrets in a file store."""
    lines = [
        "version: 1",
        f"namespace: {namespace}",
        "defaults:",
        "  expires: 90d",
        "  rotation: {after: 60d, before_expiry: 14d, grace: 3d}",
        "  store: local",
        "stores:",
        f"  local: {{type: file, path: {store_dir}}}",
        "tokens:",
    ]
    for index in range(count):
        lines += [
            f"  - name: {token_name(index)}",
            f"    user: {token_user(index, namespace)}",
            f"    description: {token_description(index)}",
            "    scope: repos:read",
            f"    resources: [{REPOSITORY}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# The server's tokens and the store -----------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    declared: int
    live: int
    namespaces: int = 5
    revoked_share: float = 0.01
    expired_share: float = 0.01
    seed: int = 11

    def __post_init__(self) -> None:
        if self.declared < 1 or self.namespaces < 1:
            raise ValueError("the scenario needs at least one declared token and one namespace")
        if self.live < self.declared:
            raise ValueError(
                f"--live ({self.live}) must be at least --tokens ({self.declared}): the server "
                "holds every declared token and those of the other namespaces"
            )

    def out_of_band(self, share: float) -> int:
        """How many of the declared tokens a share stands for; at least one, so that even a
        tiny scenario exercises the recreate path."""
        return min(self.declared // 2, max(1, round(self.declared * share)))

    def per_namespace(self) -> list[int]:
        """Live tokens of each namespace: the spec's first, the rest shared by the others."""
        others = self.namespaces - 1
        rest = self.live - self.declared
        if others == 0:
            return [self.declared]
        return [self.declared] + [rest // others + (i < rest % others) for i in range(others)]


@dataclass(frozen=True)
class Seeded:
    """What the seeding made, and so what a correct plan says."""

    live: int
    revoked: int
    expired: int
    stored: int

    @property
    def recreates(self) -> int:
        return self.revoked + self.expired


@dataclass(frozen=True)
class Minted:
    index: int
    row: TokenRow
    value: str


def _mint(index: int, namespace: str, created: datetime, repo: ResourceRow, key: bytes) -> Minted:
    new = tokens.NewToken(
        description=stored_description(token_description(index), namespace, token_name(index)),
        user=token_user(index, namespace),
        email=None,
        scope=Scope.REPOS_READ,
        resources=(repo,),
        all_resources=False,
        expires=created + LIFETIME,
    )
    row, value = tokens.mint(new, created, key)
    return Minted(index, row, value)


def seed_server(db: Database, shape: Shape, now: datetime) -> tuple[Seeded, list[Minted]]:
    """Insert every live token; return the counts and the spec namespace's active tokens."""
    rng = random.Random(shape.seed)
    repo = db.resource(REPOSITORY)
    if repo is None:
        raise SystemExit(f"the emulator has no repository {REPOSITORY!r}")
    key = db.signing_key()
    revoked_count = shape.out_of_band(shape.revoked_share)
    expired_count = shape.out_of_band(shape.expired_share)
    picked = rng.sample(range(shape.declared), revoked_count + expired_count)
    revoked, expired = set(picked[:revoked_count]), set(picked[revoked_count:])
    span = (OLDEST - NEWEST).total_seconds()
    rows: list[tuple[TokenRow, str]] = []
    active: list[Minted] = []
    for ns_index, count in enumerate(shape.per_namespace()):
        namespace = f"team-{ns_index}"
        for index in range(count):
            if ns_index == 0 and index in expired:
                created = now - LIFETIME - timedelta(days=10)
            else:
                created = now - NEWEST - timedelta(seconds=rng.uniform(0, span))
            minted = _mint(index, namespace, created, repo, key)
            row = minted.row
            if ns_index == 0 and index in revoked:
                row = dataclasses.replace(row, revoked=created + (now - created) / 2)
            elif ns_index == 0 and index not in expired:
                active.append(minted)
            rows.append((row, minted.value))
    db.insert_tokens(rows)
    return Seeded(len(rows), revoked_count, expired_count, len(active)), active


def write_store(store_dir: Path, namespace: str, stored: Sequence[Minted]) -> None:
    """Values and metadata sidecars exactly as the file store lays them out (see
    reconciler/stores/file.py), without its per-file fsyncs: the benchmark's files need not
    survive a power cut, and 10,000 fsyncs take minutes."""
    store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for minted in stored:
        name = token_name(minted.index)
        payload = minted.value.encode()
        meta = SecretMeta(
            token_guid=minted.row.guid,
            name=name,
            namespace=namespace,
            created=minted.row.created,
            expires=minted.row.expires,
            scope=minted.row.scope,
            value_sha256=hashlib.sha256(payload).hexdigest(),
            format="raw",
        )
        _write_private(store_dir / name, payload)
        sidecar = json.dumps(meta.to_strings(), sort_keys=True, indent=2) + "\n"
        _write_private(store_dir / (name + META_SUFFIX), sidecar.encode())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Built:
    emulator: RunningEmulator
    spec_path: Path
    store_dir: Path
    seeded: Seeded
    seconds: float


@contextmanager
def emulator_in(workdir: Path) -> Iterator[RunningEmulator]:
    """An emulator on a free loopback port, serving from a thread of this process: while a
    measured `ppm-tokens` process runs, this process only waits, so the two share no
    interpreter."""
    running = start_emulator(
        db_path=workdir / "emulator.sqlite3", admin_token_file=workdir / "admin.token"
    )
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def built(shape: Shape, workdir: Path) -> Iterator[Built]:
    """The scenario of `shape` under `workdir`, its emulator running."""
    started = time.perf_counter()
    store_dir = workdir / "secrets"
    with emulator_in(workdir) as running:
        seeded, active = seed_server(running.app.db, shape, running.app.now())
        write_store(store_dir, SPEC_NAMESPACE, active)
        spec_path = write_spec(workdir / "tokens.yaml", shape.declared, store_dir)
        yield Built(running, spec_path, store_dir, seeded, time.perf_counter() - started)


# In-process apply ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    plan_seconds: float
    report: ApplyReport
    apply_seconds: float
    changes_left: int  # in the plan made right after the apply
    replan_seconds: float


def apply_and_replan(
    spec: Spec, stores: Mapping[str, SecretStore], emulator: RunningEmulator
) -> Applied:
    """What `ppm-tokens apply` does without the process around it: plan (list tokens, read
    store metadata), `apply_plan` with the default options (concurrency 4), then plan again."""

    def now() -> datetime:
        return datetime.now(UTC)

    with HttpDriver(emulator.url, Secret(emulator.admin_token())) as driver:
        started = time.perf_counter()
        first = compute_plan(spec, driver, stores, now=now(), server=emulator.url)
        planned = time.perf_counter()
        report = apply_plan(
            first,
            spec=spec,
            driver=driver,
            stores=stores,
            now=now,
            options=ApplyOptions(),
            server_url=emulator.url,
        )
        applied = time.perf_counter()
        again = compute_plan(spec, driver, stores, now=now(), server=emulator.url)
        replanned = time.perf_counter()
    return Applied(
        planned - started, report, applied - planned, len(again.changes), replanned - applied
    )


# Measured processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str


def cli_env(emulator: RunningEmulator, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        PACKAGEMANAGER_ADDRESS=emulator.url,
        PACKAGEMANAGER_TOKEN=emulator.admin_token(),
        HOME=str(home),
    )
    return env


def run_process(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Run:
    """Run one whole process; its wall time and its own peak RSS (wait4 reports the child's
    rusage alone, where RUSAGE_CHILDREN would be the largest of every child so far)."""
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    run = Run(
        tuple(argv),
        process.returncode,
        seconds,
        usage.ru_maxrss / 1024,  # KiB on Linux
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )
    out_path.unlink()
    err_path.unlink()
    return run


def run_cli(args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Run:
    return run_process([sys.executable, "-m", "reconciler", *args], env=env, cwd=cwd)


def expect_code(run: Run, *codes: int) -> Run:
    if run.code not in codes:
        tail = (run.stderr or run.stdout).strip().splitlines()[-5:]
        raise SystemExit(
            f"`{' '.join(run.args[1:])}` exited {run.code}, expected {codes}:\n" + "\n".join(tail)
        )
    return run


def plan_summary(run: Run) -> dict[str, int]:
    match = SUMMARY.search(run.stdout)
    if match is None:
        raise SystemExit("the plan printed no summary line; cannot tell what it proposed")
    return {kind: int(count) for kind, count in match.groupdict().items()}


def check_plan(run: Run, seeded: Seeded, *, codes: tuple[int, ...] = (2,)) -> None:
    """A plan that proposes anything but the recreates is wrong, and its timing worthless."""
    expect_code(run, *codes)
    summary = plan_summary(run)
    wanted = {"create": seeded.recreates, "rotate": 0, "replace": 0, "repair": 0, "revoke": 0}
    if summary != wanted:
        raise SystemExit(f"the plan proposed {summary}, not {wanted}: the scenario is not planned")
    recreates = len(re.findall(r"^\s+\+\s+recreate\s", run.stdout, flags=re.MULTILINE))
    if recreates != seeded.recreates:
        raise SystemExit(f"the plan lists {recreates} recreates, not {seeded.recreates}")


def measured_plan(scenario: Built, env: Mapping[str, str], cwd: Path) -> Run:
    """`ppm-tokens plan` of the scenario's spec, refused unless it proposes the recreates."""
    spec = str(scenario.spec_path)
    run = run_cli(["plan", "-f", spec, "--detailed-exitcode"], env=env, cwd=cwd)
    check_plan(run, scenario.seeded)
    return run


def measured_validate(scenario: Built, env: Mapping[str, str], cwd: Path) -> Run:
    return expect_code(run_cli(["validate", "-f", str(scenario.spec_path)], env=env, cwd=cwd), 0)


MEASURED = {"plan": measured_plan, "validate": measured_validate}


def endpoint(entry: Mapping[str, object]) -> str:
    """`METHOD path` with GUIDs folded, so a revoke of any token counts under one name."""
    return f"{entry['method']} {_GUID.sub('{guid}', str(entry['path']))}"


def requests_by_endpoint(log: Iterable[Mapping[str, object]]) -> Counter[str]:
    return Counter(endpoint(entry) for entry in log)


def assert_no_leaks(values: Iterable[str], runs: Iterable[Run]) -> None:
    """I2 holds in the benchmark too: no value the emulator issued in any process's output."""
    texts = [(run.args, text) for run in runs for text in (run.stdout, run.stderr)]
    for value in values:
        for args, text in texts:
            if value in text:
                raise SystemExit(f"a token value appeared in the output of {' '.join(args[1:])}")
