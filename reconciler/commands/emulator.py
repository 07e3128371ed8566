"""`ppm-tokens emulator`: serve a PPM-compatible server in the foreground until interrupted."""

from __future__ import annotations

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
    try:
        db_path = db or Path(tempfile.mkdtemp(prefix="ppm-emulator-")) / "emulator.sqlite3"
        app = server.prepare(db_path, admin_token_file)
    except BaseException:
        sock.close()
        raise
    uvicorn_server = server.make_server(app)
    url, address = server.url_for(sock), server.bound_address(sock)
    if server.reachable_from_elsewhere(sock):
        every = sock.getsockname()[0] in ("0.0.0.0", "::")
        where = f"{address}: every network interface" if every else address
        ui.err(f"PPM emulator serving at {url} (listening on {where})")
        ui.err(
            f"warning: {address} is reachable from other machines: the emulator serves plain "
            "HTTP, so the admin token and every token it issues cross the network "
            "unencrypted, and anyone who reaches it can try them; use --host 127.0.0.1 "
            "unless that is what you want"
        )
    else:
        ui.err(f"PPM emulator serving at {url}")
    ui.err(f"state: {db_path}")
    ui.err(f"global:admin token written to {admin_token_file} (mode 0600)")
    ui.err("stop with Ctrl-C")
    try:
        # uvicorn handles SIGINT/SIGTERM itself in the main thread and returns after shutdown.
        uvicorn_server.run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    finally:
        sock.close()
        app.db.close()
    return 0


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=4242, show_default=True)
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), help="SQLite file.")
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
