"""Reading a saved plan's JSON back, object by object: typed access with errors that say where
the file is malformed, and no key that this version never writes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from reconciler.durations import DurationError, parse_duration
from reconciler.errors import MalformedPlanError
from reconciler.plan.model import ActionKind, WarningCode
from reconciler.sanitize import quoted

_Kind = TypeVar("_Kind", ActionKind, WarningCode)


class Reader:
    """Typed access to one JSON object, with errors that say where the plan is malformed."""

    def __init__(self, data: object, where: str, keys: frozenset[str] | None = None) -> None:
        """`keys`: every key the object may have (None: not checked here)."""
        if not isinstance(data, Mapping):
            raise malformed(where, "must be an object")
        self._data = data
        self._where = where
        if keys is not None:
            unknown = sorted((str(key) for key in data if key not in keys), key=len)
            if unknown:
                # An edit, or another version's plan: either way not what was reviewed.
                raise malformed(
                    where, f"has the key {quoted(unknown[0])}, which this version never writes"
                )

    def _at(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def _get(self, key: str, *, optional: bool) -> object:
        if key not in self._data:
            if optional:
                return None
            raise malformed(self._at(key), "is missing")
        return self._data[key]

    def text(self, key: str) -> str:
        value = self._get(key, optional=False)
        if not isinstance(value, str):
            raise malformed(self._at(key), "must be a string")
        return value

    def text_or_none(self, key: str) -> str | None:
        value = self._get(key, optional=True)
        if value is not None and not isinstance(value, str):
            raise malformed(self._at(key), "must be a string or null")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key, optional=True)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise malformed(self._at(key), "must be true or false")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key, optional=False)
        if not isinstance(value, int) or isinstance(value, bool):
            raise malformed(self._at(key), "must be an integer")
        return value

    def time(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise malformed(self._at(key), f"is not an ISO 8601 time: {quoted(value)}") from None
        if parsed.tzinfo is None:
            raise malformed(self._at(key), f"has no time zone: {quoted(value)}")
        return parsed

    def time_or_none(self, key: str) -> datetime | None:
        return None if self._get(key, optional=True) is None else self.time(key)

    def duration_or_none(self, key: str) -> timedelta | None:
        if self._get(key, optional=True) is None:
            return None
        value = self.text(key)
        try:
            return parse_duration(value)
        except DurationError:
            raise malformed(
                self._at(key), f"is not a duration like 3d or 0s: {quoted(value)}"
            ) from None

    def choice(self, key: str, enum: type[_Kind]) -> _Kind:
        value = self.text(key)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise malformed(
                self._at(key), f"is {quoted(value)}; expected one of {allowed}"
            ) from None

    def objects(
        self, key: str, keys: frozenset[str] | None, *, optional: bool = False
    ) -> list[Reader]:
        value = self._get(key, optional=optional)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise malformed(self._at(key), "must be an array")
        return [Reader(item, f"{self._at(key)}[{i}]", keys) for i, item in enumerate(value)]

    def raw(self) -> Mapping[object, object]:
        return self._data

    def object_or_none(self, key: str, keys: frozenset[str] | None = None) -> Reader | None:
        value = self._get(key, optional=True)
        return None if value is None else Reader(value, self._at(key), keys)


def malformed(where: str, problem: str) -> MalformedPlanError:
    return MalformedPlanError(
        f"malformed plan file: {where or 'the document'} {problem}; nothing was applied: "
        "run plan again and apply the file it writes, unedited"
    )
