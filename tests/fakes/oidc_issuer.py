"""A local OpenID Connect issuer: its discovery document and JWKS over HTTP on loopback, and an
RS256 key made at test time to sign identity tokens, as a CI system or Kubernetes would."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str = field(default_factory=lambda: secrets.token_hex(4))

    @classmethod
    def new(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        head = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = (
            f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
        )
        signature = self.private.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64(signature)}"


@dataclass
class OidcIssuer:
    url: str  # the issuer, as the `iss` claim and the discovery document name it
    key: SigningKey
    server: ThreadingHTTPServer
    requests: list[str] = field(default_factory=list)  # paths asked for, in order

    def identity_token(
        self,
        *,
        sub: str = "repo:acme/pipelines:ref:refs/heads/main",
        aud: str | list[str] = "https://ppm.example.com",
        lifetime: float = 300,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """An identity token of this issuer (signed with `key` to forge one)."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "nbf": now - 5,
            "exp": now + int(lifetime),
            **claims,
        }
        return (key or self.key).sign(body)

    def trust(
        self,
        *,
        scope: str = "global:admin",
        audience: str = "https://ppm.example.com",
        subject: str | None = "repo:acme/pipelines:*",
        **extra: Any,
    ) -> dict[str, Any]:
        """An emulator `[IdentityFederation]` entry trusting this issuer."""
        return {
            "name": "ci",
            "issuer": self.url,
            "audience": audience,
            "subject": subject,
            "scope": scope,
            **extra,
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_oidc_issuer() -> OidcIssuer:
    key = SigningKey.new()
    requests: list[str] = []
    holder: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path == DISCOVERY:
                body: object = {"issuer": holder["url"], "jwks_uri": holder["url"] + JWKS}
            elif self.path == JWKS:
                body = {"keys": [key.jwk()]}
            else:
                self.send_response(404)
                self.end_headers()
                return
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    holder["url"] = f"http://{host}:{port}"
    threading.Thread(target=server.serve_forever, daemon=True, name="oidc-issuer").start()
    return OidcIssuer(holder["url"], key, server, requests)
