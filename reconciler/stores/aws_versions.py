"""What the `aws` store reads from Secrets Manager's answers: which version holds which token
(version IDs come from the token's GUID), and our tags as metadata or as the intent of a write.
Pure: no boto3."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.stores.base import PendingWrite, SecretMeta

TAG_PREFIX = "ppm-tokens:"
CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"


def request_token(guid: str) -> str:
    """The ClientRequestToken (and so the version ID) of the version holding token `guid`."""
    token = f"ppm-tokens-{guid}"
    if 32 <= len(token) <= 64:
        return token
    return "ppm-tokens-" + hashlib.sha256(guid.encode()).hexdigest()[:40]


def current_version(stages: Mapping[str, Sequence[str]]) -> str | None:
    return next((v for v, labels in stages.items() if CURRENT in labels), None)


@dataclass(frozen=True)
class State:
    """What describe_secret says about one secret."""

    stages: Mapping[str, Sequence[str]]
    tags: Mapping[str, str]
    deleted: bool

    @property
    def current(self) -> str | None:
        return current_version(self.stages)

    @property
    def previous(self) -> str | None:
        return next((v for v, labels in self.stages.items() if PREVIOUS in labels), None)


@dataclass(frozen=True)
class Before:
    """What a key held before the first put of a token, kept until commit or restore."""

    existed: bool
    deleted: bool
    version: str | None
    tags: Mapping[str, str]  # our tags only


def our_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def as_before(state: State | None) -> Before:
    if state is None:
        return Before(existed=False, deleted=False, version=None, tags={})
    return Before(
        existed=True, deleted=state.deleted, version=state.current, tags=our_tags(state.tags)
    )


def tag_fields(tags: Mapping[str, str]) -> dict[str, str]:
    return {k.removeprefix(TAG_PREFIX): v for k, v in our_tags(tags).items()}


def meta_from_tags(
    tags: Mapping[str, str], stages: Mapping[str, Sequence[str]]
) -> SecretMeta | None:
    fields = tag_fields(tags)
    try:
        meta = SecretMeta.from_strings(fields)
    except (KeyError, ValueError):
        return None
    if current_version(stages) != request_token(meta.token_guid):
        return None  # the current value is not the one these tags describe
    return meta


def intent_of(tags: Mapping[str, str]) -> PendingWrite | None:
    """Our tags when they describe no current version: the metadata a write set before its
    value, which is its intent (the value says whether it landed)."""
    try:
        meta = SecretMeta.from_strings(tag_fields(tags))
    except (KeyError, ValueError):
        return None
    return PendingWrite(meta.token_guid, (), meta.retire_previous_after, meta.format)
