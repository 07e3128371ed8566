"""Start and stop the emulator: in a daemon thread (tests, `demo`) or in the foreground."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from reconciler import jwtinfo
from reconciler.backends.private_files import write_private_file
from reconciler.desired.model import Scope
from reconciler.emulator import tokens
from reconciler.emulator.app import EmulatorApp
from reconciler.emulator.db import Database
from reconciler.emulator.middleware import DroppedResponse
from reconciler.errors import UsageError
from reconciler.inputs import Unreadable, read_bounded
from reconciler.server import endpoints

BOOTSTRAP_DESCRIPTION = "emulator bootstrap admin"
BOOTSTRAP_USER = "admin"
READY_TIMEOUT = 15.0
ADMIN_TOKEN_FILE_BYTES = 64 * 1024  # an admin token is a few hundred bytes


class _QuietDroppedResponses(logging.Filter):
    """A dropped response is a fault we inject on purpose, not an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedResponse)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDroppedResponses) for f in logger.filters):
        logger.addFilter(_QuietDroppedResponses())


def ensure_admin_token(app: EmulatorApp, admin_token_file: Path) -> None:
    """Seed a new db, and mint a bootstrap admin token unless the file holds a working one.
    The file is replaced only when it is empty or holds an emulator's token (of an earlier
    database): a path given by mistake (a netrc, a key) is refused, not overwritten."""
    db = app.db
    db.seed(app.now())
    held = _held_token(admin_token_file)
    if held:
        caller = tokens.identify(db, held, app.now())
        if caller.token is not None and caller.token.scope == Scope.GLOBAL_ADMIN.value:
            admin_token_file.chmod(0o600)  # as the start-up message says, whoever made it
            return
        claims = jwtinfo.unverified_claims(held)
        if claims is None or claims.get("aud") != tokens.AUDIENCE:
            raise UsageError(
                f"--admin-token-file {admin_token_file} holds something that is not an admin "
                "token of the emulator, and would be overwritten with one: name another file "
                "(or remove that one)"
            )
    new = tokens.NewToken(
        description=BOOTSTRAP_DESCRIPTION,
        user=BOOTSTRAP_USER,
        email=None,
        scope=Scope.GLOBAL_ADMIN,
        resources=(),
        all_resources=False,
        expires=None,
    )
    _, value = tokens.issue(db, new, app.now())
    admin_token_file.parent.mkdir(parents=True, exist_ok=True)
    # Atomic, 0600 from the start, through a temporary file of a name nobody could have planted
    # a link at.
    write_private_file(admin_token_file, (value + "\n").encode())


def _held_token(path: Path) -> str | None:
    """What the token file holds, read to a bound; None when there is no such file."""
    try:
        data = read_bounded(path, ADMIN_TOKEN_FILE_BYTES)
    except FileNotFoundError:
        return None
    except Unreadable as exc:
        raise UsageError(f"cannot use --admin-token-file {path}: {exc.reason}") from None
    except OSError as exc:
        raise UsageError(f"cannot read --admin-token-file {path}: {exc.strerror}") from None
    return data.decode("utf-8", errors="replace").strip()


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so port 0 yields a known free port with no race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without
    # it every response waits ~40 ms on Nagle's algorithm and delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def url_for(sock: socket.socket, scheme: str = "http") -> str:
    """The URL this machine reaches the socket at (a wildcard address becomes loopback)."""
    host, port = sock.getsockname()[:2]
    if host == "0.0.0.0":
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def bound_address(sock: socket.socket) -> str:
    """Where the socket really listens, as HOST:PORT (`0.0.0.0:4242`: every interface)."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def reachable_from_elsewhere(sock: socket.socket) -> bool:
    """Whether other machines may connect: anything but a loopback address."""
    return not ipaddress.ip_address(sock.getsockname()[0]).is_loopback


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate and its private key (PEM): the emulator then serves HTTPS and
    trusts that certificate alone while it waits for itself to be ready."""

    certfile: Path
    keyfile: Path


def make_server(app: EmulatorApp, tls: TlsFiles | None = None) -> uvicorn.Server:
    _install_log_filter()
    config = uvicorn.Config(
        app.asgi,
        ssl_certfile=str(tls.certfile) if tls else None,
        ssl_keyfile=str(tls.keyfile) if tls else None,
        log_config=None,
        log_level="warning",
        access_log=False,
        date_header=False,  # the app dates its answers by the emulator's clock (middleware)
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def prepare(db_path: Path, admin_token_file: Path) -> EmulatorApp:
    app = EmulatorApp(Database(db_path))
    ensure_admin_token(app, admin_token_file)
    return app


@dataclass(frozen=True)
class RunningEmulator:
    url: str
    admin_token_file: Path
    db_path: Path
    app: EmulatorApp = field(repr=False, compare=False)
    _server: Any = field(repr=False, compare=False)
    _thread: threading.Thread = field(repr=False, compare=False)

    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=3)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self.app.db.close()


def _wait_ready(url: str, thread: threading.Thread, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(base_url=url, timeout=1.0, verify=verify) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError("the emulator stopped while starting")
            try:
                if client.get(endpoints.STATUS).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"the emulator at {url} did not become ready in {READY_TIMEOUT:g}s")


def start_emulator(
    *,
    db_path: Path,
    admin_token_file: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsFiles | None = None,
) -> RunningEmulator:
    """The emulator in a daemon thread, ready to answer. With `tls` it serves HTTPS (tests of
    certificate handling); its readiness is then checked against that certificate."""
    app = prepare(db_path, admin_token_file)
    sock = bind(host, port)
    server = make_server(app, tls)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ppm-emulator", daemon=True
    )
    thread.start()
    url = url_for(sock, "https" if tls else "http")
    running = RunningEmulator(url, admin_token_file, db_path, app, server, thread)
    verify = ssl.create_default_context(cafile=str(tls.certfile)) if tls else True
    try:
        _wait_ready(running.url, thread, verify)
    except BaseException:
        running.stop()
        raise
    return running


@contextmanager
def emulator(
    *, db_path: Path, admin_token_file: Path, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningEmulator]:
    running = start_emulator(
        db_path=db_path, admin_token_file=admin_token_file, host=host, port=port
    )
    try:
        yield running
    finally:
        running.stop()
