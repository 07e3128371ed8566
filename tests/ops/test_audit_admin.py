"""The audit's admin token rules (PPMT017-PPMT019), on in-memory data."""

from __future__ import annotations

from datetime import timedelta

from reconciler.desired.model import Spec
from reconciler.ops.audit import AuditInput, AuditSettings, Finding, audit
from reconciler.ops.rules import Severity
from reconciler.ops.view import build_views
from reconciler.ownership import stored_description
from reconciler.server.model import LiveToken
from tests.ops.helpers import NOW, live, spec_from

ADMIN_ENTRY = """\
- name: ppm-admin
  user: ppm-tokens
  description: The admin token
  scope: global:admin
"""
AUTH = "server:\n  auth: {type: token, token: ppm-admin}\n"
SPEC = spec_from(ADMIN_ENTRY, header=AUTH)
MARKED = stored_description("The admin token", "team", "ppm-admin")
FRESH = live(
    "fresh",
    MARKED,
    age=timedelta(hours=2),
    lifetime=timedelta(days=7),
    scope="global:admin",
    resources=(),
    resource_ids=(),
)


def admin(
    guid: str,
    *,
    age: timedelta,
    lifetime: timedelta | None = timedelta(days=7),
    description: str = MARKED,
) -> LiveToken:
    return live(
        guid,
        description,
        age=age,
        lifetime=lifetime,
        scope="global:admin",
        resources=(),
        resource_ids=(),
    )


def run(
    tokens: list[LiveToken], *, spec: Spec = SPEC, using: str | None = None, exchanged: bool = False
) -> list[Finding]:
    views = build_views(tokens, [spec], NOW, self_guid=using)
    data = AuditInput(views, [], [spec], {}, (), NOW, exchanged=exchanged)
    return list(audit(data, AuditSettings()))


def found(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule.id == rule]


def test_a_hand_made_admin_token_in_use_is_reported_unless_exchanged() -> None:
    hand_made = admin("hand", age=timedelta(days=200), lifetime=None, description="made by alice")
    (finding,) = found(run([hand_made, FRESH], using="hand"), "PPMT018")
    assert finding.severity is Severity.WARNING and finding.guid == "hand"
    assert "has no ppm-tokens marker" in finding.message and "never expires" in finding.message
    # The managed one in use, or a token identity federation gave for this run: nothing to say.
    assert found(run([hand_made, FRESH], using="fresh"), "PPMT018") == []
    assert found(run([hand_made, FRESH], using="hand", exchanged=True), "PPMT018") == []


def test_an_admin_token_that_expires_before_a_scheduled_run_replaces_it() -> None:
    # Rotated after 1d, but it lives 2d: one missed run (slack 2d) and nobody can sign in.
    short = admin("short", age=timedelta(hours=1), lifetime=timedelta(days=2))
    (finding,) = found(run([short], using="short"), "PPMT017")
    assert finding.severity is Severity.ERROR
    assert "before the scheduled run after its rotation point" in finding.message
    assert found(run([FRESH], using="fresh"), "PPMT017") == []
    never = spec_from(ADMIN_ENTRY + "  rotation: {after: none}\n", header=AUTH)
    (unrotated,) = found(run([FRESH], spec=never), "PPMT017")
    assert "no rotation is declared" in unrotated.message


def test_an_admin_token_in_use_past_its_rotation_is_stale_once() -> None:
    old = admin("old", age=timedelta(days=4))
    findings = run([old], using="old")
    (stale,) = found(findings, "PPMT019")
    assert stale.severity is Severity.ERROR and "its rotation was due on" in stale.message
    assert found(findings, "PPMT011") == []  # said once, by PPMT019
    # The same token, not the one in use: the usual rotation-overdue.
    assert [f.guid for f in found(run([old]), "PPMT011")] == ["old"]
    assert found(run([old]), "PPMT019") == []


def test_an_older_generation_in_use_is_stale_only_past_its_rotation() -> None:
    # A job that read its secret before today's rotation: within the hour of grace, nothing.
    earlier = admin("earlier", age=timedelta(days=1, hours=1))
    assert found(run([earlier, FRESH], using="earlier"), "PPMT019") == []
    forgotten = admin("forgotten", age=timedelta(days=4))
    (stale,) = found(run([forgotten, FRESH], using="forgotten"), "PPMT019")
    assert "(a newer one is stored)" in stale.message


def test_a_managed_admin_token_of_another_purpose_is_not_the_runs_own() -> None:
    plan_job = stored_description("For the plan job", "team", "plan-admin")
    spec = spec_from(
        ADMIN_ENTRY + "- name: plan-admin\n  user: ppm-tokens\n  description: For the plan job\n"
        "  scope: global:admin\n  expires: 7d\n"
        "  rotation: {after: 1d, before_expiry: none, grace: 1h}\n",
        header=AUTH,
    )
    token = admin("plan", age=timedelta(hours=1), description=plan_job)
    findings = run([token, FRESH], spec=spec, using="plan")
    assert found(findings, "PPMT017") == found(findings, "PPMT018") == []
    assert found(findings, "PPMT019") == []
