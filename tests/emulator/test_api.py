"""The emulator's token API over real HTTP: the contract the `http` driver relies on."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from reconciler.emulator.clock import parse_iso
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import BOOTSTRAP_DESCRIPTION, RunningEmulator, start_emulator


@pytest.fixture
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emulator.admin_token()}"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as client:
        yield client


def create(api: httpx.Client, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "description": "a token",
        "user": "analyst@example.com",
        "scope": "repos:read",
        "resources": ["pypi"],
        "expires": "30d",
    }
    body.update(fields)
    response = api.post("/__api__/tokens", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def basic(value: object) -> dict[str, str]:
    pair = base64.b64encode(f"__token__:{value}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def bearer(value: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def repos(api: httpx.Client) -> dict[str, str]:
    return {r["name"]: r["id"] for r in api.get("/__api__/repos").json()}


def test_status_and_seeded_resources(api: httpx.Client) -> None:
    assert api.get("/__api__/status").json() == {"version": "2026.10.0-emulator"}
    listed = api.get("/__api__/repos").json()
    assert {(r["name"], r["type"]) for r in listed} == {
        ("cran", "r"),
        ("pypi", "python"),
        ("bioconductor", "bioconductor"),
        ("internal", "python"),
    }
    assert set(listed[0]) == {"id", "name", "type", "description", "created", "hidden"}
    sources = {s["name"]: s["type"] for s in api.get("/__api__/sources").json()}
    assert sources == {
        "internal-src": "local-python",
        "pypi-src": "pypi",
        "cran-src": "cran",
        "git-builder": "git",
    }


def test_database_holding_issued_values_is_private(emulator: RunningEmulator) -> None:
    assert stat.S_IMODE(os.stat(emulator.db_path).st_mode) == 0o600


def test_bootstrap_admin_token_file_is_private(emulator: RunningEmulator) -> None:
    mode = stat.S_IMODE(os.stat(emulator.admin_token_file).st_mode)
    assert mode == 0o600
    claims_part = emulator.admin_token().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    assert claims["aud"] == "packagemanager"
    assert claims["scopes"] == [{"scope": "global:admin", "resources": []}]
    assert "exp" not in claims


def test_admin_token_file_follows_no_planted_link_and_stays_private(tmp_path: Path) -> None:
    """In a shared directory someone may plant a link where a fixed temporary name would be
    written: the token must not land where it points. A token file made by hand with wider
    permissions is narrowed when it is reused."""
    state = tmp_path / "state"
    state.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    (state / ".admin.token.partial").symlink_to(victim)
    first = start_emulator(db_path=state / "e.db", admin_token_file=state / "admin.token")
    first.stop()
    assert victim.read_text() == "untouched\n"
    assert stat.S_IMODE(os.stat(state / "admin.token").st_mode) == 0o600
    (state / "admin.token").chmod(0o644)
    again = start_emulator(db_path=state / "e.db", admin_token_file=state / "admin.token")
    again.stop()
    assert stat.S_IMODE(os.stat(state / "admin.token").st_mode) == 0o600
    assert again.admin_token() == first.admin_token()


def test_create_list_revoke(api: httpx.Client) -> None:
    created = create(api, description="ds read", resources=["pypi", "cran"])
    value = created.pop("token")
    assert isinstance(value, str) and value.count(".") == 2
    ids = repos(api)
    assert created["resources"] == ["pypi", "cran"]
    assert created["resource_ids"] == [ids["pypi"], ids["cran"]]
    assert str(created["created"]).endswith("Z")
    assert created["revoked"] is None
    listed = {t["guid"]: t for t in api.get("/__api__/tokens").json()}
    assert listed[created["guid"]] == created
    assert all("token" not in t for t in listed.values())

    revoked = api.post(f"/__api__/tokens/{created['guid']}/revoke")
    assert revoked.status_code == 200
    first_time = revoked.json()["revoked"]
    assert first_time is not None
    again = api.post(f"/__api__/tokens/{created['guid']}/revoke")
    assert again.status_code == 200
    assert again.json()["revoked"] == first_time
    listed = {t["guid"]: t for t in api.get("/__api__/tokens").json()}
    assert listed[created["guid"]]["revoked"] == first_time
    assert api.post("/__api__/tokens/no-such-guid/revoke").status_code == 404


def test_never_expiring_and_star_resources(api: httpx.Client) -> None:
    created = create(api, resources=["*"], expires=None)
    assert created["expires"] is None
    assert created["resources"] == ["*"]
    assert created["resource_ids"] == []
    admin = create(api, scope="metadata:read", resources=[], expires="2099-01-01T00:00:00Z")
    assert admin["expires"] == "2099-01-01T00:00:00.000000Z"


def test_pagination_is_stable_and_complete(api: httpx.Client) -> None:
    guids = {create(api, description=f"t{i}")["guid"] for i in range(7)}
    pages = [api.get("/__api__/tokens", params={"_limit": 3, "_page": p}).json() for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [3, 3, 2]  # 7 created + the bootstrap admin
    seen = [t["guid"] for page in pages for t in page]
    assert len(set(seen)) == 8
    assert guids <= set(seen)
    order = [(t["created"], t["guid"]) for page in pages for t in page]
    assert order == sorted(order)
    assert api.get("/__api__/tokens", params={"_limit": 3, "_page": 4}).json() == []
    assert api.get("/__api__/tokens", params={"_limit": 0}).status_code == 400


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scope": "repos:write"}, "unknown scope 'repos:write'"),
        ({"resources": ["foo"]}, "unknown repository 'foo'"),
        ({"scope": "sources:write", "resources": ["pypi"]}, "unknown source 'pypi'"),
        ({"scope": "global:admin", "resources": ["pypi"]}, "takes no resources"),
        ({"resources": []}, "needs at least one repo"),
        ({"description": "x" * 501}, "longer than 500"),
        ({"expires": "2001-01-01T00:00:00Z"}, "in the past"),
        ({"expires": "soon"}, "not a time"),
        ({"user": None}, "user is required"),
    ],
    ids=[
        "unknown-scope",
        "unknown-repo",
        "repo-as-source",
        "resources-for-admin",
        "no-resources",
        "long-description",
        "past-expiry",
        "bad-expiry",
        "no-user",
    ],
)
def test_validation_errors(api: httpx.Client, fields: dict[str, object], message: str) -> None:
    body: dict[str, object] = {
        "description": "d",
        "user": "u",
        "scope": "repos:read",
        "resources": ["pypi"],
    }
    body.update(fields)
    response = api.post("/__api__/tokens", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_scope_enforcement(api: httpx.Client, emulator: RunningEmulator) -> None:
    reader = create(api)["token"]
    with httpx.Client(base_url=emulator.url) as anon:
        assert anon.get("/__api__/tokens").status_code == 401
        assert anon.get("/__api__/tokens", headers=bearer("not.a.jwt")).status_code == 401
        assert anon.get("/__api__/tokens", headers=bearer(reader)).status_code == 403
        assert anon.post("/__api__/tokens", json={}, headers=bearer(reader)).status_code == 403
        assert anon.get("/__emulator__/log", headers=bearer(reader)).status_code == 403
        assert anon.get("/__emulator__/log").status_code == 401
        # Public listing, but a presented token must be valid.
        assert anon.get("/__api__/repos").status_code == 200
        assert anon.get("/__api__/repos", headers=bearer(reader)).status_code == 200
        assert anon.get("/__api__/repos", headers=bearer("a.b.c")).status_code == 401


def test_forged_signature_is_refused(api: httpx.Client, emulator: RunningEmulator) -> None:
    header, claims, _ = emulator.admin_token().split(".")
    forged = f"{header}.{claims}.{base64.urlsafe_b64encode(b'x' * 32).decode().rstrip('=')}"
    assert httpx.get(emulator.url + "/__api__/tokens", headers=bearer(forged)).status_code == 401


def test_repository_access(api: httpx.Client, emulator: RunningEmulator) -> None:
    pypi = create(api, resources=["pypi"])["token"]
    everything = create(api, resources=["*"])["token"]
    writer = create(api, scope="sources:write", resources=["internal-src"])["token"]
    url = emulator.url
    index = httpx.get(f"{url}/pypi/latest/simple/", headers=basic(pypi))
    assert index.status_code == 200
    assert "ppmdemo" in index.text
    assert (
        httpx.get(f"{url}/cran/latest/src/contrib/PACKAGES", headers=basic(pypi)).status_code == 401
    )
    packages = httpx.get(f"{url}/cran/latest/src/contrib/PACKAGES", headers=basic(everything))
    assert packages.status_code == 200
    assert packages.text.startswith("Package: ppmdemo")
    admin = basic(emulator.admin_token())
    assert httpx.get(f"{url}/internal/latest/simple/", headers=admin).status_code == 200
    refused = httpx.get(f"{url}/pypi/latest/simple/", headers=basic(writer))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="packagemanager"'
    assert httpx.get(f"{url}/pypi/latest/simple/").status_code == 401
    assert httpx.get(f"{url}/nope/latest/simple/", headers=admin).status_code == 404
    assert httpx.get(f"{url}/pypi/latest/src/contrib/PACKAGES", headers=admin).status_code == 404


def test_revoked_token_is_refused_and_still_listed(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    created = create(api, scope="global:admin", resources=[])
    headers = bearer(created["token"])
    assert httpx.get(emulator.url + "/__api__/tokens", headers=headers).status_code == 200
    api.post(f"/__api__/tokens/{created['guid']}/revoke")
    assert httpx.get(emulator.url + "/__api__/tokens", headers=headers).status_code == 401
    assert httpx.get(emulator.url + "/__api__/repos", headers=headers).status_code == 401
    assert created["guid"] in {t["guid"] for t in api.get("/__api__/tokens").json()}


def test_expiry_follows_the_emulator_clock(
    api: httpx.Client, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    created = create(api, expires="2h")
    value = created["token"]
    url = f"{emulator.url}/pypi/latest/simple/"
    assert httpx.get(url, headers=basic(value)).status_code == 200
    before = emulator_control.now()
    emulator_control.advance(timedelta(hours=3))
    moved = emulator_control.now()
    assert timedelta(hours=3) <= moved - before < timedelta(hours=3, minutes=1)
    assert httpx.get(url, headers=basic(value)).status_code == 401
    listed = {t["guid"]: t for t in api.get("/__api__/tokens").json()}
    assert parse_iso(str(listed[created["guid"]]["expires"])) < moved
    assert listed[created["guid"]]["revoked"] is None
    # New tokens are stamped with the emulator's time, not the wall clock.
    later = create(api)
    assert parse_iso(str(later["created"])) >= moved


def test_clock_controls(emulator_control: EmulatorControl) -> None:
    target = parse_iso("2030-06-01T12:00:00Z")
    emulator_control.set_now(target, frozen=True)
    assert emulator_control.now() == target
    emulator_control.advance(timedelta(days=1))
    assert emulator_control.now() == target + timedelta(days=1)
    emulator_control.set_now(target)
    assert target <= emulator_control.now() < target + timedelta(minutes=1)
    emulator_control.reset_clock()
    assert emulator_control.now().year < 2030


def test_answers_are_dated_by_the_emulator_clock(
    api: httpx.Client, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    """As a real server dates its answers by its own clock: apply reads it (HTTP Date)."""
    target = parse_iso("2031-05-01T08:30:00Z")
    emulator_control.set_now(target, frozen=True)
    for response in (
        api.get("/__api__/tokens"),
        httpx.get(f"{emulator.url}/pypi/latest/simple/"),  # refused: dated all the same
    ):
        dates = response.headers.get_list("date")
        assert len(dates) == 1, dates
        assert parsedate_to_datetime(dates[0]) == target


def test_recreated_repository_gets_a_new_guid(
    api: httpx.Client, emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    created = create(api, resources=["pypi"])
    old_id = repos(api)["pypi"]
    url = f"{emulator.url}/pypi/latest/simple/"
    assert httpx.get(url, headers=basic(created["token"])).status_code == 200
    new_id = emulator_control.recreate_repo("pypi")
    assert new_id != old_id
    assert repos(api)["pypi"] == new_id
    assert httpx.get(url, headers=basic(created["token"])).status_code == 401
    listed = {t["guid"]: t for t in api.get("/__api__/tokens").json()}
    assert listed[created["guid"]]["resources"] == ["pypi"]
    assert listed[created["guid"]]["resource_ids"] == [old_id]
    fresh = create(api, resources=["pypi"])
    assert fresh["resource_ids"] == [new_id]
    assert httpx.get(url, headers=basic(fresh["token"])).status_code == 200


def test_request_log_and_issued_values(
    api: httpx.Client, emulator_control: EmulatorControl, emulator: RunningEmulator
) -> None:
    emulator_control.clear_log()
    created = create(api)
    log = emulator_control.request_log()
    post = next(e for e in log if e["method"] == "POST")
    admin_guid = next(
        t["guid"]
        for t in api.get("/__api__/tokens").json()
        if t["description"] == BOOTSTRAP_DESCRIPTION
    )
    assert post["path"] == "/__api__/tokens"
    assert post["status"] == 201
    assert post["token_guid"] == created["guid"]
    assert post["actor"] == admin_guid
    assert emulator_control.issued_values() == [emulator.admin_token(), created["token"]]
    assert all(not str(e["path"]).startswith("/__emulator__/") for e in log)
    emulator_control.clear_log()
    assert emulator_control.request_log() == []


def test_restart_keeps_everything(tmp_path: Path) -> None:
    db, token_file = tmp_path / "state.db", tmp_path / "secrets" / "admin.token"
    first = start_emulator(db_path=db, admin_token_file=token_file)
    try:
        admin = first.admin_token()
        headers = bearer(admin)
        with httpx.Client(base_url=first.url, headers=headers) as client:
            kept = create(client)
            gone = create(client)
            client.post(f"/__api__/tokens/{gone['guid']}/revoke")
            with EmulatorControl(first.url, admin) as control:
                control.advance(timedelta(days=10))
                control.recreate_repo("cran")
            before = client.get("/__api__/tokens").json()
            resources_before = client.get("/__api__/repos").json()
    finally:
        first.stop()
    second = start_emulator(db_path=db, admin_token_file=token_file)
    try:
        assert second.admin_token() == admin  # the file still held a working token
        with httpx.Client(base_url=second.url, headers=headers) as client:
            assert client.get("/__api__/tokens").json() == before
            assert client.get("/__api__/repos").json() == resources_before
            url = f"{second.url}/pypi/latest/simple/"
            assert httpx.get(url, headers=basic(kept["token"])).status_code == 200
            assert httpx.get(url, headers=basic(gone["token"])).status_code == 401
        with EmulatorControl(second.url, admin) as control:
            assert control.now() - parse_iso(str(kept["created"])) > timedelta(days=9)
    finally:
        second.stop()
    token_file.unlink()
    third = start_emulator(db_path=db, admin_token_file=token_file)
    try:
        minted = third.admin_token()
        assert minted != admin
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        response = httpx.get(third.url + "/__api__/tokens", headers=bearer(minted))
        assert response.status_code == 200
        assert len(response.json()) == len(before) + 1
    finally:
        third.stop()


def test_listing_fast_path_matches_the_token_objects(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    create(api, expires=None, resources=["*"])
    gone = create(api, email="a@example.com", resources=["pypi", "cran"])
    api.post(f"/__api__/tokens/{gone['guid']}/revoke")
    db = emulator.app.db
    fast = db.token_page_json(1000, 0)
    assert len(fast) == 3
    assert fast == [row.to_json() for row in db.tokens(1000, 0)]
