"""I5: an apply killed with SIGKILL at any step of any action converges on the next run.

The matrix: every action kind (create, recreate, rotate, replace, repair, retire, revoke) x every
kill point that kind reaches (after the create, before the value is stored; after the store
wrote the value, before its metadata; after the store write, before it is confirmed; after the
confirmation, before the replaced token is revoked; in the middle of that revoke) x grace 0 and
grace > 0. Each (kind, grace) is one test on one emulator; each kill point in it has a token of
its own, set up for that kind just before the run that is killed, next to bystander tokens that
the kill must not disturb. The process is
killed by `killpoint.py` at the named step (kill -9: no cleanup runs).

After each kill the next plain apply must converge: exit 0, one current token per name whose
stored value authenticates and whose GUID the store names, and no other active generation
unless its store metadata promises it a grace that has not run out. A token the killed run made
whose value the store already hands out (a kill after the value was written, before or after
its metadata) is never revoked by that apply, and the token a rotation with grace replaced is
still active and authenticates. Across the whole test, from the emulator's request log: no token
a store ever held (by its metadata or by its value) was revoked before a successor of the same
name was stored and had authenticated. The cut between value and metadata with the other store
kinds, and with the store unreachable instead of killed, is test_crash_cut.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.jwtinfo import token_guid
from reconciler.ownership import parse_owner, stored_description
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken, TokenRequest
from tests.e2e.conftest import Cli, Run, write_spec
from tests.e2e.test_invariants import active_by_name, stored_meta, stored_value

KILLPOINT = Path(__file__).with_name("killpoint.py")
KINDS = ("create", "recreate", "rotate", "replace", "repair", "retire", "revoke")
POINTS = ("after-create", "mid-store", "after-store", "before-revoke", "mid-revoke")
GRACES = {"g3d": "3d", "g0": "0s"}
BYSTANDERS = ("steady-1", "steady-2", "steady-3")


def reaches(kind: str, point: str, grace: str) -> bool:
    """Whether an apply of `kind` passes through `point`."""
    creates = kind not in ("retire", "revoke")
    revokes = kind in ("replace", "repair", "retire", "revoke") or (
        kind == "rotate" and grace == "0s"
    )
    return creates if point in ("after-create", "mid-store", "after-store") else revokes


def entry(name: str, description: str, grace: str) -> str:
    return (
        f"- name: {name}\n  user: {name}@example.com\n  description: {description}\n"
        "  scope: repos:read\n  resources: [pypi]\n"
        f"  rotation: {{after: 60d, before_expiry: 14d, grace: {grace}}}\n"
    )


@dataclass
class World:
    """The spec as it stands, and what the test saw and did, for the checks."""

    cli: Cli
    control: EmulatorControl
    driver: HttpDriver
    declared: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (text, grace)
    held_ever: set[str] = field(default_factory=set)  # GUIDs a store was seen holding
    revoked_by_test: set[str] = field(default_factory=set)
    undeclared: set[str] = field(default_factory=set)

    @property
    def spec(self) -> Path:
        return self.cli.workdir / "tokens.yaml"

    def write(self) -> None:
        write_spec(self.spec, "".join(entry(n, *d) for n, d in self.declared.items()))

    def active(self) -> dict[str, list[LiveToken]]:
        """Each name's active tokens, newest first."""
        return active_by_name(self.driver, self.control.now())

    def observe(self) -> None:
        for name in (*self.declared, *self.undeclared):
            if (self.cli.workdir / "secrets" / f"{name}.meta.json").exists():
                self.held_ever.add(stored_meta(self.cli, name).get("token_guid", ""))
            held = self.handed_out(name)
            if held is not None:
                self.held_ever.add(held)

    def handed_out(self, name: str) -> str | None:
        """The token the store's value names (what consumers reading it get)."""
        path = self.cli.workdir / "secrets" / name
        return token_guid(path.read_text().strip()) if path.exists() else None

    def apply(self, *extra: str) -> Run:
        run = self.cli("apply", "-f", str(self.spec), "--auto-approve", *extra)
        self.observe()
        return run

    def killed_apply(self, point: str, name: str, *extra: str) -> Run:
        args = ("apply", "-f", str(self.spec), "--auto-approve", *extra)
        result = subprocess.run(
            [sys.executable, str(KILLPOINT), *args],
            cwd=self.cli.workdir,
            env=self.cli.env(PPM_TOKENS_KILL_AT=f"{point}:{name}"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        run = Run(args, result.returncode, result.stdout, result.stderr)
        self.cli.runs.append(run)  # scanned for leaked values like every other run
        self.observe()
        return run


def set_up(world: World, kind: str, name: str, grace: str) -> list[str]:
    """Give `name` work of `kind` for the next run; the extra apply arguments it needs."""
    if kind == "create":
        world.declared[name] = ("made by the killed run", grace)
    elif kind == "recreate":
        current = world.active()[name][0]
        world.driver.revoke_token(current.guid)
        world.revoked_by_test.add(current.guid)
    elif kind == "rotate":
        return ["--rotate", name]
    elif kind == "replace":
        world.declared[name] = ("replaced for a new description", grace)
    elif kind == "repair":
        for leftover in (world.cli.workdir / "secrets").glob(f"{name}*"):
            leftover.unlink()
    elif kind == "retire":
        # An older generation nothing holds or promised a grace to, as a killed run leaves one.
        now = world.control.now()
        world.control.set_now(now - timedelta(days=1))
        description = stored_description(world.declared[name][0], "e2e", name)
        request = TokenRequest(description, f"{name}@example.com", "repos:read", ("pypi",), None)
        world.driver.create_token(request)
        world.control.reset_clock()
    elif kind == "revoke":
        del world.declared[name]
        world.undeclared.add(name)
    world.write()
    return []


def check_store_never_holds_a_revoked_token(world: World) -> None:
    now = world.control.now()
    by_guid = {t.guid: t for t in world.driver.list_tokens()}
    for name in world.declared:
        path = world.cli.workdir / "secrets" / f"{name}.meta.json"
        named = stored_meta(world.cli, name).get("token_guid") if path.exists() else None
        for guid in {named, world.handed_out(name)} - {None}:
            if guid in world.revoked_by_test:
                continue  # revoked out of band by the test: the recreate is what follows
            held = by_guid.get(str(guid))
            assert held is not None and held.is_active(now), (
                f"the store of {name} holds a dead token"
            )


def check_converged(world: World, where: str) -> None:
    now = world.control.now()
    by_name = world.active()
    for name in world.declared:
        active = by_name.get(name, [])
        assert active, f"{where}: {name} has no active token"
        current = active[0]
        meta = stored_meta(world.cli, name)
        assert meta["token_guid"] == current.guid, f"{where}: {name}'s store names another token"
        assert world.driver.check_token(stored_value(world.cli, name), current), where
        promise = meta.get("retire_previous_after")
        for old in active[1:]:
            owed = promise is not None and datetime.fromisoformat(promise) > now
            assert owed, f"{where}: {name} keeps {old.guid} active with no grace owed to it"
    for name in world.undeclared:
        assert name not in by_name, f"{where}: undeclared {name} is still active"


def usable_tokens_revoked_early(world: World) -> list[str]:
    """I1 from the request log: a revoke of a token a store once held comes after a successor
    of the same name was created and had authenticated (the proof of a stored, verified value).
    The names of the tokens revoked too early."""
    log = world.control.request_log()
    names = {
        t.guid: owner.name
        for t in world.driver.list_tokens()
        if (owner := parse_owner(t.description)) is not None
    }
    created = {
        str(e["token_guid"]): int(e["seq"])
        for e in log
        if e["method"] == "POST" and e["path"] == "/__api__/tokens" and e.get("token_guid")
    }
    proven: dict[str, int] = {}
    for e in log:
        if isinstance(e.get("actor"), str):
            proven.setdefault(str(e["actor"]), int(e["seq"]))
    early = []
    for e in log:
        revoked = str(e.get("token_guid"))
        if not str(e["path"]).endswith("/revoke") or e["status"] != 200:
            continue
        if revoked not in world.held_ever or revoked in world.revoked_by_test:
            continue
        if names[revoked] in world.undeclared:
            continue  # revoking what the spec no longer declares is the point
        seq = int(e["seq"])
        successors = [
            guid
            for guid in world.held_ever - {revoked}
            if names.get(guid) == names[revoked]
            and created.get(guid, seq) < seq
            and proven.get(guid, seq) < seq
        ]
        if not successors:
            early.append(names[revoked])
    return early


@pytest.fixture
def world(cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver) -> Iterator[World]:
    yield World(cli, emulator_control, http_driver)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_i5_a_kill_at_every_step_of_every_action_kind_converges(world: World, kind: str) -> None:
    cells = {
        f"{kind[:4]}-{label}-{point}": (grace, point)
        for label, grace in GRACES.items()
        for point in POINTS
        if reaches(kind, point, grace)
    }
    for name in BYSTANDERS:
        world.declared[name] = ("steady", "3d")
    if kind != "create":
        world.declared.update({name: ("steady", grace) for name, (grace, _) in cells.items()})
    world.write()
    assert world.apply().code == 0

    for name, (grace, point) in cells.items():
        where = f"{kind} killed {point} (grace {grace})"
        extra = set_up(world, kind, name, grace)
        before = world.active().get(name, [])
        old_value = stored_value(world.cli, name) if before and kind == "rotate" else None
        existed = {t.guid for t in world.driver.list_tokens()}

        killed = world.killed_apply(point, name, *extra)
        assert killed.code == -signal.SIGKILL, f"{where}: not killed\n{killed.stderr}"
        check_store_never_holds_a_revoked_token(world)
        made = world.handed_out(name)
        made = made if made not in existed else None  # what the killed run stored

        converge = world.apply()
        assert converge.code == 0, f"{where}: {converge.stdout}{converge.stderr}"
        check_converged(world, where)
        active = {t.guid: t for t in world.active().get(name, [])}
        if made is not None and kind != "revoke":
            assert made in active, f"{where}: revoked {made}, whose value consumers hold"
        if old_value is not None and grace != "0s":
            old = before[0]
            assert old.guid in active, f"{where}: {old.guid} lost the grace it was promised"
            assert world.driver.check_token(old_value, old), where

    final = world.cli("plan", "-f", str(world.spec), "--detailed-exitcode")
    assert final.code == 0, final.stdout
    # I1: apply proves a new token before any store sees it, so no kill point leaves a stored,
    # unproven token that the next run would trust over its predecessor.
    assert usable_tokens_revoked_early(world) == [], "revoked with no proven successor"
