"""The github store against a fake of GitHub's Actions secrets and variables API that holds a
real libsodium key pair and decrypts every secret it receives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from tests.fakes.github import RunningGitHub, github
from tests.stores.payloads import new_payload

from .github_stores import REPO, close_stores, make_store

__all__ = ["close_stores", "github"]  # fixtures


def test_put_seals_the_secret_and_writes_the_metadata_to_a_variable(
    github: RunningGitHub, tmp_path: Path
) -> None:
    store = make_store(github, tmp_path)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    scope = github.fake.scope(f"repo:{REPO}")
    # The fake opened the sealed box with its private key: what arrived is the payload.
    assert scope.secrets["PPM_TOKEN"].value == payload.payload.reveal()
    variable = scope.variables["PPM_TOKEN_PPM_TOKENS_META"].value
    assert json.loads(variable) == payload.meta.to_strings()
    assert payload.payload.reveal() not in variable
    assert store.read_meta("PPM_TOKEN") == payload.meta
    assert store.read_value_hash("PPM_TOKEN") is None


def test_environment_secrets(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path, repository=REPO, environment="production")
    payload = new_payload()

    store.put("PPM_ADMIN_TOKEN", payload)

    assert github.fake.secret_value(f"env:{REPO}:production", "PPM_ADMIN_TOKEN") == (
        payload.payload.reveal()
    )
    assert github.fake.secret_value(f"repo:{REPO}", "PPM_ADMIN_TOKEN") is None
    assert store.read_meta_many(["PPM_ADMIN_TOKEN"]) == {"PPM_ADMIN_TOKEN": payload.meta}


def test_organization_secrets_for_selected_repositories(
    github: RunningGitHub, tmp_path: Path
) -> None:
    store = make_store(
        github,
        tmp_path,
        organization="acme",
        visibility="selected",
        selected_repositories=[REPO, "acme/web"],
    )
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    scope = github.fake.scope("org:acme")
    entry = scope.secrets["PPM_TOKEN"]
    assert entry.value == payload.payload.reveal()
    assert entry.visibility == "selected"
    assert entry.selected_repository_ids == [
        github.fake.repositories[REPO],
        github.fake.repositories["acme/web"],
    ]
    assert scope.variables["PPM_TOKEN_PPM_TOKENS_META"].visibility == "selected"
    assert store.read_meta("PPM_TOKEN") == payload.meta


def test_a_retried_put_leaves_one_secret(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)
    store.put("PPM_TOKEN", payload)

    scope = github.fake.scope(f"repo:{REPO}")
    assert list(scope.secrets) == ["PPM_TOKEN"]
    assert store.read_meta("PPM_TOKEN") == payload.meta


def test_a_rotated_public_key_is_read_again(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    store.put("FIRST", new_payload())
    github.fake.scope(f"repo:{REPO}").rotate_key()
    payload = new_payload()

    store.put("SECOND", payload)

    assert github.fake.secret_value(f"repo:{REPO}", "SECOND") == payload.payload.reveal()


def test_a_secret_set_by_hand_afterwards_makes_the_metadata_stale(
    github: RunningGitHub, tmp_path: Path
) -> None:
    store = make_store(github, tmp_path)
    store.put("PPM_TOKEN", new_payload())

    github.fake.touch_secret(f"repo:{REPO}", "PPM_TOKEN", "pasted in the web UI")

    assert store.read_meta("PPM_TOKEN") is None
    assert store.read_meta_many(["PPM_TOKEN"]) == {"PPM_TOKEN": None}


def test_read_meta_many_is_two_paged_listings(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    payloads = {f"T{i:02d}": new_payload(f"t{i:02d}") for i in range(35)}
    for key, payload in payloads.items():
        store.put(key, payload)
    github.fake.requests.clear()

    found = store.read_meta_many([*payloads, "MISSING"])

    assert found == {**{k: p.meta for k, p in payloads.items()}, "MISSING": None}
    # 35 secrets fit one page of 100; 35 variables take two pages of 30.
    assert [(m, p) for m, p, _ in github.fake.requests] == [
        ("GET", f"/repos/{REPO}/actions/secrets"),
        ("GET", f"/repos/{REPO}/actions/variables"),
        ("GET", f"/repos/{REPO}/actions/variables"),
    ]


def test_it_cannot_restore_and_says_so(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    payload = new_payload()
    store.put("PPM_TOKEN", payload)

    assert store.restore_previous("PPM_TOKEN", payload.meta.token_guid) is False
    assert store.restore_previous("PPM_TOKEN", "another-guid") is True
    assert store.read_meta("PPM_TOKEN") == payload.meta


@pytest.mark.parametrize("before", ["nothing", "an older token"])
def test_a_token_that_may_write_secrets_but_not_variables_writes_nothing(
    github: RunningGitHub, tmp_path: Path, before: str
) -> None:
    """Secrets may be written, variables only read: the intent, a variable written before the
    secret, is refused, so no secret is written and the new token can be revoked."""
    writer = make_store(github, tmp_path)
    old = new_payload()
    if before == "an older token":
        writer.put("PPM_TOKEN", old)
    held = github.fake.secret_value(f"repo:{REPO}", "PPM_TOKEN")
    store = make_store(github, tmp_path, grants={REPO: {"secrets": "write", "variables": "read"}})
    payload = new_payload()

    with pytest.raises(StoreError, match=r"writing variable PPM_TOKEN_PPM_TOKENS_META.*HTTP 403"):
        store.put("PPM_TOKEN", payload)

    assert github.fake.secret_value(f"repo:{REPO}", "PPM_TOKEN") == held
    assert store.restore_previous("PPM_TOKEN", payload.meta.token_guid) is True
    assert store.read_meta("PPM_TOKEN") == (old.meta if before == "an older token" else None)


def test_a_refused_secret_write_leaves_nothing_to_undo(
    github: RunningGitHub, tmp_path: Path
) -> None:
    store = make_store(github, tmp_path, grants={REPO: {"secrets": "read", "variables": "write"}})
    payload = new_payload()

    with pytest.raises(StoreError, match=r"writing secret PPM_TOKEN.*HTTP 403"):
        store.put("PPM_TOKEN", payload)

    assert github.fake.secret_value(f"repo:{REPO}", "PPM_TOKEN") is None
    assert store.restore_previous("PPM_TOKEN", payload.meta.token_guid) is True
    # The intent it wrote before the refused secret is gone with it.
    assert "PPM_TOKEN_PPM_TOKENS_META" not in github.fake.scope(f"repo:{REPO}").variables


@pytest.mark.parametrize(
    ("grants", "refused"),
    [
        ({"secrets": "write", "variables": "write"}, "environments"),
        ({"secrets": "write", "environments": "write"}, "variables"),
    ],
)
def test_environment_secrets_need_the_environments_permission_too(
    github: RunningGitHub, tmp_path: Path, grants: dict[str, str], refused: str
) -> None:
    store = make_store(
        github, tmp_path, grants={REPO: grants}, repository=REPO, environment="production"
    )

    with pytest.raises(StoreError, match="HTTP 403"):
        store.put("PPM_TOKEN", new_payload())

    granted = {**grants, refused: "write"}
    store = make_store(
        github, tmp_path, grants={REPO: granted}, repository=REPO, environment="production"
    )
    payload = new_payload()
    store.put("PPM_TOKEN", payload)
    assert store.read_meta("PPM_TOKEN") == payload.meta


def test_delete_removes_the_secret_and_its_metadata(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    store.put("PPM_TOKEN", new_payload())

    store.delete("PPM_TOKEN")
    store.delete("PPM_TOKEN")

    scope = github.fake.scope(f"repo:{REPO}")
    assert scope.secrets == {} and scope.variables == {}
    assert store.read_meta("PPM_TOKEN") is None
