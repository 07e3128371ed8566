"""`ppm-tokens emulator` in the foreground: serves until SIGINT, never prints the admin token."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SCRIPT = """
import sys
from contextlib import nullcontext
from pathlib import Path
from reconciler.commands.emulator import run

class UI:
    interactive = False
    color = False
    progress_prints_lines = True
    def out(self, text): print(text, flush=True)
    def err(self, text): print(text, file=sys.stderr, flush=True)
    def confirm(self, question): return False
    def progress(self, total, label): return nullcontext(lambda status: None)

sys.exit(run(host="127.0.0.1", port=int(sys.argv[1]), db=Path(sys.argv[2]),
             admin_token_file=Path(sys.argv[3]), ui=UI()))
"""


def test_foreground_emulator_serves_until_interrupted(tmp_path: Path) -> None:
    token_file = tmp_path / "private" / "admin.token"
    command = [sys.executable, "-c", SCRIPT, "0", str(tmp_path / "db.sqlite3"), str(token_file)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            first = process.stderr.readline()
            assert first.startswith("PPM emulator serving at http://127.0.0.1:")
            url = first.split(" at ", 1)[1].strip()
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(url + "/__api__/status").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the emulator never answered"
                    time.sleep(0.02)
            token = token_file.read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            assert httpx.get(url + "/__api__/tokens", headers=headers).status_code == 200
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)
            # Read through the same buffered streams readline() used (communicate() would not).
            output = first + process.stderr.read() + process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode in (0, 130)
    assert str(token_file) in output
    assert token not in output
