"""The project's exceptions: one root, a short tree.

    ReconcilerError                 anything this project raises on purpose (exit 1 unless below)
    ├── SpecError                   the spec is invalid; carries every Problem found (exit 3)
    ├── TimedOut                    a call to an external system ran out of its overall deadline
    ├── ServerError                 the PPM server failed or refused a request
    │   ├── AuthError               401/403: the admin token is missing, revoked or lacks a scope
    │   ├── NotFoundError           404: a token, repository or source that is not there
    │   ├── RequestRejected         4xx with a message: the server refused the input
    │   ├── CreateOutcomeUnknown    a create whose response was lost: it may or may not exist
    │   │   └── CreateTimedOut      (also a TimedOut) ... because it ran out of its deadline
    │   ├── ProofInconclusive       no request can prove a new token (e.g. it answers anyone)
    │   └── ServerTimeout           (also a TimedOut) a request or rspm command ran out of time
    ├── StoreError                  a secret store failed (write, read back, delete)
    │   └── StoreTimeout            (also a TimedOut) a store call ran out of time
    ├── LockError                   the apply lock could not be taken, kept or released
    │   └── LockHeld                another run holds it (names the holder and since when)
    ├── StalePlanError              a saved plan no longer matches the live state or spec (exit 4)
    ├── ApplyError                  apply finished with failed actions (exit 1)
    └── UsageError                  the command line or environment is wrong (exit 1)

Messages say what failed, where, and what to do next. No message ever contains a token value:
values travel as `reconciler.secret.Secret`, whose str/repr are redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.problems import Problem


class ReconcilerError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = 1


class SpecError(ReconcilerError):
    """The spec is invalid. `problems` holds every problem found, not only the first."""

    exit_code = 3

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0].render() if self.problems else "invalid spec"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class TimedOut(ReconcilerError):
    """A call to an external system (the server, the rspm CLI, a store) did not finish within
    its overall deadline, retries included. The deadline was the whole budget of the call:
    whoever catches it must not try the same call again, and the message names the call and
    the setting that sets the deadline."""


class ServerError(ReconcilerError):
    """The PPM server failed or refused a request."""


class AuthError(ServerError):
    """401/403 from the server."""


class NotFoundError(ServerError):
    """404 from the server."""


class RequestRejected(ServerError):
    """The server rejected the request's content (4xx with a message)."""


class CreateOutcomeUnknown(ServerError):
    """A create request was sent but its response was lost.

    The token may exist on the server without anyone holding its value. Callers must list
    tokens and look for the ownership marker instead of retrying blindly.
    """

    def __init__(self, message: str, description: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.description = description
        self.retry_after = retry_after  # seconds the server asked to wait (429/503), if any


class CreateTimedOut(CreateOutcomeUnknown, TimedOut):
    """A create that ran out of its deadline: it may have made a token, and is not sent again
    (a server that let one create run out of time is not asked for another)."""


class ProofInconclusive(ServerError):
    """The request that would prove a new token cannot tell: the server answers it without a
    token, or does not have it. Retrying does not help; the token stays unproven."""


class ServerTimeout(ServerError, TimedOut):
    """A request to the server (with its retries) or an rspm command ran out of its deadline."""


class StoreError(ReconcilerError):
    """A secret store failed."""


class StoreTimeout(StoreError, TimedOut):
    """A store request (with its retries) or a store's program ran out of its deadline."""


class LockError(ReconcilerError):
    """The apply lock could not be taken, renewed or released."""


class LockHeld(LockError):
    """Another run holds the lock for this server and namespace. The message names the holder,
    since when, the lock ID and how to break a stale lock (`ppm-tokens force-unlock ID`)."""


class StalePlanError(ReconcilerError):
    """A saved plan does not match the current live state or spec."""

    exit_code = 4


class MalformedPlanError(StalePlanError):
    """A saved plan file that is JSON but not a plan this version wrote: edited by hand,
    truncated by a tool, or from another version. Refused like any other edit (exit 4)."""


class ApplyError(ReconcilerError):
    """Apply finished, but some actions failed."""


class UsageError(ReconcilerError):
    """The command line or environment is wrong."""
