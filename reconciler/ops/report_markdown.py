"""The inventory as Markdown, for a CI job summary: counts, the tokens, what is due in the next
180 days and the findings. Pure; every string from a server or spec goes through for_markdown."""

from __future__ import annotations

from reconciler.ops.audit_render import summary
from reconciler.ops.report_model import Report
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_markdown

MAX_ROWS = 500  # a job summary is limited to 1 MiB


def _cell(value: object, *, never: bool = False) -> str:
    if value is None or value in ("", []):
        return "never" if never else "-"
    if isinstance(value, list):
        return for_markdown(", ".join(str(v) for v in value))
    return for_markdown(str(value))


def _day(value: object) -> str:
    return str(value)[:10] if value else "-"


def render_markdown(report: Report) -> str:
    lines = [
        "# PPM token inventory",
        "",
        f"{for_markdown(report.server)}, {format_time(report.generated_at)}: "
        f"**{report.active} active**, {report.count('revoked')} revoked, "
        f"{report.count('expired')} expired; {len(report.events)} events in the next 180 days; "
        f"audit: {summary(report.findings)}.",
        "",
        "## Tokens",
        "",
        "| name | status | scope | expires | user | owner | store / secret | next rotation "
        "| retires |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows[:MAX_ROWS]:
        expires = _day(row["expires"]) if row["expires"] else "never"
        lines.append(
            f"| {_cell(row['name'])} | {row['status']} | {_cell(row['scope'])} | {expires} | "
            f"{_cell(row['user'])} | {_cell(row['namespace'])} | {_cell(row['store'])} | "
            f"{_day(row['rotation_due'])} | {_day(row['retires'])} |"
        )
    if len(report.rows) > MAX_ROWS:
        lines.append(f"\n{len(report.rows) - MAX_ROWS} more tokens are in the HTML report.")
    lines += ["", "## The next 180 days", ""]
    if report.events:
        lines += ["| when | what | token |", "|---|---|---|"]
        for event in report.events[:MAX_ROWS]:
            late = " (overdue)" if event.overdue else ""
            lines.append(
                f"| {format_time(event.when)} | {event.kind.value}{late} | "
                f"{for_markdown(event.label)} |"
            )
    else:
        lines.append("Nothing is due.")
    lines += ["", "## Audit findings", ""]
    if report.findings:
        lines += ["| severity | rule | finding |", "|---|---|---|"]
        for finding in report.findings:
            lines.append(
                f"| {finding.severity.value} | <code>{finding.rule.id}</code> {finding.rule.slug} "
                f"| {for_markdown(finding.message)} |"
            )
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"
