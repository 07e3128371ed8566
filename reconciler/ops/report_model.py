"""The inventory `report` shows: one row per token with what the page shows and what only
ppm-tokens knows (owner namespace, store and secret, next rotation, retirement), the coming
events and the audit findings. Pure data, free of token values (it never receives one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.ops.audit import Finding
from reconciler.ops.audit_render import finding_json
from reconciler.ops.listing import Column, SortOrder, sort_views, value
from reconciler.ops.table import json_value
from reconciler.ops.timeline import Event
from reconciler.ops.view import TokenView
from reconciler.plan.standing import as_state
from reconciler.sanitize import for_terminal
from reconciler.server.model import TokenStatus
from reconciler.stores.base import KeyState, SecretMeta

# Columns of the report's table: (key, header, shown by default).
REPORT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("name", "Name", True),
    ("status", "Status", True),
    ("scope", "Scope", True),
    ("resources", "Resources", False),
    ("created", "Created", True),
    ("expires", "Expires", True),
    ("user", "User", True),
    ("namespace", "Owner namespace", True),
    ("store", "Store / secret", True),
    ("rotation_due", "Next rotation", True),
    ("retires", "Retires", True),
    ("id", "GUID", False),
    ("description", "Description", False),
    ("email", "Email", False),
    ("managed_by", "Managed by", False),
)


@dataclass(frozen=True)
class Report:
    server: str
    generated_at: datetime
    rows: tuple[dict[str, object], ...]
    events: tuple[Event, ...]
    findings: tuple[Finding, ...]

    @property
    def active(self) -> int:
        return sum(1 for r in self.rows if r["status"] == TokenStatus.ACTIVE.value)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r["status"] == status)


def store_cell(
    view: TokenView, stored: Mapping[tuple[str, str], KeyState | SecretMeta | None]
) -> str | None:
    """ "store/secret" of the declaring entry, with what the store holds when it was read."""
    declared, owner = view.declared, view.owner
    if declared is None or owner is None:
        return None
    where = f"{declared.store}/{declared.secret}"
    key = (owner.namespace, owner.name)
    if not view.active or key not in stored:
        return where
    held = as_state(stored[key])
    if held.unsure:
        return f"{where} (unsettled: {', '.join(g[:8] for g in held.unsure)})"
    guid = held.held_guid
    if guid is None:
        return f"{where} (empty)"
    if guid != view.guid:
        return f"{where} (holds {guid[:8]})"
    if held.meta is None or held.meta.token_guid != guid:
        return f"{where} (no metadata)"
    return where


def _shown(cell: object) -> object:
    """Text as the page may show it: control, bidi and invisible characters escaped visibly,
    so the script's textContent cannot be made to lie either."""
    if isinstance(cell, str):
        return for_terminal(cell)
    if isinstance(cell, list):
        return [for_terminal(str(item)) for item in cell]
    return cell


def row(
    view: TokenView, stored: Mapping[tuple[str, str], KeyState | SecretMeta | None]
) -> dict[str, object]:
    """The token's cells as the server and spec give them: each medium sanitises them once, for
    itself (sanitising twice would double every backslash)."""
    record: dict[str, object] = {c.key: json_value(value(view, c)) for c in Column}
    record["namespace"] = view.owner.namespace if view.owner else None
    record["generation"] = view.generation.value
    record["store"] = store_cell(view, stored)
    record["adopted"] = view.adopted
    return record


def build_report(
    views: Sequence[TokenView],
    *,
    stored: Mapping[tuple[str, str], KeyState | SecretMeta | None],
    events: Sequence[Event],
    findings: Sequence[Finding],
    server: str,
    now: datetime,
) -> Report:
    ordered = sort_views(views, SortOrder.NEWEST)
    return Report(
        server=server,
        generated_at=now,
        rows=tuple(row(v, stored) for v in ordered),
        events=tuple(events),
        findings=tuple(findings),
    )


def event_json(event: Event) -> dict[str, object]:
    return {
        "when": json_value(event.when),
        "kind": event.kind.value,
        "token": for_terminal(event.label),
        "guid": event.view.guid,
        "overdue": event.overdue,
    }


def report_json(report: Report) -> dict[str, object]:
    return {
        "format_version": 1,
        "server": report.server,
        "generated_at": json_value(report.generated_at),
        "columns": [{"key": k, "label": h, "default": d} for k, h, d in REPORT_COLUMNS],
        "tokens": [{key: _shown(cell) for key, cell in r.items()} for r in report.rows],
        "events": [event_json(e) for e in report.events],
        "findings": [
            {**finding_json(f), "message": for_terminal(f.message)} for f in report.findings
        ],
    }


_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def embed_json(data: object) -> str:
    """JSON that can sit inside `<script type="application/json">`: no `</script>`, `<!--` or
    entity can end or change the element, and U+2028/2029 cannot break a JavaScript parser."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text
