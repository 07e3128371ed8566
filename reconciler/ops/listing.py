"""The token list of PPM's "Authentication Tokens" page: its filters, search, sort orders and
columns, plus what only ppm-tokens knows (owner, rotation). Pure.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.ops.view import TokenView
from reconciler.server.model import TokenStatus


class StatusFilter(StrEnum):
    ALL = "all"
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ExpirationFilter(StrEnum):
    ALL = "all"
    NEVER = "never"  # never expires
    HAS = "has"  # has an expiry still ahead
    EXPIRED = "expired"  # the expiry has passed (revoked or not)


class SortOrder(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    NAME = "name"
    NAME_DESC = "-name"


class Column(StrEnum):
    NAME = "name"
    ID = "id"
    STATUS = "status"
    SCOPE = "scope"
    RESOURCES = "resources"
    CREATED = "created"
    EXPIRES = "expires"
    USER = "user"
    MANAGED_BY = "managed-by"
    ROTATION_DUE = "rotation-due"
    DESCRIPTION = "description"
    EMAIL = "email"
    RETIRES = "retires"

    @property
    def key(self) -> str:
        """The field name in JSON output and CSV headers."""
        return self.value.replace("-", "_")


DEFAULT_COLUMNS = (
    Column.NAME,
    Column.ID,
    Column.STATUS,
    Column.SCOPE,
    Column.CREATED,
    Column.EXPIRES,
    Column.USER,
    Column.MANAGED_BY,
)


@dataclass(frozen=True)
class Query:
    status: StatusFilter = StatusFilter.ALL
    expiration: ExpirationFilter = ExpirationFilter.ALL
    search: str | None = None
    sort: SortOrder = SortOrder.NEWEST


def parse_columns(text: str) -> tuple[Column, ...]:
    """`name,id,status` -> columns; ValueError naming the unknown one and the choices."""
    known = {c.value: c for c in Column}
    columns: list[Column] = []
    for word in (part.strip().lower() for part in text.split(",")):
        if not word:
            continue
        column = known.get(word) or known.get(word.replace("_", "-"))
        if column is None:
            close = difflib.get_close_matches(word, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown column {word!r}{hint}; choose from {', '.join(known)}")
        if column not in columns:
            columns.append(column)
    if not columns:
        raise ValueError(f"no column given; choose from {', '.join(known)}")
    return tuple(columns)


def _status_matches(view: TokenView, wanted: StatusFilter) -> bool:
    return wanted is StatusFilter.ALL or view.status.value == wanted.value


def _expiration_matches(view: TokenView, wanted: ExpirationFilter, now: datetime) -> bool:
    expires = view.token.expires
    if wanted is ExpirationFilter.NEVER:
        return expires is None
    if wanted is ExpirationFilter.HAS:
        return expires is not None and expires > now
    if wanted is ExpirationFilter.EXPIRED:
        return expires is not None and expires <= now
    return True


def search_text(view: TokenView) -> str:
    """What search looks in, as on the page: name, description and user (and the email)."""
    token = view.token
    return "\n".join((view.name, view.description, token.user, token.email or "")).casefold()


def matches(view: TokenView, query: Query, now: datetime) -> bool:
    if not _status_matches(view, query.status):
        return False
    if not _expiration_matches(view, query.expiration, now):
        return False
    return not query.search or query.search.casefold() in search_text(view)


def sort_views(views: Iterable[TokenView], order: SortOrder) -> list[TokenView]:
    """Active tokens always first, as on the page; then the chosen order. GUIDs break ties so
    the output never depends on the server's listing order."""
    items = sorted(views, key=lambda v: v.guid)
    if order is SortOrder.NAME or order is SortOrder.NAME_DESC:
        items.sort(key=lambda v: v.token.created, reverse=True)
        items.sort(key=lambda v: v.name.casefold(), reverse=order is SortOrder.NAME_DESC)
    else:
        items.sort(key=lambda v: v.token.created, reverse=order is SortOrder.NEWEST)
    items.sort(key=lambda v: v.status is not TokenStatus.ACTIVE)  # stable: keeps the order
    return items


def select(views: Sequence[TokenView], query: Query, now: datetime) -> list[TokenView]:
    return sort_views((v for v in views if matches(v, query, now)), query.sort)


Value = str | list[str] | datetime | None


def value(view: TokenView, column: Column) -> Value:
    """The full value of one cell (lists and times stay typed; renderers format them)."""
    return _VALUES[column](view)


_VALUES: dict[Column, Callable[[TokenView], Value]] = {
    Column.NAME: lambda v: v.name,
    Column.ID: lambda v: v.token.guid,
    Column.STATUS: lambda v: v.status.value,
    Column.SCOPE: lambda v: v.token.scope,
    Column.RESOURCES: lambda v: list(v.token.resources),
    Column.CREATED: lambda v: v.token.created,
    Column.EXPIRES: lambda v: v.token.expires,
    Column.USER: lambda v: v.token.user,
    Column.MANAGED_BY: lambda v: v.managed_by,
    Column.ROTATION_DUE: lambda v: v.rotation_due,
    Column.DESCRIPTION: lambda v: v.description,
    Column.EMAIL: lambda v: v.token.email,
    Column.RETIRES: lambda v: v.retires,
}
