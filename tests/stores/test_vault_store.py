"""The vault store against a real OpenBao server (same KV v2, AppRole, JWT and policy APIs as
Vault), over the product's own HTTP client."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.backends.vault_kv import CasConflict
from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import VaultStore, open_vault_store
from tests.fakes.kubernetes import KubernetesApi, kubernetes_api
from tests.stores.openbao import (
    JwtIssuer,
    OpenBao,
    approle,
    configure_jwt,
    new_mount,
    openbao,
    prefix_policy,
    token_with_policy,
    vault_mount,
)
from tests.stores.payloads import new_payload
from tests.stores.transport import Fault, RecordingTransport
from tests.tls import self_signed_certificate

__all__ = ["kubernetes_api", "openbao", "vault_mount"]  # fixtures


OPENED: list[VaultStore] = []


@pytest.fixture(autouse=True)
def close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_store(
    server: OpenBao,
    mount: str,
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    now: Callable[[], datetime] | None = None,
    sleeps: list[float] | None = None,
    **options: Any,
) -> VaultStore:
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType({"address": server.url, "mount": mount, "prefix": "ppm/", **options}),
    )
    context = StoreContext(
        spec_dir=tmp_path,
        env=dict(env) if env is not None else {"VAULT_TOKEN": server.root_token},
        http_transport=transport,
        sleep=(sleeps if sleeps is not None else []).append,
        now=now or Clock(),
    )
    store = open_vault_store(config, context)
    OPENED.append(store)
    return store


def kv_data(server: OpenBao, mount: str, path: str, **kw: Any) -> Any:
    return server.ok("GET", f"{mount}/data/{path}", **kw)["data"]


def kv_metadata(server: OpenBao, mount: str, path: str, **kw: Any) -> Any:
    return server.ok("GET", f"{mount}/metadata/{path}", **kw)["data"]


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


def test_approle_login(openbao: OpenBao, vault_mount: str, tmp_path: Path) -> None:
    policy = f"approle-{vault_mount}"
    token_with_policy(openbao, policy, prefix_policy(vault_mount, "ppm/"))
    role_id, secret_id = approle(openbao, f"ppm-{vault_mount}", policy)
    store = make_store(
        openbao,
        vault_mount,
        tmp_path,
        env={"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id},
        auth_method="approle",
    )
    payload = new_payload()

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta


def test_approle_login_with_a_wrong_secret_id_says_so(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    policy = f"approle-bad-{vault_mount}"
    token_with_policy(openbao, policy, prefix_policy(vault_mount, "ppm/"))
    role_id, _ = approle(openbao, f"bad-{vault_mount}", policy)
    store = make_store(
        openbao,
        vault_mount,
        tmp_path,
        env={"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": "not-the-secret-id"},
        auth_method="approle",
    )
    with pytest.raises(StoreError, match=r"approle login at auth/approle failed \(HTTP 400"):
        store.read_meta("ds-read")


def test_jwt_login_with_a_key_pair_made_here(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    issuer = JwtIssuer.new()
    policy = f"jwt-{vault_mount}"
    token_with_policy(openbao, policy, prefix_policy(vault_mount, "ppm/"))
    configure_jwt(openbao, issuer, f"ci-{vault_mount}", policy, audience="ppm-tokens")
    good = tmp_path / "good.jwt"
    good.write_text(
        issuer.sign(sub="repo:acme/pipelines", aud="ppm-tokens", repository="acme/pipelines")
    )
    wrong = tmp_path / "wrong.jwt"
    wrong.write_text(issuer.sign(sub="repo:acme/other", aud="ppm-tokens", repository="acme/other"))
    options = {"auth_method": "jwt", "role": f"ci-{vault_mount}"}
    store = make_store(openbao, vault_mount, tmp_path, env={}, jwt_file=str(good), **options)
    refused = make_store(openbao, vault_mount, tmp_path, env={}, jwt_file=str(wrong), **options)
    payload = new_payload()

    store.put("ds-read", payload)
    assert store.read_meta("ds-read") == payload.meta
    with pytest.raises(StoreError, match=r"jwt login at auth/jwt failed"):
        refused.read_meta("ds-read")


def test_kubernetes_login_with_a_service_account_token_the_api_server_reviews(
    openbao: OpenBao, vault_mount: str, kubernetes_api: KubernetesApi, tmp_path: Path
) -> None:
    auth_mount = f"k8s-{vault_mount}"
    policy = f"k8s-{vault_mount}"
    token_with_policy(openbao, policy, prefix_policy(vault_mount, "ppm/"))
    openbao.ok("POST", f"sys/auth/{auth_mount}", {"type": "kubernetes"})
    openbao.ok(
        "POST",
        f"auth/{auth_mount}/config",
        {
            "kubernetes_host": kubernetes_api.url,
            # No reviewer token: Vault reviews each login with the pod's own token.
            "disable_local_ca_jwt": True,
            "kubernetes_ca_cert": Path(self_signed_certificate(tmp_path).certfile).read_text(),
        },
    )
    openbao.ok(
        "POST",
        f"auth/{auth_mount}/role/ppm-tokens",
        {
            "bound_service_account_names": ["ppm-tokens"],
            "bound_service_account_namespaces": ["ci"],
            "token_policies": [policy],
            "token_ttl": "1h",
        },
    )
    pod_token = tmp_path / "token"
    pod_token.write_text(kubernetes_api.service_account_token("ci", "ppm-tokens") + "\n")
    other_token = tmp_path / "other"
    other_token.write_text(kubernetes_api.service_account_token("ci", "someone-else"))
    options = {"auth_method": "kubernetes", "role": "ppm-tokens", "auth_mount": auth_mount}
    store = make_store(openbao, vault_mount, tmp_path, env={}, jwt_file=str(pod_token), **options)
    refused = make_store(
        openbao, vault_mount, tmp_path, env={}, jwt_file=str(other_token), **options
    )
    payload = new_payload()

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta
    assert kubernetes_api.reviewed == [pod_token.read_text().strip()]
    with pytest.raises(StoreError, match=rf"kubernetes login at auth/{auth_mount} failed"):
        refused.read_meta("ds-read")


def test_kubernetes_login_outside_a_pod_says_which_file_is_missing(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    missing = tmp_path / "serviceaccount" / "token"
    store = make_store(
        openbao,
        vault_mount,
        tmp_path,
        env={},
        auth_method="kubernetes",
        role="ppm-tokens",
        jwt_file=str(missing),
    )

    with pytest.raises(StoreError, match=rf"cannot read the JWT file {missing}"):
        store.read_meta("ds-read")


def test_a_namespace_keeps_secrets_apart(openbao: OpenBao, tmp_path: Path) -> None:
    namespace = f"team-{new_mount(openbao)}"
    openbao.ok("POST", f"sys/namespaces/{namespace}", {})
    mount = new_mount(openbao, namespace=namespace)
    store = make_store(openbao, mount, tmp_path, namespace=namespace)
    payload = new_payload()

    store.put("ds-read", payload)

    custom = kv_metadata(openbao, mount, "ppm/ds-read", namespace=namespace)["custom_metadata"]
    assert custom["token_guid"] == payload.meta.token_guid
    assert openbao.api("GET", f"{mount}/metadata/ppm/ds-read").status_code != 200


def test_vault_addr_and_vault_namespace_override_the_spec(openbao: OpenBao, tmp_path: Path) -> None:
    namespace = f"env-{new_mount(openbao)}"
    openbao.ok("POST", f"sys/namespaces/{namespace}", {})
    mount = new_mount(openbao, namespace=namespace)
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType(
            {"address": "https://vault.example.com", "mount": mount, "namespace": "elsewhere"}
        ),
    )
    env = {
        "VAULT_ADDR": openbao.url,
        "VAULT_NAMESPACE": namespace,
        "VAULT_TOKEN": openbao.root_token,
    }
    store = open_vault_store(config, StoreContext(spec_dir=tmp_path, env=env))
    OPENED.append(store)
    payload = new_payload()

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta


def test_a_short_lease_is_renewed_and_an_exhausted_one_logs_in_again(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    policy = f"renew-{vault_mount}"
    token_with_policy(openbao, policy, prefix_policy(vault_mount, "ppm/"))
    role_id, secret_id = approle(
        openbao, f"renew-{vault_mount}", policy, token_ttl="1h", token_max_ttl="2h"
    )
    transport = RecordingTransport()
    clock = Clock()
    store = make_store(
        openbao,
        vault_mount,
        tmp_path,
        env={"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id},
        transport=transport,
        now=clock,
        auth_method="approle",
    )
    store.read_meta("ds-read")
    assert transport.count("POST", "/auth/approle/login") == 1

    clock.now += timedelta(minutes=20)
    store.read_meta("ds-read")
    assert transport.count("POST", "/auth/token/renew-self") == 0  # most of the lease is left

    clock.now += timedelta(minutes=20)
    store.read_meta("ds-read")
    assert transport.count("POST", "/auth/token/renew-self") == 1

    # The server refuses renewals (as past max_ttl): a new login replaces the token.
    transport.faults.append(Fault(lambda r: "renew-self" in r.url.path, 400))
    clock.now += timedelta(minutes=45)
    payload = new_payload()
    store.put("ds-read", payload)
    assert transport.count("POST", "/auth/approle/login") == 2
    assert store.read_meta("ds-read") == payload.meta


def test_server_errors_are_retried_with_backoff(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    sleeps: list[float] = []
    store = make_store(openbao, vault_mount, tmp_path, transport=transport, sleeps=sleeps)
    transport.faults.append(Fault(lambda r: "/data/" in r.url.path, 503, times=2))
    payload = new_payload()

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta
    assert sleeps == [0.5, 1.0]


def test_a_rate_limit_quota_is_waited_out_and_one_that_outlasts_the_tries_says_so(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    """Vault's rate limit quotas answer 429 with Retry-After."""
    transport = RecordingTransport()
    sleeps: list[float] = []
    store = make_store(openbao, vault_mount, tmp_path, transport=transport, sleeps=sleeps)
    quota = Fault(lambda r: "/metadata/" in r.url.path, 429, headers={"retry-after": "2"})
    transport.faults.append(quota)
    payload = new_payload()

    store.put("ds-read", payload)
    assert sleeps == [2.0]
    assert store.read_meta("ds-read") == payload.meta

    quota.times = 4
    with pytest.raises(StoreError, match=r"still rate limited by 127\.0\.0\.1 after 4 tries"):
        store.read_meta("ds-read")


def test_a_server_that_stays_down_fails_with_a_clear_message(tmp_path: Path) -> None:
    config = StoreConfig(
        "vault", "vault", MappingProxyType({"address": "http://127.0.0.1:9", "mount": "secret"})
    )
    context = StoreContext(spec_dir=tmp_path, env={"VAULT_TOKEN": "t"}, sleep=lambda _: None)
    store = open_vault_store(config, context)
    OPENED.append(store)

    with pytest.raises(StoreError, match=r"cannot reach 127\.0\.0\.1 \(ConnectError\)"):
        store.read_meta("ds-read")


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


def test_vault_cacert_trusts_a_private_ca_and_without_it_the_message_says_so(
    tmp_path: Path,
) -> None:
    from tests.stores.openbao import start_openbao

    certs = tmp_path / "certs"
    certs.mkdir()
    server = start_openbao(tmp_path / "tls", extra_args=("-dev-tls", f"-dev-tls-cert-dir={certs}"))
    try:
        mount = new_mount_tls(server, certs / "vault-ca.pem")
        config = StoreConfig(
            "vault", "vault", MappingProxyType({"address": server.url, "mount": mount})
        )
        trusted = open_vault_store(
            config,
            StoreContext(
                spec_dir=tmp_path,
                env={"VAULT_TOKEN": server.root_token, "VAULT_CACERT": str(certs / "vault-ca.pem")},
            ),
        )
        untrusted = open_vault_store(
            config,
            StoreContext(
                spec_dir=tmp_path, env={"VAULT_TOKEN": server.root_token}, sleep=lambda _: None
            ),
        )
        OPENED.extend([trusted, untrusted])
        payload = new_payload()

        trusted.put("ds-read", payload)
        assert trusted.read_meta("ds-read") == payload.meta
        with pytest.raises(
            StoreError,
            match=r"not trusted \(certificate verify failed\): set "
            r"VAULT_CACERT",
        ):
            untrusted.read_meta("ds-read")
    finally:
        server.stop()


def new_mount_tls(server: OpenBao, ca: Path) -> str:
    response = httpx.post(
        f"{server.url}/v1/sys/mounts/tls-kv",
        json={"type": "kv", "options": {"version": "2"}},
        headers={"X-Vault-Token": server.root_token},
        verify=ssl.create_default_context(cafile=str(ca)),
    )
    assert response.status_code == 204, response.text
    return "tls-kv"


def test_an_html_page_in_place_of_vaults_answer_is_a_clear_error(
    openbao: OpenBao, vault_mount: str, tmp_path: Path
) -> None:
    """A proxy or captive portal answering 200 with a page: a StoreError naming the request
    and the address, never a JSON decoding traceback."""
    transport = RecordingTransport()
    store = make_store(openbao, vault_mount, tmp_path, transport=transport)
    store.put("ds-read", new_payload())
    page = b"<html><body>Sign in to continue</body></html>"
    transport.faults.append(
        Fault(
            lambda r: r.method == "GET" and "/metadata/" in r.url.path,
            200,
            headers={"content-type": "text/html"},
            body=page,
        )
    )
    with pytest.raises(StoreError, match=r"metadata read: the HTTP 200 answer from .* is not a "):
        store.read_meta("ds-read")


@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_is_refused_without_sending_the_token_on(tmp_path: Path, status: int) -> None:
    """A standby node or a moved server answering with a redirect: the request is not repeated
    where it points (which would carry X-Vault-Token there) and the message says where."""
    from tests.stores.redirector import redirecting

    with redirecting(status) as redirect:
        config = StoreConfig(
            "vault", "vault", MappingProxyType({"address": redirect.url, "mount": "secret"})
        )
        context = StoreContext(spec_dir=tmp_path, env={"VAULT_TOKEN": "t"}, sleep=lambda _: None)
        store = open_vault_store(config, context)
        OPENED.append(store)

        with pytest.raises(
            StoreError,
            match=rf"answered HTTP {status}, a redirect to {redirect.target}/v1/.* not followed"
            r".*: set `address` \(or VAULT_ADDR\)",
        ):
            store.put("ds-read", new_payload())
        assert redirect.reached == []


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
