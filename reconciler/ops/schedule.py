"""When a declared token rotates and when a replaced one retires: the planner's rules, read
forward in time instead of asked "is it due now?". Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.desired.model import TokenSpec
from reconciler.server.model import LiveToken


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rotation_due(token: TokenSpec, current: LiveToken) -> datetime | None:
    """When the current token becomes due for rotation (age or nearness of expiry); None when
    the policy never rotates it."""
    candidates = []
    if token.rotation.after is not None:
        candidates.append(current.created + token.rotation.after)
    before = token.rotation.before_expiry
    # An expiry on a fixed date gives a successor the same deadline, so the planner never
    # rotates for nearness of expiry then (see plan.compare.rotation_reasons).
    if before is not None and current.expires is not None and token.expires.on is None:
        candidates.append(current.expires - before)
    return min(candidates) if candidates else None


def current_retires(token: TokenSpec, current: LiveToken) -> datetime | None:
    """When the current token stops working if nothing else happens: its successor's grace
    ends after the rotation, or it expires first."""
    due = rotation_due(token, current)
    ends = due + token.rotation.grace if due is not None else None
    if current.expires is not None and (ends is None or current.expires < ends):
        return current.expires
    return ends


def older_retires(
    token: TokenSpec, current: LiveToken, older: LiveToken, promise: datetime | None
) -> datetime:
    """When an older active generation is retired: the grace the rotation that made the current
    token promised (`promise`, recorded with its write: plan.standing finds it), else the
    spec's grace from the current token's creation. Never after its own expiry."""
    retire_at = current.created + token.rotation.grace
    if promise is not None:
        retire_at = _utc(promise)
    if older.expires is not None and older.expires < retire_at:
        return older.expires
    return retire_at
