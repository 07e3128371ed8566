"""`import`: a spec that adopts the live tokens as they are. Pure.

Every token becomes an entry that reproduces it exactly (user, description, scope, resources,
expiry) with `adopt: <guid>`, so `plan` shows no change until a token rotates; then a token with
the ownership marker replaces it. Names come from descriptions, made valid and unique. What
cannot be carried over is written as a comment saying why, never guessed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml

from reconciler.desired.model import ALL_RESOURCES, Scope
from reconciler.durations import format_duration
from reconciler.ops.view import Generation, TokenView
from reconciler.ownership import DESCRIPTION_LIMIT, marker
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_terminal, has_unsafe_characters
from reconciler.server.model import Resource

NAME_LIMIT = 63
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")
_DURATION_DIGITS = 6  # the schema's limit: at most 999999 of a unit
_ROUND = timedelta(minutes=1)


@dataclass(frozen=True)
class ImportSettings:
    namespace: str
    server: str
    store_path: str  # where the file store puts values once a token rotates


def scalar(text: str) -> str:
    """A YAML double-quoted scalar for any text: control, bidi and invisible characters are
    escaped; other non-ASCII text stays readable."""
    if text.isascii() and text.isprintable():
        return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar
    dumped = yaml.safe_dump(
        text, default_style='"', allow_unicode=not has_unsafe_characters(text), width=2**31
    )
    return dumped.rstrip("\n")


def name_scalar(name: str) -> str:
    """A token name or GUID as YAML reads it back: plain, unless YAML would take it for
    something else (`123`, `yes`, `null`, `a: b`) or cannot hold it plain (control
    characters, from an odd server), then quoted."""
    if not (name.isascii() and name.isprintable()):
        return scalar(name)
    try:
        plain = yaml.safe_load(name) == name
    except yaml.YAMLError:
        plain = False
    return name if plain else scalar(name)


def comment(text: str) -> str:
    """A comment line: sanitised, so nothing from the server can end it early."""
    return "# " + for_terminal(text)


def slug(text: str) -> str:
    """A token name from a description: ASCII, lower case, a-z0-9._- only, at most 63."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = _NOT_NAME.sub("-", ascii_text.lower()).strip("-._")
    return name[:NAME_LIMIT].rstrip("-._")


def unique_names(wanted: Sequence[str]) -> list[str]:
    """`wanted` with duplicates numbered: ci, ci-2, ci-3 (still at most 63 characters)."""
    taken: set[str] = set()
    out = []
    for name in wanted:
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            suffix = f"-{number}"
            candidate = name[: NAME_LIMIT - len(suffix)].rstrip("-._") + suffix
        taken.add(candidate)
        out.append(candidate)
    return out


def lifetime_text(created: datetime, expires: datetime) -> str | None:
    """The live lifetime as a duration the schema accepts, exact to the minute; None when it
    cannot be written so."""
    minutes = round((expires - created) / _ROUND)
    if minutes <= 0:
        return None
    text = format_duration(timedelta(minutes=minutes))
    return text if len(text) - 1 <= _DURATION_DIGITS else None


@dataclass(frozen=True)
class _Candidate:
    view: TokenView
    base_name: str  # before deduplication
    managed: bool  # carries this namespace's marker: no adopt needed


def _skip_reason(view: TokenView, namespace: str) -> str | None:
    if view.authenticating:
        return (
            "the token this import authenticates with is left out: adopting it would rotate it away"
        )
    if view.owner is not None and not view.adopted and view.owner.namespace != namespace:
        return f"managed by {view.managed_by} (another namespace)"
    if view.generation is Generation.RETIRING:
        return f"an older generation of {view.managed_by}, retiring"
    if view.owner is not None and not view.adopted and not view.active:
        return f"an earlier generation of {view.managed_by}"
    return None


def older_generations(views: Sequence[TokenView], namespace: str) -> dict[str, str]:
    """Active tokens of this namespace's marker beside a newer active one of the same name, each
    with why it is left out. Import reads no store, so it cannot tell which generation the
    store hands out (after a write cut in two it is the older one): it keeps the newest and
    says so, rather than call the other "retiring"."""
    newest: dict[str, TokenView] = {}
    older: dict[str, str] = {}
    for view in sorted(views, key=lambda v: (v.token.created, v.guid), reverse=True):
        owner = view.owner
        if owner is None or view.adopted or owner.namespace != namespace or not view.active:
            continue
        if owner.name in newest:
            older[view.guid] = (
                f"an older active generation of {view.managed_by}; the newest, "
                f"{newest[owner.name].guid}, is imported, though the store of the spec that "
                "manages the name may hand out this one (import reads no store)"
            )
        else:
            newest[owner.name] = view
    return older


def _unsupported(view: TokenView, resources: Sequence[Resource] | None) -> str | None:
    """Why an active token cannot be reproduced by a spec entry."""
    token = view.token
    try:
        scope = Scope(token.scope)
    except ValueError:
        return f"scope {token.scope!r} is not one this version of ppm-tokens knows"
    kind = scope.resource_kind
    if kind is not None and ALL_RESOURCES not in token.resources:
        if not token.resources:
            return f"scope {scope.value} lists no resources"
        if resources is not None:
            ids = {r.id for r in resources if r.kind == kind}
            names = {r.name for r in resources if r.kind == kind}
            gone = [
                name
                for index, name in enumerate(token.resources)
                if name not in names
                or (index < len(token.resource_ids) and token.resource_ids[index] not in ids)
            ]
            if gone:
                return (
                    f"its resources {', '.join(gone)} no longer exist on the server "
                    "(deleted or recreated): create a new token instead"
                )
    if token.expires is not None and lifetime_text(token.created, token.expires) is None:
        return f"its expiry {format_time(token.expires)} cannot be written as a duration"
    return None


def _entry(candidate: _Candidate, name: str, settings: ImportSettings) -> list[str]:
    view, token = candidate.view, candidate.view.token
    lines = []
    description = view.description
    if not description.strip():
        description = f"imported token {token.guid}"
        lines.append("  " + comment("the server has no description for it: write one"))
    room = DESCRIPTION_LIMIT - len(marker(settings.namespace, name)) - 1
    if len(description) > room:
        description = description[:room]
        lines.append(
            "  " + comment("description shortened to fit PPM's 500 characters with the marker")
        )
    lines.append(f"  - name: {name_scalar(name)}")
    if not token.user.strip():
        lines.append("    " + comment("the server reports no user"))
    lines.append(f"    user: {scalar(token.user or 'unknown')}")
    lines.append(f"    description: {scalar(description)}")
    lines.append(f"    scope: {token.scope}")
    if Scope(token.scope).resource_kind is not None:
        lines.append(f"    resources: [{', '.join(scalar(r) for r in token.resources)}]")
    if token.expires is None:
        lines.append("    expires: never")
    else:
        lines.append(f"    expires: {lifetime_text(token.created, token.expires)}")
    if not candidate.managed:
        lines.append(f"    adopt: {name_scalar(token.guid)}")
    return lines


def _absent_entry(view: TokenView, name: str) -> list[str]:
    token = view.token
    when = token.revoked or token.expires
    what = f"{view.status.value} on {format_time(when)}" if when else view.status.value
    return [
        "  " + comment(f"{what}: {view.description or token.guid}"),
        f"  - name: {name_scalar(name)}",
        "    state: absent",
        f"    adopt: {name_scalar(token.guid)}",
    ]


def generate(
    views: Sequence[TokenView],
    settings: ImportSettings,
    *,
    now: datetime,
    resources: Sequence[Resource] | None,
    excluded: Mapping[str, str] | None = None,
) -> tuple[str, tuple[str, ...]]:
    """The spec text and the GUIDs of its `tokens:` entries, in order. `excluded` maps GUIDs
    to why they are written as comments instead (a validation problem found by the caller)."""
    excluded = {**older_generations(views, settings.namespace), **(excluded or {})}
    notes: list[str] = []
    candidates: list[_Candidate] = []
    for view in sorted(views, key=lambda v: (v.token.created, v.guid)):
        reason = (
            _skip_reason(view, settings.namespace)
            or excluded.get(view.guid)
            or (_unsupported(view, resources) if view.active else None)
        )
        if reason is not None:
            notes.append(comment(f"not imported: {view.guid} ({view.description}): {reason}"))
            continue
        managed = view.owner is not None and not view.adopted
        base = view.owner.name if managed and view.owner else slug(view.description)
        candidates.append(_Candidate(view, base or f"token-{view.guid[:8]}", managed))
    candidates.sort(key=lambda c: (not c.managed, c.base_name, c.view.token.created, c.view.guid))
    names = unique_names([c.base_name for c in candidates])
    body: list[str] = []
    for candidate, name in sorted(zip(candidates, names, strict=True), key=lambda p: p[1]):
        if candidate.view.active:
            body.extend(_entry(candidate, name, settings))
        else:
            body.extend(_absent_entry(candidate.view, name))
    never = sum(1 for c in candidates if c.view.active and c.view.token.expires is None)
    guids = tuple(
        c.view.guid for c, _ in sorted(zip(candidates, names, strict=True), key=lambda p: p[1])
    )
    return _document(settings, now, body, notes, never), guids


def _document(
    settings: ImportSettings, now: datetime, body: list[str], notes: list[str], never: int
) -> str:
    lines = [
        comment(f"Written by `ppm-tokens import` from {settings.server} at {format_time(now)}."),
        "# Each entry adopts the live token it was made from: plan shows no change until a token",
        "# rotates; then a new token carrying the ownership marker replaces it and its value goes",
        "# to the store below. Choose a rotation policy and a store before the first rotation.",
        "version: 1",
        f"namespace: {settings.namespace}",
        "server:",
        f"  url: {scalar(settings.server)}",
        "defaults:",
        "  store: local",
        "  # rotation: {after: 60d, before_expiry: 14d, grace: 3d}   # PPM advises 90 days or less",
        "stores:",
        "  local:",
        "    type: file",
        f"    path: {scalar(settings.store_path)}   # new values go here; or vault, aws, github",
    ]
    if never:
        lines += [
            "policy:",
            f"  allow_never_expires: true   # {never} imported token(s) never expire; "
            "PPM recommends 90 days or less",
        ]
    lines += [*notes, "tokens:" if body else "tokens: []", *body]
    return "\n".join(lines) + "\n"
