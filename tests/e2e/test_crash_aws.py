"""I5 with the aws store: an apply killed with SIGKILL at twenty points (after a create, during
verification after the store write, in the middle of a revoke), across creation, rotation and
replacement, converges on the next runs with no manual step; afterwards every name has one
active token, AWSCURRENT holds its value and the tags name it. The kill machinery is
tests/e2e/held_request.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli
from tests.e2e.held_request import CREATE, REVOKE, VERIFY, KillPoint, active_by_name, kill_at
from tests.e2e.real_stores import aws_backend
from tests.stores.moto_server import Moto, moto

__all__ = ["moto"]  # fixture

TOKENS = 10


@dataclass
class StoreCli(Cli):
    """The CLI with the store's environment on every run (kill_at passes none)."""

    store_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**{**self.store_env, **extra})


def spec_text(store: str, version: int) -> str:
    entries = "".join(
        f"""  - name: t{index:03d}
    user: user{index}@example.com
    description: token v{version} number {index}
    scope: repos:read
    resources: [pypi]
"""
        for index in range(TOKENS)
    )
    return f"""version: 1
namespace: e2e
defaults:
  expires: 90d
  rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
  store: remote
stores:
  remote: {store}
tokens:
{entries}"""


@pytest.mark.slow
def test_kill_minus_nine_at_twenty_points_with_the_aws_store_then_converge(
    cli: Cli, moto: Moto, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    backend = aws_backend(moto)
    store_cli = StoreCli(cli.emulator, cli.workdir, cli.runs, backend.env)  # runs are scanned
    spec_path = cli.workdir / "tokens.yaml"
    spec_path.write_text(spec_text(backend.store, 0))
    spec = str(spec_path)
    control = emulator_control
    points = [
        KillPoint("after create", CREATE, 0),
        KillPoint("after store", VERIFY, 0),
        KillPoint("mid revoke", REVOKE, 0),
        KillPoint("after create", CREATE, 3),
        KillPoint("after store", VERIFY, 2),
        KillPoint("mid revoke", REVOKE, 1),
    ]

    def apply(now: str) -> None:
        run = cli("apply", "-f", spec, "--auto-approve", "--now", now, **backend.env)
        assert run.code == 0, run.stdout + run.stderr

    kills: list[str] = []
    phases = ["create", "rotate", "replace", "rotate", "replace", "replace", "rotate", "replace"]
    for number, phase in enumerate(phases):
        if len(kills) >= 20:
            break
        if phase == "rotate":
            control.advance(timedelta(days=61))
        elif phase == "replace":
            spec_path.write_text(
                re.sub(r"token v\d+ number", f"token v{number} number", spec_path.read_text())
            )
        now = control.now().isoformat()
        for point in points * 3:
            if len(kills) >= 20:
                break
            if not kill_at(store_cli, control, spec, point, now):
                break  # a run got through: this phase's work is done
            kills.append(f"{phase}: {point.label}")
        apply(control.now().isoformat())
    assert len(kills) == 20, kills
    assert {k.split(": ")[1] for k in kills} == {"after create", "after store", "mid revoke"}

    control.advance(timedelta(days=4))
    apply(control.now().isoformat())
    now = control.now()
    active = active_by_name(http_driver, now)
    assert len(active) == TOKENS
    for name, tokens in active.items():
        assert len(tokens) == 1, f"{name} has {len(tokens)} active tokens"
        held = backend.held(name)
        assert held is not None and held.meta["token_guid"] == tokens[0].guid, name
        assert http_driver.check_token(held.value, tokens[0])
    plan = cli("plan", "-f", spec, "--detailed-exitcode", "--now", now.isoformat(), **backend.env)
    assert plan.code == 0, plan.stdout + plan.stderr
