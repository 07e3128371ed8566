"""`doctor -f SPEC`: every proof path the spec's tokens would be proven by, tried on the server.

For each scope the spec declares a present token of, one one-day probe of that scope with the
spec's resources (those the server has). Each distinct proof request its tokens would use must
refuse no token, refuse a wrong value and accept the probe; a request that cannot tell them
apart would make every such create fail (or, worse, pass vacuously). A scope the spec proves by
the token list (server.proof: listed) gets that check instead, and a note on whether its request
would do. Every probe is revoked before the next scope, also on failure. Every scope is tried:
the report names each one whose proof does not hold, with what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from reconciler.commands.doctor_steps import Outcome, Step
from reconciler.desired.model import ALL_RESOURCES, ProofMethod, Scope, Spec, TokenState
from reconciler.errors import CreateOutcomeUnknown, ProofInconclusive, ReconcilerError
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.server.model import LiveToken, Resource, TokenRequest
from reconciler.server.proof import NoProof, listed_proof, proof_request

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ScopeProbe:
    scope: Scope
    method: ProofMethod
    resources: tuple[str, ...]  # the probe's: every resource the spec's tokens name, or ("*",)
    variants: tuple[tuple[str, ...], ...]  # the resources of each distinct proof request
    missing: str | None = None  # why no probe can be made


def _shaped(scope: Scope, resources: tuple[str, ...]) -> LiveToken:
    """A token of `scope` for `resources`, to ask which request would prove it."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return LiveToken("", "", "", scope.value, resources, (), epoch, None)


def plan_probes(spec: Spec, server: Sequence[Resource]) -> list[ScopeProbe]:
    """One probe per scope the spec uses, in the order of Scope; pure."""
    probes = []
    for scope in Scope:
        tokens = [t for t in spec.tokens if t.scope is scope and t.state is TokenState.PRESENT]
        if not tokens:
            continue
        method = spec.server.proof_method(scope.value)
        kind = scope.resource_kind
        present = {r.name for r in server if r.kind == kind}
        named = {n for t in tokens for n in t.resources}
        if ALL_RESOURCES in named:
            resources: tuple[str, ...] = (ALL_RESOURCES,)
        else:
            resources = tuple(sorted(named & present))
        variants: dict[str, tuple[str, ...]] = {}
        for token in tokens:
            try:
                request = proof_request(_shaped(scope, token.resources), server)
            except NoProof:
                request = None
            if request is not None:
                variants.setdefault(request.path, token.resources)
        missing = None
        if kind is not None and not resources:
            label = "repositories" if kind == "repo" else "sources"
            missing = f"the server has none of the {label} the spec's {scope.value} tokens name"
        elif not variants and method is ProofMethod.REQUEST:
            missing = f"no request can prove a {scope.value} token in this version"
        probes.append(ScopeProbe(scope, method, resources, tuple(variants.values()), missing))
    return probes


@dataclass
class ProofChecks:
    driver: Driver
    clock: Clock
    report: Callable[[Step], None]
    not_a_token: Secret
    description: str  # the probes' (with the doctor's marker)
    user: str
    lifetime: timedelta

    resources: Sequence[Resource] = ()
    failed: list[str] = field(default_factory=list)  # the scopes whose proof does not hold

    def run(self, spec: Spec) -> bool:
        """True when every scope's proof holds."""
        self.resources = self.driver.list_resources()
        for probe in plan_probes(spec, self.resources):
            if not self._scope(probe):
                self.failed.append(probe.scope.value)
        return not self.failed

    def _scope(self, probe: ScopeProbe) -> bool:
        title = f"prove {probe.scope.value}"
        assumes = (
            f"a new {probe.scope.value} token is proven by a request only that scope may make, "
            "which refuses no token and a wrong one"
            if probe.method is ProofMethod.REQUEST
            else f"the token list shows a new {probe.scope.value} token with its scope and "
            "resources (the weaker proof server.proof declares)"
        )
        if probe.missing is not None:
            self.report(Step(title, Outcome.FAIL, probe.missing, assumes))
            return False
        try:
            made = self._create(probe)
        except ReconcilerError as exc:
            self.report(Step(title, Outcome.FAIL, for_terminal(str(exc)), assumes))
            return False
        token, value = made
        try:
            detail = self._check(probe, token, value)
        except _Fails as failed:
            detail, ok = str(failed), False
        except ReconcilerError as exc:
            detail, ok = for_terminal(str(exc)), False
        else:
            ok = True
        finally:
            revoked = self._revoke(token)
        outcome = Outcome.OK if ok else Outcome.FAIL
        self.report(Step(title, outcome, f"{detail}; {revoked}", assumes))
        return ok

    def _create(self, probe: ScopeProbe) -> tuple[LiveToken, Secret]:
        request = TokenRequest(
            description=self.description,
            user=self.user,
            scope=probe.scope.value,
            resources=probe.resources,
            expires=self.clock() + self.lifetime,
        )
        known = {t.guid for t in self.driver.list_tokens()}
        try:
            created = self.driver.create_token(request)
        except CreateOutcomeUnknown as exc:
            raise ReconcilerError(f"{exc}; {self._revoke_lost(known)}") from None
        return created.token, created.value

    def _revoke_lost(self, known: set[str]) -> str:
        """A create without a usable answer may have made a probe nobody holds the value of."""
        try:
            lost = [
                t.guid
                for t in self.driver.list_tokens()
                if t.guid not in known and t.description == self.description
            ]
            for guid in lost:
                self.driver.revoke_token(guid)
        except ReconcilerError as exc:
            return f"revoking what it may have made failed ({for_terminal(str(exc))})"
        return f"revoked the probe it made anyway ({', '.join(lost)})" if lost else "no probe made"

    def _check(self, probe: ScopeProbe, token: LiveToken, value: Secret) -> str:
        if probe.method is ProofMethod.LISTED:
            return self._check_listed(probe, token, value)
        checked = []
        for resources in probe.variants:
            variant = replace(token, resources=resources)
            path = _path(variant, self.resources)
            try:
                if self.driver.check_token(self.not_a_token, variant):
                    raise _Fails(
                        f"{path} accepts a wrong value, so it proves nothing: "
                        f"{_remedy(probe.scope)}"
                    )
            except ProofInconclusive as exc:
                raise _Fails(f"{for_terminal(str(exc))}: {_remedy(probe.scope)}") from None
            if not self.driver.check_token(value, variant):
                raise _Fails(
                    f"{path} refuses the new probe, so every {probe.scope.value} create would "
                    f"fail: {_remedy(probe.scope)}"
                )
            checked.append(path)
        return (
            f"{', '.join(checked)}: refuses no token and a wrong one, accepts the probe "
            f"{token.guid}"
        )

    def _check_listed(self, probe: ScopeProbe, token: LiveToken, value: Secret) -> str:
        now = self.clock()
        listed = self.driver.list_tokens()
        why = listed_proof(listed, value, token, now)
        if why is not None:
            raise _Fails(f"the weaker proof (server.proof: listed) does not hold: {why}")
        for wrong in (self.not_a_token, Secret("")):
            if listed_proof(listed, wrong, token, now) is None:
                raise _Fails("the weaker proof accepts a wrong value or none")
        try:
            works = all(
                self.driver.check_token(value, replace(token, resources=resources))
                and not self.driver.check_token(
                    self.not_a_token, replace(token, resources=resources)
                )
                for resources in probe.variants
            )
        except ReconcilerError:
            works = False
        request = (
            f"its request proves it here too: remove {probe.scope.value} from server.proof"
            if works and probe.variants
            else "no request proves it here, as server.proof says"
        )
        return (
            f"the token list shows the probe {token.guid}, refuses no value and a wrong one "
            f"(the weaker proof, audited); {request}"
        )

    def _revoke(self, token: LiveToken) -> str:
        try:
            self.driver.revoke_token(token.guid)
        except ReconcilerError as exc:
            return (
                f"revoking the probe {token.guid} failed ({for_terminal(str(exc))}); it expires "
                "within a day, or revoke it by hand"
            )
        return "probe revoked"


class _Fails(Exception):
    """A scope's proof does not hold; the message says why and what to do."""


def _path(token: LiveToken, resources: Sequence[Resource]) -> str:
    try:
        request = proof_request(token, resources)
    except NoProof:
        request = None
    return f"GET {request.path}" if request is not None else "its proof request"


def _remedy(scope: Scope) -> str:
    return (
        f"fix that request's authentication on the server, or, if no request can prove "
        f"{scope.value} there, declare the weaker proof in the spec: server.proof: "
        f"{{{scope.value}: listed}} (audited as PPMT016)"
    )
