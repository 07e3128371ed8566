"""`ppm-tokens emulator`: serve a PPM-compatible server in the foreground until interrupted."""

from __future__ import annotations

import tempfile
from pathlib import Path

from reconciler.emulator import server
from reconciler.ui import UI


def run(*, host: str, port: int, db: Path | None, admin_token_file: Path, ui: UI) -> int:
    db_path = db or Path(tempfile.mkdtemp(prefix="ppm-emulator-")) / "emulator.sqlite3"
    app = server.prepare(db_path, admin_token_file)
    sock = server.bind(host, port)
    uvicorn_server = server.make_server(app)
    ui.err(f"PPM emulator serving at {server.url_for(sock)}")
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
