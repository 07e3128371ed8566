"""Two runs at once: the lock lets exactly one of them mutate, and a holder killed with
SIGKILL does not block the next run."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.locks.base import LockInfo
from reconciler.locks.file import FileLock
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import managed

TOKENS = 20
HOLD_FIFTH_CREATE = {"method": "POST", "path_regex": r"^/__api__/tokens$", "after": 4}
LOCK_ID = re.compile(r"lock ID ([0-9a-f-]{36})")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling interval while watching other processes


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def held(control: EmulatorControl) -> bool:
    return bool(control.faults().get("held"))


def assert_one_active_token_per_name(driver: HttpDriver) -> None:
    tokens = managed(driver)
    assert len(tokens) == TOKENS
    assert all(len(generations) == 1 for generations in tokens.values()), {
        name: len(g) for name, g in tokens.items() if len(g) != 1
    }


def test_of_two_applies_at_once_one_fails_naming_the_holder(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS))
    # Latency on every API call, and the fifth create held: whichever run takes the lock is
    # certainly mid-apply while the other one tries.
    emulator_control.set_faults(latency_ms=20, hold=HOLD_FIFTH_CREATE)
    runs = [cli.popen("apply", "-f", str(spec), "--auto-approve") for _ in range(2)]
    wait_for(lambda: held(emulator_control), "the lock holder to reach the held create")
    wait_for(lambda: any(r.poll() is not None for r in runs), "the other run to give up")
    loser = next(r for r in runs if r.poll() is not None)
    code, _, stderr = finish(loser)
    emulator_control.set_faults(latency_ms=20)  # releases the held create
    winner = next(r for r in runs if r is not loser)
    winner_code, _, winner_stderr = finish(winner)

    assert winner_code == 0, winner_stderr
    assert code == 1
    assert "Error: another run holds the apply lock for http://127.0.0.1:" in stderr
    assert re.search(r"\|e2e \(local\): \S+@\S+ pid \d+, apply since \d{4}-", stderr)
    assert "ppm-tokens force-unlock" in stderr and LOCK_ID.search(stderr)
    assert f"Apply complete: {TOKENS} created" in winner_stderr
    assert_one_active_token_per_name(http_driver)


def test_a_run_given_a_lock_timeout_waits_for_the_holder(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS))
    emulator_control.set_faults(latency_ms=20, hold=HOLD_FIFTH_CREATE)
    first = cli.popen("apply", "-f", str(spec), "--auto-approve")
    wait_for(lambda: held(emulator_control), "the first run to reach the held create")
    second = cli.popen("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "2m")
    emulator_control.set_faults(latency_ms=20)

    first_code, _, first_stderr = finish(first)
    second_code, second_out, second_stderr = finish(second)

    assert first_code == 0, first_stderr
    assert second_code == 0, second_stderr
    assert "No changes" in second_out  # it planned only once the first run was done
    assert_one_active_token_per_name(http_driver)


def kill_holder(cli: Cli, spec_args: list[str], control: EmulatorControl) -> None:
    """Start an apply, let it create some tokens, kill -9 it mid-apply."""
    control.set_faults(hold=HOLD_FIFTH_CREATE)
    process = cli.popen("apply", *spec_args, "--auto-approve")
    wait_for(lambda: held(control), "the run to reach the held create")
    process.kill()
    finish(process)
    control.clear_faults()


def test_a_local_lock_holder_killed_with_sigkill_blocks_nothing(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS))
    kill_holder(cli, ["-f", str(spec)], emulator_control)

    run = cli("apply", "-f", str(spec), "--auto-approve")  # --lock-timeout 0: at once

    assert run.code == 0, run.stderr
    assert_one_active_token_per_name(http_driver)


def file_lock(lease: str) -> str:
    return f"lock: {{type: file, store: local, lease: {lease}}}\n"


def test_a_dead_file_lock_holder_is_force_unlocked_by_its_id(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS), header=file_lock("10m"))
    locks = cli.workdir / "secrets" / ".ppm-tokens-locks"
    kill_holder(cli, ["-f", str(spec)], emulator_control)
    assert list(locks.glob("*/*.json"))

    # Its lease runs for ten more minutes: the next run is refused, and says how to break it.
    refused = cli("apply", "-f", str(spec), "--auto-approve")
    assert refused.code == 1 and "holds the apply lock" in refused.stderr
    match = LOCK_ID.search(refused.stderr)
    assert match, refused.stderr
    wrong = cli("force-unlock", "00000000-0000-4000-8000-000000000000", "-f", str(spec))
    assert wrong.code == 1 and "no apply lock with ID" in wrong.stderr
    unlocked = cli("force-unlock", match[1], "-f", str(spec))
    assert unlocked.code == 0, unlocked.stderr
    assert f"Released apply lock {match[1]}" in unlocked.stdout

    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    assert_one_active_token_per_name(http_driver)


def test_a_dead_file_lock_holder_blocks_only_until_its_lease_passes(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS), header=file_lock("2s"))
    kill_holder(cli, ["-f", str(spec)], emulator_control)

    run = cli("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "30s")

    assert run.code == 0, run.stderr
    assert_one_active_token_per_name(http_driver)


@pytest.mark.parametrize("command", [["rotate", "t000"], ["apply", "--auto-approve"]])
def test_rotate_and_apply_share_the_lock(
    cli: Cli, emulator_control: EmulatorControl, command: list[str]
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS))
    emulator_control.set_faults(hold=HOLD_FIFTH_CREATE)
    first = cli.popen("apply", "-f", str(spec), "--auto-approve")
    wait_for(lambda: held(emulator_control), "the first run to reach the held create")

    second = cli(*command, "-f", str(spec))

    emulator_control.clear_faults()
    assert finish(first)[0] == 0
    assert second.code == 1 and "holds the apply lock" in second.stderr
    assert ", apply since" in second.stderr


def test_revoke_replace_takes_the_apply_lock(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """`revoke --replace` writes a store entry like apply does, so it takes the same lock: while
    an apply holds it, the replacement is refused (naming the holder) and nothing is revoked."""
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(TOKENS))
    emulator_control.set_faults(hold=HOLD_FIFTH_CREATE)
    first = cli.popen("apply", "-f", str(spec), "--auto-approve")
    wait_for(lambda: held(emulator_control), "the apply to reach the held create")
    name, (target,) = next(iter(managed(http_driver).items()))

    refused = cli("revoke", target.guid, "-f", str(spec), "--replace", "--yes")

    assert refused.code == 1, refused.stdout + refused.stderr
    assert "holds the apply lock" in refused.stderr and ", apply since" in refused.stderr
    assert [t.guid for t in managed(http_driver)[name]] == [target.guid]  # not revoked
    emulator_control.clear_faults()
    assert finish(first)[0] == 0
    assert_one_active_token_per_name(http_driver)


def test_force_unlock_shows_a_planted_record_escaped(cli: Cli) -> None:
    """A lock record in a shared directory can be written by anyone who can write there: what
    force-unlock prints of it must not drive the terminal."""
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(1), header=file_lock("10m"))
    now = datetime.now(UTC)
    hostile = "\x1b]0;owned\x07ci@runner\x1b[2J"
    info = LockInfo(str(uuid.uuid4()), f"{cli.emulator.url}|e2e", hostile, "apply", now, now)
    lock = FileLock(cli.workdir / "secrets", info.key, now=lambda: now, lease=timedelta(0))
    lock.acquire(replace(info, expires=now + timedelta(minutes=10)), timeout=0)

    run = cli("force-unlock", info.id, "-f", str(spec))

    assert run.code == 0, run.stderr
    assert f"Released apply lock {info.id}" in run.stdout
    assert "\x1b" not in run.stdout + run.stderr and "\x07" not in run.stdout
    assert "ci@runner" in run.stdout
