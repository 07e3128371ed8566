"""What every server-facing command needs: the server URL, the admin token, a driver, a clock.

Each is resolved from explicit inputs (flags, environment mapping, spec) so tests pass them in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.durations import DurationError, parse_when
from reconciler.errors import UsageError
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.spec.model import Driver as DriverKind
from reconciler.spec.model import Spec
from reconciler.stores.registry import StoreContext

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class GlobalOptions:
    server: str | None = None
    token_file: Path | None = None
    now: str | None = None  # ISO 8601 or +30d; fixes the clock for previews and tests
    verbose: bool = False


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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Caught here, not by httpx: "UnsupportedProtocol" says nothing about where to look.
        raise UsageError(
            f"server URL {url!r} (from {source}) is not an http:// or https:// address: "
            "write it like https://ppm.example.com"
        )
    return url.rstrip("/")


def admin_token(options: GlobalOptions, env: Environment) -> Secret:
    """From --token-file, else PACKAGEMANAGER_TOKEN. Never from a flag value: flags end up in
    shell history and process listings."""
    if options.token_file is not None:
        try:
            text = options.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                f"cannot read --token-file {options.token_file}: {exc.strerror}"
            ) from None
        if not text:
            raise UsageError(f"--token-file {options.token_file} is empty")
        return Secret(text)
    value = env.variables.get("PACKAGEMANAGER_TOKEN", "").strip()
    if not value:
        raise UsageError(
            "no admin token: set PACKAGEMANAGER_TOKEN or pass --token-file PATH "
            "(a global:admin token)"
        )
    return Secret(value)


def open_driver(options: GlobalOptions, env: Environment, spec: Spec | None) -> Driver:
    url = server_url(options, env, spec)
    kind = spec.server.driver if spec else DriverKind.HTTP
    if kind is not DriverKind.HTTP:
        raise UsageError(f"server.driver {kind.value!r} is not available in this version; use http")
    from reconciler.server.http import HttpDriver

    return HttpDriver(url, admin_token(options, env))


def store_context(spec: Spec, env: Environment, *, run_read_commands: bool = False) -> StoreContext:
    """`run_read_commands` only for apply: plan must not run programs named in the spec."""
    return StoreContext(
        spec_dir=Path(spec.path).resolve().parent,
        env=env.variables,
        run_read_commands=run_read_commands,
    )
