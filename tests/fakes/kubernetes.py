"""A fake of the one Kubernetes API call Vault's kubernetes auth method makes: TokenReview
(`POST /apis/authentication.k8s.io/v1/tokenreviews`), on real HTTP (loopback, random port).

It authenticates the service account tokens a test issued through it, as the API server
would for tokens it signed, and refuses any other; it records the tokens it was asked about.
Not covered: the API server's own signature checks and audiences (the test issues the tokens),
TLS to the API server, and every other Kubernetes API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.stores.openbao import JwtIssuer

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
API_AUDIENCE = "https://kubernetes.default.svc"


@dataclass
class KubernetesApi:
    server: ThreadingHTTPServer
    issuer: JwtIssuer = field(default_factory=JwtIssuer.new)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (ns, name)
    reviewed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def service_account_token(self, namespace: str, name: str) -> str:
        """A projected service account token, as the kubelet mounts it in a pod."""
        token = self.issuer.sign(
            sub=f"system:serviceaccount:{namespace}:{name}",
            aud=[API_AUDIENCE],
            **{
                "kubernetes.io": {
                    "namespace": namespace,
                    "serviceaccount": {"name": name, "uid": f"uid-{name}"},
                }
            },
        )
        self.accounts[token] = (namespace, name)
        return token

    def review(self, body: Any) -> dict[str, Any]:
        spec = (body or {}).get("spec") or {}
        token = str(spec.get("token", ""))
        self.reviewed.append(token)
        account = self.accounts.get(token)
        status: dict[str, Any] = (
            {
                "authenticated": True,
                # The audiences asked about that the token has (the API server's own when none).
                "audiences": [
                    a for a in spec.get("audiences") or [API_AUDIENCE] if a == API_AUDIENCE
                ],
                "user": {
                    "username": f"system:serviceaccount:{account[0]}:{account[1]}",
                    "uid": f"uid-{account[1]}",
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"],
                },
            }
            if account
            else {"authenticated": False, "error": "invalid bearer token"}
        )
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_kubernetes_api() -> KubernetesApi:
    api: list[KubernetesApi] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.path.split("?")[0] != REVIEW_PATH:
                self._answer(404, {"kind": "Status", "status": "Failure", "code": 404})
                return
            self._answer(201, api[0].review(json.loads(self.rfile.read(length) or b"{}")))

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: pytest shows failures, not every request

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.append(KubernetesApi(server))
    # serve_forever listens from the moment the socket is bound: no readiness wait needed.
    threading.Thread(target=server.serve_forever, daemon=True, name="kubernetes-api").start()
    return api[0]


@pytest.fixture
def kubernetes_api() -> Iterator[KubernetesApi]:
    api = start_kubernetes_api()
    try:
        yield api
    finally:
        api.stop()
