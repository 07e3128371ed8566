"""The seam between the reconciler and a PPM server. Implemented by `http` and `rspm`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from reconciler.secret import Secret
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest

# Asked with a listed token's GUID and stored description: whether the caller wants it.
TokenFilter = Callable[[str, str], bool]


class Driver(Protocol):
    """Every call may raise `reconciler.errors.ServerError` (or a subclass)."""

    def list_tokens(self) -> list[LiveToken]:
        """All tokens, every page, including revoked and expired ones."""
        ...

    def list_resources(self) -> list[Resource]:
        """Repositories and sources, with their current GUIDs."""
        ...

    def create_token(self, request: TokenRequest) -> CreatedToken:
        """Create one token. Raises CreateOutcomeUnknown when the token may or may not have been
        made (no answer, a 5xx, a 429); never retries such a create itself."""
        ...

    def revoke_token(self, guid: str) -> None:
        """Revoke permanently. Revoking an already revoked token is not an error."""
        ...

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        """Whether `value` works as `token` now, proven with a request that only the token's
        scope may make and that the server refuses without a token (see server.proof). Raises
        ProofInconclusive when no such request can tell."""
        ...

    def self_guid(self) -> str | None:
        """The GUID of the admin token this driver authenticates with, when it can tell."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SelectiveListing(Protocol):
    """A driver that can leave tokens out of its listings before reading them in full."""

    def listing_only(self, keep: TokenFilter) -> AbstractContextManager[None]:
        """While open, `list_tokens` leaves out the tokens `keep` refuses; those are never read
        past their GUID and description. For one caller at a time: a listing made meanwhile
        by another thread is filtered too."""
        ...


@runtime_checkable
class ServerClock(Protocol):
    """A driver that can tell the server's time, the clock the server judges tokens by."""

    def server_now(self) -> datetime | None:
        """The server's time: the `Date` of its latest answer, advanced by the time elapsed
        here since, at the latest it can be (a Date is whole seconds). None before any answer
        that carried one."""
        ...
