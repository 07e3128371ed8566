"""The vault store against a real OpenBao server (same KV v2, AppRole, JWT and policy APIs as
Vault), over the product's own HTTP client: what it writes, reads, restores and deletes. How
it reaches Vault (logins, retries, TLS) is in test_vault_connection.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends.vault_kv import CasConflict
from reconciler.errors import StoreError
from tests.stores.openbao import (
    OpenBao,
    openbao,
    prefix_policy,
    token_with_policy,
    vault_mount,
)
from tests.stores.payloads import new_payload
from tests.stores.transport import Fault, RecordingTransport
from tests.stores.vault_harness import close_stores, kv_data, kv_metadata, make_store

__all__ = ["close_stores", "openbao", "vault_mount"]  # fixtures


def test_put_writes_the_value_under_its_key_and_the_metadata_as_custom_metadata(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path, key="value")
    payload = new_payload()

    store.put("analysts/ds-read", payload)

    data = kv_data(openbao, vault_mount, "ppm/analysts/ds-read")
    assert data["data"] == {"value": payload.payload.reveal()}
    custom = kv_metadata(openbao, vault_mount, "ppm/analysts/ds-read")["custom_metadata"]
    assert custom == {**payload.meta.to_strings(), "kv_version": "1"}
    assert payload.payload.reveal() not in str(custom)
    assert store.read_meta("analysts/ds-read") == payload.meta
    assert store.read_value_hash("analysts/ds-read") == payload.payload.sha256()


def test_read_meta_never_reads_the_value(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    store.put("ds-read", new_payload())
    transport.requests.clear()

    assert store.read_meta("ds-read") is not None
    assert store.read_meta_many(["ds-read"])["ds-read"] is not None

    assert transport.count("GET", "/data/") == 0


def test_a_retried_put_of_the_same_token_makes_one_version(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    payload = new_payload()

    store.put("ds-read", payload)
    store.put("ds-read", payload)

    assert kv_metadata(openbao, vault_mount, "ppm/ds-read")["current_version"] == 1


def test_a_retry_after_the_value_landed_but_not_its_metadata_writes_no_second_version(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    payload = new_payload()
    # The metadata write fails for good (four tries): the value is written, its metadata not.
    transport.faults.append(
        Fault(lambda r: r.method == "POST" and "/metadata/" in r.url.path, 500, times=4)
    )
    with pytest.raises(StoreError, match="metadata write"):
        store.put("ds-read", payload)
    assert store.read_meta("ds-read") is None

    store.put("ds-read", payload)

    assert kv_metadata(openbao, vault_mount, "ppm/ds-read")["current_version"] == 1
    assert store.read_meta("ds-read") == payload.meta


def test_a_503_after_the_write_landed_makes_one_version(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    """The retry's check-and-set meets the version the lost answer made: the value is found
    there and only the metadata is written."""
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    transport.faults.append(
        Fault(lambda r: r.method == "POST" and "/data/" in r.url.path, 503, landed=True)
    )
    payload = new_payload()

    store.put("ds-read", payload)

    assert transport.count("POST", "/data/") == 2
    assert kv_metadata(openbao, vault_mount, "ppm/ds-read")["current_version"] == 1
    assert store.read_meta("ds-read") == payload.meta


def test_overwrite_then_restore_brings_back_the_previous_value_and_metadata(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    old, new = new_payload(), new_payload()
    store.put("ds-read", old)
    store.commit("ds-read", old.meta.token_guid)

    store.put("ds-read", new)
    assert store.read_meta("ds-read") == new.meta
    assert store.restore_previous("ds-read", new.meta.token_guid) is True

    assert store.read_meta("ds-read") == old.meta
    assert store.read_value_hash("ds-read") == old.payload.sha256()
    # KV keeps its history: the restore is a third version with the first one's data.
    assert kv_metadata(openbao, vault_mount, "ppm/ds-read")["current_version"] == 3


def test_restore_after_a_first_put_leaves_nothing(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    payload = new_payload()
    store.put("ds-read", payload)

    assert store.restore_previous("ds-read", payload.meta.token_guid) is True

    assert store.read_meta("ds-read") is None
    assert openbao.api("GET", f"{vault_mount}/metadata/ppm/ds-read").status_code == 404


def test_restore_of_a_token_the_key_does_not_hold_changes_nothing(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    payload = new_payload()
    store.put("ds-read", payload)
    store.commit("ds-read", payload.meta.token_guid)

    assert store.restore_previous("ds-read", "another-guid") is True

    assert store.read_meta("ds-read") == payload.meta


def test_restore_without_a_record_goes_back_one_version_and_drops_the_metadata(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    """Another process made the put: the value goes back, the planner repairs the metadata."""
    first, second = new_payload(), new_payload()
    writer = make_store(openbao, vault_mount, tmp_path)
    writer.put("ds-read", first)
    writer.put("ds-read", second)

    other = make_store(openbao, vault_mount, tmp_path)
    assert other.restore_previous("ds-read", second.meta.token_guid) is True

    assert other.read_value_hash("ds-read") == first.payload.sha256()
    assert other.read_meta("ds-read") is None


def test_a_second_cas_zero_write_is_refused_by_the_server(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    assert store.kv.write("ppm/lock", {"holder": "a"}, cas=0) == 1
    with pytest.raises(CasConflict):
        store.kv.write("ppm/lock", {"holder": "b"}, cas=0)
    assert kv_data(openbao, vault_mount, "ppm/lock")["data"] == {"holder": "a"}


def test_a_write_that_loses_a_cas_race_reads_again_and_retries_once(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)

    def racing_writer() -> None:
        openbao.ok("POST", f"{vault_mount}/data/ppm/ds-read", {"data": {"token": "other"}})

    transport.faults.append(
        Fault(lambda r: r.method == "POST" and "/data/" in r.url.path, 0, before=racing_writer)
    )
    payload = new_payload()

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta
    assert transport.count("POST", f"{vault_mount}/data/") == 2
    assert kv_metadata(openbao, vault_mount, "ppm/ds-read")["current_version"] == 2


def test_an_out_of_band_write_makes_the_metadata_stale(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    store.put("ds-read", new_payload())

    openbao.ok("POST", f"{vault_mount}/data/ppm/ds-read", {"data": {"token": "by hand"}})

    assert store.read_meta("ds-read") is None  # the planner repairs the entry


def test_a_soft_deleted_entry_holds_nothing(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    store.put("ds-read", new_payload())

    openbao.ok("DELETE", f"{vault_mount}/data/ppm/ds-read")

    assert store.read_meta("ds-read") is None
    assert store.read_value_hash("ds-read") is None


def test_read_meta_many_lists_each_directory_once_and_reads_only_what_exists(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    a, b = new_payload("a"), new_payload("b")
    store.put("team/a", a)
    store.put("b", b)
    transport.requests.clear()

    found = store.read_meta_many(["team/a", "team/missing", "b", "missing", "gone/x"])

    assert found == {
        "team/a": a.meta,
        "team/missing": None,
        "b": b.meta,
        "missing": None,
        "gone/x": None,
    }
    lists = [p for m, p in transport.requests if m == "GET" and p.endswith("/")]
    assert len(lists) == 3  # ppm/, ppm/team/, ppm/gone/
    assert transport.count("GET", "/metadata/ppm/team/a") == 1
    assert transport.count("GET", "/metadata/ppm/missing") == 0


def test_delete_removes_every_version_and_tolerates_a_missing_entry(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    store = make_store(openbao, vault_mount, tmp_path)
    store.put("ds-read", new_payload())

    store.delete("ds-read")
    store.delete("ds-read")

    assert openbao.api("GET", f"{vault_mount}/metadata/ppm/ds-read").status_code == 404


def test_a_policy_for_the_prefix_allows_it_and_refuses_anything_else(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    token = token_with_policy(openbao, f"ppm-{vault_mount}", prefix_policy(vault_mount, "ppm/"))
    inside = make_store(openbao, vault_mount, tmp_path, env={"VAULT_TOKEN": token})
    outside = make_store(
        openbao, vault_mount, tmp_path, env={"VAULT_TOKEN": token}, prefix="other/"
    )
    payload = new_payload()

    inside.put("ds-read", payload)
    assert inside.read_meta_many(["ds-read"]) == {"ds-read": payload.meta}
    with pytest.raises(StoreError) as refused:
        outside.put("ds-read", payload)

    message = str(refused.value)
    assert "HTTP 403" in message and "policy must allow" in message
    assert f"{vault_mount}/data/other/ds-read" in message
    assert payload.payload.reveal() not in message
    assert openbao.api("GET", f"{vault_mount}/metadata/other/ds-read").status_code == 404


def test_custom_metadata_limits_are_the_servers(openbao: OpenBao, vault_mount: str) -> None:
    """The offline rule's bounds are what the server enforces."""
    from reconciler.desired.vault_rules import custom_metadata_problem

    too_many = {f"k{i}": "v" for i in range(65)}
    long_key = {"k" * 129: "v"}
    long_value = {"k": "v" * 513}
    fits = {**{f"k{i}": "v" * 512 for i in range(63)}, "k" * 128: "v"}
    for custom in (too_many, long_key, long_value):
        assert custom_metadata_problem(custom) is not None
        response = openbao.api(
            "POST", f"{vault_mount}/metadata/limits", {"custom_metadata": custom}
        )
        assert response.status_code == 400, response.text
    assert custom_metadata_problem(fits) is None
    openbao.ok("POST", f"{vault_mount}/metadata/limits", {"custom_metadata": fits})


def test_keys_that_break_policies_are_refused_before_any_request(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    for key in ("", "/abs", "a//b", "a/../b", "has space", "star*"):
        with pytest.raises(StoreError, match="secret"):
            store.put(key, new_payload())
    assert transport.requests == []


def test_read_payload_hands_back_the_current_version(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    """What a run reads its admin token from (server.auth)."""
    store = make_store(openbao, vault_mount, tmp_path)
    assert store.read_payload("ppm-admin") is None
    first, second = new_payload(), new_payload()
    store.put("ppm-admin", first)
    store.put("ppm-admin", second)
    assert store.read_payload("ppm-admin") == second.payload
