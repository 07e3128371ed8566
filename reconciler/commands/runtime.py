"""What every server-facing command needs: the server URL, the admin token, a driver, a clock.

Each is resolved from explicit inputs (flags, environment mapping, spec) so tests pass them in.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from reconciler.bounded_http import event_hooks
from reconciler.commands import admin_store
from reconciler.deadline import SERVER_HTTP_SECONDS, Deadline
from reconciler.desired.command_rules import ADMIN_TOKEN_VARIABLE
from reconciler.desired.model import (
    DEFAULT_RSPM,
    IDENTITY_TOKEN_FILE_VARIABLE,
    AuthType,
    Scope,
    Spec,
)
from reconciler.desired.model import Driver as DriverKind
from reconciler.durations import DurationError, parse_when
from reconciler.errors import AuthError, UsageError
from reconciler.inputs import Unreadable, read_bounded
from reconciler.secret import Secret
from reconciler.server import federation
from reconciler.server.credential import AdminCredential
from reconciler.server.driver import Driver
from reconciler.server.federation import Exchanged
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
    # Variables the other specs of a several-spec run take their admin tokens from: no program
    # this spec runs (a store's, its server's rspm) is given another server's admin token.
    admin_variables: frozenset[str] = frozenset()

    @classmethod
    def current(cls) -> Environment:
        return cls(dict(os.environ), Path.cwd())


def admin_token_variables(specs: Iterable[Spec]) -> frozenset[str]:
    """Every variable these specs take a global:admin token from."""
    named = (spec.server.token_env for spec in specs)
    return frozenset({ADMIN_TOKEN_VARIABLE, *(name for name in named if name)})


def with_admin_variables(env: Environment, specs: Iterable[Spec]) -> Environment:
    """`env` for a run over several specs: each withholds the admin tokens of all of them."""
    return replace(env, admin_variables=env.admin_variables | admin_token_variables(specs))


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


@dataclass(frozen=True)
class AdminToken:
    value: Secret
    source: str  # where it came from, as people name it (never the value)
    exchanged: Exchanged | None = None  # what identity federation gave, with its scope


def admin_token(options: GlobalOptions, env: Environment, spec: Spec | None = None) -> Secret:
    return admin_credential(options, env, spec).value


def admin_credential(
    options: GlobalOptions,
    env: Environment,
    spec: Spec | None = None,
    *,
    require_admin: bool = True,
) -> AdminToken:
    """The one place that decides where the admin token comes from, first match wins:

    1. --token-file PATH: given on the command line for this run (a break-glass token too);
    2. server.auth identity-federation: the identity token exchanged at the server, once per
       call; refused unless it carries global:admin (`require_admin`);
    3. the variable the spec's server.token_env names (never falling back to
       PACKAGEMANAGER_TOKEN: that may be another server's admin token);
    4. PACKAGEMANAGER_TOKEN;
    5. the store the spec keeps its admin token in (server.auth.token or server.auth.store),
       read at every call: a run that rotated it left the successor there.

    Never from a flag value: flags end up in shell history and process listings."""
    if options.token_file is not None:
        return AdminToken(read_token_file(options.token_file), f"--token-file {options.token_file}")
    if spec is not None and spec.server.auth.type is AuthType.IDENTITY_FEDERATION:
        return _federated(options, env, spec, require_admin=require_admin)
    from_env = _from_environment(env, spec)
    if from_env is not None:
        return from_env
    kept = spec.admin_store() if spec is not None else None
    if spec is not None and kept is not None:
        why_not = admin_store.refusal(spec, kept, may_run_programs=options.spec_programs)
        if why_not is not None:
            raise UsageError(why_not)
        context = store_context(spec, env, run_read_commands=options.spec_programs)
        value = admin_store.read_admin_token(spec, kept, context)
        return AdminToken(value, admin_store.describe(spec, kept))
    variable = spec.server.token_env if spec is not None else None
    if variable:
        raise UsageError(
            f"no admin token for {spec.path if spec else 'the spec'}: its server.token_env "
            f"names {variable}, which is not set; set it to a global:admin token of that "
            "server, or pass --token-file PATH"
        )
    hint = ""
    if env.variables.get(IDENTITY_TOKEN_FILE_VARIABLE):
        hint = (
            f"; {IDENTITY_TOKEN_FILE_VARIABLE} is set: to exchange that identity token, "
            "set server.auth: {type: identity-federation} in the spec"
        )
    raise UsageError(
        "no admin token: set PACKAGEMANAGER_TOKEN or pass --token-file PATH "
        f"(a global:admin token){hint}"
    )


def _from_environment(env: Environment, spec: Spec | None) -> AdminToken | None:
    """The admin token the environment gives: server.token_env's variable, else (when the
    spec names none) PACKAGEMANAGER_TOKEN; None when unset or empty."""
    variable = (spec.server.token_env if spec is not None else None) or "PACKAGEMANAGER_TOKEN"
    value = env.variables.get(variable, "").strip()
    return AdminToken(Secret(value), variable) if value else None


def check_admin_source(options: GlobalOptions, env: Environment, spec: Spec) -> None:
    """Raises as admin_credential would when no admin token can be had, without sending
    anything (an identity token is exchanged, and a store read, only when a driver opens)."""
    if options.token_file is None and spec.server.auth.type is AuthType.IDENTITY_FEDERATION:
        federation.check_available(spec.server.auth.identity_token, env.variables)
        return
    kept = spec.admin_store()
    if options.token_file is None and kept is not None and _from_environment(env, spec) is None:
        why_not = admin_store.refusal(spec, kept, may_run_programs=options.spec_programs)
        if why_not is not None:
            raise UsageError(why_not)
        return
    admin_credential(options, env, spec)


def _federated(
    options: GlobalOptions, env: Environment, spec: Spec, *, require_admin: bool
) -> AdminToken:
    source = spec.server.auth.identity_token
    if env.variables.get("PACKAGEMANAGER_TOKEN", "").strip():
        _log.warning(
            "PACKAGEMANAGER_TOKEN is set, but %s takes its admin token by identity federation "
            "(server.auth): the variable is not used; remove it from this job, or pass "
            "--token-file to use a stored token instead",
            spec.path,
        )
    seconds = spec.server.timeout or SERVER_HTTP_SECONDS
    identity = federation.identity_token(
        source,
        env.variables,
        Path(spec.path).resolve().parent,
        deadline=Deadline.start(seconds, "server.timeout"),
    )
    url = server_url(options, env, spec)
    from reconciler.server.tls import ssl_context, trust_source

    verify = ssl_context(trust_source(options.ca_cert, env.variables))
    deadline = Deadline.start(seconds, "server.timeout")
    with httpx.Client(
        timeout=federation.TIMEOUT, verify=verify, event_hooks=event_hooks()
    ) as client:
        exchanged = federation.exchange(
            client, url, identity, now=datetime.now(UTC), deadline=deadline
        )
    described = f"identity federation ({federation.describe(source)})"
    if require_admin and exchanged.scope != Scope.GLOBAL_ADMIN.value:
        raise AuthError(not_admin(exchanged, url))
    return AdminToken(exchanged.value, described, exchanged)


def not_admin(exchanged: Exchanged, url: str) -> str:
    carries = f"carries {exchanged.scope}" if exchanged.scope else "does not say its scope"
    return (
        f"{url} exchanged the identity token, but the PPM token it gave {carries}, not "
        "global:admin, which listing and creating tokens need; give this identity global:admin "
        "in the server's [IdentityFederation] entry (whether PPM grants global:admin to a "
        "federated identity is not documented), or use a stored admin token (server.auth: "
        "{type: token})"
    )


TOKEN_FILE_BYTES = 64 * 1024


def read_token_file(path: Path) -> Secret:
    """The token in `path`: surrounding whitespace, a final newline or CRLF (an editor's, or
    Windows') and a UTF-8 byte order mark are not part of it. A file others can read is used,
    with a warning: it holds a global:admin token."""
    try:
        # Bounded: a token is a few hundred bytes, and the path may be /dev/zero. A pipe is
        # read (README: `rspm create token ... | ppm-tokens bootstrap-admin --token-file
        # /dev/stdin`), to the same bound.
        data = read_bounded(path, TOKEN_FILE_BYTES, pipes=True)
        text = data.decode("utf-8-sig").strip()
        mode = path.stat().st_mode
    except Unreadable as exc:
        raise UsageError(f"cannot read --token-file {path}: {exc.reason}") from None
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
    options: GlobalOptions,
    env: Environment,
    spec: Spec | None,
    clock: Clock | None = None,
    credential: AdminToken | None = None,
    *,
    weaker_proofs: bool = True,
) -> Driver:
    """`credential`: an admin token already resolved (doctor reports the exchange first).
    `weaker_proofs` False: every scope is proven by its request, whatever server.proof says
    (doctor tries both)."""
    url = server_url(options, env, spec)
    credential = credential or admin_credential(options, env, spec)
    # One holder for both drivers: a run that rotates its own admin token switches it there.
    token = AdminCredential(credential.value, credential.source)
    from reconciler.deadline import SERVER_RSPM_SECONDS
    from reconciler.server.http import HttpDriver
    from reconciler.server.tls import ssl_context, trust_source, trusting_environment

    trust = trust_source(options.ca_cert, env.variables)
    timeout = spec.server.timeout if spec is not None else None
    # The rspm driver lists repositories and proves tokens over HTTP with this same driver.
    listed = spec.server.listed_scopes() if spec is not None and weaker_proofs else frozenset()
    http = HttpDriver(
        url,
        token,
        verify=ssl_context(trust),
        listed_scopes=listed,
        deadline=timeout or SERVER_HTTP_SECONDS,
    )
    if driver_kind(options, spec) is DriverKind.RSPM:
        from reconciler.server.rspm import RspmDriver

        command = rspm_command(options, spec)
        now = clock or make_clock(options)
        # The CLI (or its wrapper: kubectl, ssh) gets the caller's environment, which may hold
        # what the wrapper needs to reach the server, but never an admin token other than the
        # one for this server, which the driver sets itself; and the TLS trust this run uses.
        withheld = admin_token_variables([spec] if spec else []) | env.admin_variables
        variables = {k: v for k, v in env.variables.items() if k not in withheld}
        return RspmDriver(
            command,
            url,
            token,
            env=trusting_environment(trust, variables),
            http=http,
            now=now,
            timeout=timeout or SERVER_RSPM_SECONDS,
        )
    return http


def store_context(spec: Spec, env: Environment, *, run_read_commands: bool = False) -> StoreContext:
    """`run_read_commands` only for apply: plan must not run programs named in the spec."""
    return StoreContext(
        spec_dir=Path(spec.path).resolve().parent,
        env=env.variables,
        run_read_commands=run_read_commands,
        withheld=admin_token_variables([spec]) | env.admin_variables,
    )
