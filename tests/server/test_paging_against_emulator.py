"""Paging that is correct for any page cap a server or proxy applies, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.desired.model import Scope
from reconciler.emulator import tokens
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import ServerError
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver

from .test_http_emulator import fast_driver

EXTRA = 250


@pytest.fixture
def many(emulator: RunningEmulator) -> set[str]:
    """250 tokens besides the bootstrap admin, straight into the emulator's database."""
    db, now = emulator.app.db, emulator.app.now()
    new = tokens.NewToken(
        description="bulk",
        user="bulk@example.com",
        email=None,
        scope=Scope.BLOCKLIST_READ,
        resources=(),
        all_resources=False,
        expires=now + timedelta(days=30),
    )
    rows = [tokens.mint(new, now, db.signing_key()) for _ in range(EXTRA)]
    db.insert_tokens(rows)
    return {row.guid for row, _ in rows}


def token_requests(control: EmulatorControl) -> list[str]:
    return [e["query"] for e in control.request_log() if e["path"] == "/__api__/tokens"]


@pytest.mark.parametrize("cap", [100, 7])
@pytest.mark.parametrize("total_header", [True, False], ids=["with-total", "without-total"])
def test_every_token_is_listed_whatever_the_servers_page_cap(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    many: set[str],
    cap: int,
    total_header: bool,
) -> None:
    emulator_control.set_faults(page_cap=cap, total_header=total_header)
    emulator_control.clear_log()

    with fast_driver(emulator, Secret(emulator.admin_token()), page_size=500) as driver:
        listed = driver.list_tokens()

    guids = [t.guid for t in listed]
    assert len(guids) == len(set(guids)) == EXTRA + 1
    assert many <= set(guids)
    pages = -(-(EXTRA + 1) // cap)  # ceiling: the last page is short
    expected = pages if total_header else pages + 1  # without a total, an empty page ends it
    assert len(token_requests(emulator_control)) == expected


def test_a_server_that_ignores_the_page_is_reported(
    emulator: RunningEmulator,
    admin_token: Secret,
    emulator_control: EmulatorControl,
    many: set[str],
) -> None:
    emulator_control.set_faults(page_cap=100, ignore_page=True, total_header=False)
    emulator_control.clear_log()

    with fast_driver(emulator, admin_token) as driver, pytest.raises(ServerError) as caught:
        driver.list_tokens()

    assert "ignores _page" in str(caught.value)
    assert "100 tokens seen" in str(caught.value)
    assert len(token_requests(emulator_control)) == 2


def test_the_default_page_size_reads_a_small_server_in_one_request(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    emulator_control.clear_log()
    assert len(http_driver.list_tokens()) == 1
    assert len(token_requests(emulator_control)) == 1  # the total says there is no more
