"""The arguments of `rspm create token`: pure, so what reaches the CLI is tested without one."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from reconciler.desired.model import Scope
from reconciler.durations import format_duration
from reconciler.errors import RequestRejected
from reconciler.server.model import TokenRequest

# The longest an absolute expiry is moved earlier to absorb the time a create takes to reach the
# server: well inside the 5 minutes a plan allows between a live expiry and the declared one.
EXPIRY_MARGIN = timedelta(minutes=2)


def expires_flag(
    deadline: datetime | None,
    now: datetime,
    *,
    lifetime: timedelta | None = None,
    margin: timedelta = EXPIRY_MARGIN,
) -> str:
    """`--expires` takes a lifetime counted from the server's now: an integer and s, m, h or d,
    or `never`.

    A lifetime declared from creation (`expires: 90d`) goes as declared: the server counts it
    from the creation, as the declaration does, whenever the command runs. An absolute expiry
    (a date, valid through that day in UTC) must become a lifetime, and the server counts it
    from a moment later than `now` by however long the command takes to reach it (starting the
    CLI, a wrapper such as `kubectl exec`, the request). Whole days or hours would land hours
    before the end of the date, which a plan then reads as another expiry than declared;
    minutes rounded at run time land after it by that delay. So it goes in seconds, rounded
    down, less `margin` (the time the command may take: its deadline, at most EXPIRY_MARGIN):
    the token expires within `margin` before the declared end, never after it (as long as the
    server's clock agrees with this one), and a plan sees the declared expiry."""
    if deadline is None:
        return "never"
    if lifetime is not None:
        return format_duration(lifetime)
    seconds = (deadline - now).total_seconds()
    if seconds < 60:
        raise RequestRejected(
            f"cannot create a token expiring at {deadline.isoformat()}: that is not in the future"
        )
    slack = min(margin.total_seconds(), seconds / 2)
    return f"{math.floor(seconds - slack)}s"


def create_argv(
    request: TokenRequest, now: datetime, margin: timedelta = EXPIRY_MARGIN
) -> list[str]:
    """The arguments after the CLI for one `rspm create token`."""
    try:
        kind = Scope(request.scope).resource_kind
    except ValueError:
        raise RequestRejected(f"unknown scope {request.scope!r}") from None
    argv = ["create", "token", f"--scope={request.scope}"]
    if kind is not None:
        flag = "--repos" if kind == "repo" else "--sources"
        argv.append(f"{flag}={','.join(request.resources)}")
    expires = expires_flag(request.expires, now, lifetime=request.lifetime, margin=margin)
    argv += [
        f"--description={request.description}",
        f"--expires={expires}",
        f"--user={request.user}",
        "--quiet",
    ]
    return argv
