"""The emulator's identity federation: an identity token of a trusted issuer, for the trusted
audience and subject, unexpired and signed with the issuer's published key, is exchanged for a
PPM token of the configured scope and lifetime; anything else is refused, RFC 6749-style."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import jwtinfo
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.db import Database
from reconciler.emulator.server import RunningEmulator
from reconciler.server.federation import GRANT_TYPE, ID_TOKEN_TYPE
from tests.fakes.oidc_issuer import DISCOVERY, JWKS, OidcIssuer, SigningKey


def exchange(emulator: RunningEmulator, identity: str, **form: str) -> httpx.Response:
    body = {
        "grant_type": GRANT_TYPE,
        "subject_token": identity,
        "subject_token_type": ID_TOKEN_TYPE,
        **form,
    }
    return httpx.post(emulator.url + "/__api__/token", data=body, timeout=10)


def listed(emulator: RunningEmulator, value: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {value}"}
    return httpx.get(emulator.url + "/__api__/tokens", headers=headers, timeout=10)


def test_a_trusted_identity_gets_a_token_of_the_configured_scope_and_lifetime(
    emulator: RunningEmulator, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(lifetime_seconds=600, listed=True))
    oidc_issuer.requests.clear()
    answer = exchange(emulator, oidc_issuer.identity_token())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        600,
        "global:admin",
    )
    assert answer.headers["cache-control"] == "no-store"
    # As PPM would: the keys came by discovery from the issuer named in the configuration.
    assert oidc_issuer.requests == [DISCOVERY, JWKS]
    # A PPM-shaped token that works as an admin token, listed like any other when told so.
    value = body["access_token"]
    tokens = listed(emulator, value).json()
    made = next(t for t in tokens if t["guid"] == jwtinfo.token_guid(value))
    assert made["scope"] == "global:admin"
    assert made["user"] == "repo:acme/pipelines:ref:refs/heads/main"
    claims = jwtinfo.unverified_claims(value) or {}
    assert claims["aud"] == "packagemanager"
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 600
    assert value in emulator_control.issued_values()  # so leak scans look for it


def test_the_exchanged_token_stops_working_after_its_lifetime(
    emulator: RunningEmulator, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(lifetime_seconds=60))
    value = exchange(emulator, oidc_issuer.identity_token()).json()["access_token"]
    answer = listed(emulator, value)
    assert answer.status_code == 200
    # By default it is not listed: whether PPM lists such tokens is not documented.
    assert jwtinfo.token_guid(value) not in {t["guid"] for t in answer.json()}
    assert answer.headers["X-Total-Count"] == "1"
    emulator_control.advance(timedelta(seconds=61))
    assert listed(emulator, value).status_code == 401


@pytest.mark.parametrize(
    ("trust", "token", "words"),
    [
        ({}, {"iss": "https://token.example.org"}, "issuer (https://token.example.org) is not"),
        ({}, {"key": "same-kid"}, "signature does not verify with the issuer's keys"),
        ({}, {"key": "own-kid"}, "no key of the issuer's JWKS matches"),
        ({}, {"aud": "https://other.example.com"}, "audience is not https://ppm.example.com"),
        ({}, {"sub": "repo:evil/fork:ref:refs/heads/main"}, "subject is not one"),
        (
            {"subject": None, "claims": {"repository": "acme/pipelines"}},
            {"repository": "acme/other"},
            "claim 'repository' does not have the trusted value",
        ),
        ({}, {"lifetime": -120}, "identity token expired at"),
        ({}, {"nbf": 4_000_000_000}, "not valid yet"),
    ],
    ids=[
        "wrong-issuer",
        "forged",
        "unknown-key",
        "wrong-audience",
        "wrong-subject",
        "wrong-claim",
        "expired",
        "not-yet",
    ],
)
def test_an_untrusted_identity_token_is_refused(  # noqa: PLR0917
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    oidc_issuer: OidcIssuer,
    trust: dict[str, Any],
    token: dict[str, Any],
    words: str,
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(**trust))
    forged = token.pop("key", None)
    if forged is not None:
        own = SigningKey.new()
        token["key"] = SigningKey(own.private, oidc_issuer.key.kid) if forged == "same-kid" else own
    subject_token = oidc_issuer.identity_token(**token)
    answer = exchange(emulator, subject_token)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert words in body["error_description"]
    assert subject_token not in answer.text
    assert len(emulator_control.issued_values()) == 1  # only the bootstrap admin token


def test_an_identity_token_that_expired_by_the_servers_clock_is_refused(
    emulator: RunningEmulator, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust())
    subject_token = oidc_issuer.identity_token(lifetime=300)
    emulator_control.advance(timedelta(hours=1))
    answer = exchange(emulator, subject_token)
    assert answer.status_code == 400
    assert "expired at" in answer.json()["error_description"]


def test_a_narrower_scope_is_granted_as_configured_and_is_not_enough_for_the_token_api(
    emulator: RunningEmulator, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(scope="repos:read", resources=["pypi"]))
    identity = oidc_issuer.identity_token()
    asked = exchange(emulator, identity, scope="global:admin")
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_scope"
    assert "granted repos:read, not global:admin" in asked.json()["error_description"]
    granted = exchange(emulator, identity)
    assert granted.json()["scope"] == "repos:read"
    assert listed(emulator, granted.json()["access_token"]).status_code == 403


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"subject_token": ""}, "invalid_request"),
    ],
)
def test_a_malformed_exchange_request_is_refused(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    oidc_issuer: OidcIssuer,
    form: dict[str, str],
    error: str,
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust())
    answer = exchange(emulator, oidc_issuer.identity_token(), **form)
    assert (answer.status_code, answer.json()["error"]) == (400, error)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_only_rs256_is_accepted(
    emulator: RunningEmulator, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer, alg: str
) -> None:
    """`none`, or HS256 with the issuer's public key as the secret, would let anyone sign."""
    emulator_control.trust_issuers(oidc_issuer.trust())
    _, claims, signature = oidc_issuer.identity_token().split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode()
    answer = exchange(emulator, f"{header}.{claims}.{'' if alg == 'none' else signature}")
    assert answer.status_code == 400
    assert f"signed with '{alg}'; only RS256 is accepted" in answer.json()["error_description"]


def test_an_entry_that_would_trust_every_identity_of_an_issuer_is_refused(
    emulator_control: EmulatorControl, oidc_issuer: OidcIssuer
) -> None:
    with pytest.raises(RuntimeError, match="needs a subject or claims"):
        emulator_control.trust_issuers(oidc_issuer.trust(subject=None))
    assert emulator_control.trusted_issuers() == []
    emulator_control.trust_issuers(oidc_issuer.trust(lifetime_seconds=120))
    (entry,) = emulator_control.trusted_issuers()
    assert (entry["issuer"], entry["lifetime_seconds"]) == (oidc_issuer.url, 120)


def test_a_database_from_before_unlisted_tokens_keeps_listing_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE tokens (guid TEXT PRIMARY KEY, description TEXT NOT NULL, user TEXT "
            "NOT NULL, email TEXT, scope TEXT NOT NULL, resources TEXT NOT NULL, resource_ids "
            "TEXT NOT NULL, created TEXT NOT NULL, expires TEXT, revoked TEXT)"
        )
        old.execute(
            "INSERT INTO tokens VALUES ('g1', 'd', 'u', NULL, 'repos:read', '[\"*\"]', '[]', "
            "'2026-01-01T00:00:00Z', NULL, NULL)"
        )
    db = Database(path)
    try:
        assert [row.guid for row in db.tokens(10, 0)] == ["g1"]
        assert db.token_count() == 1
    finally:
        db.close()
