"""The clocks of a run that changes the server (apply, rotate, revoke, bootstrap-admin), and what
`--now` may do.

- Planning reads the run's clock: `--now` when given, else this machine's. A saved plan is
  planned again at its own `generated_at`, so that it can be compared with what was reviewed.
- What apply promises is counted on the server's clock, at the moment each step runs: a new
  token's expiry from its create, a rotation's grace from the write that lets consumers read the
  new value. The server judges tokens by its own clock, and a plan may run days after it was
  made, so neither may come from the plan's time or from `--now` (`server_clock`).
- Lock leases are this machine's real time, whatever `--now` says (commands.apply.wall_clock).

So a run that changes the server takes `--now` only as a statement of the server's time: when it
is further from it than CLOCK_SKEW the run stops before it changes anything
(`refuse_other_now`). Previews of another moment are `plan --now` / `plan --at`, which change
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.commands.runtime import Clock, GlobalOptions
from reconciler.durations import humanize
from reconciler.errors import UsageError
from reconciler.plan.labels import format_time
from reconciler.plan.saved import CLOCK_SKEW
from reconciler.server.driver import Driver, ServerClock


def server_clock(driver: Driver) -> Clock:
    """The server's time as its latest answer dated it (HTTP `Date`), running on from there;
    this machine's clock while the server has dated no answer."""

    def now() -> datetime:
        told = driver.server_now() if isinstance(driver, ServerClock) else None
        return told if told is not None else datetime.now(UTC)

    return now


def refuse_other_now(options: GlobalOptions, clock: Clock, driver: Driver, command: str) -> None:
    """Raise UsageError when `--now` is not the server's time, within CLOCK_SKEW. Call it
    before anything is changed."""
    if options.now is None:
        return
    if isinstance(driver, ServerClock) and driver.server_now() is None:
        # Nothing it heard was dated (the rspm driver's CLI shows no Date): ask the server once
        # over HTTP, as every driver lists repositories, rather than take this machine's clock
        # for the server's.
        driver.list_resources()
    claimed, actual = clock(), server_clock(driver)()
    if abs(claimed - actual) <= CLOCK_SKEW:
        return
    side = "ahead of" if claimed > actual else "behind"
    raise UsageError(
        f"--now {format_time(claimed)} is {humanize(claimed - actual)} {side} the server's clock "
        f"({format_time(actual)}): {command} changes tokens, which the server judges by its own "
        f"clock, so --now may only state that time (within {humanize(CLOCK_SKEW)}); nothing "
        "was changed. To see what a run would do at another time, use "
        "`ppm-tokens plan --now WHEN` (or --at WHEN)"
    )
