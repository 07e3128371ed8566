"""I5 for a store write cut in two, with every store kind: the new value is in the store, its
metadata is not. Once by kill -9 between the two writes (`mid-store`), once by the store
becoming unreachable right after the value (`cut-store`: the metadata write and every try to go
back fail, and the run reports it). The next run must keep whoever holds the value working:

- the token the store hands out after the cut is never revoked by the runs that follow;
- the token it replaced keeps working until the grace it was promised ends, then is retired;
- where the store reads values back (file, vault, aws), the new token stays current and only its
  metadata is written, with the promise the cut write recorded; where it cannot (github, a
  command store without read_command), a fresh token is written and both candidates keep
  working through the grace counted from that write.

The kill machinery is tests/e2e/killpoint.py's, which hooks the metadata write of each store
kind. The rest of the crash matrix, every action kind with the file store, is test_crash.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.jwtinfo import token_guid
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, Run
from tests.e2e.real_stores import (
    Backend,
    Held,
    remote_backend,
    spec_text,
)
from tests.e2e.real_stores import _token_from as token_in
from tests.e2e.test_crash import KILLPOINT
from tests.e2e.test_invariants import active_by_name
from tests.stores.moto_server import moto
from tests.stores.openbao import openbao

__all__ = ["moto", "openbao"]  # fixtures

READABLE = {"file", "vault", "aws"}
PROGRAM = """\
import pathlib, sys
root = pathlib.Path(sys.argv[1])
root.mkdir(parents=True, exist_ok=True)
(root / sys.argv[2]).write_bytes(sys.stdin.buffer.read())
"""


def _json(path: Path) -> dict[str, str] | None:
    return json.loads(path.read_text()) if path.exists() else None


def file_backend(workdir: Path) -> Backend:
    root = workdir / "secrets"  # the leak scan skips what is under secrets/

    def held(key: str) -> Held | None:
        meta, value = _json(root / f"{key}.meta.json"), root / key
        return Held(meta, token_in(value.read_text())) if meta and value.exists() else None

    def unused(*_: object) -> None:
        raise AssertionError("not used by these tests")

    return Backend("file", f"{{type: file, path: {root}}}", {}, held, unused, unused)


def command_backend(workdir: Path) -> Backend:
    """A command store without read_command: it cannot show which value it holds."""
    values, state = workdir / "secrets" / "values", workdir / "state"
    script = workdir / "store.py"
    script.write_text(PROGRAM)

    def held(key: str) -> Held | None:
        meta, value = _json(state / f"{key}.meta.json"), values / key
        return Held(meta, token_in(value.read_text())) if meta and value.exists() else None

    def unused(*_: object) -> None:
        raise AssertionError("not used by these tests")

    store = (
        f'{{type: command, command: ["{sys.executable}", "{script}", "{values}", "{{secret}}"], '
        f"state_dir: {state}}}"
    )
    return Backend("command", store, {}, held, unused, unused)


@pytest.fixture(params=["file", "command", "vault", "aws", "github"])
def backend(request: pytest.FixtureRequest, cli: Cli) -> Iterator[Backend]:
    if request.param == "file":
        yield file_backend(cli.workdir)
    elif request.param == "command":
        yield command_backend(cli.workdir)
    else:
        with remote_backend(request.param, request) as (remote, _):
            yield remote


def hooked(cli: Cli, backend: Backend, point: str, *args: str) -> Run:
    """The CLI through killpoint.py with `point` set, recorded for the leak scan."""
    result = subprocess.run(
        [sys.executable, str(KILLPOINT), *args],
        cwd=cli.workdir,
        env=cli.env(**backend.env, PPM_TOKENS_KILL_AT=point),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    run = Run(args, result.returncode, result.stdout, result.stderr)
    cli.runs.append(run)
    return run


@pytest.mark.slow
def test_a_write_cut_between_value_and_metadata_keeps_whoever_holds_the_value_working(
    cli: Cli, backend: Backend, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(spec_text(backend, ["killed", "cut"]))
    key = {name: backend.secret_name(name) for name in ("killed", "cut")}

    def apply(*extra: str) -> Run:
        now = emulator_control.now().isoformat()
        run = cli("apply", "-f", str(spec), "--auto-approve", "--now", now, *extra, **backend.env)
        assert run.code == 0, run.stdout + run.stderr
        return run

    def held(name: str) -> Held:
        found = backend.held(key[name])
        assert found is not None, name
        return found

    apply()
    old = {
        name: (active_by_name(http_driver, emulator_control.now())[name][0], held(name).value)
        for name in key
    }
    rotate = ("apply", "-f", str(spec), "--auto-approve", "--rotate")

    # What the store hands out after each cut: the new token, whose value consumers may hold.
    handed_out: dict[str, str | None] = {}
    killed = hooked(cli, backend, "mid-store:killed", *rotate, "killed")
    assert killed.code == -signal.SIGKILL, killed.stderr
    handed_out["killed"] = token_guid(held("killed").value.reveal())
    # This run also settles `killed` (and must keep its tokens working) while `cut` is cut.
    cut = hooked(cli, backend, "cut-store:cut", *rotate, "cut")
    assert cut.code == 1, cut.stdout + cut.stderr
    assert "unreachable (injected" in cut.stderr and "stays active" in cut.stderr
    next_run = "finds out which token" if backend.kind in READABLE else "cannot show which value"
    assert next_run in cut.stderr
    handed_out["cut"] = token_guid(held("cut").value.reveal())
    for name, (token, _) in old.items():
        assert handed_out[name] not in (None, token.guid), f"{name}: the value did not land"

    apply()
    now = emulator_control.now()
    active = active_by_name(http_driver, now)
    promises = []
    for name, (token, value) in old.items():
        guids = [t.guid for t in active[name]]
        assert handed_out[name] in guids, f"{name}: the token consumers hold was revoked"
        assert token.guid in guids and http_driver.check_token(value, token), name
        stored = held(name)
        current = stored.meta["token_guid"]
        if backend.kind in READABLE:
            assert current == handed_out[name], f"{name}: the held token is no longer current"
        else:
            assert current not in (token.guid, handed_out[name]), f"{name}: no fresh write"
        assert guids[0] == current
        current_token = next(t for t in active[name] if t.guid == current)
        assert http_driver.check_token(stored.value, current_token)
        promise = datetime.fromisoformat(stored.meta["retire_previous_after"])
        assert promise >= token.created + timedelta(days=3), name
        promises.append(promise)

    # Until the promise, nothing is retired; after it, only the current token is left.
    before_end = (min(promises) - timedelta(hours=1)).isoformat()
    waiting = cli(
        "plan", "-f", str(spec), "--detailed-exitcode", "--now", before_end, **backend.env
    )
    assert waiting.code == 0, waiting.stdout + waiting.stderr
    emulator_control.set_now(max(promises) + timedelta(hours=1))
    apply()
    settled = active_by_name(http_driver, emulator_control.now())
    for name in key:
        (only,) = settled[name]
        assert only.guid == held(name).meta["token_guid"]
    final = cli(
        "plan",
        "-f",
        str(spec),
        "--detailed-exitcode",
        "--now",
        emulator_control.now().isoformat(),
        **backend.env,
    )
    assert final.code == 0, final.stdout + final.stderr
