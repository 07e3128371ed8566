"""What a restorable remote store (vault, aws) keeps between a put and its commit: for each key,
what it held before the first put of a token, so `restore_previous` can go back to it."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

Before = TypeVar("Before")


class BeforePuts(Generic[Before]):
    """Thread-safe: puts to different keys run in threads."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[str, Before]] = {}
        self._lock = threading.Lock()

    def remember(self, key: str, guid: str, before: Before) -> None:
        """Record `before` for the first put of `guid` to `key`. A retry of the same token
        keeps the first record: what that put replaced is what a restore goes back to."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] != guid:
                self._kept[key] = (guid, before)

    def take(self, key: str, guid: str) -> Before | None:
        """The record of `guid`'s put to `key`, forgotten; None when there is none for it."""
        with self._lock:
            kept = self._kept.pop(key, None)
        return kept[1] if kept is not None and kept[0] == guid else None

    def commit(self, key: str, guid: str) -> None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == guid:
                del self._kept[key]
