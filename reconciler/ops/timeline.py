"""What is due in the coming days (expiries, rotations, grace ends) and an inline SVG chart of
it: one lane per token, one mark per event, today on the left. Pure; every text escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.ops.view import Generation, TokenView
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_terminal

WINDOW = timedelta(days=180)
MAX_LANES = 40


class EventKind(StrEnum):
    ROTATES = "rotates"  # the current token becomes due for rotation
    GRACE_ENDS = "grace-ends"  # a replaced token is retired (revoked) when its grace ends
    EXPIRES = "expires"


@dataclass(frozen=True)
class Event:
    when: datetime
    kind: EventKind
    view: TokenView
    overdue: bool = False  # its time has passed and it has not happened

    @property
    def label(self) -> str:
        return self.view.managed_by or self.view.name or self.view.guid


def upcoming(views: Sequence[TokenView], now: datetime, window: timedelta = WINDOW) -> list[Event]:
    """Every event of an active token from now to now + window, overdue ones at now; by time."""
    end = now + window
    events: list[Event] = []

    def add(when: datetime | None, kind: EventKind, view: TokenView) -> None:
        if when is None or when > end:
            return
        events.append(Event(max(when, now), kind, view, overdue=when < now))

    for view in views:
        if not view.active:
            continue
        expires = view.token.expires
        # A grace that ends with the token's expiry is shown once, as the expiry.
        ends_first = view.retires is not None and (expires is None or view.retires < expires)
        if view.generation is Generation.CURRENT:
            add(view.rotation_due, EventKind.ROTATES, view)
            if view.rotation_due is not None and ends_first:
                add(view.retires, EventKind.GRACE_ENDS, view)
        elif view.generation is Generation.RETIRING and ends_first:
            add(view.retires, EventKind.GRACE_ENDS, view)
        if expires is not None and expires > now:
            add(expires, EventKind.EXPIRES, view)
    return sorted(events, key=lambda e: (e.when, e.kind.value, e.label, e.view.guid))


# Layout of the chart, in SVG user units.
_LEFT, _RIGHT, _TOP, _LANE, _WIDTH = 230, 20, 46, 22, 1000
_COLORS = {
    EventKind.ROTATES: "#2563eb",
    EventKind.GRACE_ENDS: "#d97706",
    EventKind.EXPIRES: "#dc2626",
}
_NAMES = {
    EventKind.ROTATES: "rotation due",
    EventKind.GRACE_ENDS: "grace ends (revoked)",
    EventKind.EXPIRES: "expires",
}


def _text(value: str) -> str:
    return html.escape(for_terminal(value), quote=True)


def _mark(kind: EventKind, x: float, y: float, tip: str | None = None) -> str:
    """A circle (rotation), square (grace end) or diamond (expiry), with a tooltip."""
    color = _COLORS[kind]
    if kind is EventKind.ROTATES:
        tag, shape = "circle", f'cx="{x:.1f}" cy="{y:.1f}" r="6"'
    elif kind is EventKind.GRACE_ENDS:
        tag, shape = "rect", f'x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10"'
    else:
        points = f"{x:.1f},{y - 7:.1f} {x + 7:.1f},{y:.1f} {x:.1f},{y + 7:.1f} {x - 7:.1f},{y:.1f}"
        tag, shape = "polygon", f'points="{points}"'
    element = f'<{tag} class="mark-{kind.value}" {shape} fill="{color}"'
    return f"{element}><title>{_text(tip)}</title></{tag}>" if tip else f"{element}/>"


def render_svg(events: Sequence[Event], now: datetime, window: timedelta = WINDOW) -> str:
    lanes: list[str] = []  # GUIDs in order of their first event
    for event in events:
        if event.view.guid not in lanes:
            lanes.append(event.view.guid)
    shown, hidden = lanes[:MAX_LANES], len(lanes) - MAX_LANES
    height = _TOP + _LANE * max(len(shown), 1) + (40 if hidden > 0 else 20)
    span = _WIDTH - _LEFT - _RIGHT

    def x_of(when: datetime) -> float:
        return _LEFT + span * min(max((when - now) / window, 0.0), 1.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="timeline-title">',
        f'<title id="timeline-title">Expiries, rotations and grace ends from '
        f"{format_time(now)} to {format_time(now + window)}</title>",
    ]
    for offset, kind in enumerate(EventKind):
        key_x = _LEFT + offset * 190
        parts.append(_mark(kind, key_x, 14))
        parts.append(f'<text x="{key_x + 12}" y="18" font-size="12">{_NAMES[kind]}</text>')
    for day in range(0, window.days + 1, 30):
        x = _LEFT + span * day / window.days
        label = "today" if day == 0 else (now + timedelta(days=day)).strftime("%b %d")
        parts.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 8}" x2="{x:.1f}" y2="{height - 14}" '
            f'stroke="{"#111827" if day == 0 else "#d1d5db"}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP - 12}" font-size="11" text-anchor="middle">{label}</text>'
        )
    rows = {guid: index for index, guid in enumerate(shown)}
    for guid, lane in rows.items():
        y = _TOP + _LANE * lane + _LANE / 2
        view = next(e.view for e in events if e.view.guid == guid)
        name = view.managed_by or view.name or guid
        short = name if len(name) <= 32 else name[:31] + "…"
        parts.append(
            f'<text x="{_LEFT - 10}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
            f"<title>{_text(name)} ({guid})</title>{_text(short)}</text>"
        )
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
            'stroke="#f3f4f6" stroke-width="1"/>'
        )
    if not shown:
        parts.append(
            f'<text x="{_LEFT}" y="{_TOP + 14}" font-size="12">'
            "Nothing is due in this window.</text>"
        )
    for event in events:
        index = rows.get(event.view.guid)
        if index is None:
            continue
        y = _TOP + _LANE * index + _LANE / 2
        late = " (overdue)" if event.overdue else ""
        tip = f"{event.label}: {_NAMES[event.kind]} {format_time(event.when)}{late}"
        parts.append(_mark(event.kind, x_of(event.when), y, tip))
    if hidden > 0:
        parts.append(
            f'<text x="{_LEFT}" y="{height - 8}" font-size="12">and {hidden} more tokens '
            "(see the table below)</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
