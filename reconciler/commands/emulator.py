"""`ppm-tokens emulator`: serve a PPM-compatible server in the foreground until interrupted."""

from __future__ import annotations

import shutil
import signal
import socket
import tempfile
from pathlib import Path

import click

from reconciler.commands import terminal
from reconciler.desired.rules import find_git_root
from reconciler.emulator.extra import require_emulator_extra
from reconciler.errors import UsageError
from reconciler.ui import UI


def check_outside_git(path: Path, option: str) -> None:
    """The admin token file and the database hold token values: like the file store, they stay
    out of repositories (invariant I2)."""
    root = find_git_root(path)
    if root is not None:
        raise UsageError(
            f"{option} {path} is inside the git work tree {root}: it would hold token values; "
            f"pass {option} with a path outside it, such as ~/.local/share/ppm-emulator/"
            f"{path.name}"
        )


def run(*, host: str, port: int, db: Path | None, admin_token_file: Path, ui: UI) -> int:
    # The emulator extra (uvicorn, starlette): loaded when the emulator runs, so that the rest of
    # the command line, --help included, works without it, and said so when missing.
    require_emulator_extra("emulator")
    from reconciler.emulator import server

    check_outside_git(admin_token_file, "--admin-token-file")
    if db is not None:
        check_outside_git(db, "--db")
    # Bind first: a busy port must not leave a freshly minted admin token or database behind.
    try:
        sock = server.bind(host, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from None
    # Without --db the state lives for this run only: it holds the key every token is signed
    # with, so it goes when the emulator stops rather than piling up in the temp directory.
    # uvicorn handles SIGINT/SIGTERM itself while it serves and, after its shutdown, raises the
    # signal again with the handler it found: a SIGTERM left at its default would end the
    # process there (or before uvicorn starts), before the state is closed and removed.
    scratch, db_path = None, db
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if db_path is None:
            scratch = Path(tempfile.mkdtemp(prefix="ppm-emulator-"))
            db_path = scratch / "emulator.sqlite3"
        return _serve(sock, db_path, admin_token_file, temporary=scratch is not None, ui=ui)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _serve(
    sock: socket.socket, db_path: Path, admin_token_file: Path, *, temporary: bool, ui: UI
) -> int:
    from reconciler.emulator import server

    app = server.prepare(db_path, admin_token_file)
    try:
        uvicorn_server = server.make_server(app)
        url, address = server.url_for(sock), server.bound_address(sock)
        if server.reachable_from_elsewhere(sock):
            every = sock.getsockname()[0] in ("0.0.0.0", "::")
            where = f"{address}: every network interface" if every else address
            ui.err(f"PPM emulator serving at {url} (listening on {where})")
            ui.err(
                f"warning: {address} is reachable from other machines: the emulator serves "
                "plain HTTP, so the admin token and every token it issues cross the network "
                "unencrypted, and anyone who reaches it can try them; use --host 127.0.0.1 "
                "unless that is what you want"
            )
        else:
            ui.err(f"PPM emulator serving at {url}")
        ui.err(f"state: {db_path}" + (" (removed on exit; --db keeps it)" if temporary else ""))
        ui.err(f"global:admin token written to {admin_token_file} (mode 0600)")
        ui.err("stop with Ctrl-C")
        uvicorn_server.run(sockets=[sock])
    finally:
        app.db.close()
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=4242, show_default=True)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite file that keeps the state across runs (else a temporary one, removed on exit).",
)
@click.option(
    "--admin-token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("ppm-emulator-admin.token"),
    show_default=True,
    help="Where the bootstrap global:admin token is written (0600).",
)
def command(host: str, port: int, db: Path | None, admin_token_file: Path) -> int:
    """Run a PPM-compatible server for trials and tests."""
    terminal.configure_logging(False)
    return terminal.finish(
        lambda: run(
            host=host, port=port, db=db, admin_token_file=admin_token_file, ui=terminal.ClickUI()
        )
    )
