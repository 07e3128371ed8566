"""`doctor` with identity federation: the exchange, said out loud before anything else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reconciler.commands.doctor_steps import Outcome, Step
from reconciler.commands.runtime import (
    AdminToken,
    Environment,
    GlobalOptions,
    admin_credential,
    not_admin,
    server_url,
)
from reconciler.desired.model import Scope, Spec
from reconciler.durations import humanize
from reconciler.errors import ReconcilerError
from reconciler.sanitize import for_terminal


def exchange_step(
    options: GlobalOptions, env: Environment, spec: Spec, report: Callable[[Step], None]
) -> AdminToken | None:
    """Identity federation, said out loud: which scope and lifetime the server gave. None (and
    a FAIL reported) when the exchange fails or the token cannot administer tokens."""
    title = "exchange the identity token"
    assumes = (
        "the server exchanges the identity token (RFC 8693, POST /__api__/token) for a PPM "
        "token with global:admin, which listing and creating tokens need"
    )
    try:
        credential = admin_credential(options, env, spec, require_admin=False)
    except ReconcilerError as exc:
        report(Step(title, Outcome.FAIL, for_terminal(str(exc)), assumes))
        return None
    exchanged = credential.exchanged
    if exchanged is None:  # pragma: no cover - a federated spec's credential is exchanged
        raise RuntimeError("no exchange")
    lifetime = "no expiry"
    if exchanged.expires is not None:
        # To the nearest minute: the exchange took a moment, "9 minutes" for 10 would mislead.
        left = round((exchanged.expires - datetime.now(UTC)).total_seconds() / 60)
        lifetime = (
            f"expires in {humanize(timedelta(minutes=left))} ({exchanged.expires.isoformat()})"
        )
    detail = (
        f"{credential.source}: a token with scope {for_terminal(str(exchanged.scope))}, "
        f"{lifetime}, GUID {exchanged.guid}"
    )
    if exchanged.scope != Scope.GLOBAL_ADMIN.value:
        url = server_url(options, env, spec)
        report(Step(title, Outcome.FAIL, f"{detail}; {not_admin(exchanged, url)}", assumes))
        return None
    report(Step(title, Outcome.OK, detail, assumes))
    return credential
