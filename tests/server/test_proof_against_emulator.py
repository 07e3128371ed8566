"""Each scope is proven by a request only that scope may make, which fails without a token."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.errors import ProofInconclusive
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import CreatedToken, LiveToken
from reconciler.server.parse import token_from_json
from reconciler.server.proof import proof_request
from tests.jwt_shapes import jwt_shaped

from .test_http_emulator import request
from .test_http_unit import driver_for, token_json

# scope, resources, the path that proves it
PROOFS: Sequence[tuple[str, tuple[str, ...], str]] = (
    ("global:admin", (), "/__api__/tokens"),
    ("repos:read", ("pypi",), "/pypi/latest/simple/"),
    ("repos:read", ("cran",), "/cran/latest/src/contrib/PACKAGES"),
    ("sources:write", ("internal-src",), "/__api__/sources/internal-src/uploads"),
    ("sources:admin", ("internal-src",), "/__api__/sources/internal-src/settings"),
    ("blocklist:read", (), "/__api__/blocklist"),
    ("blocklist:admin", (), "/__api__/blocklist/settings"),
    ("metadata:read", (), "/__api__/metadata"),
    ("metadata:admin", (), "/__api__/metadata/settings"),
)


def make(driver: HttpDriver, scope: str, resources: tuple[str, ...]) -> CreatedToken:
    return driver.create_token(request(f"{scope} proof", scope=scope, resources=resources))


@pytest.mark.parametrize(("scope", "resources", "path"), PROOFS, ids=[p[2] for p in PROOFS])
def test_a_new_token_is_proven_by_its_scopes_request(
    http_driver: HttpDriver,
    emulator_control: EmulatorControl,
    scope: str,
    resources: tuple[str, ...],
    path: str,
) -> None:
    created = make(http_driver, scope, resources)
    http_driver.list_resources()
    emulator_control.clear_log()

    assert http_driver.check_token(created.value, created.token)
    assert http_driver.check_token(created.value, created.token)

    calls = [(e["status"], e["actor"]) for e in emulator_control.request_log()]
    assert all(e["path"] == path for e in emulator_control.request_log())
    # Once without a token, refused; then the value itself, each time.
    assert calls == [(401, None), (200, created.token.guid), (200, created.token.guid)]


def test_proofs_running_at_once_ask_without_a_token_once_per_path(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    created = [make(http_driver, "repos:read", ("pypi",)) for _ in range(16)]
    http_driver.list_resources()
    # Every proof request is slow, so the first ones overlap.
    emulator_control.set_faults(latency_ms=100, paths="/pypi/")
    emulator_control.clear_log()

    with ThreadPoolExecutor(max_workers=16) as pool:
        proven = list(pool.map(lambda c: http_driver.check_token(c.value, c.token), created))

    assert proven == [True] * 16
    anonymous = [e for e in emulator_control.request_log() if e["actor"] is None]
    assert [(e["path"], e["status"]) for e in anonymous] == [("/pypi/latest/simple/", 401)]
    assert len(emulator_control.request_log()) == 17


# A token of the lesser (or another) scope presented where the stronger one is proven.
WEAKER = (
    ("blocklist:admin", "blocklist:read", ()),
    ("metadata:admin", "metadata:read", ()),
    ("sources:admin", "sources:write", ("internal-src",)),
    ("global:admin", "blocklist:admin", ()),
    ("sources:write", "repos:read", ("pypi",)),
)


@pytest.mark.parametrize(("proven", "presented", "resources"), WEAKER)
def test_a_value_of_a_weaker_scope_does_not_pass_the_proof(
    http_driver: HttpDriver, proven: str, presented: str, resources: tuple[str, ...]
) -> None:
    target_resources = ("internal-src",) if proven.startswith("sources") else ()
    target = make(http_driver, proven, target_resources)
    weaker = make(http_driver, presented, resources)

    assert not http_driver.check_token(weaker.value, target.token)
    assert http_driver.check_token(target.value, target.token)


def test_a_source_token_is_proven_for_its_own_source_only(http_driver: HttpDriver) -> None:
    mine = make(http_driver, "sources:write", ("internal-src",))
    other = make(http_driver, "sources:write", ("git-builder",))

    assert not http_driver.check_token(other.value, mine.token)
    assert http_driver.check_token(mine.value, mine.token)


def test_a_revoked_token_fails_its_proof(http_driver: HttpDriver) -> None:
    created = make(http_driver, "blocklist:read", ())
    http_driver.revoke_token(created.token.guid)
    assert not http_driver.check_token(created.value, created.token)


def live(scope: str, resources: list[str]) -> LiveToken:
    return token_from_json(token_json("g", scope=scope, resources=resources))


def test_a_proof_request_that_works_without_a_token_proves_nothing() -> None:
    """A repository that anyone can read cannot tell a good value from a bad one."""

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/__api__/repos":
            return httpx.Response(200, json=[{"id": "r1", "name": "pypi", "type": "python"}])
        if req.url.path == "/__api__/sources":
            return httpx.Response(200, json=[])
        return httpx.Response(200, text="<html>anyone</html>")

    driver = driver_for(handler)
    with pytest.raises(ProofInconclusive, match="answers without a token"):
        driver.check_token(Secret(jwt_shaped("x")), live("repos:read", ["pypi"]))


def test_a_scope_without_a_proof_request_is_inconclusive() -> None:
    driver = driver_for(lambda req: httpx.Response(200, json=[]))
    with pytest.raises(ProofInconclusive, match="no proof request"):
        driver.check_token(Secret(jwt_shaped("x")), live("packages:fly", []))


def test_a_token_whose_resources_are_all_gone_cannot_work() -> None:
    assert proof_request(live("repos:read", ["gone"]), []) is None
    assert proof_request(live("sources:write", ["gone"]), []) is None
