"""`lock:` must point at a store of its own kind; `policy.max_revokes` is a whole number."""

from __future__ import annotations

import pytest

from .helpers import check, errors, messages, spec_with

STORES = """\
stores:
  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}
  shared: {type: file, path: /srv/ppm-secrets}
"""


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        pytest.param(
            "lock: {type: file}\n",
            "lock type file needs `store`: the file store whose location it uses "
            "(stores of type file: shared)",
            id="file-without-store",
        ),
        pytest.param(
            "lock: {type: file, store: vault}\n",
            "lock type file needs a store of type file, but 'vault' is of type vault "
            "(stores of type file: shared)",
            id="file-on-a-vault-store",
        ),
        pytest.param(
            "lock: {type: vault, store: shared}\n",
            "lock type vault needs a store of type vault, but 'shared' is of type file "
            "(stores of type vault: vault)",
            id="vault-on-a-file-store",
        ),
        pytest.param(
            "lock: {type: file, store: nfs}\n",
            "lock.store 'nfs' is not declared (stores of type file: shared)",
            id="undeclared-store",
        ),
        pytest.param(
            "lock: {type: dynamodb, region: eu-west-1}\n",
            "lock type dynamodb needs `table`: the DynamoDB table to use",
            id="dynamodb-without-table",
        ),
        pytest.param(
            "lock: {type: local, store: shared}\n",
            "lock type local takes no `store`",
            id="local-with-store",
        ),
    ],
)
def test_lock_problems(lock: str, expected: str) -> None:
    spec, problems = check(spec_with(top=lock, stores=STORES))
    assert spec is None
    assert expected in messages(errors(problems))


@pytest.mark.parametrize(
    ("lock", "kind"),
    [
        ("lock: {type: file, store: shared, lease: 5m}\n", "file"),
        ("lock: {type: vault, store: vault}\n", "vault"),
        ("lock: {type: dynamodb, table: ppm-locks}\n", "dynamodb"),
        ("lock: {type: local}\n", "local"),
        ("", "local"),
    ],
)
def test_good_locks(lock: str, kind: str) -> None:
    spec, problems = check(spec_with(top=lock, stores=STORES))
    assert errors(problems) == [] and spec is not None
    assert spec.lock.type == kind


def test_max_revokes_defaults_to_ten_and_can_be_set() -> None:
    spec, _ = check(spec_with(stores=STORES))
    assert spec is not None and spec.policy.max_revokes == 10
    spec, _ = check(spec_with(top="policy: {max_revokes: 0}\n", stores=STORES))
    assert spec is not None and spec.policy.max_revokes == 0


@pytest.mark.parametrize("value", ["-1", "ten", "2.5", "true"])
def test_max_revokes_must_be_a_whole_number(value: str) -> None:
    spec, problems = check(spec_with(top=f"policy: {{max_revokes: {value}}}\n", stores=STORES))
    assert spec is None
    assert any("max_revokes" in p.message or "policy" in str(p.path) for p in errors(problems))


@pytest.mark.parametrize(
    ("lock", "secret", "stores"),
    [
        pytest.param(
            "lock: {type: vault, store: vault, path: ppm/ds-read}\n",
            "ds-read",
            STORES,
            id="lock-path-is-the-secret",
        ),
        pytest.param(
            "lock: {type: vault, store: vault}\n",
            "locks/default/f00",
            STORES,
            id="secret-below-the-default-lock-place",
        ),
        pytest.param(
            "lock: {type: vault, store: vault}\n",
            "locks/default",
            STORES,
            id="secret-at-the-older-lock-place",
        ),
        pytest.param(
            "lock: {type: vault, store: vault, path: ppm/ds-read}\n",
            "ds-read",
            STORES
            + "  again: {type: vault, address: 'HTTPS://vault.example.com:443/', mount: /secret/, "
            "prefix: ppm/}\n",
            id="one-vault-through-another-store-entry",
        ),
    ],
)
def test_a_secret_where_the_vault_lock_keeps_its_record_is_refused(
    lock: str, secret: str, stores: str
) -> None:
    store = "again" if "again:" in stores else "vault"
    _, problems = check(spec_with(top=lock, stores=stores, secret=secret, store=store))
    found = [m for m in messages(errors(problems)) if "where the vault lock" in m]
    assert len(found) == 1, messages(problems)
    assert "choose another secret or lock.path" in found[0]


@pytest.mark.parametrize(
    ("lock", "secret"),
    [
        ("lock: {type: vault, store: vault, path: ppm/locks/apply}\n", "ds-read"),
        ("lock: {type: vault, store: vault}\n", "locks-of-mine"),
        ("lock: {type: vault, store: vault}\n", "locks/other-team/x"),
        ("lock: {type: file, store: shared}\n", "locks/default/x"),
    ],
)
def test_a_secret_beside_the_lock_is_fine(lock: str, secret: str) -> None:
    _, problems = check(spec_with(top=lock, stores=STORES, secret=secret))
    assert not [m for m in messages(problems) if "where the vault lock" in m]
