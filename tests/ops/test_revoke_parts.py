"""The revoke command's parts that need no server: reading a token back out of a payload, the
post-revoke check's polling (its clock passed in), and the incident record."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from reconciler.commands.revoke import RevokeOptions, Waiting, check_revoked
from reconciler.desired.model import SecretFormat
from reconciler.errors import ServerError
from reconciler.ops.incident import (
    CheckMethod,
    Incident,
    Replacement,
    RevocationCheck,
    Survivor,
    render_incident,
    survivors,
)
from reconciler.ops.view import build_views
from reconciler.ownership import stored_description
from reconciler.secret import Secret
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta
from reconciler.stores.formats import render_payload, token_from_payload
from tests.jwt_shapes import jwt_shaped
from tests.ops.helpers import NOW, live, spec_from
from tests.ops.seed import HOSTILE

VALUE = Secret(jwt_shaped("g"))


def test_token_from_each_payload_format() -> None:
    meta = SecretMeta("g", "n", "ns", NOW, None, "repos:read")
    for fmt in SecretFormat:
        payload = render_payload(VALUE, fmt, server_url="https://ppm.example.com", meta=meta)
        assert token_from_payload(payload, fmt.value) == VALUE
    assert token_from_payload(Secret("not json"), "json") is None
    assert token_from_payload(Secret("machine h login x"), "netrc") is None
    assert token_from_payload(Secret("  \n"), None) is None


class SlowServer:
    """Accepts the revoked value for `lag` checks (propagation), then refuses it."""

    def __init__(self, lag: int, *, errors: int = 0) -> None:
        self.lag, self.errors, self.checks = lag, errors, 0

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        self.checks += 1
        if self.errors:
            self.errors -= 1
            raise ServerError("503 from the server")
        return self.checks <= self.lag

    def list_tokens(self) -> list[LiveToken]:
        token = live("g")
        if self.checks >= self.lag:
            token = dataclasses.replace(token, revoked=NOW)
        self.checks += 1
        return [token]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def check(
    server: SlowServer, value: Secret | None, deadline: float = 60
) -> tuple[RevocationCheck, FakeTime]:
    clock = FakeTime()
    view = build_views([live("g")], [], NOW)[0]
    options = RevokeOptions("g", check_interval=2.0, check_deadline=deadline)
    result = check_revoked(
        view,
        server,  # type: ignore[arg-type]
        value=value,
        source="store 'local', secret 'g'",
        options=options,
        waiting=Waiting(sleep=clock.sleep, monotonic=clock.monotonic),
    )
    return result, clock


def test_polls_until_the_value_is_refused() -> None:
    result, clock = check(SlowServer(lag=3, errors=1), VALUE)
    assert result.confirmed and result.method is CheckMethod.VALUE
    assert clock.sleeps == [2.0] * 3  # an error, two acceptances, then refused
    assert "is refused after 6s" in result.describe()


def test_gives_up_at_the_deadline() -> None:
    result, clock = check(SlowServer(lag=1000), VALUE, deadline=10)
    assert not result.confirmed
    assert clock.now == 10
    assert "was still accepted" in result.describe()


def test_without_the_value_checks_the_listing() -> None:
    result, _ = check(SlowServer(lag=2), None)
    assert result.confirmed and result.method is CheckMethod.LISTING
    assert "listing" in result.describe()


def test_incident_record_names_both_guids_and_escapes() -> None:
    view = build_views([live("old-guid", HOSTILE, age=timedelta(days=3))], [], NOW)[0]
    record = render_incident(
        Incident(
            revoked=view,
            at=NOW,
            server="https://ppm.example.com",
            check=RevocationCheck(CheckMethod.VALUE, True, 0.0, "store 'local', secret 'x'"),
            replacement=Replacement("new-guid", "local", "x"),
            next_apply="nothing to do",
        )
    )
    assert "old-guid" in record and "new-guid" in record
    assert "<script>" not in record and "\x1b" not in record and "\u202e" not in record
    assert "## What consumers must do" in record
    assert VALUE.reveal() not in record


READER = """\
- name: reader
  user: someone@example.com
  description: Reads
  scope: repos:read
  resources: [pypi]
"""


def reader(label: str, days: int) -> LiveToken:
    return live(
        GUIDS[label], stored_description("Reads", "team", "reader"), age=timedelta(days=days)
    )


GUIDS = {
    label: f"00000000-0000-4000-8000-00000000000{n}"
    for n, label in enumerate(("cur", "failed", "kept", "admin", "gone", "asked"))
}


def test_each_generation_left_active_is_named_with_why_and_the_command() -> None:
    spec = spec_from(READER, header=f"policy: {{protect: [{GUIDS['kept']}]}}\n")
    tokens = [reader("cur", 1), reader("failed", 2), reader("kept", 3), reader("admin", 4)]
    tokens += [reader("gone", 5), reader("asked", 6)]
    views = build_views(tokens, [spec], NOW, self_guid=GUIDS["admin"])
    others = [v for v in views if v.guid != GUIDS["asked"]]
    still = {GUIDS[label] for label in ("cur", "failed", "kept", "admin")}
    left = survivors(others, still, [spec], failed={GUIDS["failed"]: "503 from the server"})
    what = "an older generation of team/reader"
    assert [(GUIDS_BY_VALUE[s.guid], s.why, s.command) for s in left] == [
        (
            "cur",
            "the current token of team/reader, which consumers read from the store",
            f"ppm-tokens revoke {GUIDS['cur']} -f tokens.yaml --replace --yes",
        ),
        (
            "failed",
            f"{what}; its revoke failed: 503 from the server",
            f"ppm-tokens revoke {GUIDS['failed']} -f tokens.yaml --yes",
        ),
        (
            "kept",
            f"{what}, listed in policy.protect of tokens.yaml: remove it from there first",
            f"ppm-tokens revoke {GUIDS['kept']} -f tokens.yaml --yes",
        ),
        (
            "admin",
            f"{what} and the token this command authenticates with: use another admin token",
            f"ppm-tokens revoke {GUIDS['admin']} -f tokens.yaml --yes",
        ),
    ]


GUIDS_BY_VALUE = {value: label for label, value in GUIDS.items()}


def test_incident_record_names_what_else_it_revoked_and_what_is_left() -> None:
    view = build_views([live("old-guid", age=timedelta(days=3))], [], NOW)[0]
    left = Survivor("kept-guid", "listed in policy.protect", "ppm-tokens revoke kept-guid --yes")
    record = render_incident(
        Incident(
            revoked=view,
            at=NOW,
            server="https://ppm.example.com",
            check=RevocationCheck(CheckMethod.LISTING, True, 0.0),
            replacement=Replacement("new-guid", "local", "x"),
            also_revoked=("older-guid",),
            survivors=(left,),
        )
    )
    assert "- **Also revoked:** <code>older-guid</code>, the older generations" in record
    assert (
        "- **Still active:** <code>kept-guid</code>, listed in policy\\.protect; revoke it with "
        "<code>ppm-tokens revoke kept-guid --yes</code>" in record
    )
    assert "- [ ] Decide about <code>kept-guid</code>, still active:" in record
