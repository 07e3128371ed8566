"""The report's pure parts: JSON embedding, the timeline, the page's escaping and policy."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

from reconciler.ops.report_assets import CSS, JS
from reconciler.ops.report_html import content_security_policy, csp_hash, render_html
from reconciler.ops.report_markdown import render_markdown
from reconciler.ops.report_model import build_report, embed_json
from reconciler.ops.timeline import EventKind, render_svg, upcoming
from reconciler.ops.view import build_views
from reconciler.ownership import stored_description
from tests.ops.helpers import NOW, live, spec_from
from tests.ops.seed import HOSTILE

SPEC = spec_from(
    """\
    - name: reader
      user: someone@example.com
      description: Reads
      scope: repos:read
      resources: [pypi]
    """
)


def test_embedded_json_cannot_end_its_script_element() -> None:
    data = {"text": "</script><script>alert(1)</script><!-- & \u2028\u2029"}
    embedded = embed_json(data)
    assert "<" not in embedded and ">" not in embedded and "&" not in embedded
    assert "\u2028" not in embedded and "\u2029" not in embedded
    assert json.loads(embedded) == data


def test_timeline_events() -> None:
    current = live("cur", stored_description("Reads", "team", "reader"), age=timedelta(days=70))
    older = live("old", stored_description("Reads", "team", "reader"), age=timedelta(days=80))
    unmanaged = live("u", "soon", age=timedelta(days=80))
    views = build_views([current, older, unmanaged], [SPEC], NOW)
    events = upcoming(views, NOW)
    kinds = {(e.view.guid, e.kind, e.overdue) for e in events}
    assert ("cur", EventKind.ROTATES, True) in kinds  # due 10 days ago
    assert ("cur", EventKind.EXPIRES, False) in kinds
    assert ("old", EventKind.GRACE_ENDS, True) in kinds
    assert ("u", EventKind.EXPIRES, False) in kinds
    assert [e.when for e in events] == sorted(e.when for e in events)
    assert all(e.when >= NOW for e in events)


def test_svg_escapes_hostile_text() -> None:
    views = build_views([live("h", HOSTILE)], [], NOW)
    svg = render_svg(upcoming(views, NOW), NOW)
    assert "<script>" not in svg and "\x1b" not in svg and "\u202e" not in svg
    assert "&lt;script&gt;" in svg


def test_page_is_self_contained_and_escaped() -> None:
    views = build_views([live("h", HOSTILE), live("x", "plain")], [], NOW)
    report = build_report(
        views,
        stored={},
        events=upcoming(views, NOW),
        findings=(),
        server="https://ppm.example.com",
        now=NOW,
    )
    page = render_html(report)
    body = page.split("<script", 1)[0]
    assert "<script>alert" not in page
    assert "\x1b" not in page and "\u202e" not in page and "\r" not in page
    assert html.escape(content_security_policy()) in page or content_security_policy() in page
    assert csp_hash(CSS) in page and csp_hash(JS) in page
    assert f"<style>{CSS}</style>" in page and f"<script>{JS}</script>" in page
    assert not re.search(r"(src|href)=", body)
    markdown = render_markdown(report)
    assert "<script>" not in markdown and "\x1b" not in markdown


def test_every_medium_escapes_a_cell_exactly_once() -> None:
    """A backslash or an escaped control character reads the same in the Markdown table, the
    timeline, the findings and the page: sanitising twice would double every backslash."""
    views = build_views([live("h", "C:\\ci\x1bx")], [], NOW)
    report = build_report(
        views, stored={}, events=upcoming(views, NOW), findings=(), server="s", now=NOW
    )
    markdown = render_markdown(report)
    row = next(line for line in markdown.splitlines() if line.startswith("| C"))
    timeline = next(line for line in markdown.splitlines() if line.startswith("| 20"))
    assert row.startswith("| C\\:\\\\\\\\ci\\\\x1bx |"), row
    assert timeline.endswith("| C\\:\\\\\\\\ci\\\\x1bx |"), timeline
    page = render_html(report)
    assert ">C:\\\\ci\\x1bx</td>" in page
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert data["tokens"][0]["name"] == "C:\\\\ci\\x1bx"
