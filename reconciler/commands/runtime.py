"""What every server-facing command needs: the server URL, the admin token, a driver, a clock.

Each is resolved from explicit inputs (flags, environment mapping, spec) so tests pass them in.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.durations import DurationError, parse_when
from reconciler.errors import UsageError
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.spec.model import DEFAULT_RSPM, Spec
from reconciler.spec.model import Driver as DriverKind
from reconciler.stores.registry import StoreContext
from reconciler.urls import UrlError, canonical_url, without_credentials

Clock = Callable[[], datetime]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GlobalOptions:
    server: str | None = None
    token_file: Path | None = None
    now: str | None = None  # ISO 8601 or +30d; fixes the clock for previews and tests
    verbose: bool = False
    ca_cert: Path | None = None  # CA bundle for the server's certificate (else see server.tls)
    driver: DriverKind | None = None  # --driver: overrides server.driver
    rspm: str | None = None  # --rspm PATH: overrides server.rspm
    # Whether server.rspm in the spec may be run. Only for commands that act on a reviewed spec
    # (apply, rotate, revoke, force-unlock, doctor): plan and the read-only commands run on pull
    # requests, where the spec is whatever the pull request says, with the admin token at hand.
    spec_programs: bool = False


@dataclass(frozen=True)
class Environment:
    """The process environment, passed in rather than read from os.environ below the CLI."""

    variables: Mapping[str, str]
    cwd: Path

    @classmethod
    def current(cls) -> Environment:
        return cls(dict(os.environ), Path.cwd())


def make_clock(options: GlobalOptions) -> Clock:
    if options.now is None:
        return lambda: datetime.now(UTC)
    try:
        fixed = parse_when(options.now, datetime.now(UTC))
    except DurationError as exc:
        raise UsageError(f"--now: {exc}") from None
    return lambda: fixed


def server_url(options: GlobalOptions, env: Environment, spec: Spec | None) -> str:
    """--server, else PACKAGEMANAGER_ADDRESS, else server.url, in its canonical form
    (reconciler.urls): what this run requests, shows, compares and keys a lock with."""
    candidates = (
        (options.server, "--server"),
        (env.variables.get("PACKAGEMANAGER_ADDRESS"), "PACKAGEMANAGER_ADDRESS"),
        (spec.server.url if spec else None, "server.url in the spec"),
    )
    url, source = next(((u, s) for u, s in candidates if u), (None, ""))
    if not url:
        raise UsageError(
            "no server: pass --server URL, set PACKAGEMANAGER_ADDRESS, "
            "or set server.url in the spec"
        )
    try:
        return canonical_url(url)
    except UrlError as exc:
        # Caught here, not by httpx: "UnsupportedProtocol" says nothing about where to look.
        raise UsageError(
            f"server URL {without_credentials(url)!r} (from {source}) {exc}: write it like "
            "https://ppm.example.com"
        ) from None


def admin_token(options: GlobalOptions, env: Environment, spec: Spec | None = None) -> Secret:
    """From --token-file, else the variable the spec's server.token_env names, else
    PACKAGEMANAGER_TOKEN. Never from a flag value: flags end up in shell history and process
    listings."""
    if options.token_file is not None:
        return read_token_file(options.token_file)
    variable = spec.server.token_env if spec is not None else None
    if variable:
        # No fallback to PACKAGEMANAGER_TOKEN: that may be another server's admin token.
        named = env.variables.get(variable, "").strip()
        if not named:
            raise UsageError(
                f"no admin token for {spec.path if spec else 'the spec'}: its server.token_env "
                f"names {variable}, which is not set; set it to a global:admin token of that "
                "server, or pass --token-file PATH"
            )
        return Secret(named)
    value = env.variables.get("PACKAGEMANAGER_TOKEN", "").strip()
    if not value:
        raise UsageError(
            "no admin token: set PACKAGEMANAGER_TOKEN or pass --token-file PATH "
            "(a global:admin token)"
        )
    return Secret(value)


def read_token_file(path: Path) -> Secret:
    """The token in `path`: surrounding whitespace, a final newline or CRLF (an editor's, or
    Windows') and a UTF-8 byte order mark are not part of it. A file others can read is used,
    with a warning: it holds a global:admin token."""
    try:
        text = path.read_text(encoding="utf-8-sig").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UsageError(f"cannot read --token-file {path}: {reason}") from None
    if not text:
        raise UsageError(f"--token-file {path} is empty")
    if any(char.isspace() for char in text):
        raise UsageError(
            f"--token-file {path} holds more than one word or line: it must hold the token alone"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        _log.warning(
            "--token-file %s can be read by other users (mode %s): it holds an admin token; "
            "run: chmod 600 %s",
            path,
            oct(stat.S_IMODE(mode)),
            path,
        )
    return Secret(text)


def driver_kind(options: GlobalOptions, spec: Spec | None) -> DriverKind:
    if options.driver is not None:
        return options.driver
    return spec.server.driver if spec else DriverKind.HTTP


def rspm_command(options: GlobalOptions, spec: Spec | None) -> tuple[str, ...]:
    """--rspm PATH, else server.rspm (a path or a wrapper's argv) where the command may run
    what the spec names, else `rspm` on PATH. A relative path in the spec is relative to the
    spec's directory, like the file store's."""
    if options.rspm:
        return (options.rspm,)
    command = spec.server.rspm if spec and spec.server.rspm else DEFAULT_RSPM
    if spec is not None and command != DEFAULT_RSPM and not options.spec_programs:
        raise UsageError(
            f"{spec.path}: server.rspm names a program to run, and this command runs no "
            "program a spec names (a pull request could make it anything, run with the admin "
            "token in its environment): pass --rspm PATH (for an argv such as kubectl exec, a "
            "script that runs it), or --driver http"
        )
    program = command[0]
    if spec is not None and ("/" in program) and not Path(program).is_absolute():
        program = str(Path(spec.path).resolve().parent / program)
    return (program, *command[1:])


def open_driver(
    options: GlobalOptions, env: Environment, spec: Spec | None, clock: Clock | None = None
) -> Driver:
    url = server_url(options, env, spec)
    token = admin_token(options, env, spec)
    from reconciler.server.http import HttpDriver
    from reconciler.server.tls import ssl_context, trust_source

    verify = ssl_context(trust_source(options.ca_cert, env.variables))
    # The rspm driver lists repositories and proves tokens over HTTP with this same driver.
    http = HttpDriver(url, token, verify=verify)
    if driver_kind(options, spec) is DriverKind.RSPM:
        from reconciler.server.rspm import RspmDriver

        command = rspm_command(options, spec)
        now = clock or make_clock(options)
        return RspmDriver(command, url, token, env=env.variables, http=http, now=now)
    return http


def store_context(spec: Spec, env: Environment, *, run_read_commands: bool = False) -> StoreContext:
    """`run_read_commands` only for apply: plan must not run programs named in the spec."""
    return StoreContext(
        spec_dir=Path(spec.path).resolve().parent,
        env=env.variables,
        run_read_commands=run_read_commands,
    )
