"""`list` output: a table that fits the terminal, JSON and CSV with full values. Pure.

Every string from the server goes through the one sanitiser: `for_terminal` for the table and
CSV (escaped visibly, never interpreted), JSON escaping for JSON. CSV cells that a spreadsheet
would read as a formula get a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

from reconciler.ops.listing import Column, Value, value
from reconciler.ops.lookup import MIN_PREFIX
from reconciler.ops.view import TokenView
from reconciler.sanitize import for_terminal

ELLIPSIS = "…"
GAP = "  "
MIN_WIDTH = 4  # a column never shrinks below this (or its header, if shorter)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EMPTY = "-"


def char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    if text.isascii():
        return len(text)  # sanitised text: every ASCII character is one column
    return sum(char_width(char) for char in text)


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` terminal columns, an ellipsis marking the cut."""
    if display_width(text) <= width:
        return text
    if text.isascii():
        return text[: max(width - 1, 0)] + ELLIPSIS
    out, used = [], 0
    for char in text:
        size = char_width(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + ELLIPSIS


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def table_text(column: Column, cell: Value) -> str:
    """A cell for people: dates as days, lists joined, nothing as "-"; sanitised."""
    if cell is None:
        return "never" if column is Column.EXPIRES else _EMPTY
    if isinstance(cell, datetime):
        return _day(cell)
    if isinstance(cell, list):
        return for_terminal(", ".join(cell)) if cell else _EMPTY
    return for_terminal(cell) if cell else _EMPTY


def fit_widths(natural: Sequence[int], minimum: Sequence[int], width: int | None) -> list[int]:
    """Column widths that fit `width` with GAP between columns: the widest column gives up a
    character at a time, down to its minimum. Past that, lines are longer than `width`."""
    widths = list(natural)
    if width is None:
        return widths
    budget = width - len(GAP) * (len(widths) - 1)
    while sum(widths) > budget:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: (widths[i], -i))
        widths[widest] -= 1
    return widths


def render_table(views: Sequence[TokenView], columns: Sequence[Column], width: int | None) -> str:
    headers = [c.value.upper() for c in columns]
    rows = [[table_text(c, value(v, c)) for c in columns] for v in views]
    natural = [
        max([display_width(h), *(display_width(row[i]) for row in rows)])
        for i, h in enumerate(headers)
    ]
    # A cut GUID still shows the prefix `show` and `revoke` accept.
    floors = [MIN_PREFIX + len(ELLIPSIS) if c is Column.ID else MIN_WIDTH for c in columns]
    minimum = [
        min(n, max(floor, display_width(h)))
        for n, h, floor in zip(natural, headers, floors, strict=True)
    ]
    widths = fit_widths(natural, minimum, width)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for cell, size in zip(cells, widths, strict=True):
            shown = truncate(cell, size)
            parts.append(shown + " " * (size - display_width(shown)))
        return GAP.join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def json_value(cell: Value) -> object:
    if isinstance(cell, datetime):
        return iso(cell)
    return cell


def render_json(views: Sequence[TokenView], columns: Sequence[Column]) -> str:
    records = [{c.key: json_value(value(v, c)) for c in columns} for v in views]
    # ensure_ascii: control, bidi and invisible characters arrive as \u escapes.
    return json.dumps(records, indent=2, ensure_ascii=True)


def csv_cell(cell: Value) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return iso(cell)
    text = " ".join(cell) if isinstance(cell, list) else cell
    safe = for_terminal(text)
    formula = text.startswith(_FORMULA_START) or safe.startswith(_FORMULA_START)
    return "'" + safe if formula else safe


def render_csv(views: Sequence[TokenView], columns: Sequence[Column]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for view in views:
        writer.writerow([csv_cell(value(view, c)) for c in columns])
    return buffer.getvalue().rstrip("\n")
