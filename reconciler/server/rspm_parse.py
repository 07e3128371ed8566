"""The output of `rspm list tokens --output-format json`, read tolerantly.

PPM does not document this JSON. This module is the one place that knows which names a field may
go by (`FIELDS`); every name is compared after folding case and dropping `_` and `-`, so
`created_at`, `createdAt` and `CreatedAt` are one name. A field that must be there and is not
raises `RspmOutputError` naming the field, the names tried and the names the server sent (never a
value). `ListReport` says which name each field was found under, for `ppm-tokens doctor`.

Accepted shapes: a JSON list of token objects; an object holding that list under one key (`tokens`,
`items`, `data`, `results`); `null` (Go's empty list); or one JSON object per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from reconciler.desired.model import ALL_RESOURCES
from reconciler.errors import ServerError
from reconciler.sanitize import excerpt
from reconciler.server.model import LiveToken

SOURCE = "rspm list tokens --output-format json"


class Field(StrEnum):
    GUID = "guid"
    DESCRIPTION = "description"
    USER = "user"
    EMAIL = "email"
    SCOPE = "scope"
    RESOURCES = "resources"
    RESOURCE_IDS = "resource_ids"
    CREATED = "created"
    EXPIRES = "expires"
    REVOKED = "revoked"
    STATUS = "status"


# Every name a field may go by, most likely first. The only place that knows them.
FIELDS: Mapping[Field, tuple[str, ...]] = {
    Field.GUID: ("guid", "id", "token_guid", "token_id", "uuid", "jti"),
    Field.DESCRIPTION: ("description", "desc"),
    Field.USER: ("user", "username", "user_name", "owner", "created_by"),
    Field.EMAIL: ("email", "user_email", "notification_email"),
    Field.SCOPE: ("scope", "scopes", "permission", "permissions"),
    Field.RESOURCES: ("resources", "resource_names", "repos", "sources", "resource"),
    Field.RESOURCE_IDS: ("resource_ids", "resource_guids"),
    Field.CREATED: ("created", "created_at", "creation_time", "issued_at", "iat", "created_on"),
    Field.EXPIRES: ("expires", "expires_at", "expiration", "expiry", "exp", "expires_on"),
    Field.REVOKED: ("revoked", "revoked_at", "revocation_time", "is_revoked", "revoked_on"),
    Field.STATUS: ("status", "state"),
}
# Without these a token cannot be managed safely: it is an error, not a default.
REQUIRED = (Field.GUID, Field.CREATED, Field.SCOPE)
# Wrappers a list may come in.
_LIST_KEYS = ("tokens", "items", "data", "results")


class RspmOutputError(ServerError):
    """The CLI's output could not be read as a list of tokens."""


@dataclass(frozen=True)
class ListReport:
    """What one listing used: the name each field was found under (None: never seen), and the
    names the server sent that nothing here reads."""

    found: Mapping[Field, str | None]
    unknown: tuple[str, ...]
    count: int


def fold(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


_FOLDED: Mapping[Field, tuple[str, ...]] = {
    field: tuple(fold(name) for name in names) for field, names in FIELDS.items()
}
_KNOWN = frozenset(name for names in _FOLDED.values() for name in names)


class _Item:
    """One token object, its keys folded once: every field is looked up by every name it may
    go by, for each token of a listing that may hold thousands."""

    def __init__(self, data: Mapping[str, object]) -> None:
        self.data = data
        self._by_fold = {fold(key): key for key in data}

    def key(self, field: Field, *, with_value: bool = False) -> str | None:
        """The key `field` goes by (only one holding a non-null value, if asked)."""
        for candidate in _FOLDED[field]:
            key = self._by_fold.get(candidate)
            if key is not None and (self.data[key] is not None or not with_value):
                return key
        return None

    def lookup(self, field: Field) -> tuple[str | None, object]:
        """(the key it was found under, its value); (None, None) when absent or null."""
        key = self.key(field, with_value=True)
        return (key, self.data[key]) if key is not None else (None, None)

    def value(self, field: Field) -> object:
        return self.lookup(field)[1]


def _names_sent(keys: Iterable[object]) -> str:
    """The keys the CLI sent, for a message: each an excerpt, at most a dozen of them."""
    names = sorted(excerpt(str(key)) for key in keys)
    more = f", and {len(names) - 12} more" if len(names) > 12 else ""
    return ", ".join(names[:12]) + more if names else "none"


def _missing(field: Field, index: int, item: Mapping[str, object]) -> RspmOutputError:
    sent = _names_sent(item)
    return RspmOutputError(
        f"{SOURCE}: token #{index + 1} has no {field.value} field (looked for "
        f"{', '.join(FIELDS[field])}; it has: {sent}). The CLI's JSON may have changed: "
        "add the new name to FIELDS in reconciler/server/rspm_parse.py"
    )


def _time(value: object, field: Field, index: int) -> datetime | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("never", "none", "null"):
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RspmOutputError(
                f"{SOURCE}: token #{index + 1}: {field.value} is not a time "
                "(expected RFC 3339 like 2026-01-31T12:00:00Z, or epoch seconds)"
            ) from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None if parsed.year <= 1 else parsed  # Go's zero time: not set
    raise RspmOutputError(f"{SOURCE}: token #{index + 1}: {field.value} is not a time")


def _names(value: object, *keys: str) -> tuple[str, ...]:
    """Names from a list of strings or of objects (first of `keys`), or a comma-separated string."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list):
        return ()
    out: list[str] = []
    for item in value:
        name = item
        if isinstance(item, dict):
            folded = {fold(k): v for k, v in item.items()}
            name = next((folded[k] for k in keys if isinstance(folded.get(k), str)), None)
        if isinstance(name, str) and name:
            out.append(name)
    return tuple(out)


def _scope(value: object) -> str:
    scopes = _names(value, "scope", "name")
    if not scopes and isinstance(value, list) and value and isinstance(value[0], dict):
        # {"domain": "repos", "access": "read"}
        folded = {fold(k): v for k, v in value[0].items()}
        domain, access = folded.get("domain"), folded.get("access")
        if isinstance(domain, str) and isinstance(access, str):
            scopes = (f"{domain}:{access}",)
    # One scope per token is what PPM documents; several are kept visible, never guessed away.
    return ",".join(dict.fromkeys(scopes))


def _revoked(item: _Item, created: datetime, index: int) -> datetime | None:
    key, value = item.lookup(Field.REVOKED)
    if value is True:
        return created  # revoked, time unknown: the status is what matters
    if key is not None and value is not False:
        when = _time(value, Field.REVOKED, index)
        if when is not None:
            return when
    status = item.value(Field.STATUS)
    if isinstance(status, str) and status.strip().lower() == "revoked":
        return created
    return None


def _token(item: _Item, index: int) -> LiveToken:
    for field in REQUIRED:
        if item.key(field, with_value=True) is None:
            raise _missing(field, index, item.data)
    created = _time(item.value(Field.CREATED), Field.CREATED, index)
    if created is None:
        raise _missing(Field.CREATED, index, item.data)
    resources = item.value(Field.RESOURCES)
    names = _names(resources, "name", "resource", "repo", "source")
    objects = isinstance(resources, list) and any(isinstance(r, dict) for r in resources)
    ids = _names(resources, "id", "guid") if objects else ()
    if not ids:
        ids = _names(item.value(Field.RESOURCE_IDS))
    if resources == ALL_RESOURCES or ALL_RESOURCES in names:
        names, ids = (ALL_RESOURCES,), ()
    email = item.value(Field.EMAIL)
    return LiveToken(
        guid=str(item.value(Field.GUID)),
        description=str(item.value(Field.DESCRIPTION) or ""),
        user=str(item.value(Field.USER) or ""),
        scope=_scope(item.value(Field.SCOPE)),
        resources=names,
        resource_ids=ids,
        created=created,
        expires=_time(item.value(Field.EXPIRES), Field.EXPIRES, index),
        revoked=_revoked(item, created, index),
        email=email if isinstance(email, str) and email else None,
    )


def _items(text: str) -> list[object]:
    stripped = text.strip()
    if not stripped:
        return []
    try:
        data = json.loads(stripped)
    except RecursionError:
        raise RspmOutputError(f"{SOURCE}: the output is JSON nested too deeply") from None
    except ValueError:
        try:
            return [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except RecursionError:
            raise RspmOutputError(f"{SOURCE}: the output is JSON nested too deeply") from None
        except ValueError:
            raise RspmOutputError(
                f"{SOURCE}: the output is not JSON; is the CLI too old for --output-format?"
            ) from None
    if data is None:
        return []
    if isinstance(data, dict):
        lists = [data[k] for k in data if fold(k) in _LIST_KEYS and isinstance(data[k], list)]
        if len(lists) == 1:
            return list(lists[0])
        if _Item(data).key(Field.GUID, with_value=True) is not None:
            return [data]  # a single token
        raise RspmOutputError(
            f"{SOURCE}: expected a list of tokens, got an object with keys: {_names_sent(data)}"
        )
    if isinstance(data, list):
        return data
    raise RspmOutputError(f"{SOURCE}: expected a list of tokens, got {type(data).__name__}")


def parse_token_list(text: str) -> tuple[list[LiveToken], ListReport]:
    """Every token in `text`, and what the listing used. Raises RspmOutputError."""
    items = _items(text)
    tokens: list[LiveToken] = []
    found: dict[Field, str | None] = dict.fromkeys(Field)
    unknown: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RspmOutputError(f"{SOURCE}: entry #{index + 1} is not an object")
        folded = _Item(item)
        tokens.append(_token(folded, index))
        for field in Field:
            if found[field] is None:
                found[field] = folded.key(field)
        unknown.update(str(k) for k in item if fold(str(k)) not in _KNOWN)
    if tokens and found[Field.DESCRIPTION] is None:
        # Without descriptions every managed token would look unmanaged: refuse, do not guess.
        raise RspmOutputError(
            f"{SOURCE}: no token has a description field (looked for "
            f"{', '.join(FIELDS[Field.DESCRIPTION])}); ownership cannot be read"
        )
    report = ListReport(found=found, unknown=tuple(sorted(unknown)), count=len(tokens))
    return tokens, report


def describe_report(report: ListReport) -> str:
    """One line for people: `guid (as id), created (as createdAt), ...; not read: lastUsed`."""
    parts = [
        field.value if key == field.value else f"{field.value} (as {excerpt(key)})"
        for field, key in report.found.items()
        if key is not None
    ]
    text = ", ".join(parts) or "no fields (no tokens listed)"
    missing = [field.value for field, key in report.found.items() if key is None]
    if missing and report.count:
        text += f"; never present: {', '.join(missing)}"
    if report.unknown:
        text += f"; not read: {_names_sent(report.unknown)}"
    return text
