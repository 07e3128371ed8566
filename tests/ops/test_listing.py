"""The list's filters, sort orders, columns and renderers, as pure functions."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from reconciler.ops.listing import (
    Column,
    ExpirationFilter,
    Query,
    SortOrder,
    StatusFilter,
    parse_columns,
    select,
)
from reconciler.ops.lookup import MIN_PREFIX
from reconciler.ops.table import (
    display_width,
    fit_widths,
    render_csv,
    render_json,
    render_table,
    truncate,
)
from reconciler.ops.view import build_views
from tests.ops.helpers import NOW, live

TOKENS = [
    live("g-b", "b token", age=timedelta(days=2)),
    live("g-a", "A token", age=timedelta(days=3)),
    live("g-old-revoked", "aa revoked", age=timedelta(days=1), revoked=True),
    live("g-never", "never", age=timedelta(days=9), lifetime=None),
    live("g-expired", "expired", age=timedelta(days=100), lifetime=timedelta(days=30)),
    live("g-same-name", "A token", age=timedelta(days=4)),
]
VIEWS = build_views(TOKENS, [], NOW)


def order(query: Query) -> list[str]:
    return [v.guid for v in select(VIEWS, query, NOW)]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (SortOrder.NEWEST, ["g-b", "g-a", "g-same-name", "g-never", "g-old-revoked", "g-expired"]),
        (SortOrder.OLDEST, ["g-never", "g-same-name", "g-a", "g-b", "g-expired", "g-old-revoked"]),
        # Equal names: newest first.
        (SortOrder.NAME, ["g-a", "g-same-name", "g-b", "g-never", "g-old-revoked", "g-expired"]),
        (
            SortOrder.NAME_DESC,
            ["g-never", "g-b", "g-a", "g-same-name", "g-expired", "g-old-revoked"],
        ),
    ],
    ids=lambda value: str(value) if isinstance(value, SortOrder) else "",
)
def test_sort_orders_keep_active_first(sort: SortOrder, expected: list[str]) -> None:
    assert order(Query(sort=sort)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(status=StatusFilter.ACTIVE), {"g-b", "g-a", "g-never", "g-same-name"}),
        (Query(status=StatusFilter.REVOKED), {"g-old-revoked"}),
        (Query(status=StatusFilter.EXPIRED), {"g-expired"}),
        (Query(expiration=ExpirationFilter.NEVER), {"g-never"}),
        (Query(expiration=ExpirationFilter.EXPIRED), {"g-expired"}),
        (
            Query(expiration=ExpirationFilter.HAS),
            {"g-b", "g-a", "g-same-name", "g-old-revoked"},
        ),
        (Query(search="A TOK"), {"g-a", "g-same-name"}),
        (Query(search="SOMEONE@example"), {t.guid for t in TOKENS}),
        (Query(status=StatusFilter.ACTIVE, search="zzz"), set()),
    ],
    ids=["active", "revoked", "expired", "never", "exp-expired", "has", "search", "user", "none"],
)
def test_filters(query: Query, expected: set[str]) -> None:
    assert set(order(query)) == expected


def test_parse_columns() -> None:
    assert parse_columns("name, ID,managed_by,name") == (Column.NAME, Column.ID, Column.MANAGED_BY)
    with pytest.raises(ValueError, match="did you mean 'expires'"):
        parse_columns("expirs")
    with pytest.raises(ValueError, match="no column given"):
        parse_columns(" , ")


def test_truncate_counts_wide_characters() -> None:
    assert display_width("日本語") == 6
    assert truncate("日本語テキスト", 7) == "日本語…"
    assert display_width(truncate("日本語テキスト", 7)) <= 7
    assert truncate("short", 10) == "short"
    assert truncate("abcdef", 4) == "abc…"


def test_fit_widths_shrinks_the_widest_first() -> None:
    assert fit_widths([10, 40, 8], [4, 4, 4], 40) == [10, 18, 8]
    assert fit_widths([10, 40, 8], [4, 4, 4], None) == [10, 40, 8]
    # Below the minimums the table stays readable and overflows.
    assert fit_widths([10, 10], [8, 8], 5) == [8, 8]


def test_table_lines_fit_the_width() -> None:
    text = render_table(VIEWS, (Column.NAME, Column.ID, Column.USER, Column.EXPIRES), 40)
    assert all(display_width(line) <= 40 for line in text.splitlines())
    assert "never" in render_table(VIEWS, (Column.EXPIRES,), None)


def test_a_narrow_table_keeps_a_guid_prefix_show_and_revoke_accept() -> None:
    guid = "4d5cf81b-35be-4843-9983-fa4afe2c7684"
    views = build_views(
        [live(guid, "a long description " * 4, user="someone@example.com")], [], NOW
    )
    columns = (Column.NAME, Column.ID, Column.STATUS, Column.USER, Column.EXPIRES)
    text = render_table(views, columns, 40)
    assert guid[:MIN_PREFIX] + "…" in text, text


def test_csv_defuses_formulas_and_escapes() -> None:
    hostile = build_views(
        [
            live("g1", "=cmd|' /C calc'!A0", user="@sum(1)"),
            live("g2", "-2+3", user="\tuser"),
            live("g3", "line\r\nbreak \u202e"),
        ],
        [],
        NOW,
    )
    text = render_csv(hostile, (Column.NAME, Column.USER))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "'@sum(1)"]
    assert rows[2] == ["'-2+3", "'\\tuser"]
    assert rows[3][0] == "line\\r\\nbreak \\u202e"


def test_json_is_ascii_and_typed() -> None:
    text = render_json(build_views([live("g1", "x\u202ey\x1b")], [], NOW), tuple(Column))
    assert text.isascii()
    record = json.loads(text)[0]
    assert record["name"] == "x\u202ey\x1b"  # JSON keeps the exact value, escaped
    assert record["resources"] == ["pypi"]
    assert record["created"].endswith("Z")
