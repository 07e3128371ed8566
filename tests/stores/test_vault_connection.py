"""How the vault store reaches Vault, against a real OpenBao server: logins (AppRole, JWT,
Kubernetes), namespaces, VAULT_ADDR, lease renewal, retries and rate limits, a private CA, and
answers that are not Vault's (an HTML page, a redirect). The client is backends/vault_client.py;
the tests drive it through the store, as a run does."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store
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
from tests.stores.vault_harness import OPENED, Clock, close_stores, kv_metadata, make_store
from tests.tls import self_signed_certificate

__all__ = ["close_stores", "kubernetes_api", "openbao", "vault_mount"]  # fixtures


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


def new_mount_tls(server: OpenBao, ca: Path) -> str:
    response = httpx.post(
        f"{server.url}/v1/sys/mounts/tls-kv",
        json={"type": "kv", "options": {"version": "2"}},
        headers={"X-Vault-Token": server.root_token},
        verify=ssl.create_default_context(cafile=str(ca)),
    )
    assert response.status_code == 204, response.text
    return "tls-kv"


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
