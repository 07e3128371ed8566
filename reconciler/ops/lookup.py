"""`show GUID|NAME` and `revoke GUID|NAME`: which tokens a word on the command line means. Pure.

A full GUID, or a unique GUID prefix of at least 8 characters (the plan shows 8); a managed name,
`NAMESPACE/NAME`, or `NAME` alone when one namespace has it (a loaded spec's namespace wins);
else a description, exactly, then ignoring case (an unmanaged token's first: it has no other
name; a managed one's names every generation of its owner).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import UsageError
from reconciler.ops.view import Generation, TokenView
from reconciler.ownership import Owner
from reconciler.sanitize import for_terminal

MIN_PREFIX = 8
_GUID_PREFIX = re.compile(r"^[0-9a-fA-F-]{8,36}$")


@dataclass(frozen=True)
class Match:
    """What the target names: one token (by GUID or description), or every generation of one
    managed name (the current generation first, then the other active ones, newest first)."""

    views: tuple[TokenView, ...]
    owner: Owner | None  # set when the target named a managed token by name


def _by_guid(views: Sequence[TokenView], target: str) -> list[TokenView]:
    wanted = target.lower()
    exact = [v for v in views if v.guid.lower() == wanted]
    if exact or len(wanted) < MIN_PREFIX:
        return exact
    return [v for v in views if v.guid.lower().startswith(wanted)]


def _newest_first(views: Sequence[TokenView]) -> tuple[TokenView, ...]:
    """The current generation first: the one consumers hold, which after a run died before
    storing its new token is not the newest."""

    def key(v: TokenView) -> tuple[bool, bool, float, str]:
        return (
            not v.active,
            v.generation is not Generation.CURRENT,
            -v.token.created.timestamp(),
            v.guid,
        )

    return tuple(sorted(views, key=key))


def _by_name(
    views: Sequence[TokenView], target: str, loaded: frozenset[str]
) -> tuple[Owner, list[TokenView]] | None:
    namespace, _, name = target.rpartition("/")
    owners = sorted(
        {v.owner for v in views if v.owner and v.owner.name == name},
        key=lambda o: (o.namespace, o.name),
    )
    if namespace:
        owners = [o for o in owners if o.namespace == namespace]
    if len(owners) > 1:
        preferred = [o for o in owners if o.namespace in loaded]
        if len(preferred) == 1:
            owners = preferred
    if not owners:
        return None
    if len(owners) > 1:
        names = ", ".join(f"{o.namespace}/{o.name}" for o in owners)
        raise UsageError(
            f"{for_terminal(target)!r} is a token name in several namespaces ({names}): "
            "write NAMESPACE/NAME or give the GUID"
        )
    return owners[0], [v for v in views if v.owner == owners[0]]


def _same(text: str, target: str, *, folded: bool) -> bool:
    return text.casefold() == target.casefold() if folded else text == target


def find(views: Sequence[TokenView], target: str, *, loaded: frozenset[str]) -> Match:
    """The tokens `target` names; UsageError saying why when none or too many do."""
    target = target.strip()
    if not target:
        raise UsageError("give a token GUID or name")
    if _GUID_PREFIX.match(target):
        found = _by_guid(views, target)
        if len(found) == 1:
            return Match((found[0],), None)
        if len(found) > 1:
            guids = ", ".join(v.guid for v in found)
            raise UsageError(f"{target!r} is the start of several GUIDs ({guids}): give more")
    named = _by_name(views, target, loaded)
    if named is not None:
        owner, found = named
        return Match(_newest_first(found), owner)
    described = _by_description(views, target)
    if described is not None:
        return described
    short = ""
    if re.fullmatch(r"[0-9a-fA-F-]{1,7}", target):
        short = f" (a GUID prefix needs at least {MIN_PREFIX} characters)"
    raise UsageError(
        f"no token has the GUID, name or description {for_terminal(target)!r}{short}: "
        "`ppm-tokens list --status all --search TEXT` finds it"
    )


def _by_description(views: Sequence[TokenView], target: str) -> Match | None:
    """Unmanaged tokens first (their description is their only name), then managed and adopted
    ones: the description is what PPM's page shows, so people copy it from there."""
    managed = [v for v in views if v.owner is not None]
    for kind, pool in (("unmanaged ", [v for v in views if v.owner is None]), ("", managed)):
        for folded in (False, True):
            found = [v for v in pool if _same(v.description, target, folded=folded)]
            owners = {v.owner for v in found}
            if len(found) == 1 or (found and len(owners) == 1 and None not in owners):
                owner = found[0].owner
                if owner is None:
                    return Match((found[0],), None)
                return Match(_newest_first([v for v in views if v.owner == owner]), owner)
            if len(found) > 1:
                guids = ", ".join(
                    v.guid + (f" ({v.managed_by})" if v.managed_by else "")
                    for v in _newest_first(found)
                )
                raise UsageError(
                    f"several {kind}tokens have the description {for_terminal(target)!r} "
                    f"({guids}): give the GUID or NAMESPACE/NAME"
                )
    return None
