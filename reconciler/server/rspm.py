"""The `rspm` driver: PPM's documented CLI for creating, listing and revoking tokens.

PPM documents no HTTP endpoints for tokens; its CLI is the supported interface. Each call runs the
CLI as an argv (never through a shell), optionally behind a wrapper such as
`kubectl exec deploy/ppm -- rspm`. The server address and the admin token reach the child only
through its environment (`PACKAGEMANAGER_ADDRESS`, `PACKAGEMANAGER_TOKEN`), never its arguments,
which other users of the machine can read. A created value is read from the stdout of `--quiet`
and wrapped in a Secret at once; it is never logged.

Repositories and sources are listed, and new tokens proven, over HTTP exactly as the `http` driver
does (`GET /__api__/repos`, a repository index with Basic `__token__`): those are the requests
consumers make, and reusing that driver keeps one proof for both.
"""

from __future__ import annotations

import logging
import random
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reconciler.errors import (
    AuthError,
    CreateOutcomeUnknown,
    NotFoundError,
    RequestRejected,
    ServerError,
)
from reconciler.logs import redact
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server import jwtinfo
from reconciler.server.http import HttpDriver
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from reconciler.server.retry import backoff_delay
from reconciler.server.rspm_parse import ListReport, parse_token_list
from reconciler.spec.model import Scope

ADDRESS_VARIABLE = "PACKAGEMANAGER_ADDRESS"
TOKEN_VARIABLE = "PACKAGEMANAGER_TOKEN"
_NOT_FOUND_EXIT = 127  # a shell's "command not found", also what `env` and most wrappers use


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = field(repr=False)  # holds a token value after a create
    stderr: str = field(repr=False)


class Runner(Protocol):
    def __call__(
        self, argv: Sequence[str], env: Mapping[str, str], timeout: float
    ) -> Completed: ...


class RspmNotRunnable(ServerError):
    """The CLI could not be started at all."""


class RspmTimeout(ServerError):
    """The CLI did not finish in time; it was killed."""


def run_subprocess(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
    """The real runner: no shell, no stdin, output captured, killed after `timeout`."""
    try:
        result = subprocess.run(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise RspmNotRunnable(_not_found(argv)) from None
    except PermissionError:
        raise RspmNotRunnable(f"{for_terminal(argv[0])} is not executable") from None
    except subprocess.TimeoutExpired:
        raise RspmTimeout(f"{_label(argv)} did not finish within {timeout:g}s") from None
    return Completed(result.returncode, result.stdout, result.stderr)


def _not_found(argv: Sequence[str]) -> str:
    return (
        f"cannot run {for_terminal(argv[0])!r}: not found. Install PPM's CLI (it can be "
        "downloaded from the server at /__api__/download) or point server.rspm / --rspm at it"
    )


def _label(argv: Sequence[str]) -> str:
    words = [w for w in argv if not w.startswith("-")]
    return "rspm " + " ".join(words[-2:]) if len(words) >= 2 else "rspm"


def expires_flag(deadline: datetime | None, now: datetime) -> str:
    """`--expires` takes a lifetime from the server's now (`30d`, `5h`, `90m`, `never`).
    Rounded to the coarsest unit within a minute: servers round times anyway, and a plan
    compares expiries with minutes of tolerance."""
    if deadline is None:
        return "never"
    seconds = (deadline - now).total_seconds()
    if seconds < 60:
        raise RequestRejected(
            f"cannot create a token expiring at {deadline.isoformat()}: that is not in the future"
        )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count = round(seconds / size)
        if count >= 1 and abs(count * size - seconds) <= 60:
            return f"{count}{unit}"
    return f"{round(seconds / 60)}m"  # pragma: no cover - minutes always match above


def create_argv(request: TokenRequest, now: datetime) -> list[str]:
    """The arguments after the CLI for one `rspm create token`."""
    try:
        kind = Scope(request.scope).resource_kind
    except ValueError:
        raise RequestRejected(f"unknown scope {request.scope!r}") from None
    argv = ["create", "token", f"--scope={request.scope}"]
    if kind is not None:
        flag = "--repos" if kind == "repo" else "--sources"
        argv.append(f"{flag}={','.join(request.resources)}")
    argv += [
        f"--description={request.description}",
        f"--expires={expires_flag(request.expires, now)}",
        f"--user={request.user}",
        "--quiet",
    ]
    return argv


_AUTH = re.compile(
    r"\b(401|403)\b|unauthori[sz]ed|forbidden|permission denied|not authenticated|"
    r"invalid token|token (is )?(expired|revoked)",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"\b404\b|not found|no such|does not exist", re.IGNORECASE)
_VERSION = re.compile(r"unknown (flag|command|shorthand)", re.IGNORECASE)
_REJECTED = re.compile(
    r"\b(400|422)\b|invalid|unknown|required|must |not allowed|bad request|too long",
    re.IGNORECASE,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RspmDriver:
    def __init__(
        self,
        command: Sequence[str],
        base_url: str,
        token: Secret,
        *,
        env: Mapping[str, str],
        http: HttpDriver | None = None,
        runner: Runner = run_subprocess,
        timeout: float = 120.0,
        attempts: int = 3,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
        logger: logging.Logger | None = None,
    ) -> None:
        if not command or not all(command):
            raise ValueError("the rspm command needs at least a program")
        self._command = tuple(command)
        self._token = token
        self._env = {**env, ADDRESS_VARIABLE: base_url, TOKEN_VARIABLE: token.reveal()}
        self._http = http or HttpDriver(base_url, token, now=now)
        self._runner = runner
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._rng = random.Random()
        self._now = now
        self._log = logger or logging.getLogger(__name__)
        self.last_report: ListReport | None = None

    @property
    def command(self) -> tuple[str, ...]:
        return self._command

    # Running the CLI ---------------------------------------------------------------------------

    def _run(self, args: Sequence[str]) -> Completed:
        argv = [*self._command, *args]
        if args[:2] != ["create", "token"]:
            self._log.debug("running %s", " ".join(for_terminal(a) for a in argv))
        else:
            self._log.debug("running %s create token (%s)", self._command[-1], args[2])
        result = self._runner(argv, self._env, self._timeout)
        self._log.debug("%s -> exit %d", _label(argv), result.returncode)
        if result.returncode == _NOT_FOUND_EXIT and not result.stdout.strip():
            raise RspmNotRunnable(f"{_not_found(argv)} ({self._quote(result)})")
        return result

    def _quote(self, result: Completed, *also_secret: str) -> str:
        """What the CLI said on stderr, fit to show: the admin token and any value removed,
        informational `<<` lines dropped, control characters escaped."""
        text = result.stderr
        for secret in (self._token.reveal(), *also_secret):
            if secret:
                text = text.replace(secret, "(sensitive value)")
        lines = [
            line.strip()
            for line in redact(text).splitlines()
            if line.strip() and not line.lstrip().startswith("<<")
        ]
        quoted = " | ".join(for_terminal(line) for line in lines[-5:])
        return (quoted[:500] + "...") if len(quoted) > 500 else quoted or "no message"

    def _failure(self, what: str, result: Completed, *also_secret: str) -> ServerError:
        said = self._quote(result, *also_secret)
        message = f"{what} failed (exit {result.returncode}): {said}"
        if _AUTH.search(said):
            return AuthError(
                f"{message}: check PACKAGEMANAGER_TOKEN / --token-file (a global:admin token)"
            )
        if _VERSION.search(said):
            return RequestRejected(
                f"{message}: is the CLI's version the server's? Their major.minor must match; "
                "download a matching one from the server at /__api__/download"
            )
        if _NOT_FOUND.search(said):
            return NotFoundError(message)
        if _REJECTED.search(said):
            return RequestRejected(message)
        return ServerError(message)

    def _retrying(self, what: str, args: Sequence[str]) -> Completed:
        """Runs an idempotent command, again after a transient failure."""
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._run(args)
                if result.returncode == 0:
                    return result
                error: ServerError = self._failure(what, result)
            except RspmTimeout as exc:
                error = exc
            if isinstance(error, AuthError | NotFoundError | RequestRejected):
                raise error  # refused: trying again cannot help
            if attempt >= self._attempts:
                raise error
            self._log.debug("%s: %s (attempt %d)", what, error, attempt)
            self._sleep(backoff_delay(self._rng, attempt, self._backoff_base, 10.0))

    # Driver ------------------------------------------------------------------------------------

    def list_tokens(self) -> list[LiveToken]:
        result = self._retrying("rspm list tokens", ["list", "tokens", "--output-format=json"])
        tokens, report = parse_token_list(result.stdout)
        self.last_report = report
        return tokens

    def list_resources(self) -> list[Resource]:
        return self._http.list_resources()

    def create_token(self, request: TokenRequest) -> CreatedToken:
        # `--expires` is a lifetime from the server's now: measured on the clock the deadline
        # was computed on (apply's, the server's), so a 90d deadline is sent as 90d.
        started = self.server_now() or self._now()
        args = create_argv(request, started)
        try:
            result = self._run(args)
        except RspmTimeout as exc:
            raise CreateOutcomeUnknown(
                f"{exc}; the token may exist", description=request.description
            ) from None
        if result.returncode != 0:
            error = self._failure("rspm create token", result, result.stdout.strip())
            if isinstance(error, AuthError | RequestRejected):
                raise error  # refused before anything was made
            raise CreateOutcomeUnknown(
                f"{error}; the token may exist", description=request.description
            )
        value = Secret(result.stdout.strip())
        if not value.reveal() or any(c.isspace() for c in value.reveal()):
            raise CreateOutcomeUnknown(
                "rspm create token --quiet printed something other than one token; "
                "the token may exist",
                description=request.description,
            )
        return CreatedToken(token=self._find_created(request, value, started), value=value)

    def _find_created(self, request: TokenRequest, value: Secret, started: datetime) -> LiveToken:
        """The listed token just created: by the value's `jti` (PPM's GUID), else the newest
        token with the exact description (unique: it carries the name's marker, and the apply
        lock keeps other runs away)."""
        try:
            tokens = self.list_tokens()
        except ServerError as exc:
            raise CreateOutcomeUnknown(
                f"the token was created but listing it failed: {exc}",
                description=request.description,
            ) from None
        guid = jwtinfo.token_guid(value.reveal())
        match = next((t for t in tokens if guid is not None and t.guid == guid), None)
        if match is None:
            recent = started - timedelta(minutes=10)
            same = [
                t
                for t in tokens
                if t.description == request.description
                and t.revoked is None
                and t.created >= recent
            ]
            match = max(same, key=lambda t: t.created, default=None)
        if match is None:
            raise CreateOutcomeUnknown(
                "rspm created a token that its listing does not show; the token may exist",
                description=request.description,
            )
        return match

    def revoke_token(self, guid: str) -> None:
        try:
            self._retrying("rspm revoke token", ["revoke", "token", f"--guid={guid}"])
        except ServerError as exc:
            if isinstance(exc, AuthError):
                raise
            # Revoking twice is not an error in the Driver contract, whatever the CLI says.
            listed = next((t for t in self.list_tokens() if t.guid == guid), None)
            if listed is not None and listed.revoked is not None:
                return
            raise

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        return self._http.check_token(value, token)

    def server_now(self) -> datetime | None:
        """From the answers to the requests made over HTTP (repositories, proofs): the CLI
        does not show the server's Date."""
        return self._http.server_now()

    def self_guid(self) -> str | None:
        return jwtinfo.token_guid(self._token.reveal())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RspmDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
