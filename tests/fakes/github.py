"""A fake of GitHub's REST API for Actions secrets and variables, on real HTTP (Starlette under
uvicorn, loopback, random port), following GitHub's documented behaviour:

- `GET .../secrets/public-key` gives a real libsodium public key and its `key_id`; every secret
  PUT is decrypted here with the private key (a sealed box that does not open is refused), and
  the fake keeps the plaintext so tests can prove what arrived.
- names: letters, digits and `_`, not starting with a digit or `GITHUB_`, stored upper-case;
  values up to 48 KB; a `key_id` that is not the current key's is refused (422).
- PUT secret: 201 created, 204 updated. Variables: POST 201 (409 if it exists), PATCH 204
  (404 if missing), DELETE 204 (404). Lists page with `per_page`/`page` and `total_count`
  (`short_pages` leaves items off every page, as a trimming proxy would).
- Organization secrets and variables need `visibility` (all, private, selected) and, for
  selected, `selected_repository_ids`.
- 401 for an unknown token, 404 for a repository or organization the token cannot see, 403
  for a permission it lacks or holds read-only. Permissions are a fine-grained token's:
  `secrets` and `variables` (of a repository or an organization), `environments` (needed as
  well for an environment's secrets and variables), `metadata` (the repository lookup, always
  readable); a grant is one level for all of them or a level per permission.
- Injected rate limits (primary: 403 + x-ratelimit-remaining 0 + x-ratelimit-reset; secondary:
  403 + Retry-After; 429) and server errors.

Not covered: classic tokens' scopes and App installations (modelled by the same per-permission
grants), organization roles and repository access policies of organization secrets (which
repositories see a secret is stored, not enforced), secret scanning, audit logs, and per-scope
count limits.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.emulator.server import bind, url_for

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VALUE = 48 * 1024
PERMISSIONS = frozenset({"secrets", "variables", "environments", "metadata"})
Grant = str | dict[str, str]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": message, "documentation_url": "https://docs.github.com/rest"}, status
    )


@dataclass
class Entry:
    value: str
    created_at: datetime
    updated_at: datetime
    visibility: str | None = None
    selected_repository_ids: list[int] | None = None


@dataclass
class Scope:
    """Where secrets live: a repository, an environment or an organization."""

    organization: bool = False
    private_key: PrivateKey = field(default_factory=PrivateKey.generate)
    key_id: str = field(default_factory=lambda: str(secrets.randbelow(10**18)))
    secrets: dict[str, Entry] = field(default_factory=dict)
    variables: dict[str, Entry] = field(default_factory=dict)

    def rotate_key(self) -> None:
        self.private_key = PrivateKey.generate()
        self.key_id = str(secrets.randbelow(10**18))


@dataclass
class Injected:
    status: int
    times: int
    headers: dict[str, str]
    message: str


class GitHubFake:
    def __init__(self) -> None:
        self.scopes: dict[str, Scope] = {}
        self.repositories: dict[str, int] = {}
        self.environments: set[tuple[str, str]] = set()
        # token -> {repository or "org:NAME" -> level, or {permission -> level}}; levels are
        # "read" and "write", permissions those of PERMISSIONS
        self.tokens: dict[str, dict[str, Grant]] = {}
        self.injected: list[Injected] = []
        self.short_pages = 0  # leave this many items off every page, total_count unchanged
        self.requests: list[tuple[str, str, int]] = []
        self._clock = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    # -- set-up by tests ----------------------------------------------------------------------

    def add_repository(self, full_name: str, *environments: str) -> None:
        with self._lock:
            self.repositories.setdefault(full_name, 1000 + len(self.repositories))
            self.scopes.setdefault(f"repo:{full_name}", Scope())
            for env in environments:
                self.environments.add((full_name, env))
                self.scopes.setdefault(f"env:{full_name}:{env}", Scope())

    def add_organization(self, org: str) -> None:
        with self._lock:
            self.scopes.setdefault(f"org:{org}", Scope(organization=True))

    def new_token(self, grants: dict[str, Grant]) -> str:
        for grant in grants.values():
            unknown = set(grant) - PERMISSIONS if isinstance(grant, dict) else set()
            assert not unknown, f"no such permission: {unknown}"
        token = "ghp_" + secrets.token_hex(18)
        self.tokens[token] = dict(grants)
        return token

    def inject(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "injected",
    ) -> None:
        self.injected.append(Injected(status, times, headers or {}, message))

    def rate_limit(self, kind: str, *, times: int = 1, wait: int = 2) -> None:
        if kind == "primary":
            reset = int(time.time()) + wait
            headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
            self.inject(403, times=times, headers=headers, message="API rate limit exceeded")
        elif kind == "secondary":
            self.inject(
                403,
                times=times,
                headers={"retry-after": str(wait)},
                message="You have exceeded a secondary rate limit",
            )
        else:
            self.inject(
                429, times=times, headers={"retry-after": str(wait)}, message="Too many requests"
            )

    # -- what tests read ----------------------------------------------------------------------

    def scope(self, key: str) -> Scope:
        return self.scopes[key]

    def secret_value(self, scope: str, name: str) -> str | None:
        entry = self.scopes[scope].secrets.get(name.upper())
        return entry.value if entry else None

    def every_secret_value(self) -> list[str]:
        return [e.value for s in self.scopes.values() for e in s.secrets.values()]

    def touch_secret(self, scope: str, name: str, value: str) -> None:
        """A secret set by hand (the web UI), after whatever wrote it before."""
        with self._lock:
            now = self._tick()
            found = self.scopes[scope].secrets.get(name)
            created = found.created_at if found else now
            self.scopes[scope].secrets[name] = Entry(value, created, now)

    def _tick(self) -> datetime:
        # Distinct, increasing times at GitHub's one-second precision.
        self._clock += timedelta(seconds=1)
        return self._clock

    # -- the HTTP app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        prefixes = {
            "repo": "/repos/{owner}/{repo}/actions",
            "env": "/repos/{owner}/{repo}/environments/{env}",
            "org": "/orgs/{org}/actions",
        }
        routes = [Route("/repos/{owner}/{repo}", self._repository)]
        for kind, prefix in prefixes.items():
            routes += [
                Route(prefix + "/secrets/public-key", self._handler(kind, self._public_key)),
                Route(prefix + "/secrets", self._handler(kind, self._list_secrets)),
                Route(
                    prefix + "/secrets/{name}",
                    self._handler(kind, self._secret),
                    methods=["GET", "PUT", "DELETE"],
                ),
                Route(
                    prefix + "/variables",
                    self._handler(kind, self._variables),
                    methods=["GET", "POST"],
                ),
                Route(
                    prefix + "/variables/{name}",
                    self._handler(kind, self._variable),
                    methods=["GET", "PATCH", "DELETE"],
                ),
            ]
        return Starlette(routes=routes)

    def _authorize(
        self, request: Request, resource: str, permission: str, write: bool
    ) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header.split(" ", 1)[1] if " " in header else ""
        grants = self.tokens.get(token)
        if grants is None:
            return _error(401, "Bad credentials")
        grant = grants.get(resource)
        if grant is None:
            return _error(404, "Not Found")
        if isinstance(grant, dict):
            # Every fine-grained token may read the metadata of the repositories it is granted.
            level = grant.get(permission, "read" if permission == "metadata" else None)
        else:
            level = grant
        if level is None or (write and level != "write"):
            return _error(403, "Resource not accessible by personal access token")
        return None

    def _injected(self) -> Response | None:
        with self._lock:
            fault = next((f for f in self.injected if f.times > 0), None)
            if fault is None:
                return None
            fault.times -= 1
        response = _error(fault.status, fault.message)
        response.headers.update(fault.headers)
        return response

    def _handler(self, kind: str, method: Any) -> Any:
        async def handle(request: Request) -> Response:
            response = await self._dispatch(kind, method, request)
            self.requests.append((request.method, request.url.path, response.status_code))
            return response

        return handle

    async def _dispatch(self, kind: str, method: Any, request: Request) -> Response:
        if (injected := self._injected()) is not None:
            return injected
        params = request.path_params
        if kind == "org":
            resource, key = f"org:{params['org']}", f"org:{params['org']}"
        else:
            resource = f"{params['owner']}/{params['repo']}"
            key = f"repo:{resource}" if kind == "repo" else f"env:{resource}:{params['env']}"
        needs = ["variables" if "/variables" in request.url.path else "secrets"]
        if kind == "env":
            needs.append("environments")  # an environment's secrets need both permissions
        writes = request.method not in ("GET", "HEAD")
        for permission in needs:
            refused = self._authorize(request, resource, permission, writes)
            if refused is not None:
                return refused
        scope = self.scopes.get(key)
        if scope is None:
            return _error(404, "Not Found")
        body = await request.json() if request.method in ("PUT", "POST", "PATCH") else {}
        with self._lock:
            result: Response = method(scope, request, body)
            return result

    async def _repository(self, request: Request) -> Response:
        full = f"{request.path_params['owner']}/{request.path_params['repo']}"
        refused = self._authorize(request, full, "metadata", False)
        if refused is not None or full not in self.repositories:
            return refused or _error(404, "Not Found")
        return JSONResponse({"id": self.repositories[full], "full_name": full})

    # -- endpoints (called under the lock) ----------------------------------------------------

    def _public_key(self, scope: Scope, request: Request, body: Any) -> Response:
        key = base64.b64encode(bytes(scope.private_key.public_key)).decode()
        return JSONResponse({"key_id": scope.key_id, "key": key})

    def _page(
        self, items: list[dict[str, Any]], request: Request, field_name: str, cap: int
    ) -> Response:
        per_page = min(int(request.query_params.get("per_page", 30)), cap)
        page = int(request.query_params.get("page", 1))
        chosen = items[(page - 1) * per_page : page * per_page]
        chosen = chosen[: max(0, len(chosen) - self.short_pages)]
        return JSONResponse({"total_count": len(items), field_name: chosen})

    @staticmethod
    def _describe(name: str, entry: Entry, *, value: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "name": name,
            "created_at": entry.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": entry.updated_at.isoformat().replace("+00:00", "Z"),
        }
        if value:
            shown["value"] = entry.value
        if entry.visibility is not None:
            shown["visibility"] = entry.visibility
        return shown

    def _list_secrets(self, scope: Scope, request: Request, body: Any) -> Response:
        items = [self._describe(n, e, value=False) for n, e in sorted(scope.secrets.items())]
        return self._page(items, request, "secrets", 100)

    @staticmethod
    def _name_problem(name: str) -> str | None:
        if not NAME.match(name) or name.upper().startswith("GITHUB_"):
            return (
                "Secret names can only contain alphanumeric characters or underscores, "
                "must not start with a number or GITHUB_"
            )
        return None

    @staticmethod
    def _visibility_problem(scope: Scope, body: Any) -> str | None:
        if not scope.organization:
            return None
        visibility = body.get("visibility")
        if visibility not in ("all", "private", "selected"):
            return "visibility must be one of all, private, selected"
        if visibility == "selected" and not isinstance(body.get("selected_repository_ids"), list):
            return "selected_repository_ids is required when visibility is selected"
        return None

    def _secret(self, scope: Scope, request: Request, body: Any) -> Response:
        name = request.path_params["name"].upper()
        if request.method == "GET":
            entry = scope.secrets.get(name)
            return (
                JSONResponse(self._describe(name, entry, value=False))
                if entry
                else _error(404, "Not Found")
            )
        if request.method == "DELETE":
            return (
                Response(status_code=204)
                if scope.secrets.pop(name, None)
                else _error(404, "Not Found")
            )
        if (problem := self._name_problem(name)) or (
            problem := self._visibility_problem(scope, body)
        ):
            return _error(422, problem)
        if body.get("key_id") != scope.key_id:
            return _error(422, "Bad request: key_id does not match the current public key")
        try:
            sealed = base64.b64decode(str(body.get("encrypted_value", "")), validate=True)
            plain = SealedBox(scope.private_key).decrypt(sealed)
        except (CryptoError, binascii.Error, ValueError):
            return _error(422, "encrypted_value could not be decrypted with the key")
        if len(plain) > MAX_VALUE:
            return _error(422, "Secret value is too large: the maximum is 48 KB")
        now = self._tick()
        found = scope.secrets.get(name)
        scope.secrets[name] = Entry(
            plain.decode(),
            found.created_at if found else now,
            now,
            body.get("visibility"),
            body.get("selected_repository_ids"),
        )
        return Response(status_code=204 if found else 201)

    def _variables(self, scope: Scope, request: Request, body: Any) -> Response:
        if request.method == "GET":
            items = [self._describe(n, e, value=True) for n, e in sorted(scope.variables.items())]
            return self._page(items, request, "variables", 30)
        name = str(body.get("name", "")).upper()
        return self._write_variable(scope, name, body, create=True)

    def _write_variable(self, scope: Scope, name: str, body: Any, *, create: bool) -> Response:
        if (problem := self._name_problem(name)) or (
            problem := self._visibility_problem(scope, body)
        ):
            return _error(422, problem)
        value = body.get("value")
        if not isinstance(value, str) or len(value.encode()) > MAX_VALUE:
            return _error(422, "value must be a string of at most 48 KB")
        found = scope.variables.get(name)
        if create and found is not None:
            return _error(409, "Already exists")
        if not create and found is None:
            return _error(404, "Not Found")
        now = self._tick()
        scope.variables[name] = Entry(
            value,
            found.created_at if found else now,
            now,
            body.get("visibility"),
            body.get("selected_repository_ids"),
        )
        return Response(status_code=201 if create else 204)

    def _variable(self, scope: Scope, request: Request, body: Any) -> Response:
        name = request.path_params["name"].upper()
        if request.method == "GET":
            entry = scope.variables.get(name)
            return (
                JSONResponse(self._describe(name, entry, value=True))
                if entry
                else _error(404, "Not Found")
            )
        if request.method == "DELETE":
            return (
                Response(status_code=204)
                if scope.variables.pop(name, None)
                else _error(404, "Not Found")
            )
        return self._write_variable(scope, name, body, create=False)


@dataclass
class RunningGitHub:
    url: str
    fake: GitHubFake
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def start_github_fake(fake: GitHubFake | None = None) -> RunningGitHub:
    fake = fake or GitHubFake()
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        fake.app(),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="github-fake"
    )
    thread.start()
    running = RunningGitHub(url_for(sock), fake, server, thread)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{running.url}/repos/none/none", timeout=1)
            return running
        except httpx.TransportError:
            time.sleep(0.01)  # polling interval between readiness probes
    running.stop()
    raise RuntimeError("the GitHub fake did not start")


@pytest.fixture
def github() -> Iterator[RunningGitHub]:
    running = start_github_fake()
    try:
        yield running
    finally:
        running.stop()
