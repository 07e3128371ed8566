"""The `http` driver: PPM's token API over HTTPS with httpx.

Idempotent requests (GET, revoke) are retried on 429, 5xx, connection errors and timeouts, with
exponential backoff and full jitter, honouring Retry-After. A create is retried here only when
the server cannot have acted on it (a refused connection); once it may have reached the server (a
lost answer, a 5xx, even a 429 from a proxy that may have passed it on), it raises
CreateOutcomeUnknown so the caller lists, looks for the marker, and only then creates again.
A certificate that does not verify is never retried: the message says how to trust it (tls.py).
Each request, retries included, has one overall deadline (server.timeout, reconciler.deadline):
every attempt waits at most what is left of it and no retry starts after it, so a server that
accepts connections and never answers fails the request when the deadline passes.

The token list is read at the largest page size PPM serves, until a page comes back empty or
the server's total is reached, several pages at a time once the total tells how many there are
(server/paging.py): a page shorter than asked for is not the last one, since a server or proxy
may cap pages below the size asked, and a server that ignores the page parameter is an error,
never a loop.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from reconciler.bounded_http import AnswerTooLarge, event_hooks, with_deadline
from reconciler.deadline import SERVER_HTTP_SECONDS, Deadline
from reconciler.errors import (
    AuthError,
    CreateOutcomeUnknown,
    CreateTimedOut,
    NotFoundError,
    ProofInconclusive,
    RequestRejected,
    ServerError,
    ServerTimeout,
)
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server import endpoints, paging
from reconciler.server.credential import AdminCredential
from reconciler.server.driver import TokenFilter
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from reconciler.server.parse import resource_from_json, token_from_json
from reconciler.server.proof import NoProof, ProofRequest, listed_proof, proof_request
from reconciler.server.retry import (
    MAX_RETRY_AFTER,
    MAYBE_SENT,
    NOT_SENT,
    backoff_delay,
    retry_after_seconds,
)
from reconciler.server.tls import tls_failure

_REDACTED = "(sensitive value)"
# PPM's largest token page; a server that caps pages lower is read correctly all the same.
MAX_PAGE_SIZE = 1000


def _utc_now() -> datetime:
    return datetime.now(UTC)


_LISTINGS = frozenset({endpoints.TOKENS, endpoints.REPOS, endpoints.SOURCES})
_DATE_RESOLUTION = timedelta(seconds=1)


class HttpDriver:
    def __init__(
        self,
        base_url: str,
        token: Secret | AdminCredential,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        deadline: float = SERVER_HTTP_SECONDS,
        deadline_setting: str = "server.timeout",
        verify: ssl.SSLContext | bool = True,
        max_attempts: int = 6,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
        page_size: int = MAX_PAGE_SIZE,
        pages_in_flight: int = paging.IN_FLIGHT,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        now: Callable[[], datetime] = _utc_now,
        token_source: str = "PACKAGEMANAGER_TOKEN / --token-file",
        listed_scopes: frozenset[str] = frozenset(),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(
                f"page_size must be between 1 and {MAX_PAGE_SIZE} (PPM's largest page)"
            )
        self._base = base_url.rstrip("/")
        # Read for every request: a run that rotates its own admin token switches it (see
        # server/credential.py).
        self._credential = (
            token if isinstance(token, AdminCredential) else AdminCredential(token, token_source)
        )
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=timeout, verify=verify, event_hooks=event_hooks()
        )
        self._deadline = deadline
        self._deadline_setting = deadline_setting
        self._monotonic = monotonic
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._page_size = page_size
        self._pages_in_flight = max(1, pages_in_flight)
        self._keep: TokenFilter | None = None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = logger or logging.getLogger(__name__)
        self._now = now
        # Scopes the spec proves by the token list only (server.proof), the rspm driver too.
        self.listed_scopes = listed_scopes
        # Read once per driver (one run): proofs pick a repository or source from it.
        self._resources: list[Resource] | None = None
        # Proof paths the server was seen to refuse without a token; asked once per path, even
        # when many proofs run at once.
        self._refused_anonymously: set[str] = set()
        self._refusal_lock = threading.Lock()
        self._path_locks: dict[str, threading.Lock] = {}
        # The server's Date of its latest answer, and time.monotonic() when it arrived.
        self._server_date: tuple[datetime, float] | None = None

    @property
    def credential(self) -> AdminCredential:
        return self._credential

    @property
    def token_source(self) -> str:
        """Where the admin token in use came from, for messages."""
        return self._credential.source

    # Transport ---------------------------------------------------------------------------------

    def _bearer(self, value: Secret) -> dict[str, str]:
        return {"Authorization": f"Bearer {value.reveal()}"}

    def _scrub(self, text: str) -> str:
        """Server text fit to quote in a message: without our token, short, and on one line
        with nothing a terminal would interpret."""
        for held in self._credential.held:
            text = text.replace(held.reveal(), _REDACTED)
        return for_terminal(text[:300])

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(self._rng, attempt, self._backoff_base, self._backoff_cap)

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, int] | None = None,
        body: object = None,
        create: bool = False,
        attempts: int | None = None,
    ) -> httpx.Response:
        """One logical request with retries. Never puts request headers in a message."""
        where = f"{method} {self._base}{path}"
        if headers is None:
            headers = self._bearer(self._credential.value)
        deadline = Deadline.start(self._deadline, self._deadline_setting, self._monotonic)
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self._client.request(
                    method,
                    self._base + path,
                    headers=headers,
                    params=params,
                    json=body,
                    timeout=deadline.httpx_timeout(self._client.timeout),
                    extensions=with_deadline(deadline),
                )
            except httpx.HTTPError as exc:
                tls = tls_failure(exc)
                if tls is not None:
                    # A certificate that does not verify will not verify on the next attempt.
                    raise ServerError(f"{where}: {tls}") from None
                timed_out = isinstance(exc, httpx.TimeoutException) and deadline.passed()
                if isinstance(exc, NOT_SENT):
                    failure = f"could not connect ({type(exc).__name__})"
                elif isinstance(exc, MAYBE_SENT):
                    failure = f"the connection failed ({type(exc).__name__})"
                    if create and timed_out:
                        raise CreateTimedOut(
                            f"{deadline.message(where)}; the token may exist",
                            description=_description(body),
                        ) from None
                    if create:
                        raise CreateOutcomeUnknown(
                            f"{where}: {failure} after the request was sent; the token may exist",
                            description=_description(body),
                        ) from None
                else:
                    # Answered but unreadable (past its bound, say): a create may have made one.
                    failure = str(exc) if isinstance(exc, AnswerTooLarge) else type(exc).__name__
                    if create:
                        raise CreateOutcomeUnknown(
                            f"{where}: {failure}; the token may exist",
                            description=_description(body),
                        ) from None
                    raise ServerError(f"{where}: {failure}") from None
                if timed_out:
                    raise ServerTimeout(deadline.message(where)) from None
            else:
                self._note_date(response)
                status = response.status_code
                self._log.debug("%s %s -> %s (attempt %d)", method, path, status, attempt)
                if 300 <= status < 400:
                    self._refuse_redirect(where, response, create, body)
                if status != 429 and status < 500:
                    return response
                wait = retry_after_seconds(response.headers.get("retry-after"), self._now())
                if create:
                    raise CreateOutcomeUnknown(
                        f"{where}: the server answered {status}; the token may exist",
                        description=_description(body),
                        retry_after=wait,
                    )
                failure = f"the server answered {status}"
            self._log.debug("%s %s: %s (attempt %d)", method, path, failure, attempt)
            if attempt >= (attempts or self._max_attempts):
                raise ServerError(f"{where}: {failure}; gave up after {attempt} attempts")
            pause = min(wait, MAX_RETRY_AFTER) if wait is not None else self._backoff(attempt)
            if not deadline.allows(pause):
                raise ServerTimeout(deadline.gave_up(f"{where}: {failure}", attempt))
            self._sleep(pause)

    def _note_date(self, response: httpx.Response) -> None:
        date = _http_date(response.headers.get("date"))
        if date is not None:
            self._server_date = (date, time.monotonic())  # one assignment: thread-safe

    def server_now(self) -> datetime | None:
        noted = self._server_date
        if noted is None:
            return None
        date, seen = noted
        # A Date is in whole seconds, rounded down: the server's time is up to a second later.
        # Taking the later end, a grace counted from it is never shorter than promised.
        return date + _DATE_RESOLUTION + timedelta(seconds=time.monotonic() - seen)

    def _refuse_redirect(
        self, where: str, response: httpx.Response, create: bool, body: object
    ) -> None:
        """Redirects are never followed, so the admin token (or a token being proven) goes to
        no other address. Never retried either: the next answer would be the same."""
        location = self._scrub(response.headers.get("location", "")) or "nowhere"
        message = (
            f"{where}: the server answered {response.status_code}, redirecting to {location}; "
            "redirects are not followed, so no token is sent to another address: if the "
            "server lives there, give that address (--server / PACKAGEMANAGER_ADDRESS / "
            "server.url)"
        )
        if create:
            # What answered may have passed the create on before redirecting (a 303 after a
            # POST says it did): find out by listing, as for any create without a usable answer.
            raise CreateOutcomeUnknown(message, description=_description(body))
        raise ServerError(message)

    def _check(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message = self._scrub(_server_message(response))
        detail = f": {message}" if message else ""
        if status in (401, 403):
            raise AuthError(
                f"the admin token was refused ({status}) on {method} {path}{detail}: "
                f"check {self.token_source}"
            )
        if status == 404:
            hint = ""
            if method == "GET" and path in _LISTINGS:
                # Every PPM server has these: a 404 means the address is not a PPM server's root.
                hint = (
                    f": is {self._base} the address of a Posit Package Manager server, without a "
                    "path? Check --server / PACKAGEMANAGER_ADDRESS / server.url"
                )
            raise NotFoundError(f"{method} {path}: not found (404){detail}{hint}")
        if status < 500:
            raise RequestRejected(f"the server rejected {method} {path} ({status}){detail}")
        raise ServerError(f"{method} {path} failed ({status}){detail}")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        self._check(method, path, response)
        return _json_of(response, method, path)

    # Driver ------------------------------------------------------------------------------------

    def list_tokens(self) -> list[LiveToken]:
        return paging.read_all(self._token_page, self._keep, in_flight=self._pages_in_flight)

    @contextmanager
    def listing_only(self, keep: TokenFilter) -> Iterator[None]:
        # A scope around plain list_tokens calls rather than a method of its own, so that
        # whatever wraps list_tokens sees every listing.
        self._keep = keep
        try:
            yield
        finally:
            self._keep = None

    def _token_page(self, page: int) -> paging.Page:
        params = {endpoints.LIMIT_PARAM: self._page_size, endpoints.PAGE_PARAM: page}
        response = self._send("GET", endpoints.TOKENS, params=params)
        self._check("GET", endpoints.TOKENS, response)
        batch = _json_of(response, "GET", endpoints.TOKENS)
        if not isinstance(batch, list):
            raise ServerError(f"GET {endpoints.TOKENS}: expected a list of tokens")
        return batch, _total(response)

    def list_resources(self) -> list[Resource]:
        out: list[Resource] = []
        for path, kind in ((endpoints.REPOS, "repo"), (endpoints.SOURCES, "source")):
            items = self._json("GET", path)
            if not isinstance(items, list):
                raise ServerError(f"GET {path}: expected a list")
            out.extend(resource_from_json(i, kind) for i in items if isinstance(i, dict))
        self._resources = out
        return list(out)

    def create_token(self, request: TokenRequest) -> CreatedToken:
        body = {
            "description": request.description,
            "user": request.user,
            "scope": request.scope,
            "resources": list(request.resources),
            "expires": request.expires.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if request.expires
            else None,
        }
        response = self._send("POST", endpoints.TOKENS, body=body, create=True)
        self._check("POST", endpoints.TOKENS, response)
        try:
            data = response.json()
            value = data.pop("token")
            if not isinstance(value, str) or not value:
                raise ValueError("no token value")
            token = token_from_json(data)
        except (ValueError, RecursionError, AttributeError, KeyError, ServerError):
            raise CreateOutcomeUnknown(
                f"POST {endpoints.TOKENS}: the server's answer could not be read; "
                "the token may exist",
                description=request.description,
            ) from None
        return CreatedToken(token=token, value=Secret(value))

    def revoke_token(self, guid: str) -> None:
        path = endpoints.revoke(guid)
        self._check("POST", path, self._send("POST", path))

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        if token.scope in self.listed_scopes:
            return self.check_listed(self.list_tokens(), value, token)
        resources = self._resources if self._resources is not None else self.list_resources()
        try:
            proof = proof_request(token, resources)
        except NoProof as exc:
            raise ProofInconclusive(f"token {token.guid}: {exc}") from None
        if proof is None:
            return False  # none of its resources exists any more: no value of it can work
        self._require_refusal_without_token(proof, token)
        if proof.basic:
            pair = f"{endpoints.BASIC_USER}:{value.reveal()}".encode()
            headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        else:
            headers = self._bearer(value)
        response = self._send("GET", proof.path, headers=headers, params=proof.params or None)
        if response.status_code in (401, 403):
            return False
        self._check("GET", proof.path, response)
        return True

    def check_listed(self, listed: list[LiveToken], value: Secret, token: LiveToken) -> bool:
        """The weaker proof the spec declares for this scope (see server.proof)."""
        why = listed_proof(listed, value, token, self._now())
        if why is not None:
            self._log.debug("token %s: the listed proof fails: %s", token.guid, why)
        return why is None

    def _require_refusal_without_token(self, proof: ProofRequest, token: LiveToken) -> None:
        """A proof request that also succeeds without a token proves nothing."""
        if proof.path in self._refused_anonymously:
            return
        with self._refusal_lock:
            path_lock = self._path_locks.setdefault(proof.path, threading.Lock())
        with path_lock:
            # Held while asking: proofs of the same path wait, then need no request of their own.
            self._ask_without_token(proof, token)

    def _ask_without_token(self, proof: ProofRequest, token: LiveToken) -> None:
        if proof.path in self._refused_anonymously:
            return
        response = self._send("GET", proof.path, headers={}, params=proof.params or None)
        status = response.status_code
        if status in (401, 403):
            self._refused_anonymously.add(proof.path)
            return
        if status < 400:
            raise ProofInconclusive(
                f"GET {proof.path} answers without a token, so it cannot prove that the new "
                f"token {token.guid} ({token.scope}) works: the server must require "
                "authentication there"
            )
        if status == 404:
            raise ProofInconclusive(
                f"GET {proof.path}, which proves a {token.scope} token, is not found on this "
                f"server, so the new token {token.guid} cannot be proven"
            )
        self._check("GET", proof.path, response)

    def self_guid(self) -> str | None:
        return self._credential.guid()

    def server_version(self) -> str | None:
        """The version the server reports at GET /__api__/status; None when it does not say.
        Only ever shown or compared (the rspm CLI's major.minor must be the server's)."""
        try:
            response = self._send("GET", endpoints.STATUS, attempts=1)
        except ServerError as exc:
            self._log.debug("GET %s: %s", endpoints.STATUS, exc)
            return None
        try:
            version = response.json().get("version") if response.status_code == 200 else None
        except (ValueError, RecursionError, AttributeError):  # RecursionError: nested too deep
            return None
        return version[:100] if isinstance(version, str) and version.strip() else None

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HttpDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _http_date(text: str | None) -> datetime | None:
    """An HTTP `Date` header (RFC 9110), as an aware time; None when absent or unreadable."""
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _json_of(response: httpx.Response, method: str, path: str) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the parser
        raise ServerError(f"{method} {path}: the server's answer is not JSON") from None


def _total(response: httpx.Response) -> int | None:
    """The server's count of all tokens, when it sends one."""
    text = response.headers.get(endpoints.TOTAL_HEADER, "").strip()
    return int(text) if text.isdigit() else None


def _description(body: object) -> str:
    return str(body.get("description", "")) if isinstance(body, dict) else ""


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return response.text.strip()
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return response.text.strip()
