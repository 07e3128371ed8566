"""How a live token differs from its declaration, and whether it is due for rotation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from reconciler.desired.model import ALL_RESOURCES, Scope, TokenSpec
from reconciler.durations import Expiry, date_deadline, format_duration, humanize
from reconciler.ownership import stored_description
from reconciler.plan.labels import format_resources
from reconciler.server.model import LiveToken, Resource

# Servers round creation and expiry times; a few minutes apart is the same expiry.
TOLERANCE = timedelta(minutes=5)
KIND_LABELS = {"repo": "repository", "source": "source"}

ResourceIndex = Mapping[tuple[str, str], Resource]  # (kind, name) -> resource


def index_resources(resources: Iterable[Resource]) -> ResourceIndex:
    return {(r.kind, r.name): r for r in resources}


def expiry_matches(expiry: Expiry, live: LiveToken) -> bool:
    if expiry.lifetime is not None:
        if live.expires is None:
            return False
        return abs((live.expires - live.created) - expiry.lifetime) <= TOLERANCE
    if expiry.on is not None:
        return (
            live.expires is not None and abs(live.expires - date_deadline(expiry.on)) <= TOLERANCE
        )
    return live.expires is None


def _live_expiry_label(expiry: Expiry, live: LiveToken) -> str:
    """The live expiry in the same terms as the declared one, so the change reads naturally."""
    if live.expires is None:
        return "never"
    if expiry.on is not None:
        last_day: date = (live.expires - timedelta(seconds=1)).date()
        return last_day.isoformat()
    lifetime = live.expires - live.created
    return format_duration(timedelta(minutes=round(lifetime.total_seconds() / 60)))


def _resources_match(desired: tuple[str, ...], live: tuple[str, ...]) -> bool:
    if ALL_RESOURCES in desired or ALL_RESOURCES in live:
        return tuple(desired) == (ALL_RESOURCES,) and tuple(live) == (ALL_RESOURCES,)
    return set(desired) == set(live)


def _recreated(token: TokenSpec, live: LiveToken, index: ResourceIndex) -> list[str]:
    """Names whose server GUID changed since the live token was created: the token no longer
    grants access to them, whatever its resource names say."""
    kind = token.scope.resource_kind
    if kind is None or live.scope != token.scope.value or ALL_RESOURCES in live.resources:
        return []
    if len(live.resources) != len(live.resource_ids):
        return []  # a driver that does not report ids cannot tell
    wanted = set(token.resources)
    changed = []
    for name, rid in sorted(zip(live.resources, live.resource_ids, strict=True)):
        current = index.get((kind, name))
        if name in wanted and current is not None and current.id != rid:
            changed.append(f"{KIND_LABELS[kind]} {name} was recreated on the server (new id)")
    return changed


def immutable_changes(
    token: TokenSpec, live: LiveToken, namespace: str, index: ResourceIndex, *, adopted: bool
) -> list[str]:
    """Every difference that only a new token can fix, as reasons for people."""
    changes = []
    if live.scope != token.scope.value:
        changes.append(f"scope changed {live.scope} -> {token.scope.value}")
    if not _resources_match(token.resources, live.resources):
        changes.append(
            f"resources changed {format_resources(tuple(sorted(live.resources)))} -> "
            f"{format_resources(tuple(sorted(token.resources)))}"
        )
    # An adopted token predates the marker, so its description cannot match and need not.
    if not adopted and live.description != stored_description(
        token.description, namespace, token.name
    ):
        changes.append("description changed")
    if live.user != token.user:
        changes.append(f"user changed {live.user} -> {token.user}")
    if not expiry_matches(token.expires, live):
        changes.append(
            f"expiry changed {_live_expiry_label(token.expires, live)} -> {token.expires}"
        )
    changes.extend(_recreated(token, live, index))
    return changes


def rotation_reasons(
    token: TokenSpec, current: LiveToken, now: datetime, *, forced: bool
) -> list[str]:
    if forced:
        return ["forced (--rotate)"]
    reasons = []
    after = token.rotation.after
    age = now - current.created
    if after is not None and age >= after:
        reasons.append(f"age {humanize(age)} >= rotation.after {format_duration(after)}")
    before = token.rotation.before_expiry
    if before is not None and current.expires is not None and current.expires - now <= before:
        successor = token.expires.deadline(now)
        # Rotating is pointless when the successor would expire no later (an expiry date
        # close ahead): it would rotate again on every run.
        if successor is None or successor > current.expires + TOLERANCE:
            reasons.append(
                f"expires in {humanize(current.expires - now)} "
                f"(rotation.before_expiry {format_duration(before)})"
            )
    return reasons


def deprecated_scope(scope: Scope) -> bool:
    return scope in (Scope.METADATA_READ, Scope.METADATA_ADMIN)
