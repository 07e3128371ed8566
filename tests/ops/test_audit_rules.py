"""Audit rules on in-memory data: the cases the end-to-end audit does not reach."""

from __future__ import annotations

from datetime import timedelta

from reconciler.ops.audit import AuditInput, AuditSettings, Finding, StoreProblem, audit, fails
from reconciler.ops.rules import RULES, Severity
from reconciler.ops.view import build_views
from reconciler.ownership import stored_description
from reconciler.server.model import LiveToken, Resource
from tests.ops.helpers import NOW, live, spec_from

SPEC = spec_from(
    """\
    - name: reader
      user: someone@example.com
      description: Reads
      scope: repos:read
      resources: [pypi]
      rotation: {after: none, before_expiry: 14d, grace: 1d}
    """
)
RESOURCES = [Resource("id-pypi", "pypi", "repo", "python")]


def run(
    tokens: list[LiveToken],
    *,
    resources: list[Resource] | None = RESOURCES,
    problems: tuple[StoreProblem, ...] = (),
) -> list[Finding]:
    views = build_views(tokens, [SPEC], NOW)
    return list(audit(AuditInput(views, resources, [SPEC], {}, problems, NOW), AuditSettings()))


def ids(findings: list[Finding]) -> set[str]:
    return {f.rule.id for f in findings}


def test_rule_ids_are_unique_and_stable() -> None:
    assert [r.id for r in RULES] == [f"PPMT{n:03d}" for n in range(1, len(RULES) + 1)]
    assert len({r.slug for r in RULES}) == len(RULES)


def test_orphans_by_name_when_the_driver_reports_no_ids() -> None:
    gone = live("g", "x", resources=("pypi", "deleted"), resource_ids=())
    findings = [f for f in run([gone]) if f.rule.id == "PPMT005"]
    assert len(findings) == 1 and "deleted" in findings[0].message
    assert "PPMT005" not in ids(run([gone], resources=None))  # not read: not judged


def test_expiring_soon_is_quiet_when_a_rotation_comes_first() -> None:
    managed = live("m", stored_description("Reads", "team", "reader"), age=timedelta(days=80))
    unmanaged = live("u", "soon", age=timedelta(days=80))
    findings = run([managed, unmanaged])
    soon = {f.guid for f in findings if f.rule.id == "PPMT010"}
    assert soon == {"u"}
    # The managed one's rotation (14d before expiry) is overdue instead.
    assert any(f.rule.id == "PPMT011" and f.guid == "m" for f in findings)


def test_store_problems_are_findings_on_the_spec() -> None:
    skipped = StoreProblem("team", "local", "not read", skipped=True)
    broken = StoreProblem("team", "local", "permission denied", skipped=False)
    (note,) = [f for f in run([], problems=(skipped,)) if f.rule.id == "PPMT013"]
    (warning,) = [f for f in run([], problems=(broken,)) if f.rule.id == "PPMT013"]
    assert note.severity is Severity.NOTE and warning.severity is Severity.WARNING
    assert note.file == "tokens.yaml" and note.line == SPEC.tokens[0].line


def test_fail_thresholds() -> None:
    findings = run([live("n", "never", lifetime=None)])
    assert {f.severity for f in findings} == {Severity.WARNING, Severity.ERROR}
    assert fails(findings, Severity.WARNING) and fails(findings, Severity.ERROR)
    warnings_only = [f for f in findings if f.severity is Severity.WARNING]
    assert fails(warnings_only, Severity.WARNING) and not fails(warnings_only, Severity.ERROR)
    assert not fails(findings, None)
