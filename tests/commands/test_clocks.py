"""The clocks of a run that changes the server: what it promises counts on the server's clock,
and `--now` may only state that clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from reconciler.commands.clocks import refuse_other_now, server_clock
from reconciler.commands.runtime import GlobalOptions, make_clock
from reconciler.errors import UsageError
from reconciler.plan.saved import CLOCK_SKEW
from reconciler.server.driver import Driver

SERVER_TIME = datetime(2031, 5, 1, 8, 30, tzinfo=UTC)


class Told:
    """A driver that has heard the server's time (or not yet: None)."""

    def __init__(self, moment: datetime | None) -> None:
        self.moment = moment

    def server_now(self) -> datetime | None:
        return self.moment

    def list_resources(self) -> list[object]:
        return []  # a server that sends no Date


class DatesWhenAsked(Told):
    """The rspm driver: its CLI shows no Date, so nothing is dated until a request goes over
    HTTP (listing the repositories, as every driver does)."""

    def __init__(self) -> None:
        super().__init__(None)

    def list_resources(self) -> list[object]:
        self.moment = SERVER_TIME
        return []


def driver(moment: datetime | None = SERVER_TIME) -> Driver:
    return cast(Driver, Told(moment))


def now_flag(moment: datetime) -> GlobalOptions:
    return GlobalOptions(now=moment.isoformat())


def test_the_server_clock_is_the_servers_else_this_machines() -> None:
    assert server_clock(driver())() == SERVER_TIME
    here = datetime.now(UTC)
    assert here <= server_clock(driver(None))() < here + timedelta(minutes=1)
    assert here <= server_clock(cast(Driver, object()))() < here + timedelta(minutes=1)


@pytest.mark.parametrize("offset", [timedelta(0), CLOCK_SKEW, -CLOCK_SKEW])
def test_now_within_the_skew_of_the_server_is_taken(offset: timedelta) -> None:
    options = now_flag(SERVER_TIME + offset)
    refuse_other_now(options, make_clock(options), driver(), "apply")


@pytest.mark.parametrize(
    ("offset", "side"),
    [
        (CLOCK_SKEW + timedelta(seconds=1), "ahead of"),
        (timedelta(days=400), "ahead of"),
        (-CLOCK_SKEW - timedelta(seconds=1), "behind"),
    ],
)
def test_now_further_from_the_server_is_refused(offset: timedelta, side: str) -> None:
    options = now_flag(SERVER_TIME + offset)
    with pytest.raises(UsageError) as refused:
        refuse_other_now(options, make_clock(options), driver(), "rotate")
    message = str(refused.value)
    assert f"{side} the server's clock (2031-05-01 08:30 UTC)" in message
    assert "rotate changes tokens" in message and "nothing was changed" in message
    assert refused.value.exit_code == 1


def test_without_now_nothing_is_compared() -> None:
    options = GlobalOptions()
    far = lambda: SERVER_TIME + timedelta(days=400)  # noqa: E731
    refuse_other_now(options, far, driver(), "apply")


def test_a_server_that_dates_nothing_is_compared_with_this_machine() -> None:
    options = now_flag(datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(UsageError, match="ahead of the server's clock"):
        refuse_other_now(options, make_clock(options), driver(None), "apply")


def test_now_is_compared_with_the_server_even_before_it_dated_an_answer() -> None:
    """`revoke --driver rspm` has heard the server only through the CLI, which shows no Date:
    the server is asked once (over HTTP), not this machine's clock taken for the server's."""
    options = now_flag(SERVER_TIME)
    refuse_other_now(options, make_clock(options), cast(Driver, DatesWhenAsked()), "revoke")
    ahead = now_flag(SERVER_TIME + timedelta(days=2))
    with pytest.raises(UsageError, match=r"ahead of the server's clock \(2031-05-01 08:30 UTC\)"):
        refuse_other_now(ahead, make_clock(ahead), cast(Driver, DatesWhenAsked()), "revoke")
