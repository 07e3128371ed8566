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

Each command has one overall deadline, its retries included (server.timeout, default 120 s): every
run is killed when it passes, and nothing runs after it. A command the CLI cannot parse (a flag
it does not have: its version is not the server's) fails at once, with the CLI's `Error:` line
and the two versions when they can be read (rspm_output.py).
"""

from __future__ import annotations

import logging
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reconciler import jwtinfo
from reconciler.bounded_run import OutputTooLarge, as_text, run_bounded
from reconciler.deadline import SERVER_RSPM_SECONDS, Deadline
from reconciler.errors import (
    AuthError,
    CreateOutcomeUnknown,
    CreateTimedOut,
    NotFoundError,
    RequestRejected,
    ServerError,
    ServerTimeout,
)
from reconciler.sanitize import for_terminal
from reconciler.secret import Secret
from reconciler.server import rspm_output
from reconciler.server.credential import AdminCredential
from reconciler.server.http import HttpDriver
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from reconciler.server.retry import backoff_delay
from reconciler.server.rspm_args import EXPIRY_MARGIN, create_argv
from reconciler.server.rspm_parse import ListReport, parse_token_list

# What the CLI may print: its token list (about 400 bytes a token, so some 600,000 tokens), and
# messages. Past either it is stopped: a CLI, wrapper or server answering without end would
# otherwise fill memory.
MAX_STDOUT = 256 * 1024 * 1024
MAX_STDERR = 1024 * 1024
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


class RspmTimeout(ServerTimeout):
    """The CLI did not finish in time; it was killed."""


class RspmUsageError(RequestRejected):
    """The CLI could not parse the command line ppm-tokens gave it (an unknown flag or command,
    a required flag missing): it is older or newer than the server. It did nothing."""


def run_subprocess(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
    """The real runner: no shell, no stdin, output captured up to MAX_STDOUT / MAX_STDERR
    bytes, killed after `timeout` or past a bound."""
    try:
        code, stdout, stderr = run_bounded(
            argv, env=env, timeout=timeout, stdout_limit=MAX_STDOUT, stderr_limit=MAX_STDERR
        )
    except FileNotFoundError:
        raise RspmNotRunnable(_not_found(argv)) from None
    except PermissionError:
        raise RspmNotRunnable(f"{for_terminal(argv[0])} is not executable") from None
    except subprocess.TimeoutExpired:
        raise RspmTimeout(f"{_label(argv)} did not finish within {timeout:g}s") from None
    except OutputTooLarge as exc:
        raise ServerError(
            f"{_label(argv)} {exc}, the most ppm-tokens reads; it was stopped and nothing was "
            "changed"
        ) from None
    return Completed(code, as_text(stdout), as_text(stderr))


def _not_found(argv: Sequence[str]) -> str:
    return (
        f"cannot run {for_terminal(argv[0])!r}: not found. Install PPM's CLI (it can be "
        "downloaded from the server at /__api__/download) or point server.rspm / --rspm at it"
    )


def _label(argv: Sequence[str]) -> str:
    words = [w for w in argv if not w.startswith("-")]
    return "rspm " + " ".join(words[-2:]) if len(words) >= 2 else "rspm"


_AUTH = re.compile(
    r"\b(401|403)\b|unauthori[sz]ed|forbidden|permission denied|not authenticated|"
    r"invalid token|token (is )?(expired|revoked)",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"\b404\b|not found|no such|does not exist", re.IGNORECASE)
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
        token: Secret | AdminCredential,
        *,
        env: Mapping[str, str],
        http: HttpDriver | None = None,
        runner: Runner = run_subprocess,
        timeout: float = SERVER_RSPM_SECONDS,  # each command, retries included
        timeout_setting: str = "server.timeout",
        attempts: int = 3,
        backoff_base: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        if not command or not all(command):
            raise ValueError("the rspm command needs at least a program")
        self._command = tuple(command)
        # One holder with the HTTP driver, read at every run of the CLI: a switch to the
        # successor of the admin token reaches both (see server/credential.py).
        self._http = http or HttpDriver(base_url, token, now=now)
        self._credential = self._http.credential
        self._env = {**env, ADDRESS_VARIABLE: base_url}
        self._runner = runner
        self._timeout = timeout
        self._timeout_setting = timeout_setting
        self._monotonic = monotonic
        self._attempts = max(1, attempts)
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._rng = random.Random()
        self._now = now
        self._log = logger or logging.getLogger(__name__)
        self.last_report: ListReport | None = None
        self._versions: tuple[str | None, str | None] | None = None
        self._versions_lock = threading.Lock()  # actions fail concurrently; ask once

    @property
    def command(self) -> tuple[str, ...]:
        return self._command

    @property
    def credential(self) -> AdminCredential:
        return self._credential

    # Running the CLI ---------------------------------------------------------------------------

    def _deadline(self) -> Deadline:
        return Deadline.start(self._timeout, self._timeout_setting, self._monotonic)

    def _run(self, args: Sequence[str], deadline: Deadline) -> Completed:
        argv = [*self._command, *args]
        if args[:2] != ["create", "token"]:
            self._log.debug("running %s", " ".join(for_terminal(a) for a in argv))
        else:
            self._log.debug("running %s create token (%s)", self._command[-1], args[2])
        env = {**self._env, TOKEN_VARIABLE: self._credential.value.reveal()}
        try:
            result = self._runner(argv, env, max(deadline.remaining(), 0.001))
        except RspmTimeout:
            # The runner was given what was left: the deadline is what ran out.
            raise RspmTimeout(deadline.message(_label(argv), "finish")) from None
        self._log.debug("%s -> exit %d", _label(argv), result.returncode)
        if result.returncode == _NOT_FOUND_EXIT and not result.stdout.strip():
            raise RspmNotRunnable(f"{_not_found(argv)} ({self._quote(result)})")
        return result

    def _quote(self, result: Completed, *also_secret: str) -> str:
        """What the CLI said on stderr, fit to show: its `Error:` line first, the admin token and
        any value removed, informational `<<` lines and the usage text dropped, escaped."""
        held = tuple(value.reveal() for value in self._credential.held)
        return rspm_output.quote(result.stderr, (*held, *also_secret))

    def _failure(self, what: str, result: Completed, *also_secret: str) -> ServerError:
        said = self._quote(result, *also_secret)
        message = f"{what} failed (exit {result.returncode}): {said}"
        if rspm_output.is_usage_error(result.returncode, result.stderr):
            return RspmUsageError(f"{message}: {self._usage_hint()}")
        if _AUTH.search(said):
            return AuthError(f"{message}: check {self._http.token_source} (a global:admin token)")
        if _NOT_FOUND.search(said):
            return NotFoundError(message)
        if _REJECTED.search(said):
            return RequestRejected(message)
        return ServerError(message)

    def _retrying(self, what: str, args: Sequence[str]) -> Completed:
        """Runs an idempotent command, again after a transient failure, within one deadline.
        A run that outlives what is left of it is killed and not run again."""
        deadline = self._deadline()
        attempt = 0
        while True:
            attempt += 1
            result = self._run(args, deadline)
            if result.returncode == 0:
                return result
            error = self._failure(what, result)
            if isinstance(error, AuthError | NotFoundError | RequestRejected):
                raise error  # refused: trying again cannot help
            if attempt >= self._attempts:
                raise error
            pause = backoff_delay(self._rng, attempt, self._backoff_base, 10.0)
            if not deadline.allows(pause):
                raise ServerTimeout(deadline.gave_up(str(error), attempt))
            self._log.debug("%s: %s (attempt %d)", what, error, attempt)
            self._sleep(pause)

    # Versions ----------------------------------------------------------------------------------

    def versions(self) -> tuple[str | None, str | None]:
        """The CLI's version (`rspm --version`) and the server's (`GET /__api__/status`), each
        None when it cannot be read. Asked once per driver."""
        with self._versions_lock:
            if self._versions is None:
                self._versions = (self._cli_version(), self._http.server_version())
            return self._versions

    def _cli_version(self) -> str | None:
        try:
            result = self._run(["--version"], self._deadline())
        except ServerError as exc:
            self._log.debug("rspm --version: %s", exc)
            return None
        if result.returncode != 0:
            return None
        return rspm_output.version_of(f"{result.stdout}\n{result.stderr}")

    def _usage_hint(self) -> str:
        """Why a CLI would not parse what ppm-tokens gives it, with the versions when known."""
        cli, server = self.versions()
        download = "download the CLI from the server at /__api__/download"
        if cli is not None and server is not None:
            if rspm_output.versions_match(cli, server):
                return (
                    f"rspm {for_terminal(cli)} has the server's major.minor "
                    f"({for_terminal(server)}) yet does not take this command line: check that "
                    "server.rspm / --rspm runs PPM's CLI"
                )
            return (
                f"rspm is {for_terminal(cli)} but the server is {for_terminal(server)}: their "
                f"major.minor must match; {download}"
            )
        known = f"rspm {for_terminal(cli)}" if cli else "rspm reports no version"
        return (
            f"this CLI does not take a command or flag ppm-tokens uses: is its version the "
            f"server's ({known})? Their major.minor must match; {download}"
        )

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
        # was computed on (apply's, the server's). An absolute expiry is moved earlier by what
        # the command may take to reach the server.
        started = self.server_now() or self._now()
        margin = min(EXPIRY_MARGIN, timedelta(seconds=self._timeout))
        args = create_argv(request, started, margin)
        try:
            result = self._run(args, self._deadline())
        except RspmTimeout as exc:
            raise CreateTimedOut(
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
            if isinstance(exc, AuthError | RspmUsageError | ServerTimeout):
                raise
            # Revoking twice is not an error in the Driver contract, whatever the CLI says.
            listed = next((t for t in self.list_tokens() if t.guid == guid), None)
            if listed is not None and listed.revoked is not None:
                return
            raise

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        if token.scope in self._http.listed_scopes:
            # The weaker proof reads the list this driver serves: the CLI's.
            return self._http.check_listed(self.list_tokens(), value, token)
        return self._http.check_token(value, token)

    def server_now(self) -> datetime | None:
        """From the answers to the requests made over HTTP (repositories, proofs): the CLI
        does not show the server's Date."""
        return self._http.server_now()

    def self_guid(self) -> str | None:
        return self._credential.guid()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RspmDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
