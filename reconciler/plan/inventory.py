"""Sorting the live tokens by owner: ours (by declared name), adopted, someone else's, unmanaged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.desired.model import Spec
from reconciler.ownership import parse_owner
from reconciler.server.model import LiveToken


def newest_first(tokens: Iterable[LiveToken]) -> tuple[LiveToken, ...]:
    """Creation time orders generations; the GUID breaks ties so the order never depends on
    the order in which the server listed them."""
    return tuple(sorted(tokens, key=lambda t: (t.created, t.guid), reverse=True))


@dataclass(frozen=True)
class Inventory:
    # name -> active tokens of that name, newest first; [0] is current. Includes a token adopted
    # by that name, ranked after every token that carries our marker.
    generations: Mapping[str, tuple[LiveToken, ...]]
    # name -> revoked or expired tokens of that name, newest first
    history: Mapping[str, tuple[LiveToken, ...]]
    # active tokens without any marker and not adopted, oldest first
    unmanaged: tuple[LiveToken, ...]
    adopted_guids: frozenset[str]


def take_inventory(spec: Spec, live: Sequence[LiveToken], now: datetime) -> Inventory:
    adopters = {t.adopt: t.name for t in spec.tokens if t.adopt}
    active: dict[str, list[LiveToken]] = defaultdict(list)
    inactive: dict[str, list[LiveToken]] = defaultdict(list)
    adopted_active: dict[str, LiveToken] = {}
    unmanaged: list[LiveToken] = []
    adopted_guids: set[str] = set()

    for token in live:
        owner = parse_owner(token.description)
        is_active = token.is_active(now)
        if owner is not None:
            if owner.namespace != spec.namespace:
                continue  # someone else's: never touched, never reported
            (active if is_active else inactive)[owner.name].append(token)
        elif token.guid in adopters:
            name = adopters[token.guid]
            adopted_guids.add(token.guid)
            if is_active:
                adopted_active[name] = token
            else:
                inactive[name].append(token)
        elif is_active:
            unmanaged.append(token)

    generations = {name: newest_first(tokens) for name, tokens in active.items()}
    for name, token in adopted_active.items():
        # Adoption only bridges the time until the first token with our marker exists; from
        # then on the adopted token is an older generation that retires after grace.
        generations[name] = (*generations.get(name, ()), token)
    return Inventory(
        generations=generations,
        history={name: newest_first(tokens) for name, tokens in inactive.items()},
        unmanaged=tuple(sorted(unmanaged, key=lambda t: (t.created, t.guid))),
        adopted_guids=frozenset(adopted_guids),
    )
