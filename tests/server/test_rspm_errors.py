"""The rspm CLI's failures as the user sees them, in bounded time: a CLI of another version
(cobra's `Error:` line, then its usage text) fails once, with its error line first and the two
versions; a hanging CLI is killed at the command's deadline and not run again; an expiry date
reaches the CLI in a unit that cannot overshoot it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.durations import date_deadline
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import CreateOutcomeUnknown, RequestRejected, ServerError, TimedOut
from reconciler.secret import Secret
from reconciler.server.rspm import Completed, RspmDriver
from reconciler.server.rspm_args import create_argv

from .test_deadlines import Clock
from .test_rspm_driver import FAKE_RSPM, NOW, READER, clean_env, request, scripted

# What a cobra CLI prints when it does not have a flag it was given: the reason, then usage.
COBRA_UNKNOWN_FLAG = """Error: unknown flag: --output-format
Usage:
  rspm list tokens [flags]

Flags:
  -h, --help             help for tokens
      --revoked string   yes or no

Global Flags:
  -a, --address string         the server's address
  -o, --output  string         human or json (default "human")
  -v, --verbose                more output
"""


def test_a_cli_without_a_flag_shows_its_error_line_first_and_runs_once() -> None:
    driver, runner = scripted(
        Completed(1, "", COBRA_UNKNOWN_FLAG), Completed(0, "rspm version 2024.04.0-7\n", "")
    )
    with pytest.raises(RequestRejected) as caught:
        driver.list_tokens()
    message = str(caught.value)
    assert message.startswith(
        "rspm list tokens failed (exit 1): Error: unknown flag: --output-format: "
    )
    assert "Usage" not in message and "Global Flags" not in message and "verbose" not in message
    assert "rspm 2024.04.0-7" in message and "/__api__/download" in message
    # The list ran once; the one other run asked the CLI for its version.
    assert [argv[1:] for argv in runner.calls] == [
        ["list", "tokens", "--output-format=json"],
        ["--version"],
    ]


@pytest.mark.parametrize(
    ("code", "stderr"),
    [
        (2, "Error: accepts 0 arg(s), received 1\n"),
        (1, "Error: unknown shorthand flag: 'x' in -x\nUsage:\n  rspm list tokens [flags]\n"),
        (1, 'Error: unknown command "tokens" for "rspm list"\nRun \'rspm list --help\'\n'),
        (1, 'Error: required flag(s) "scope" not set\nUsage:\n  rspm create token [flags]\n'),
    ],
    ids=["exit-2", "unknown-shorthand", "unknown-command", "required-flag"],
)
def test_usage_errors_are_refusals_that_are_never_retried(code: int, stderr: str) -> None:
    driver, runner = scripted(Completed(code, "", stderr), Completed(1, "", ""))
    with pytest.raises(RequestRejected) as caught:
        driver.list_tokens()
    assert str(caught.value).startswith(f"rspm list tokens failed (exit {code}): Error: ")
    assert "major.minor must match" in str(caught.value)
    lists = [argv for argv in runner.calls if argv[1:3] == ["list", "tokens"]]
    assert len(lists) == 1


def test_a_create_the_cli_cannot_parse_made_nothing() -> None:
    """Not an unknown outcome: the CLI stopped at its flags, so apply does not list and create
    again (it used to, for every attempt)."""
    stderr = "Error: unknown flag: --user\nUsage:\n  rspm create token [flags]\n\nFlags:\n"
    driver, runner = scripted(Completed(1, "", stderr), Completed(1, "", ""))
    with pytest.raises(RequestRejected) as caught:
        driver.create_token(request(expires=NOW + timedelta(days=1)))
    assert not isinstance(caught.value, CreateOutcomeUnknown)
    assert "Error: unknown flag: --user" in str(caught.value)
    assert len([argv for argv in runner.calls if argv[1:3] == ["create", "token"]]) == 1


def test_a_cli_of_another_version_names_both_versions(
    emulator: RunningEmulator, admin_token: Secret, tmp_path: Path
) -> None:
    log = tmp_path / "argv.log"
    env = clean_env(
        FAKE_RSPM_MISSING="output-format", FAKE_RSPM_VERSION="2024.04.1-7", FAKE_RSPM_LOG=str(log)
    )
    with (
        RspmDriver([str(FAKE_RSPM)], emulator.url, admin_token, env=env) as driver,
        pytest.raises(RequestRejected) as caught,
    ):
        driver.list_tokens()
    message = str(caught.value)
    assert "Error: unknown flag: --output-format" in message
    assert "rspm is 2024.04.1-7 but the server is 2026.10.0-emulator" in message
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert runs == [["list", "tokens", "--output-format=json"], ["--version"]]


# Deadlines ---------------------------------------------------------------------------------


@pytest.fixture
def hanging(
    emulator: RunningEmulator, admin_token: Secret, tmp_path: Path
) -> Iterator[tuple[RspmDriver, Path]]:
    log = tmp_path / "argv.log"
    env = clean_env(FAKE_RSPM_HANG="list,create,revoke", FAKE_RSPM_LOG=str(log))
    # Long enough for the CLI to start and log its argv on a busy machine, short for a test.
    with RspmDriver([str(FAKE_RSPM)], emulator.url, admin_token, env=env, timeout=1.5) as driver:
        yield driver, log


def runs_of(log: Path, command: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if json.loads(line)[0] == command)


def test_a_hanging_list_is_killed_at_its_deadline_and_not_run_again(
    hanging: tuple[RspmDriver, Path],
) -> None:
    driver, log = hanging
    started = time.monotonic()
    with pytest.raises(ServerError) as caught:
        driver.list_tokens()
    assert time.monotonic() - started < 6
    assert str(caught.value) == (
        "rspm list tokens did not finish within 1.5 s (deadline: server.timeout)"
    )
    assert isinstance(caught.value, TimedOut)
    assert runs_of(log, "list") == 1


def test_a_hanging_create_may_have_made_a_token_and_is_not_run_again(
    hanging: tuple[RspmDriver, Path],
) -> None:
    driver, log = hanging
    with pytest.raises(CreateOutcomeUnknown) as caught:
        driver.create_token(request())
    assert isinstance(caught.value, TimedOut)
    assert caught.value.description == READER
    assert "rspm create token did not finish within 1.5 s" in str(caught.value)
    assert "the token may exist" in str(caught.value)
    assert runs_of(log, "create") == 1
    with pytest.raises(ServerError, match=r"did not finish within 1\.5 s"):
        driver.revoke_token("22222222-2222-4222-8222-222222222222")
    assert runs_of(log, "revoke") == 1
    assert runs_of(log, "list") == 0  # no listing after a revoke that ran out of time


def test_transient_failures_are_retried_only_while_the_deadline_allows() -> None:
    clock = Clock()
    runs: list[float] = []

    def runner(argv: object, env: object, timeout: float) -> Completed:
        runs.append(timeout)
        clock.now += 4  # each run takes 4 s and fails
        return Completed(1, "", "Error: 503 Service Unavailable")

    driver = RspmDriver(
        ["rspm"],
        "http://127.0.0.1:9",
        Secret("admin"),
        env={},
        runner=runner,
        timeout=6,
        attempts=5,
        sleep=clock.sleep,
        monotonic=clock,
    )
    with pytest.raises(ServerError) as caught:
        driver.list_tokens()
    assert isinstance(caught.value, TimedOut)
    assert "gave up after" in str(caught.value)
    assert "6 s deadline (server.timeout)" in str(caught.value)
    assert runs[0] == 6  # each run gets what is left, never more
    assert all(later <= 2 for later in runs[1:])


# Expiry dates ------------------------------------------------------------------------------


def _lands(flag: str, server_now: datetime) -> datetime:
    """When the server makes the token expire, given `--expires=FLAG` at `server_now`."""
    value = flag.removeprefix("--expires=")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[value[-1]]
    return server_now + timedelta(seconds=int(value[:-1]) * unit)


@pytest.mark.parametrize("second", [0, 1, 29, 30, 31, 59, 3599])
@pytest.mark.parametrize("delay", [timedelta(0), timedelta(seconds=2), timedelta(seconds=90)])
def test_a_date_expiry_lands_on_the_declared_day_whenever_the_command_reaches_the_server(
    second: int, delay: timedelta
) -> None:
    """The server counts --expires from when the command reaches it, up to the command's
    deadline later: the token expires at most the plan's 5 minutes before the end of the
    declared date, and never after it."""
    end = date_deadline(datetime(2026, 3, 20).date())
    now = NOW + timedelta(seconds=second)
    argv = create_argv(request(expires=end, lifetime=None), now)
    flag = next(a for a in argv if a.startswith("--expires="))
    lands = _lands(flag, now + delay)
    assert end - timedelta(minutes=5) <= lands <= end


def test_a_lifetime_goes_as_declared() -> None:
    argv = create_argv(request(expires=NOW + timedelta(days=90), lifetime=timedelta(days=90)), NOW)
    assert "--expires=90d" in argv
    later = NOW + timedelta(minutes=7, seconds=13)  # however late the create runs
    argv = create_argv(
        request(expires=NOW + timedelta(days=90), lifetime=timedelta(days=90)), later
    )
    assert "--expires=90d" in argv


def test_a_date_expiry_through_the_cli_lands_before_the_end_of_the_day(
    emulator: RunningEmulator, admin_token: Secret
) -> None:
    end = date_deadline((datetime.now(UTC) + timedelta(days=10)).date())
    with RspmDriver([str(FAKE_RSPM)], emulator.url, admin_token, env=clean_env()) as driver:
        created = driver.create_token(request(expires=end, lifetime=None))
    assert created.token.expires is not None
    assert end - timedelta(minutes=5) <= created.token.expires <= end
