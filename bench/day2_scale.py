"""How the day-2 commands scale with the number of live tokens. Prints figures.

    .venv/bin/python bench/day2_scale.py [--tokens 5000]

Pure parts only (the server read is what bench/emulator_list.py measures): N live tokens, a
quarter managed by a spec of N/8 entries with two generations each, the rest unmanaged, some
revoked or expired. Times the views, `list` (filter, sort, table, CSV, JSON), `audit` (rules and
SARIF), `import` (spec text) and `report` (HTML and Markdown, with the size of the page).

Takes about 2 s at the default size; `--tokens 500` well under a second.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from reconciler.desired import check_bytes
from reconciler.ops.audit import AuditInput, audit
from reconciler.ops.audit_render import render_sarif
from reconciler.ops.importer import ImportSettings, generate
from reconciler.ops.listing import Column, Query, SortOrder, StatusFilter, select
from reconciler.ops.report_html import render_html
from reconciler.ops.report_markdown import render_markdown
from reconciler.ops.report_model import build_report
from reconciler.ops.table import render_csv, render_json, render_table
from reconciler.ops.timeline import upcoming
from reconciler.ops.view import build_views
from reconciler.ownership import stored_description
from reconciler.server.model import LiveToken, Resource

T = TypeVar("T")
NOW = datetime(2027, 3, 1, tzinfo=UTC)


def timed(label: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    print(f"{label:<44} {1000 * (time.perf_counter() - start):9.1f} ms")
    return result


def spec_text(names: list[str]) -> str:
    lines = [
        "version: 1",
        "namespace: bench",
        "defaults:",
        "  expires: 90d",
        "  rotation: {after: 60d, before_expiry: 14d, grace: 3d}",
        "  store: local",
        "stores:",
        "  local: {type: file, path: /nonexistent/ppm-tokens-bench}",
        "tokens:",
    ]
    for name in names:
        lines += [
            f"  - name: {name}",
            f"    user: {name}@example.com",
            f"    description: Token {name}",
            "    scope: repos:read",
            "    resources: [pypi]",
        ]
    return "\n".join(lines) + "\n"


def live_tokens(count: int) -> tuple[list[LiveToken], list[str]]:
    tokens, names = [], []
    for index in range(count):
        created = NOW - timedelta(days=index % 120, minutes=index)
        managed = index % 4 == 0
        name = f"t{index // 8:05d}"
        if managed and index % 8 == 0:
            names.append(name)
        description = (
            stored_description(f"Token {name}", "bench", name) if managed else f"Token #{index}"
        )
        tokens.append(
            LiveToken(
                guid=str(uuid.UUID(int=index + 1)),
                description=description,
                user=f"{name}@example.com" if managed else f"user{index}@example.com",
                scope="repos:read",
                resources=("pypi",),
                resource_ids=("id-pypi",),
                created=created,
                expires=None if index % 13 == 0 else created + timedelta(days=90),
                revoked=created + timedelta(days=1) if index % 17 == 0 else None,
            )
        )
    return tokens, names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=5000)
    count = parser.parse_args().tokens
    tokens, names = live_tokens(count)
    spec, problems = check_bytes(
        spec_text(names).encode(),
        file="bench.yaml",
        base_dir=Path("/"),
        now=NOW,
        git_root_of=lambda path: None,
    )
    assert spec is not None, problems[:3]
    resources = [Resource("id-pypi", "pypi", "repo", "python")]
    print(f"{count} live tokens, {len(spec.tokens)} declared")
    views = timed(
        "views (owners, generations, schedules)", lambda: build_views(tokens, [spec], NOW)
    )
    query = Query(status=StatusFilter.ACTIVE, search="token", sort=SortOrder.NAME)
    selected = timed("list: filter + search + sort", lambda: select(views, query, NOW))
    columns = tuple(Column)
    timed("list: table fitted to 120 columns", lambda: render_table(selected, columns[:8], 120))
    timed("list: CSV, every column", lambda: render_csv(views, columns))
    timed("list: JSON, every column", lambda: render_json(views, columns))
    findings = timed(
        "audit: all rules",
        lambda: audit(AuditInput(views, resources, [spec], {}, (), NOW)),
    )
    timed(
        f"audit: SARIF ({len(findings)} findings)",
        lambda: render_sarif(findings, server="s", now=NOW),
    )
    settings = ImportSettings("imported", "https://ppm.example.com", "~/x")
    timed("import: spec text", lambda: generate(views, settings, now=NOW, resources=resources))
    events = timed("report: 180-day events", lambda: upcoming(views, NOW))
    report = timed(
        "report: model",
        lambda: build_report(
            views, stored={}, events=events, findings=findings, server="s", now=NOW
        ),
    )
    page = timed("report: HTML", lambda: render_html(report))
    timed("report: Markdown", lambda: render_markdown(report))
    print(f"{'report: HTML size':<44} {len(page.encode()) / 1024:9.1f} KiB")


if __name__ == "__main__":
    main()
