"""Apply in bounded time when a server or store stops answering: a create or a store write that
ran out of its deadline is not sent again, and undoing the write has a deadline of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

from reconciler.apply import ApplyOptions, ApplyReport, apply_plan
from reconciler.desired.model import StoreConfig
from reconciler.errors import CreateTimedOut
from reconciler.plan.model import Action, ActionKind
from reconciler.server.model import CreatedToken, TokenRequest
from reconciler.stores.registry import StoreContext, open_store
from tests.stores.openbao import OpenBao, openbao, vault_mount
from tests.stores.test_deadlines import stopped

from .conftest import World
from .fakes import SERVER_URL, FakeDriver, make_plan, token_spec

__all__ = ["openbao", "stopped", "vault_mount"]  # fixtures


class HangingCreates(FakeDriver):
    """Makes the token, then runs out of time before answering (a create whose CLI was killed
    at its deadline)."""

    def create_token(self, request: TokenRequest) -> CreatedToken:
        created = super().create_token(request)
        raise CreateTimedOut(
            "rspm create token did not finish within 120 s (deadline: server.timeout); the "
            "token may exist",
            description=created.token.description,
        )


def test_a_create_that_ran_out_of_time_is_cleaned_up_and_not_sent_again(world: World) -> None:
    world.driver = HangingCreates(world.clock, world.log, self_guid="admin-guid")
    token = token_spec("ds-read")
    report = world.apply(
        make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)),
        world.spec(token),
        ApplyOptions(create_attempts=3),
    )
    (result,) = report.results
    assert not result.ok
    assert world.log.count("create") == 1
    (made,) = world.driver.tokens
    assert result.revoked == (made,) and not world.driver.active(made)
    assert "got no usable answer in 1 attempt" in (result.error or "")
    assert "did not finish within 120 s (deadline: server.timeout)" in (result.error or "")


def test_a_stopped_vault_holds_apply_for_the_write_and_the_restore_deadlines_only(
    world: World,
    openbao: OpenBao,
    vault_mount: str,
    tmp_path: Path,
    stopped: Callable[[], None],
) -> None:
    """Vault stops answering after the plan read it: the write runs out of its deadline once
    (not once per store attempt), the restore after it runs out of its own, and the new token
    stays active since the store may hold it."""
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType(
            {"address": openbao.url, "mount": vault_mount, "prefix": "ppm/", "timeout": 1}
        ),
    )
    context = StoreContext(spec_dir=tmp_path, env={"VAULT_TOKEN": openbao.root_token})
    vault = open_store(config, context)
    assert vault.read_meta("ppm/ds-read") is None  # what the plan read, while Vault answered
    token = token_spec("ds-read", store="vault")
    stopped()

    reports: list[ApplyReport] = []

    def run() -> None:
        reports.append(
            apply_plan(
                make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)),
                spec=world.spec(token),
                driver=world.driver,
                stores={"vault": vault},
                now=world.clock,
                options=ApplyOptions(store_attempts=4, verify_attempts=5),
                sleep=world.sleeps.append,
                server_url=SERVER_URL,
            )
        )

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=15)  # two 1 s deadlines; without them, minutes
    assert not worker.is_alive(), "apply was still waiting for the stopped Vault after 15 s"
    (result,) = reports[0].results
    error = result.error or ""
    assert error.count("did not answer within 1 s (deadline: stores.vault.timeout)") == 2
    assert "restoring failed" in error
    assert result.new_guid is not None and world.driver.active(result.new_guid)
    assert world.sleeps == []  # no store retry waited
