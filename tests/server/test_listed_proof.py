"""The weaker proof a spec may declare per scope (server.proof: {SCOPE: listed}) for a server
where no request can prove it: the listed token has the new GUID, scope and resources and is
active, and the value's jti is that GUID. Both drivers use it; every other scope keeps its
request."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import ProofInconclusive
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken
from reconciler.server.proof import listed_proof
from reconciler.server.rspm import RspmDriver
from tests.jwt_shapes import jwt_shaped

from .test_http_emulator import request
from .test_rspm_driver import FAKE_RSPM, clean_env

NOW = datetime(2026, 3, 1, tzinfo=UTC)
GUID = "6f1c2a4e-0b7d-4c8e-9a3f-1d2e3f4a5b6c"
LISTED = LiveToken(
    guid=GUID,
    description="d",
    user="u",
    scope="sources:write",
    resources=("internal-src", "pypi-src"),
    resource_ids=("a", "b"),
    created=NOW - timedelta(minutes=1),
    expires=NOW + timedelta(days=1),
)


@pytest.mark.parametrize(
    ("listed", "value", "why"),
    [
        ([LISTED], jwt_shaped(GUID), None),
        ([replace(LISTED, resources=("pypi-src", "internal-src"))], jwt_shaped(GUID), None),
        ([LISTED], jwt_shaped("another-guid"), "the value's jti is not the GUID"),
        ([LISTED], "not-a-jwt", "the value's jti is not the GUID"),
        ([], jwt_shaped(GUID), "does not show"),
        ([replace(LISTED, scope="sources:admin")], jwt_shaped(GUID), "with scope sources:admin"),
        ([replace(LISTED, resources=("internal-src",))], jwt_shaped(GUID), "other resources"),
        ([replace(LISTED, revoked=NOW)], jwt_shaped(GUID), "as revoked"),
        ([replace(LISTED, expires=NOW)], jwt_shaped(GUID), "as expired"),
    ],
    ids=[
        "holds",
        "resources-in-another-order",
        "another-jti",
        "not-a-jwt",
        "not-listed",
        "other-scope",
        "other-resources",
        "revoked",
        "expired",
    ],
)
def test_the_listed_proof(listed: list[LiveToken], value: str, why: str | None) -> None:
    found = listed_proof(listed, Secret(value), LISTED, NOW)
    assert (found is None) if why is None else (why in (found or ""))


def test_a_declared_scope_is_proven_by_the_list_where_its_request_cannot_tell(
    emulator: RunningEmulator, emulator_control: EmulatorControl, admin_token: Secret
) -> None:
    emulator_control.set_faults(public_paths="^/__api__/blocklist$")
    with (
        HttpDriver(emulator.url, admin_token) as plain,
        HttpDriver(emulator.url, admin_token, listed_scopes=frozenset({"blocklist:read"})) as weak,
    ):
        created = weak.create_token(request(scope="blocklist:read", resources=()))
        with pytest.raises(ProofInconclusive, match="answers without a token"):
            plain.check_token(created.value, created.token)
        emulator_control.clear_log()
        assert weak.check_token(created.value, created.token)
        assert not weak.check_token(Secret(jwt_shaped(GUID)), created.token)
        # The value is never sent: only the list is read.
        assert {e["path"] for e in emulator_control.request_log()} == {"/__api__/tokens"}
        # Other scopes keep their request.
        reader = weak.create_token(request(scope="repos:read", resources=("pypi",)))
        emulator_control.clear_log()
        assert weak.check_token(reader.value, reader.token)
        assert "/pypi/latest/simple/" in {e["path"] for e in emulator_control.request_log()}
        weak.revoke_token(created.token.guid)
        assert not weak.check_token(created.value, created.token)


def listings(log: Path) -> int:
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return sum(1 for argv in calls if argv[:2] == ["list", "tokens"])


def test_the_rspm_driver_reads_the_list_of_its_cli(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    admin_token: Secret,
    tmp_path: Path,
) -> None:
    log = tmp_path / "rspm.log"
    http = HttpDriver(emulator.url, admin_token, listed_scopes=frozenset({"metadata:admin"}))
    env = clean_env(FAKE_RSPM_LOG=str(log))
    with RspmDriver([str(FAKE_RSPM)], emulator.url, admin_token, env=env, http=http) as driver:
        created = driver.create_token(request(scope="metadata:admin", resources=()))
        emulator_control.clear_log()
        before = listings(log)
        assert driver.check_token(created.value, created.token)
        assert listings(log) == before + 1
        assert all(
            e["path"] != "/__api__/metadata/settings" for e in emulator_control.request_log()
        )
