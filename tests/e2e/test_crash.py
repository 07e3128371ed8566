"""I5: an apply killed with SIGKILL at any point converges on the next run, with no manual step.

The emulator holds one chosen request (committed on the server, response not sent) and the
test kills the client while it waits: right after a create (its value never reached anyone), right
after a store write (during verification), in the middle of a revoke. Twenty such kills across
creation, rotation and replacement of 50 tokens; then plain applies must converge.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import stored_meta, stored_value

CREATE = {"method": "POST", "path_regex": r"^/__api__/tokens$"}
VERIFY = {"method": "GET", "path_regex": r"^/pypi/latest/simple/"}
REVOKE = {"method": "POST", "path_regex": r"^/__api__/tokens/[^/]+/revoke$"}


@dataclass(frozen=True)
class KillPoint:
    label: str
    hold: dict[str, str]
    after: int


def kill_at(cli: Cli, control: EmulatorControl, spec: str, point: KillPoint, now: str) -> bool:
    """Runs apply until the held request arrives, then SIGKILLs it. True if the kill happened."""
    control.set_faults(hold={**point.hold, "after": point.after})
    process = cli.popen("apply", "-f", spec, "--auto-approve", "--now", now)
    deadline = time.monotonic() + 60
    killed = False
    try:
        while time.monotonic() < deadline:
            if control.faults().get("held", 0):
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            if process.poll() is not None:
                break
            time.sleep(0.01)  # polling interval while watching another process, not a wait
    finally:
        if process.poll() is None and not killed:
            process.kill()
        process.communicate(timeout=30)
        control.clear_faults()
    return killed


def converge(cli: Cli, spec: str, now: str) -> None:
    run = cli("apply", "-f", spec, "--auto-approve", "--now", now)
    assert run.code == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_i5_kill_minus_nine_at_twenty_points_then_converge(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec_path = write_spec(cli.workdir / "tokens.yaml", token_entries(50))
    spec = str(spec_path)
    control = emulator_control
    points = [
        KillPoint("after create", CREATE, 0),
        KillPoint("after store", VERIFY, 0),
        KillPoint("mid revoke", REVOKE, 0),
        KillPoint("after create", CREATE, 2),
        KillPoint("after store", VERIFY, 1),
        KillPoint("mid revoke", REVOKE, 1),
    ]
    # Each phase gives every token work to do; a phase ends when a run gets through without
    # reaching its kill point (its work is done), then the next phase starts.
    phases = ["create", "rotate", "replace", "rotate", "replace", "rotate"]
    kills: list[str] = []
    for phase_number, phase in enumerate(phases):
        if len(kills) >= 20:
            break
        if phase == "rotate":
            control.advance(timedelta(days=61))
        elif phase == "replace":
            text = re.sub(
                r"token (v\d+ )?number", f"token v{phase_number} number", spec_path.read_text()
            )
            spec_path.write_text(text)
        now = control.now().isoformat()
        for point in points * 3:
            if len(kills) >= 20:
                break
            if kill_at(cli, control, spec, point, now):
                kills.append(f"{phase}: {point.label} after {point.after}")
        converge(cli, spec, control.now().isoformat())
    assert len(kills) == 20, kills
    assert {k.split(": ")[1].split(" after")[0] for k in kills} == {
        "after create",
        "after store",
        "mid revoke",
    }

    # Let every grace period pass, then the state must be exactly one token per name.
    control.advance(timedelta(days=4))
    converge(cli, spec, control.now().isoformat())
    now = control.now()
    tokens = http_driver.list_tokens()
    active: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for token in tokens:
        owner = parse_owner(token.description)
        if owner is None or owner.namespace != "e2e":
            continue
        names[token.guid] = owner.name
        if token.is_active(now):
            active.setdefault(owner.name, []).append(token.guid)
    assert len(active) == 50
    by_guid = {t.guid: t for t in tokens}
    for name, guids in active.items():
        assert len(guids) == 1, f"{name} has {len(guids)} active tokens"
        assert stored_meta(cli, name)["token_guid"] == guids[0]
        assert http_driver.check_token(stored_value(cli, name), by_guid[guids[0]])

    # I1 across every run: a token that was ever usable (its value authenticated at some point,
    # so it had been stored) is revoked only once a newer usable token of the same name exists.
    # Orphans (created, value lost) never authenticate, and revoking them at once is right.
    log = control.request_log()
    usable = {e["actor"] for e in log if isinstance(e.get("actor"), str)} & set(names)
    created_at = {
        str(e["token_guid"]): int(e["seq"])
        for e in log
        if e["method"] == "POST" and e["path"] == "/__api__/tokens" and e.get("token_guid")
    }
    for entry in log:
        if not str(entry["path"]).endswith("/revoke") or entry["status"] != 200:
            continue
        revoked = str(entry["token_guid"])
        if revoked not in usable:
            continue
        successors = [
            guid
            for guid in usable
            if names[guid] == names[revoked]
            and by_guid[guid].created > by_guid[revoked].created
            and created_at.get(guid, 10**9) < int(entry["seq"])
        ]
        assert successors, f"{revoked} ({names[revoked]}) revoked with no usable successor"
