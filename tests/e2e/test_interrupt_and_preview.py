"""Ctrl-C during apply, and previews of the future with `plan --at`."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import managed, stored_meta


def test_interrupt_finishes_actions_in_flight_and_exits_130(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(12))
    # The first read of the index is the proof's check that it refuses anonymous readers; the
    # next two prove t000 and t001; the fourth, t002's proof, is held.
    emulator_control.set_faults(
        hold={"method": "GET", "path_regex": r"^/pypi/latest/simple/", "after": 3}
    )
    # One worker: exactly three tokens are started before the interrupt (two done, one held).
    process = cli.popen("apply", "-f", str(spec), "--auto-approve", "--concurrency", "1")
    deadline = time.monotonic() + 60
    while not emulator_control.faults().get("held", 0):
        assert process.poll() is None, "apply ended before reaching the held request"
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling interval while watching another process
    process.send_signal(signal.SIGINT)
    emulator_control.clear_faults()  # the verify in flight completes
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Interrupted" in stderr
    # What was started was finished: every token that exists has its value stored.
    done = managed(http_driver)
    assert len(done) == 3
    for name, generations in done.items():
        assert stored_meta(cli, name)["token_guid"] == generations[0].guid
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    assert len(managed(http_driver)) == 12


def test_plan_at_previews_rotations(cli: Cli, emulator_control: EmulatorControl) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(2))
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    today = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert today.code == 0
    soon = cli("plan", "-f", str(spec), "--at", "+30d", "--detailed-exitcode")
    assert soon.code == 0
    later = cli("plan", "-f", str(spec), "--at", "+61d", "--detailed-exitcode")
    assert later.code == 2
    assert later.stdout.count("rotate") >= 2
    assert "age 61 days >= rotation.after 60d" in later.stdout
    date = (emulator_control.now() + timedelta(days=80)).date().isoformat()
    expiring = cli("plan", "-f", str(spec), "--at", date)
    assert expiring.code == 0
    assert "expires in" in expiring.stdout
