"""`ppm-tokens doctor` against the emulator with both drivers, and against broken servers: it
must pass on a server that behaves, stop at the step whose assumption fails, and change nothing
on the server but its own probe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.commands.doctor_probe import PROBE_OWNER, Doctor, Outcome, Step
from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from tests.e2e.conftest import Cli
from tests.e2e.test_invariants import api_changes

FAKE_RSPM = Path(__file__).resolve().parents[1] / "fakes" / "rspm"
STEPS = [
    "list tokens",
    "find the admin token",
    "choose a repository",
    "create a probe token",
    "read the probe back",
    "refuse a wrong value",
    "prove the probe",
    "revoke the probe",
    "refuse the revoked value",
    "list the revoked probe",
]
VERSIONS = "compare the CLI's version with the server's"  # the rspm driver's first step


def steps_in(output: str) -> list[tuple[str, str]]:
    """(outcome, title) of each reported step, in order."""
    found = []
    for line in output.splitlines():
        outcome, _, rest = line.partition(" ")
        if outcome in ("ok", "FAIL", "note") and ":" in rest:
            found.append((outcome, rest.strip().split(":")[0]))
    return found


def probes(driver: HttpDriver) -> list[LiveToken]:
    return [t for t in driver.list_tokens() if parse_owner(t.description) == PROBE_OWNER]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {}),
        (("--driver", "rspm", "--rspm", str(FAKE_RSPM)), {"FAKE_RSPM_LIST_SHAPE": "camel"}),
        (("--driver", "rspm", "--rspm", str(FAKE_RSPM), "--repo", "pypi"), {}),
    ],
    ids=["http", "rspm-camel", "rspm-python-repo"],
)
def test_doctor_passes_on_a_server_that_behaves(
    cli: Cli,
    emulator_control: EmulatorControl,
    http_driver: HttpDriver,
    args: tuple[str, ...],
    env: dict[str, str],
) -> None:
    emulator_control.clear_log()
    run = cli("doctor", *args, **env)
    assert run.code == 0, run.stdout + run.stderr
    expected = [VERSIONS, *STEPS] if "rspm" in args else STEPS
    assert steps_in(run.stdout) == [("ok", title) for title in expected]
    assert run.stdout.count("assumes: ") == len(expected)
    assert "Every assumption holds" in run.stdout
    if "rspm" in args:
        assert "with the rspm driver" in run.stdout
        if env:
            assert "guid (as id)" in run.stdout  # which fields it understood
    # The only changes: one probe created, then revoked; it is listed as revoked.
    (probe,) = probes(http_driver)
    assert probe.revoked is not None
    assert probe.resources == (("pypi",) if "--repo" in args else ("cran",))
    changes = [(e["method"], e["path"]) for e in api_changes(emulator_control)]
    assert changes == [
        ("POST", "/__api__/tokens"),
        ("POST", f"/__api__/tokens/{probe.guid}/revoke"),
    ]


def test_doctor_stops_where_revocation_does_not_take(
    cli: Cli, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    rspm = ("--driver", "rspm", "--rspm", str(FAKE_RSPM), "--revoke-wait", "1s")
    run = cli("doctor", *rspm, FAKE_RSPM_REVOKE_NOOP="1")
    assert run.code == 1
    reported = steps_in(run.stdout)
    assert reported[-1] == ("FAIL", "refuse the revoked value")
    assert [title for _, title in reported] == [VERSIONS, *STEPS[:-1]]  # none after the failure
    assert "still works after 1s" in run.stdout
    assert "FAIL above" in run.stdout


def test_doctor_stops_at_a_cli_of_another_version_and_changes_nothing(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    emulator_control.clear_log()
    rspm = ("--driver", "rspm", "--rspm", str(FAKE_RSPM))
    run = cli("doctor", *rspm, FAKE_RSPM_VERSION="2024.04.1-7")
    assert run.code == 1
    assert steps_in(run.stdout) == [("FAIL", VERSIONS)]
    assert "rspm 2024.04.1-7, server 2026.10.0-emulator: their major.minor differ" in run.stdout
    assert "/__api__/download" in run.stdout
    assert api_changes(emulator_control) == []
    # A CLI that reports no version is not compared, and the checks go on (to a repository
    # that is not there, where they stop early).
    run = cli("doctor", *rspm, "--repo", "nope", FAKE_RSPM_MISSING="version")
    assert steps_in(run.stdout)[:2] == [("note", VERSIONS), ("ok", "list tokens")]
    assert "`rspm --version` reported no version" in run.stdout


def test_doctor_with_a_bad_repository_fails_early_and_changes_nothing(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    emulator_control.clear_log()
    run = cli("doctor", "--repo", "nope")
    assert run.code == 1
    assert steps_in(run.stdout)[-1] == ("FAIL", "choose a repository")
    assert "no repository 'nope'; the server has: bioconductor, cran, internal, pypi" in run.stdout
    assert api_changes(emulator_control) == []


def test_doctor_takes_no_now(cli: Cli, emulator_control: EmulatorControl) -> None:
    """Its probe is a real token: its expiry comes from the server's clock, never a fake one."""
    emulator_control.clear_log()
    run = cli("doctor", "--now", "+400d")
    assert run.code == 1
    assert "takes no --now" in run.stderr
    assert emulator_control.request_log() == []


def test_doctor_with_a_refused_admin_token(cli: Cli, emulator_control: EmulatorControl) -> None:
    emulator_control.clear_log()
    run = cli("doctor", PACKAGEMANAGER_TOKEN="not-a-token")
    assert run.code == 1
    assert steps_in(run.stdout) == [("FAIL", "list tokens")]
    assert "check PACKAGEMANAGER_TOKEN" in run.stdout


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"drop_create_responses": 1}, "revoked the probe it made anyway"),
        ({"fail_after_create": 1}, "revoked the probe it made anyway"),
        ({"refuse_creates": 1}, "it made no probe"),
    ],
    ids=["answer-lost", "made-then-503", "refused-503"],
)
def test_a_create_without_an_answer_leaves_no_active_probe(
    cli: Cli,
    emulator_control: EmulatorControl,
    http_driver: HttpDriver,
    fault: dict[str, int],
    words: str,
) -> None:
    emulator_control.set_faults(**fault)
    run = cli("doctor")
    assert run.code == 1
    assert steps_in(run.stdout)[-1] == ("FAIL", "create a probe token")
    assert "the token may exist; " + words in run.stdout
    made = probes(http_driver)
    assert len(made) == (0 if "refuse_creates" in fault else 1)
    assert all(p.revoked is not None for p in made)


# Servers that break one assumption each, as a driver wrapping the real one --------------------


@dataclass
class Broken:
    """The http driver against the emulator, with one behaviour changed per test."""

    inner: HttpDriver
    accept_anything: bool = False
    revoke_takes_after: int = 0  # checks that still succeed after a revoke
    hide_revocation: bool = False
    rename_description: bool = False
    foreign_admin: bool = False
    revoked: set[str] = field(default_factory=set)
    checks_after_revoke: int = 0

    def list_tokens(self) -> list[LiveToken]:
        return [self._as_listed(token) for token in self.inner.list_tokens()]

    def _as_listed(self, token: LiveToken) -> LiveToken:
        if self.hide_revocation:
            token = replace(token, revoked=None)
        if self.rename_description and parse_owner(token.description) == PROBE_OWNER:
            token = replace(token, description=token.description[:20])
        return token

    def list_resources(self) -> list[Resource]:
        return self.inner.list_resources()

    def create_token(self, request: TokenRequest) -> CreatedToken:
        return self.inner.create_token(request)

    def revoke_token(self, guid: str) -> None:
        self.revoked.add(guid)
        self.inner.revoke_token(guid)

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        if self.accept_anything:
            return True
        if token.guid in self.revoked and self.checks_after_revoke < self.revoke_takes_after:
            self.checks_after_revoke += 1
            return True
        return self.inner.check_token(value, token)

    def self_guid(self) -> str | None:
        if self.foreign_admin:
            return "00000000-0000-4000-8000-000000000000"
        return self.inner.self_guid()

    def close(self) -> None:
        self.inner.close()


@dataclass
class FakeTime:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> Iterator[FakeTime]:
    yield FakeTime()


def doctor_run(driver: Broken, time: FakeTime) -> list[Step]:
    steps: list[Step] = []
    doctor = Doctor(
        driver,
        clock=lambda: datetime.now(UTC),
        report=steps.append,
        sleep=time.sleep,
        monotonic=lambda: time.now,
    )
    doctor.run(None, timedelta(minutes=1))
    return steps


def test_revocation_that_propagates_within_the_wait_passes(
    http_driver: HttpDriver, fake_time: FakeTime
) -> None:
    steps = doctor_run(Broken(http_driver, revoke_takes_after=3), fake_time)
    assert all(step.outcome is Outcome.OK for step in steps)
    assert fake_time.slept == [2.0, 2.0, 2.0]
    assert steps[-2].detail == "refused after 6.0s"


def test_revocation_slower_than_the_wait_fails_after_a_minute(
    http_driver: HttpDriver, fake_time: FakeTime
) -> None:
    steps = doctor_run(Broken(http_driver, revoke_takes_after=100), fake_time)
    assert (steps[-1].title, steps[-1].outcome) == ("refuse the revoked value", Outcome.FAIL)
    assert 60 <= fake_time.now <= 62


@pytest.mark.parametrize(
    ("breakage", "failing_step", "words"),
    [
        ({"accept_anything": True}, "refuse a wrong value", "accepts any value"),
        ({"hide_revocation": True}, "list the revoked probe", "not revoked"),
        ({"rename_description": True}, "read the probe back", "description came back"),
        ({"foreign_admin": True}, "find the admin token", "no listed token has"),
    ],
)
def test_each_broken_assumption_fails_at_its_step(
    http_driver: HttpDriver,
    fake_time: FakeTime,
    breakage: dict[str, bool],
    failing_step: str,
    words: str,
) -> None:
    steps = doctor_run(Broken(http_driver, **breakage), fake_time)
    failed = [s for s in steps if s.outcome is Outcome.FAIL]
    assert [s.title for s in failed] == [failing_step]
    assert words in failed[0].detail
    # A probe that was created is never left active.
    assert all(p.revoked is not None for p in probes(http_driver))
    if failing_step == "read the probe back":
        assert steps[-1].title == "clean up"
        assert steps[-1].outcome is Outcome.NOTE
