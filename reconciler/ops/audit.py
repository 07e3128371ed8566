"""The audit PPM recommends doing by hand, as rules over (live tokens, resources, specs, stored
metadata, now). Pure: every finding is a value; renderers live in `audit_render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.desired.model import ALL_RESOURCES, ProofMethod, Scope, Spec, TokenState
from reconciler.durations import format_duration, humanize
from reconciler.ops import rules as R
from reconciler.ops.audit_admin import admin_checks
from reconciler.ops.rules import Rule, Severity
from reconciler.ops.view import Generation, TokenView
from reconciler.plan.compare import deprecated_scope, immutable_changes, index_resources
from reconciler.plan.labels import format_time, short_guid
from reconciler.plan.standing import as_state
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import KeyState, SecretMeta


@dataclass(frozen=True)
class AuditSettings:
    max_age: timedelta = timedelta(days=90)  # PPM's quarterly advice
    expiring_within: timedelta = timedelta(days=30)  # the plan's "expiring soon" window
    # The scheduled apply runs daily: a rotation two days late means runs were missed.
    overdue_slack: timedelta = timedelta(days=2)


@dataclass(frozen=True)
class StoreProblem:
    """A store whose entries could not be checked."""

    namespace: str
    store: str
    message: str
    skipped: bool  # not read on purpose (a command store without --store-commands)


@dataclass(frozen=True)
class Finding:
    rule: Rule
    severity: Severity
    message: str  # raw: each renderer passes it through the sanitiser for its medium
    guid: str | None = None
    name: str | None = None
    namespace: str | None = None
    file: str | None = None  # the spec the finding points into
    line: int | None = None


@dataclass(frozen=True)
class AuditInput:
    views: Sequence[TokenView]
    resources: Sequence[Resource] | None  # None: not read (the orphan rule is skipped)
    specs: Sequence[Spec]
    # missing key: not read; metadata alone, or all a store read (see plan.standing)
    stored: Mapping[tuple[str, str], KeyState | SecretMeta | None]
    store_problems: Sequence[StoreProblem]
    now: datetime
    exchanged: bool = False  # the admin token in use came from identity federation


def _where(view: TokenView, specs: Sequence[Spec]) -> tuple[str | None, int | None]:
    if view.spec is not None and view.declared is not None:
        return view.spec.path, view.declared.line
    if view.spec is not None:
        return view.spec.path, 1
    return (specs[0].path, 1) if specs else (None, None)


def _subject(view: TokenView) -> str:
    label = view.managed_by or view.name or "(no description)"
    return f"{label} ({short_guid(view.guid)})"


class _Collector:
    def __init__(self, data: AuditInput) -> None:
        self.data = data
        self.findings: list[Finding] = []

    def token(
        self, rule: Rule, view: TokenView, message: str, severity: Severity | None = None
    ) -> None:
        file, line = _where(view, self.data.specs)
        self.findings.append(
            Finding(
                rule,
                severity or rule.severity,
                f"{_subject(view)}: {message}",
                guid=view.guid,
                name=view.owner.name if view.owner else None,
                namespace=view.owner.namespace if view.owner else None,
                file=file,
                line=line,
            )
        )


def _orphaned(token: LiveToken, resources: Sequence[Resource]) -> list[str]:
    """Names of the token's resources the server no longer has under the same id."""
    try:
        kind = Scope(token.scope).resource_kind
    except ValueError:
        return []
    if kind is None or ALL_RESOURCES in token.resources:
        return []
    current = {r.id for r in resources if r.kind == kind}
    names = {r.name for r in resources if r.kind == kind}
    if len(token.resource_ids) == len(token.resources):
        pairs = zip(token.resources, token.resource_ids, strict=True)
        return sorted(name for name, rid in pairs if rid not in current)
    return sorted(name for name in token.resources if name not in names)


def _token_rules(out: _Collector, view: TokenView, settings: AuditSettings) -> None:
    token, now = view.token, out.data.now
    itself = " (the token this audit authenticates with)" if view.authenticating else ""
    if token.expires is None:
        out.token(R.NEVER_EXPIRES, view, f"never expires{itself}")
    age = now - token.created
    if age > settings.max_age:
        out.token(
            R.TOO_OLD,
            view,
            f"created {humanize(age)} ago, on {format_time(token.created)} "
            f"(maximum age {format_duration(settings.max_age)}){itself}",
        )
    if token.scope == Scope.GLOBAL_ADMIN.value and not view.authenticating:
        out.token(R.ADMIN_SCOPE, view, f"has scope global:admin (user {token.user})")
    if view.generation is Generation.UNMANAGED and not view.authenticating:
        out.token(R.UNMANAGED, view, f"has no ppm-tokens marker (user {token.user})")
    if view.generation is Generation.UNDECLARED:
        out.token(R.UNDECLARED, view, "is no longer declared: the next apply revokes it")
    if out.data.resources is not None and (gone := _orphaned(token, out.data.resources)):
        out.token(
            R.ORPHANED,
            view,
            f"grants {', '.join(n for n in gone)}, which the server no longer "
            "has (deleted, or recreated with a new id)",
        )
    try:
        if deprecated_scope(Scope(token.scope)):
            out.token(R.DEPRECATED_SCOPE, view, f"uses the deprecated scope {token.scope}")
    except ValueError:
        pass
    _timing_rules(out, view, settings)


def _timing_rules(out: _Collector, view: TokenView, settings: AuditSettings) -> None:
    token, now = view.token, out.data.now
    slack = settings.overdue_slack
    due, retires = view.rotation_due, view.retires
    if view.generation is Generation.CURRENT and due is not None and now > due + slack:
        out.token(
            R.ROTATION_OVERDUE,
            view,
            f"rotation was due {humanize(now - due)} ago, on {format_time(due)} "
            f"(slack {format_duration(slack)})",
        )
    if view.generation is Generation.RETIRING and retires is not None and now > retires + slack:
        out.token(
            R.RETIREMENT_OVERDUE,
            view,
            f"should have been retired {humanize(now - retires)} ago, on {format_time(retires)}",
        )
    expires = token.expires
    if expires is None or not now < expires <= now + settings.expiring_within:
        return
    if view.generation is Generation.RETIRING:
        return  # it goes before or when it expires anyway
    if view.generation is Generation.CURRENT and due is not None and due < expires:
        return  # rotated first; if that is late, rotation-overdue says so
    out.token(
        R.EXPIRING_SOON,
        view,
        f"expires in {humanize(expires - now)}, on {format_time(expires)}, "
        "with no rotation scheduled before",
    )


def _declared_rules(out: _Collector, spec: Spec) -> None:
    data = out.data
    index = index_resources(data.resources or ())
    current = {
        v.owner.name: v
        for v in data.views
        if v.owner and v.owner.namespace == spec.namespace and v.generation is Generation.CURRENT
    }
    for declared in spec.tokens:
        if declared.state is not TokenState.PRESENT:
            continue
        if spec.server.proof_method(declared.scope) is ProofMethod.LISTED:
            out.findings.append(
                Finding(
                    R.WEAKER_PROOF,
                    R.WEAKER_PROOF.severity,
                    f"{spec.namespace}/{declared.name}: a new {declared.scope.value} token is "
                    "proven by the token list only (server.proof), never by its value",
                    name=declared.name,
                    namespace=spec.namespace,
                    file=spec.path,
                    line=declared.line,
                )
            )
        view = current.get(declared.name)
        if view is None:
            history = [
                v
                for v in data.views
                if v.owner and (v.owner.namespace, v.owner.name) == (spec.namespace, declared.name)
            ]
            why = "was never created"
            if history:
                last = max(history, key=lambda v: v.token.created)
                why = f"its last token {short_guid(last.guid)} is {last.status.value}"
            out.findings.append(
                Finding(
                    R.DECLARED_MISSING,
                    R.DECLARED_MISSING.severity,
                    f"{spec.namespace}/{declared.name}: declared, but no token is active: {why}",
                    name=declared.name,
                    namespace=spec.namespace,
                    file=spec.path,
                    line=declared.line,
                )
            )
            continue
        changes = immutable_changes(
            declared, view.token, spec.namespace, index, adopted=view.adopted
        )
        if changes:
            out.token(R.DRIFTED, view, "; ".join(changes))
        key = (spec.namespace, declared.name)
        if key not in data.stored:
            continue  # not read: reported once per store below
        held = as_state(data.stored[key])
        guid = held.held_guid
        where = f"store '{declared.store}', secret {declared.secret!r}"
        if held.unsure:
            out.token(
                R.STORE_MISMATCH,
                view,
                f"{where} may hold {', '.join(held.unsure)}: a write was cut short; the next "
                "apply writes a new token and keeps these through their grace",
                Severity.WARNING,
            )
        elif guid is None and view.adopted:
            out.token(
                R.STORE_MISSING,
                view,
                f"{where} has no metadata for this adopted token: its value is unverified "
                "until the token rotates",
                Severity.NOTE,
            )
        elif guid is None:
            out.token(R.STORE_MISSING, view, f"{where} holds no value for it")
        elif guid != view.guid:
            out.token(R.STORE_MISMATCH, view, f"{where} holds token {guid} instead")
        elif held.meta is None or held.meta.token_guid != guid:
            out.token(
                R.STORE_MISSING,
                view,
                f"{where} holds its value without its metadata: a write was cut short; the "
                "next apply writes the metadata",
                Severity.NOTE,
            )


def _store_rules(out: _Collector) -> None:
    for problem in out.data.store_problems:
        spec = next((s for s in out.data.specs if s.namespace == problem.namespace), None)
        users = [t for t in spec.tokens if t.store == problem.store] if spec else []
        out.findings.append(
            Finding(
                R.STORE_UNCHECKED,
                Severity.NOTE if problem.skipped else R.STORE_UNCHECKED.severity,
                f"store '{problem.store}' of namespace {problem.namespace}: {problem.message}",
                namespace=problem.namespace,
                file=spec.path if spec else None,
                line=users[0].line if users else (1 if spec else None),
            )
        )


def audit(data: AuditInput, settings: AuditSettings | None = None) -> tuple[Finding, ...]:
    """Every finding, worst first, then by rule id and subject."""
    settings = settings or AuditSettings()
    out = _Collector(data)
    for view in data.views:
        if view.active:
            _token_rules(out, view, settings)
    checks = admin_checks(
        data.views, data.now, slack=settings.overdue_slack, exchanged=data.exchanged
    )
    for rule, view, message in checks:
        out.token(rule, view, message)
    for spec in data.specs:
        _declared_rules(out, spec)
    _store_rules(out)
    # The admin token in use, overdue: PPMT019 says it, and more, so PPMT011 does not again.
    stale = {f.guid for f in out.findings if f.rule is R.ADMIN_STALE}
    findings = [f for f in out.findings if f.rule is not R.ROTATION_OVERDUE or f.guid not in stale]
    return tuple(
        sorted(
            findings,
            key=lambda f: (
                -f.severity.rank,
                f.rule.id,
                f.namespace or "",
                f.name or "",
                f.guid or "",
            ),
        )
    )


def counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}


def fails(findings: Sequence[Finding], threshold: Severity | None) -> bool:
    """Whether any finding is at least as severe as `threshold` (None: never fails)."""
    return threshold is not None and any(f.severity.rank >= threshold.rank for f in findings)
