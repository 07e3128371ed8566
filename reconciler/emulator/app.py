"""The emulator's HTTP API: PPM's token endpoints, authenticated repositories, test controls."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from reconciler.desired.model import Scope
from reconciler.emulator import exchange, packages, rpackages, tokens
from reconciler.emulator.clock import ClockState, iso, parse_iso, wall_clock
from reconciler.emulator.db import Database, ResourceRow, TokenRow
from reconciler.emulator.faults import FaultConfig, Faults
from reconciler.emulator.federation import parse_config as parse_federation
from reconciler.emulator.middleware import NOTE_KEY, EmulatorMiddleware, Note
from reconciler.server import endpoints

VERSION = "2026.10.0-emulator"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="packagemanager"'}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _note(request: Request) -> Note:
    note = request.scope.get(NOTE_KEY)
    return note if isinstance(note, Note) else Note()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _basic(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == endpoints.BASIC_USER and password else None


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise tokens.Rejected("the request body is not valid JSON") from None


class EmulatorApp:
    """Holds the state the handlers share; `asgi` is what uvicorn serves."""

    def __init__(self, db: Database, wall: Callable[[], datetime] = wall_clock) -> None:
        self.db = db
        self.wall = wall
        self.faults = Faults()
        routes = [
            Route(endpoints.STATUS, self.status),
            Route(endpoints.TOKENS, self.list_tokens, methods=["GET"]),
            Route(endpoints.TOKENS, self.create_token, methods=["POST"]),
            Route(endpoints.TOKENS + "/{guid}/revoke", self.revoke_token, methods=["POST"]),
            Route(endpoints.TOKEN_EXCHANGE, self.exchange_token, methods=["POST"]),
            Route(endpoints.REPOS, self.list_repos),
            Route(endpoints.SOURCES, self.list_sources),
            *self._scoped_routes(),
            Route(endpoints.EMULATOR_CLOCK, self.clock, methods=["GET", "PUT"]),
            Route(endpoints.EMULATOR_FAULTS, self.fault_config, methods=["GET", "PUT", "DELETE"]),
            Route(endpoints.EMULATOR_LOG, self.request_log, methods=["GET", "DELETE"]),
            Route(endpoints.EMULATOR_ISSUED, self.issued),
            Route(endpoints.EMULATOR_FEDERATION, self.federation, methods=["GET", "PUT", "DELETE"]),
            Route("/__emulator__/repos/{name}/recreate", self.recreate, methods=["POST"]),
            Route("/{repo}/latest/simple/", self.simple_root),
            Route("/{repo}/latest/simple/{project}/", self.simple_project),
            Route("/{repo}/latest/files/{filename}", self.wheel_file),
            # Last: everything else below a repository is a file of an R repository, or a 404.
            Route("/{repo}/latest/{path:path}", self.r_file),
        ]
        self.starlette = Starlette(routes=routes)
        self.asgi = EmulatorMiddleware(self.starlette, db, self.faults, self.now)

    def now(self) -> datetime:
        return self.db.clock().now(self.wall)

    # Authentication ----------------------------------------------------------------------------

    def _admin(self, request: Request) -> TokenRow | Response:
        caller = tokens.identify(self.db, _bearer(request), self.now())
        _note(request).actor = caller.guid
        if caller.token is None:
            return _error(401, "a valid, active API token is required")
        if caller.token.scope != Scope.GLOBAL_ADMIN.value:
            return _error(403, "this API needs a token with the global:admin scope")
        return caller.token

    def _repo(self, request: Request, types: frozenset[str]) -> ResourceRow | Response:
        repo = self.db.resource(request.path_params["repo"])
        if repo is None or repo.kind != "repo" or repo.type not in types:
            return _error(404, "no such repository")
        caller = tokens.identify(self.db, _basic(request), self.now())
        _note(request).actor = caller.guid
        if caller.token is None or not tokens.can_read(caller.token, repo):
            return _error(401, "authentication required", _BASIC_CHALLENGE)
        return repo

    def _scoped_routes(self) -> list[Route]:
        """Read-only requests that each need one scope: what proves a new token of that scope."""
        blocklist = frozenset({Scope.BLOCKLIST_READ, Scope.BLOCKLIST_ADMIN})
        metadata = frozenset({Scope.METADATA_READ, Scope.METADATA_ADMIN})
        upload = frozenset({Scope.SOURCES_WRITE, Scope.SOURCES_ADMIN})
        rules = (
            (endpoints.BLOCKLIST, blocklist, False),
            (endpoints.BLOCKLIST_SETTINGS, frozenset({Scope.BLOCKLIST_ADMIN}), False),
            (endpoints.METADATA, metadata, False),
            (endpoints.METADATA_SETTINGS, frozenset({Scope.METADATA_ADMIN}), False),
            (endpoints.SOURCE_UPLOADS, upload, True),
            (endpoints.SOURCE_SETTINGS, frozenset({Scope.SOURCES_ADMIN}), True),
        )
        return [Route(path, self._scoped(scopes, per_source)) for path, scopes, per_source in rules]

    def _scoped(
        self, scopes: frozenset[Scope], per_source: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            source = None
            if per_source:
                source = self.db.resource(request.path_params["source"])
                if source is None or source.kind != "source":
                    return _error(404, "no such source")
            caller = tokens.identify(self.db, _bearer(request), self.now())
            _note(request).actor = caller.guid
            if caller.token is None:
                return _error(401, "a valid, active API token is required")
            if not tokens.may(caller.token, scopes, source):
                needed = " or ".join(sorted(s.value for s in scopes))
                return _error(403, f"this needs a token with {needed}")
            return JSONResponse({"source": source.name} if source else {})

        return handler

    # PPM API -----------------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        return JSONResponse({"version": VERSION})

    async def list_tokens(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            limit = int(request.query_params.get(endpoints.LIMIT_PARAM, DEFAULT_LIMIT))
            page = int(request.query_params.get(endpoints.PAGE_PARAM, 1))
        except ValueError:
            return _error(400, "_limit and _page must be whole numbers")
        if limit < 1 or page < 1:
            return _error(400, "_limit and _page must be at least 1")
        paging = self.faults.config
        limit = min(limit, paging.page_cap or MAX_LIMIT, MAX_LIMIT)
        offset = 0 if paging.ignore_page else (page - 1) * limit
        headers = (
            {endpoints.TOTAL_HEADER: str(self.db.token_count())} if paging.total_header else None
        )
        return JSONResponse(self.db.token_page_json(limit, offset), headers=headers)

    async def create_token(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        now = self.now()
        try:
            new = tokens.parse_create(await _json_body(request), self.db, now)
        except tokens.Rejected as exc:
            return _error(400, str(exc))
        row, value = tokens.issue(self.db, new, now)
        _note(request).token_guid = row.guid
        return JSONResponse({**row.to_json(), "token": value}, status_code=201)

    async def revoke_token(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        guid = request.path_params["guid"]
        row = self.db.revoke(guid, self.now())
        if row is None:
            return _error(404, f"no token with GUID {guid}")
        _note(request).token_guid = row.guid
        return JSONResponse(row.to_json())

    async def exchange_token(self, request: Request) -> Response:
        answer = await exchange.exchange(self.db, await request.body(), self.now())
        _note(request).token_guid = answer.guid
        # RFC 6749 5.1: an answer holding a token is never cached.
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    def _resources(self, request: Request, kind: str) -> Response:
        value = _bearer(request)
        if value is not None:
            caller = tokens.identify(self.db, value, self.now())
            _note(request).actor = caller.guid
            if caller.token is None:
                return _error(401, "the API token is not valid")
        return JSONResponse([r.to_json() for r in self.db.resources(kind)])

    async def list_repos(self, request: Request) -> Response:
        return self._resources(request, "repo")

    async def list_sources(self, request: Request) -> Response:
        return self._resources(request, "source")

    # Repositories ------------------------------------------------------------------------------

    async def simple_root(self, request: Request) -> Response:
        repo = self._repo(request, endpoints.PYTHON_REPO_TYPES)
        if isinstance(repo, Response):
            return repo
        return HTMLResponse(packages.simple_root(repo.name))

    async def simple_project(self, request: Request) -> Response:
        repo = self._repo(request, endpoints.PYTHON_REPO_TYPES)
        if isinstance(repo, Response):
            return repo
        if packages.normalize(request.path_params["project"]) != packages.PROJECT:
            return _error(404, "no such project")
        return HTMLResponse(packages.simple_project(repo.name))

    async def wheel_file(self, request: Request) -> Response:
        repo = self._repo(request, endpoints.PYTHON_REPO_TYPES)
        if isinstance(repo, Response):
            return repo
        wheel = packages.demo_wheel()
        if request.path_params["filename"] != wheel.filename:
            return _error(404, "no such file")
        return Response(wheel.content, media_type="application/octet-stream")

    async def r_file(self, request: Request) -> Response:
        repo = self._repo(request, endpoints.R_REPO_TYPES)
        if isinstance(repo, Response):
            return repo
        found = rpackages.r_file(request.path_params["path"])
        if found is None:
            return _error(404, "no such file in this repository")
        return Response(found.content, media_type=found.media_type)

    # Test controls -----------------------------------------------------------------------------

    async def clock(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        state = self.db.clock()
        if request.method == "PUT":
            try:
                state = _clock_change(state, await _json_body(request), self.wall)
            except (TypeError, ValueError) as exc:
                return _error(400, f"bad clock setting: {exc}")
            self.db.set_clock(state)
        return JSONResponse(
            {"now": iso(state.now(self.wall)), **state.to_json(), "frozen": bool(state.frozen_at)}
        )

    async def fault_config(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        if request.method == "PUT":
            try:
                self.faults.replace(FaultConfig.from_json(await _json_body(request)))
            except ValueError as exc:
                return _error(400, str(exc))
        elif request.method == "DELETE":
            self.faults.replace(FaultConfig())
        return JSONResponse({**self.faults.config.to_json(), "held": self.faults.held})

    async def request_log(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        if request.method == "DELETE":
            self.db.clear_log()
            return JSONResponse([])
        return JSONResponse(self.db.request_log())

    async def issued(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        return JSONResponse(self.db.issued_values())

    async def federation(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        if request.method == "PUT":
            try:
                issuers = parse_federation(await _json_body(request))
                for entry in issuers:
                    tokens.resolve_resources(entry.scope, list(entry.resources) or None, self.db)
            except (ValueError, tokens.Rejected) as exc:
                return _error(400, str(exc))
            self.db.set_federation(json.dumps({"issuers": [i.to_json() for i in issuers]}))
        elif request.method == "DELETE":
            self.db.set_federation(json.dumps({"issuers": []}))
        return JSONResponse({"issuers": [i.to_json() for i in exchange.configured(self.db)]})

    async def recreate(self, request: Request) -> Response:
        admin = self._admin(request)
        if isinstance(admin, Response):
            return admin
        row = self.db.recreate_resource(request.path_params["name"], self.now())
        if row is None:
            return _error(404, "no such repository or source")
        return JSONResponse({**row.to_json(), "kind": row.kind})


def _clock_change(state: ClockState, body: object, wall: Callable[[], datetime]) -> ClockState:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    if body.get("reset"):
        return ClockState()
    if "now" in body:
        moment = parse_iso(str(body["now"]))
        return state.set_now(moment, frozen=bool(body.get("frozen", False)), wall=wall)
    if "advance_seconds" in body:
        return state.advance(float(str(body["advance_seconds"])))
    if "offset_seconds" in body:
        return ClockState(offset_seconds=float(str(body["offset_seconds"])))
    raise ValueError("give one of now, advance_seconds, offset_seconds or reset")


def create_app(db: Database, wall: Callable[[], datetime] = wall_clock) -> EmulatorApp:
    return EmulatorApp(db, wall)
