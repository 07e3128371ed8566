"""A wrapper that keeps token values out of every str(), repr(), log line and traceback."""

from __future__ import annotations

import hashlib


class Secret:
    """A token value. Only `reveal()` returns it; everything else renders "(sensitive value)"."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def sha256(self) -> str:
        return hashlib.sha256(self._value.encode()).hexdigest()

    def __repr__(self) -> str:
        return "Secret((sensitive value))"

    def __str__(self) -> str:
        return "(sensitive value)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:  # pragma: no cover - refusing is the behaviour
        raise TypeError("a Secret cannot be pickled")
