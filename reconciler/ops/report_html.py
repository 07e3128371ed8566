"""The inventory as one self-contained HTML file: inline CSS and script allowed by hash in a
strict Content-Security-Policy (nothing else loads, nothing leaves the page), the token table
with the page's filters, search, sort and column choice, a 180-day timeline and the findings.
Pure; every string from a server or spec is escaped for HTML after `for_terminal`.
"""

from __future__ import annotations

import base64
import hashlib
import html

from reconciler.ops.audit_render import summary
from reconciler.ops.report_assets import CSS, JS
from reconciler.ops.report_model import REPORT_COLUMNS, Report, embed_json, report_json
from reconciler.ops.timeline import render_svg
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_terminal

HIDDEN = ' class="hidden"'
STATUSES = ("all", "active", "revoked", "expired")
EXPIRATIONS = (
    ("all", "all"),
    ("never", "never expires"),
    ("has", "has expiry"),
    ("expired", "expired"),
)
SORTS = (
    ("newest", "newest first"),
    ("oldest", "oldest first"),
    ("name", "name A-Z"),
    ("-name", "name Z-A"),
)


def text(value: object) -> str:
    """Any server or spec text, shown visibly escaped and safe as HTML text or attribute."""
    return html.escape(for_terminal(str(value)), quote=True)


def csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    return (
        f"default-src 'none'; style-src {csp_hash(CSS)}; script-src {csp_hash(JS)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _options(choices: tuple[tuple[str, str], ...], selected: str) -> str:
    return "".join(
        f'<option value="{text(v)}"{" selected" if v == selected else ""}>{text(label)}</option>'
        for v, label in choices
    )


def _controls(report: Report) -> str:
    namespaces = sorted({str(r["namespace"]) for r in report.rows if r["namespace"]})
    namespace_choices = (
        ("all", "all"),
        *((n, n) for n in namespaces),
        ("(unmanaged)", "unmanaged"),
    )
    toggles = "".join(
        f'<label><input type="checkbox" data-toggle="{key}"{" checked" if shown else ""}> '
        f"{text(header)}</label>"
        for key, header, shown in REPORT_COLUMNS
    )
    return (
        '<div class="controls">'
        f'<label>Status<select id="status">{_options(tuple((s, s) for s in STATUSES), "all")}'
        "</select></label>"
        f'<label>Expiration<select id="expiration">{_options(EXPIRATIONS, "all")}</select></label>'
        f'<label>Owner<select id="namespace">{_options(namespace_choices, "all")}</select></label>'
        '<label>Search<input id="search" type="search" placeholder="name, description, user">'
        "</label>"
        f'<label>Sort<select id="sort">{_options(SORTS, "newest")}</select></label>'
        f"<details><summary>Columns</summary><div>{toggles}</div></details>"
        '<span id="count"></span></div>'
    )


def _cell(row: dict[str, object], key: str) -> str:
    """The same text the script shows, for readers without scripts."""
    value = row.get(key)
    if key == "status":
        return f'<span class="badge status-{text(value)}">{text(value)}</span>'
    if value is None or value in ("", []):
        return "never" if key == "expires" else "-"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value)
    if key in ("created", "expires", "rotation_due", "retires"):
        return text(str(value)[:10])
    return text(value)


def _table(report: Report) -> str:
    head = "".join(
        f'<th data-column="{key}"{"" if shown else HIDDEN}>{text(header)}</th>'
        for key, header, shown in REPORT_COLUMNS
    )
    rows = []
    for row in report.rows:
        cells = "".join(
            f'<td data-column="{key}"{"" if shown else HIDDEN}>{_cell(row, key)}</td>'
            for key, _, shown in REPORT_COLUMNS
        )
        rows.append(f'<tr data-guid="{text(row["id"])}">{cells}</tr>')
    return (
        f'<table id="token-table"><thead><tr>{head}</tr></thead>'
        f'<tbody id="token-rows">{"".join(rows)}</tbody></table>'
    )


def _events(report: Report) -> str:
    if not report.events:
        return "<p>Nothing is due in the next 180 days.</p>"
    items = []
    for event in report.events[:100]:
        late = ' <span class="overdue">overdue</span>' if event.overdue else ""
        items.append(
            f"<tr><td>{format_time(event.when)}</td><td>{text(event.kind.value)}{late}</td>"
            f"<td>{text(event.label)}</td><td><code>{text(event.view.guid)}</code></td></tr>"
        )
    more = len(report.events) - 100
    tail = f"<p>and {more} more.</p>" if more > 0 else ""
    return (
        "<details><summary>Every event</summary><table><thead><tr><th>When</th><th>What</th>"
        f"<th>Token</th><th>GUID</th></tr></thead><tbody>{''.join(items)}</tbody></table>"
        f"{tail}</details>"
    )


def _findings(report: Report) -> str:
    if not report.findings:
        return "<p>No findings.</p>"
    rows = "".join(
        f'<tr><td class="sev-{f.severity.value}">{f.severity.value}</td>'
        f"<td><code>{f.rule.id}</code> {f.rule.slug}</td><td>{text(f.message)}</td>"
        f"<td>{text(f'{f.file}:{f.line or 1}') if f.file else ''}</td></tr>"
        for f in report.findings
    )
    return (
        '<table id="findings-table"><thead><tr><th>Severity</th><th>Rule</th><th>Finding</th>'
        f"<th>Where</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def render_html(report: Report) -> str:
    cards = (
        ("active", report.active),
        ("revoked", report.count("revoked")),
        ("expired", report.count("expired")),
        ("unmanaged active", sum(1 for r in report.rows if r["generation"] == "unmanaged")),
        ("due in 180 days", len(report.events)),
        ("findings", len(report.findings)),
    )
    card_html = "".join(f'<div class="card"><b>{n}</b>{label}</div>' for label, n in cards)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{content_security_policy()}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>PPM token inventory</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>PPM token inventory</h1>
<p class="meta">{text(report.server)} &middot; generated {format_time(report.generated_at)}
 &middot; audit: {text(summary(report.findings))}</p>
<div class="cards">{card_html}</div>
</header>
<section id="tokens">
<h2>Tokens</h2>
{_controls(report)}
{_table(report)}
</section>
<section id="timeline">
<h2>The next 180 days</h2>
{render_svg(report.events, report.generated_at)}
{_events(report)}
</section>
<section id="findings">
<h2>Audit findings</h2>
{_findings(report)}
</section>
<script type="application/json" id="report-data">{embed_json(report_json(report))}</script>
<script>{JS}</script>
</body>
</html>
"""
