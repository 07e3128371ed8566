"""The probe `doctor` makes on a real server: with the rspm driver, compare the CLI's version
with the server's; list tokens, find the admin token, choose a repository, create a one-day
`repos:read` probe marked `[ppm-tokens:doctor/probe]`, read it back, prove it, revoke it and
check that the revoked value is refused (retrying while revocation propagates). Each step says
what it assumed; the first that does not hold stops the probe, which is revoked on the way out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from reconciler import jwtinfo
from reconciler.commands.doctor_steps import Outcome, Step
from reconciler.commands.runtime import Clock
from reconciler.desired.model import Scope
from reconciler.errors import CreateOutcomeUnknown, ReconcilerError
from reconciler.ownership import parse_owner, stored_description
from reconciler.plan.compare import TOLERANCE
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.server.endpoints import PYTHON_REPO_TYPES, R_REPO_TYPES
from reconciler.server.model import LiveToken, Resource, TokenRequest
from reconciler.server.rspm import RspmDriver
from reconciler.server.rspm_output import versions_match
from reconciler.server.rspm_parse import describe_report

PROBE_NAMESPACE = "doctor"
PROBE_NAME = "probe"
PROBE_DESCRIPTION = "ppm-tokens doctor probe, safe to revoke"
PROBE_USER = "ppm-tokens-doctor"
PROBE_LIFETIME = timedelta(days=1)
NOT_A_TOKEN = Secret("ppm-tokens-doctor-not-a-token")
POLL_INTERVAL = 2.0


class Failed(Exception):
    """An assumption that does not hold; carries the step that says which."""

    def __init__(self, step: Step) -> None:
        super().__init__(step.detail)
        self.step = step


@dataclass
class Probe:
    """What the steps learn, in order; each step reads what earlier ones set."""

    tokens: list[LiveToken] = field(default_factory=list)
    repo: Resource | None = None
    request: TokenRequest | None = None
    token: LiveToken | None = None
    value: Secret = NOT_A_TOKEN
    revoked_at: float | None = None


@dataclass
class Doctor:
    driver: Driver
    clock: Clock
    report: Callable[[Step], None]
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    state: Probe = field(default_factory=Probe)
    federated: bool = False  # the admin token was given in exchange for an identity token

    def step(self, title: str, assumes: str, check: Callable[[], str]) -> None:
        try:
            detail = check()
        except Failed as failed:
            self.report(failed.step)
            raise
        except ReconcilerError as exc:
            step = Step(title, Outcome.FAIL, for_terminal(str(exc)), assumes)
            self.report(step)
            raise Failed(step) from None
        self.report(Step(title, Outcome.OK, detail, assumes))

    def run(self, repo: str | None, revoke_wait: timedelta) -> bool:
        """True when every assumption held."""
        try:
            if isinstance(self.driver, RspmDriver):
                self.check_versions(self.driver)
            self.step(
                "list tokens",
                "the admin token may list every token (global:admin), revoked and expired "
                "ones included, in a form the driver reads",
                self.list_tokens,
            )
            self.step(
                "find the admin token",
                "the admin token is a JWT whose jti is its GUID, so apply can tell it apart "
                "and never revokes it",
                self.find_admin,
            )
            self.step(
                "choose a repository",
                "the probe can be proven against an authenticated repository",
                lambda: self.choose_repo(repo),
            )
            self.step(
                "create a probe token",
                "create takes scope, repositories, description, expiry and user, and shows "
                "the value once",
                self.create,
            )
            try:
                self.prove_and_revoke(revoke_wait)
            finally:
                if self.state.revoked_at is None and self.state.token is not None:
                    self.clean_up(self.state.token)
        except Failed:
            return False
        return True

    def prove_and_revoke(self, revoke_wait: timedelta) -> None:
        self.step(
            "read the probe back",
            "the list shows a new token at once, with the description (and so the ownership "
            "marker) stored verbatim, its scope, repositories and expiry; the value's jti is "
            "its GUID",
            self.read_back,
        )
        self.step(
            "refuse a wrong value",
            "the repository requires a token: otherwise no proof proves anything",
            self.refuse_wrong_value,
        )
        self.step(
            "prove the probe",
            "a repos:read token reads the repository index with HTTP Basic __token__",
            self.prove,
        )
        self.step(
            "revoke the probe",
            "revoke takes the GUID the list shows",
            self.revoke,
        )
        self.step(
            "refuse the revoked value",
            f"a revoked token stops working within {int(revoke_wait.total_seconds())}s",
            lambda: self.refused_after_revoke(revoke_wait),
        )
        self.step(
            "list the revoked probe",
            "revoked tokens stay listed and are marked revoked (plan reads this to recreate "
            "a token revoked out of band)",
            self.listed_revoked,
        )

    # Steps -------------------------------------------------------------------------------------

    def fail(self, title: str, detail: str) -> Failed:
        return Failed(Step(title, Outcome.FAIL, detail))

    def probe(self) -> LiveToken:
        if self.state.token is None:  # pragma: no cover - steps run in order
            raise RuntimeError("no probe yet")
        return self.state.token

    def check_versions(self, driver: RspmDriver) -> None:
        title = "compare the CLI's version with the server's"
        assumes = "PPM's CLI works with a server of the same major.minor version only"
        cli, server = driver.versions()
        if cli is None or server is None:
            missing = " and ".join(
                what
                for what, version in (
                    ("`rspm --version`", cli),
                    ("the server (GET /__api__/status)", server),
                )
                if version is None
            )
            detail = f"not compared: {missing} reported no version; check them by hand"
            self.report(Step(title, Outcome.NOTE, detail, assumes))
            return
        shown = f"rspm {for_terminal(cli)}, server {for_terminal(server)}"
        if not versions_match(cli, server):
            step = Step(
                title,
                Outcome.FAIL,
                f"{shown}: their major.minor differ; download the CLI from the server at "
                "/__api__/download",
                assumes,
            )
            self.report(step)
            raise Failed(step)
        self.report(Step(title, Outcome.OK, f"{shown}: same major.minor", assumes))

    def list_tokens(self) -> str:
        tokens = self.driver.list_tokens()
        self.state.tokens = tokens
        now = self.clock()
        active = [t for t in tokens if t.is_active(now)]
        detail = f"{len(tokens)} token(s), {len(active)} active"
        probes = [t for t in active if _doctors(t)]
        if probes:
            detail += f"; {len(probes)} earlier probe(s) still active (they expire within a day)"
        if isinstance(self.driver, RspmDriver) and self.driver.last_report is not None:
            detail += f"; fields read: {describe_report(self.driver.last_report)}"
        return detail

    def find_admin(self) -> str:
        title = "find the admin token"
        guid = self.driver.self_guid()
        if guid is None:
            raise self.fail(title, "the admin token is not a JWT with a jti")
        admin = next((t for t in self.state.tokens if t.guid == guid), None)
        if admin is None and self.federated:
            return (
                f"{guid} is not listed: the server keeps the tokens it gives in exchange out "
                "of its list, so no run can see or revoke them"
            )
        if admin is None:
            raise self.fail(
                title,
                f"no listed token has the admin token's jti {guid}: the listing's GUIDs are "
                "not the tokens' jti, so apply could not protect its own token",
            )
        if admin.scope != Scope.GLOBAL_ADMIN.value:
            raise self.fail(
                title,
                f"the admin token {guid} has scope {for_terminal(admin.scope)}, not global:admin",
            )
        if self.federated:
            return (
                f"{guid} (global:admin), given in exchange and listed: apply never revokes "
                "it, but other runs' exchanged tokens are listed too, as unmanaged tokens "
                "(policy.unmanaged: revoke would revoke them mid-run)"
            )
        return f"{guid} (global:admin)"

    def choose_repo(self, wanted: str | None) -> str:
        title = "choose a repository"
        repos = [r for r in self.driver.list_resources() if r.kind == "repo"]
        if wanted is not None:
            repo = next((r for r in repos if r.name == wanted), None)
            if repo is None:
                names = ", ".join(sorted(for_terminal(r.name) for r in repos)) or "none"
                raise self.fail(title, f"no repository {wanted!r}; the server has: {names}")
        else:
            usable = [r for r in repos if r.type in PYTHON_REPO_TYPES | R_REPO_TYPES]
            repo = next(iter(usable), None)
            if repo is None:
                raise self.fail(
                    title, "no Python or R repository to prove a token against: pass --repo NAME"
                )
        self.state.repo = repo
        return f"{for_terminal(repo.name)} ({for_terminal(repo.type)}); choose another with --repo"

    def create(self) -> str:
        repo = self.state.repo
        if repo is None:  # pragma: no cover - steps run in order
            raise RuntimeError("no repository yet")
        request = TokenRequest(
            description=stored_description(PROBE_DESCRIPTION, PROBE_NAMESPACE, PROBE_NAME),
            user=PROBE_USER,
            scope=Scope.REPOS_READ.value,
            resources=(repo.name,),
            expires=self.clock() + PROBE_LIFETIME,
            lifetime=PROBE_LIFETIME,
        )
        try:
            created = self.driver.create_token(request)
        except CreateOutcomeUnknown as exc:
            found = self.revoke_lost_probes(request.description)
            raise self.fail("create a probe token", f"{for_terminal(str(exc))}; {found}") from None
        self.state.request = request
        self.state.token = created.token
        self.state.value = created.value
        return f"{created.token.guid}, repos:read on {for_terminal(repo.name)}, expires in 1 day"

    def revoke_lost_probes(self, description: str) -> str:
        """A create without a usable answer may have made a probe whose value nobody holds:
        find it by its description among tokens not listed before, and revoke it."""
        listed_before = {t.guid for t in self.state.tokens}
        try:
            now = self.clock()
            lost = [
                t.guid
                for t in self.driver.list_tokens()
                if t.description == description and t.guid not in listed_before and t.is_active(now)
            ]
            for guid in lost:
                self.driver.revoke_token(guid)
        except ReconcilerError as exc:
            return (
                f"finding and revoking the probe it may have made failed "
                f"({for_terminal(str(exc))}); it expires within a day, or revoke it by hand"
            )
        if not lost:
            return "it made no probe"
        return f"revoked the probe it made anyway ({', '.join(lost)}), whose value was lost"

    def read_back(self) -> str:
        request, created = self.state.request, self.probe()
        listed = next((t for t in self.driver.list_tokens() if t.guid == created.guid), None)
        if listed is None or request is None:
            raise self.fail("read the probe back", f"the probe {created.guid} is not listed")
        problems = []
        if listed.description != request.description:
            problems.append(
                f"the description came back as {for_terminal(listed.description)!r}, "
                f"not {request.description!r}"
            )
        if listed.scope != request.scope:
            problems.append(f"the scope came back as {for_terminal(listed.scope)!r}")
        if tuple(listed.resources) != request.resources:
            problems.append(f"the repositories came back as {listed.resources!r}")
        if request.expires is None or listed.expires is None:
            problems.append("it has no expiry")
        elif abs(listed.expires - request.expires) > TOLERANCE:
            problems.append(f"it expires at {listed.expires.isoformat()}, not in one day")
        if not listed.is_active(self.clock()):
            problems.append("it is not active")
        if jwtinfo.token_guid(self.state.value.reveal()) != listed.guid:
            problems.append("the value's jti is not the GUID the list shows")
        if problems:
            raise self.fail("read the probe back", "; ".join(problems))
        self.state.token = listed
        return "as created: description with marker, scope, repository, expiry; jti = GUID"

    def refuse_wrong_value(self) -> str:
        probe = self.probe()
        if self.driver.check_token(NOT_A_TOKEN, probe):
            raise self.fail(
                "refuse a wrong value",
                f"repository {for_terminal(probe.resources[0])!r} accepts any value: pick an "
                "authenticated repository with --repo NAME",
            )
        return "refused"

    def prove(self) -> str:
        probe = self.probe()
        if not self.driver.check_token(self.state.value, probe):
            raise self.fail("prove the probe", "the new probe's value was refused")
        return f"read the index of {for_terminal(probe.resources[0])}"

    def revoke(self) -> str:
        probe = self.probe()
        self.driver.revoke_token(probe.guid)
        self.state.revoked_at = self.monotonic()
        return f"revoked {probe.guid}"

    def refused_after_revoke(self, wait: timedelta) -> str:
        probe, started = self.probe(), self.state.revoked_at or self.monotonic()
        deadline = started + wait.total_seconds()
        while self.driver.check_token(self.state.value, probe):
            if self.monotonic() >= deadline:
                raise self.fail(
                    "refuse the revoked value",
                    f"the revoked probe {probe.guid} still works after "
                    f"{int(wait.total_seconds())}s: revocation does not take (or takes longer "
                    "than --revoke-wait); the probe expires within a day",
                )
            self.sleep(POLL_INTERVAL)
        return f"refused after {self.monotonic() - started:.1f}s"

    def listed_revoked(self) -> str:
        title = "list the revoked probe"
        guid = self.probe().guid
        listed = next((t for t in self.driver.list_tokens() if t.guid == guid), None)
        if listed is None:
            raise self.fail(title, "the revoked probe is no longer listed")
        if listed.revoked is None:
            raise self.fail(
                title,
                "the list shows the revoked probe as not revoked: the driver does not read "
                "revocation from this server's answers",
            )
        return "listed, marked revoked"

    def clean_up(self, probe: LiveToken) -> None:
        try:
            self.driver.revoke_token(probe.guid)
        except ReconcilerError as exc:
            detail = (
                f"could not revoke the probe {probe.guid} ({for_terminal(str(exc))}); it "
                "expires within a day, or revoke it by hand"
            )
            self.report(Step("clean up", Outcome.FAIL, detail))
            return
        self.report(Step("clean up", Outcome.NOTE, f"revoked the probe {probe.guid}"))


PROBE_OWNER = parse_owner(stored_description("", PROBE_NAMESPACE, PROBE_NAME))


def _doctors(token: LiveToken) -> bool:
    return parse_owner(token.description) == PROBE_OWNER
