"""What every step of apply shares: the run's context, and how a failure is reported.

Messages name stores, keys and GUIDs, never a value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.apply.model import ActionResult, ApplyOptions
from reconciler.desired.model import Spec, TokenSpec
from reconciler.plan.model import Action
from reconciler.server.driver import Driver
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretStore


@dataclass(frozen=True)
class Context:
    spec: Spec
    driver: Driver
    stores: Mapping[str, SecretStore]
    now: Callable[[], datetime]
    options: ApplyOptions
    sleep: Callable[[float], None]
    server_url: str
    # policy.protect plus the token the driver authenticates with: never revoked here.
    protected: Mapping[str, str]  # GUID -> why
    # Every GUID that existed when apply started or that this run created and received: after
    # a lost create response, a token with the marker outside this set is the lost one. One
    # listing per run, not per create, keeps large servers cheap.
    known_guids: KnownGuids
    # The same listing by GUID: whose each token is, checked before every revocation, since a
    # plan file may be stale or edited.
    live: Mapping[str, LiveToken] = field(default_factory=dict)
    declared: Mapping[str, TokenSpec] = field(default_factory=dict)  # spec.tokens by name


class KnownGuids:
    """A thread-safe set of GUIDs (workers add to it concurrently)."""

    def __init__(self, guids: Iterable[str] = ()) -> None:
        self._guids = set(guids)
        self._lock = threading.Lock()

    def add(self, guid: str) -> None:
        with self._lock:
            self._guids.add(guid)

    def __contains__(self, guid: object) -> bool:
        with self._lock:
            return guid in self._guids


class StepFailed(Exception):
    """A step of a create-like action failed for good; the message is value-free."""


def label(action: Action) -> str:
    return action.name or action.guid or "an unnamed token"


def failed(
    action: Action, error: str, *, new_guid: str | None = None, revoked: tuple[str, ...] = ()
) -> ActionResult:
    return ActionResult(action, ok=False, new_guid=new_guid, revoked=revoked, error=error)


def unexpected(exc: BaseException) -> str:
    """The type and where it happened; the message is left out as it might quote a value."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else ""
    return f"unexpected {type(exc).__name__}{where}"
