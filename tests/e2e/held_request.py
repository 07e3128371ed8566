"""Kill an apply while the emulator holds one of its requests: driver- and store-agnostic.

The emulator commits the chosen request on the server and holds its response; the test then
SIGKILLs the client, as kill -9 would: right after a create (its value never reached anyone),
during a proof or verification (a repository index fetch), in the middle of a revoke. Used by the
crash tests that run through another driver (rspm) or a remote store (aws), where the in-process
hooks of `tests/e2e/killpoint.py` (HttpDriver, FileStore) do not reach.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import datetime

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken
from tests.e2e.conftest import Cli

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


def active_by_name(driver: HttpDriver, now: datetime) -> dict[str, list[LiveToken]]:
    """The active tokens of the tests' `e2e` namespace, by declared name: after converging,
    each name must have exactly one."""
    active: dict[str, list[LiveToken]] = {}
    for token in driver.list_tokens():
        owner = parse_owner(token.description)
        if owner is not None and owner.namespace == "e2e" and token.is_active(now):
            active.setdefault(owner.name, []).append(token)
    return active
