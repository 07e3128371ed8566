"""Which generation of a declared name is current: the one function the planner and every day-2
view (list, show, report, audit, revoke NAME) ask. Pure.

Current is the generation consumers get when they read the name's store, not the newest one:
- Where the value was read (file, vault, aws, a command store's read_command), the value itself
  names its token (a PPM token is a JWT whose `jti` is the GUID). A value that names the current
  token while its metadata is missing, stale or only the intent of the write that put it there
  is a write cut between value and metadata: the token stays current and only the metadata is
  written (`record`), keeping the promise the write recorded with its intent.
- Else the metadata names it. An intent with no metadata after it, in a store that cannot read
  values (github, a command store without read_command, `plan` of one with it), means the key
  may hold any of the intent's candidates: all stay active, and a fresh token is written.
- Generations newer than the one the store hands out were made by a run that never stored them:
  nobody holds them (orphans).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.server.model import LiveToken
from reconciler.stores.base import KeyState, SecretMeta


class Holds(StrEnum):
    RECORDED = "recorded"  # the store hands out `current`, and its metadata says so
    UNRECORDED = "unrecorded"  # it hands out `current`, without metadata that says so
    UNKNOWN = "unknown"  # an unfinished write: it may hand out any of `candidates`
    ELSEWHERE = "elsewhere"  # it hands out no active generation (nothing, or a dead token)
    UNREAD = "unread"  # the store was not read: `current` is merely the newest


@dataclass(frozen=True)
class Standing:
    """Where one name's active generations stand. `current` is the one consumers get (for
    UNKNOWN, the newest candidate; for ELSEWHERE and UNREAD, the newest)."""

    current: LiveToken
    orphans: tuple[LiveToken, ...]  # newer than current, handed out by nobody
    older: tuple[LiveToken, ...]  # older than current, newest first
    holds: Holds
    # The GUID the store names when it is no active generation (ELSEWHERE); None: nothing.
    held_guid: str | None = None
    candidates: tuple[LiveToken, ...] = ()  # UNKNOWN: every active generation it may hand out
    # The promise the write of `current` recorded (metadata, or the intent before its value).
    promise: datetime | None = None
    format: str | None = None  # the payload format of `current`'s value, where known
    meta: SecretMeta | None = None  # the metadata, when it describes the current value


def as_state(stored: SecretMeta | KeyState | None) -> KeyState:
    """Metadata alone (what callers that read no more than metadata have) is a key state with
    nothing else known; None is a store that holds nothing."""
    if isinstance(stored, KeyState):
        return stored
    return KeyState(meta=stored)


def standing(generations: Sequence[LiveToken], state: KeyState | None) -> Standing:
    """`generations`: the name's active tokens, newest first (at least one). `state`: what its
    store holds under the name's key; None when the store was not read."""
    gens = tuple(generations)
    if state is None:
        return Standing(gens[0], (), gens[1:], Holds.UNREAD)
    index = {g.guid: i for i, g in enumerate(gens)}
    meta, pending = state.meta, state.pending
    if state.value is not None:
        held = state.value.token_guid
    elif pending is not None:
        candidates = tuple(g for g in gens if g.guid in pending.candidates)
        if not candidates:
            return Standing(gens[0], (), gens[1:], Holds.ELSEWHERE, held_guid=pending.token_guid)
        at = index[candidates[0].guid]
        return Standing(
            gens[at],
            gens[:at],
            gens[at + 1 :],
            Holds.UNKNOWN,
            candidates=candidates,
            promise=pending.retire_previous_after,
            format=pending.format,
        )
    else:
        held = meta.token_guid if meta is not None else None
    if held is None or held not in index:
        return Standing(gens[0], (), gens[1:], Holds.ELSEWHERE, held_guid=held, meta=meta)
    at = index[held]
    recorded = meta is not None and meta.token_guid == held
    promise = format_ = None
    if recorded:
        assert meta is not None
        promise, format_ = meta.retire_previous_after, meta.format
    elif pending is not None and pending.token_guid == held:
        promise, format_ = pending.retire_previous_after, pending.format
    if state.value is not None and state.value.format:
        format_ = state.value.format  # what the value is, whatever was recorded
    return Standing(
        gens[at],
        gens[:at],
        gens[at + 1 :],
        Holds.RECORDED if recorded else Holds.UNRECORDED,
        promise=promise,
        format=format_,
        meta=meta if recorded else None,
    )
