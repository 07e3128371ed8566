"""PPMT016: every declared token whose scope the spec proves by the token list only is a finding
at its line, whether or not it exists yet; scopes proven by a request are not."""

from __future__ import annotations

from reconciler.ops.audit import AuditInput, AuditSettings, audit
from reconciler.ops.rules import Severity
from reconciler.ops.view import build_views
from tests.ops.helpers import NOW, spec_from

SPEC = spec_from(
    """\
    - name: reader
      user: someone@example.com
      description: Reads
      scope: repos:read
      resources: [pypi]
    - name: blocklist
      user: someone@example.com
      description: Reads the blocklist
      scope: blocklist:read
    - name: gone
      state: absent
      scope: blocklist:read
    """,
    header="server: {proof: {blocklist:read: listed, repos:read: request}}\n",
)


def test_a_weakly_proven_scope_is_a_warning_at_each_declared_token() -> None:
    views = build_views([], [SPEC], NOW)
    findings = audit(AuditInput(views, [], [SPEC], {}, (), NOW), AuditSettings())
    weaker = [f for f in findings if f.rule.id == "PPMT016"]
    assert [(f.name, f.severity, f.line) for f in weaker] == [
        ("blocklist", Severity.WARNING, SPEC.token("blocklist").line)  # type: ignore[union-attr]
    ]
    assert weaker[0].rule.slug == "weaker-proof"
    assert "proven by the token list only (server.proof)" in weaker[0].message
