"""A small Vault (and OpenBao) HTTP client on httpx: address, namespace, CA, login, renewal.

No hvac: the product speaks the documented HTTP API. Auth methods:

    token        VAULT_TOKEN, else ~/.vault-token (what `vault login` leaves)
    approle      VAULT_ROLE_ID and VAULT_SECRET_ID, at auth/<auth_mount or approle>/login
    jwt          `role` and a JWT: `jwt_file`, else the GitHub Actions OIDC token (requested from
                 ACTIONS_ID_TOKEN_REQUEST_URL with ACTIONS_ID_TOKEN_REQUEST_TOKEN, audience
                 `jwt_audience`), at auth/<auth_mount or jwt>/login
    kubernetes   `role` and the pod's service account token, at auth/<auth_mount or kubernetes>

A token whose lease has run down past half is renewed (renew-self); one that cannot be renewed
any more is replaced by logging in again (login methods only).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.backends.http_retry import RetryPolicy, error_text, json_object, send
from reconciler.bounded_http import AnswerTooLarge, event_hooks, with_deadline
from reconciler.deadline import Deadline
from reconciler.desired import store_options
from reconciler.desired.model import StoreConfig
from reconciler.desired.store_options import expand_path
from reconciler.errors import StoreError, StoreTimeout
from reconciler.inputs import Unreadable, read_bounded
from reconciler.jwtinfo import read_identity_token
from reconciler.secret import Secret

log = logging.getLogger(__name__)

KUBERNETES_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
TIMEOUT = 30.0
CA_FILE_BYTES = 8 * 1024 * 1024  # a system bundle is a few hundred KiB
TOKEN_FILE_BYTES = 64 * 1024  # ~/.vault-token: a token is under a hundred bytes
DEFAULT_RETRY = RetryPolicy(
    ca_hint="set VAULT_CACERT (or ca_cert) to the CA file that signed it",
    redirect_hint="set `address` (or VAULT_ADDR) to the server that answers itself, such as "
    "the active node or its load balancer",
)


def retry_policy(config: StoreConfig) -> RetryPolicy:
    """The store's retries within its own deadline (`timeout`); the lock kept in a vault store
    uses the same."""
    return replace(
        DEFAULT_RETRY,
        deadline=store_options.timeout(config),
        deadline_setting=store_options.timeout_setting(config),
    )


class AuthMethod(StrEnum):
    TOKEN = "token"
    APPROLE = "approle"
    JWT = "jwt"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class VaultSettings:
    store: str  # the store's name in the spec, for messages
    address: str
    namespace: str | None
    auth: AuthMethod
    role: str | None = None
    auth_mount: str | None = None
    jwt_file: Path | None = None
    jwt_audience: str | None = None
    ca_cert: Path | None = None


def vault_settings(config: StoreConfig, env: Mapping[str, str], spec_dir: Path) -> VaultSettings:
    """The spec's options with the environment on top: VAULT_ADDR and VAULT_NAMESPACE override
    `address` and `namespace` (as PACKAGEMANAGER_ADDRESS overrides server.url), VAULT_CACERT
    gives a CA file when `ca_cert` does not."""
    address = env.get("VAULT_ADDR") or store_options.text(config, "address")
    if not address:
        raise StoreError(
            f"store '{config.name}' (vault) has no address: set `address` or VAULT_ADDR"
        )
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(
            f"store '{config.name}' (vault): address {address!r} is not an http(s) URL like "
            "https://vault.example.com:8200"
        )
    method_text = store_options.text(config, "auth_method", "token") or "token"
    try:
        method = AuthMethod(method_text)
    except ValueError:
        raise StoreError(
            f"store '{config.name}' (vault): auth_method {method_text!r} is not one of "
            f"{', '.join(m.value for m in AuthMethod)}"
        ) from None
    role = store_options.text(config, "role")
    if method in (AuthMethod.JWT, AuthMethod.KUBERNETES) and not role:
        raise StoreError(f"store '{config.name}' (vault): auth_method {method} needs a `role`")
    jwt_file = store_options.text(config, "jwt_file")
    ca_cert = store_options.text(config, "ca_cert") or env.get("VAULT_CACERT")
    return VaultSettings(
        store=config.name,
        address=address.rstrip("/"),
        namespace=env.get("VAULT_NAMESPACE") or store_options.text(config, "namespace"),
        auth=method,
        role=role,
        auth_mount=store_options.text(config, "auth_mount"),
        jwt_file=expand_path(jwt_file, base=spec_dir, env=env) if jwt_file else None,
        jwt_audience=store_options.text(config, "jwt_audience"),
        ca_cert=expand_path(ca_cert, base=spec_dir, env=env) if ca_cert else None,
    )


class VaultClient:
    """Requests under /v1 with a valid token, retried on 5xx, 429 and transport errors.
    Thread-safe: bulk reads run in threads."""

    def __init__(
        self,
        settings: VaultSettings,
        env: Mapping[str, str],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
        policy: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.settings = settings
        self._env = dict(env)
        self._sleep = sleep
        self._now = now
        self._policy = policy
        headers = {"X-Vault-Request": "true"}
        if settings.namespace:
            headers["X-Vault-Namespace"] = settings.namespace
        verify: ssl.SSLContext | bool = True
        if settings.ca_cert is not None:
            try:
                # Read here, to a bound: `ca_cert` comes from the spec, and OpenSSL would wait
                # for ever on a FIFO's writer, or read /dev/zero for ever.
                pem = read_bounded(settings.ca_cert, CA_FILE_BYTES)
                # PEM is ASCII; a bundle's comments may not be (cadata takes ASCII only).
                text = pem.decode("ascii", errors="ignore")
                verify = ssl.create_default_context(cadata=text)
            except Unreadable as exc:
                raise StoreError(
                    f"store '{settings.store}' (vault): cannot load the CA file "
                    f"{settings.ca_cert} (ca_cert or VAULT_CACERT): {exc.reason}"
                ) from None
            except (OSError, ssl.SSLError) as exc:
                raise StoreError(
                    f"store '{settings.store}' (vault): cannot load the CA file "
                    f"{settings.ca_cert} (ca_cert or VAULT_CACERT): {exc}"
                ) from None
        self._http = httpx.Client(
            base_url=settings.address,
            headers=headers,
            timeout=TIMEOUT,
            transport=transport,
            verify=verify,
            event_hooks=event_hooks(),
        )
        self._token: Secret | None = None
        self._token_expires: datetime | None = None  # None: not known, or never expires
        self._token_ttl = timedelta(0)
        self._renewable = False
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """`method` on /v1/`path` with the current token; the response whatever its status."""
        token = self._valid_token()
        return self._send(method, path, what=what, json=json, params=params, token=token)

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        token: Secret | None,
    ) -> httpx.Response:
        headers = {"X-Vault-Token": token.reveal()} if token is not None else {}

        def build() -> httpx.Request:
            return self._http.build_request(
                method, f"/v1/{path}", json=json, params=params, headers=headers
            )

        return send(
            self._http,
            build,
            what=f"store '{self.settings.store}': {what}",
            policy=self._policy,
            sleep=self._sleep,
            now=self._now,
        )

    # -- the token ----------------------------------------------------------------------------

    def _valid_token(self) -> Secret:
        with self._lock:
            if self._token is None:
                self._token = self._first_token()
            elif self._renewal_due():
                self._renew()
            return self._token

    def _renewal_due(self) -> bool:
        if self._token_expires is None:
            return False
        return self._token_expires - self._now() < self._token_ttl / 2

    def _remember_lease(self, ttl_seconds: object, renewable: object) -> None:
        ttl = int(ttl_seconds) if isinstance(ttl_seconds, int | float) else 0
        self._token_ttl = timedelta(seconds=ttl)
        self._token_expires = self._now() + self._token_ttl if ttl > 0 else None
        self._renewable = bool(renewable)

    def _first_token(self) -> Secret:
        if self.settings.auth is AuthMethod.TOKEN:
            token = self._static_token()
            self._look_up(token)
            return token
        return self._login()

    def _static_token(self) -> Secret:
        value = self._env.get("VAULT_TOKEN", "").strip()
        if not value and self._env.get("HOME"):
            helper = Path(self._env["HOME"]) / ".vault-token"
            try:
                value = read_bounded(helper, TOKEN_FILE_BYTES).decode("utf-8", "replace").strip()
            except OSError:
                value = ""
            except Unreadable as exc:
                raise StoreError(
                    f"store '{self.settings.store}' (vault): cannot use {helper}: {exc.reason}"
                ) from None
        if not value:
            raise StoreError(
                f"store '{self.settings.store}' (vault): no token: set VAULT_TOKEN, run "
                "`vault login`, or use auth_method approle or jwt"
            )
        return Secret(value)

    def _look_up(self, token: Secret) -> None:
        """Learn the token's TTL so it can be renewed; a policy that forbids lookup-self only
        costs the renewal."""
        response = self._send("GET", "auth/token/lookup-self", what="token lookup", token=token)
        if response.status_code == 200:
            data = json_object(response, self._what("token lookup")).get("data") or {}
            self._remember_lease(data.get("ttl"), data.get("renewable"))
        else:
            # Vault answers 403 both for a bad token and for one without lookup-self; the first
            # real request says which, with the path it was refused.
            log.debug("store '%s': token lookup refused: no renewal", self.settings.store)

    def _renew(self) -> None:
        assert self._token is not None
        if self._renewable:
            response = self._send(
                "POST", "auth/token/renew-self", what="token renewal", json={}, token=self._token
            )
            if response.status_code == 200:
                auth = json_object(response, self._what("token renewal")).get("auth") or {}
                self._remember_lease(auth.get("lease_duration"), auth.get("renewable"))
                log.debug("store '%s': vault token renewed", self.settings.store)
                return
        if self.settings.auth is not AuthMethod.TOKEN:
            self._token = self._login()
        else:
            # A static token cannot be replaced here: carry on; a refused request says why.
            self._token_expires = None

    def _login(self) -> Secret:
        settings = self.settings
        mount = settings.auth_mount or settings.auth.value
        if settings.auth is AuthMethod.APPROLE:
            role_id = self._env.get("VAULT_ROLE_ID", "").strip()
            secret_id = self._env.get("VAULT_SECRET_ID", "").strip()
            if not role_id:
                raise StoreError(
                    f"store '{settings.store}' (vault): approle login needs VAULT_ROLE_ID "
                    "(and VAULT_SECRET_ID unless the role binds none)"
                )
            body: dict[str, str] = {"role_id": role_id}
            if secret_id:
                body["secret_id"] = secret_id
        else:
            assert settings.role is not None  # checked by vault_settings
            body = {"role": settings.role, "jwt": self._jwt().reveal()}
        response = self._send(
            "POST", f"auth/{mount}/login", what=f"{settings.auth} login", json=body, token=None
        )
        self._check_auth(response, f"{settings.auth} login at auth/{mount} failed")
        auth = json_object(response, self._what(f"{settings.auth} login")).get("auth") or {}
        token = auth.get("client_token")
        if not isinstance(token, str) or not token:
            raise StoreError(
                f"store '{settings.store}' (vault): {settings.auth} login gave no token"
            )
        self._remember_lease(auth.get("lease_duration"), auth.get("renewable"))
        log.debug("store '%s': logged in to vault (%s)", settings.store, settings.auth)
        return Secret(token)

    def _jwt(self) -> Secret:
        settings = self.settings
        path = settings.jwt_file
        if path is None and settings.auth is AuthMethod.KUBERNETES:
            path = KUBERNETES_TOKEN
        if path is not None:
            try:
                return Secret(read_identity_token(path))
            except OSError as exc:
                raise StoreError(
                    f"store '{settings.store}' (vault): cannot read the JWT file {path}: "
                    f"{exc.strerror}"
                ) from None
            except Unreadable as exc:
                raise StoreError(
                    f"store '{settings.store}' (vault): cannot use the JWT file {path}: "
                    f"{exc.reason}"
                ) from None
        return self._actions_oidc_token()

    def _actions_oidc_token(self) -> Secret:
        """GitHub Actions' OIDC token (the job needs `permissions: id-token: write`)."""
        url = self._env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        bearer = self._env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not url or not bearer:
            raise StoreError(
                f"store '{self.settings.store}' (vault): jwt login needs `jwt_file`, or a GitHub "
                "Actions job with `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL "
                "is not set)"
            )
        params = {"audience": self.settings.jwt_audience} if self.settings.jwt_audience else None
        deadline = Deadline.start(self._policy.deadline, self._policy.deadline_setting)
        try:
            with httpx.Client(
                timeout=deadline.httpx_timeout(httpx.Timeout(TIMEOUT)), event_hooks=event_hooks()
            ) as client:
                response = client.get(
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {bearer}"},
                    extensions=with_deadline(deadline),
                )
        except httpx.TimeoutException:
            what = self._what("the Actions OIDC token request")
            raise StoreTimeout(deadline.message(what)) from None
        except (httpx.TransportError, AnswerTooLarge) as exc:
            raise StoreError(
                f"store '{self.settings.store}' (vault): cannot reach the Actions OIDC token "
                f"endpoint ({type(exc).__name__})"
            ) from None
        what = self._what("the Actions OIDC token request")
        value = json_object(response, what).get("value") if response.status_code == 200 else None
        if not isinstance(value, str) or not value:
            raise StoreError(
                f"store '{self.settings.store}' (vault): the Actions OIDC token request failed "
                f"({error_text(response)})"
            )
        return Secret(value)

    def _what(self, request: str) -> str:
        return f"store '{self.settings.store}' (vault): {request}"

    def _check_auth(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (200, 204):
            return
        raise StoreError(
            f"store '{self.settings.store}' (vault): {what} ({error_text(response)}); check the "
            "credentials and that the auth method and role exist"
        )
