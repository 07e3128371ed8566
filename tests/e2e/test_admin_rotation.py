"""The admin token ppm-tokens runs with rotates itself (README: Who rotates the admin token).

A bootstrap retires the hand-made token at once; a year of daily scheduled runs follows, each
authenticating with the admin token its store holds and rotating it (7d expiry, 1d rotation,
1h grace); the same with the store in OpenBao, in moto and in a GitHub environment secret that
the job hands over; and kill -9 at every step of an admin rotation (and of the bootstrap)
converges on the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.commands import apply as apply_command
from reconciler.commands import audit as audit_command
from reconciler.commands.audit import AuditOptions
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.errors import AuthError, UsageError
from reconciler.ownership import parse_owner
from reconciler.secret import Secret
from tests.desired.test_validate_command import RecordingUI
from tests.e2e.admin_story import ADMIN, Story, file_backend, spec_text, story_of
from tests.e2e.conftest import scan_for_values
from tests.e2e.real_stores import Backend, remote_backend
from tests.stores.moto_server import moto
from tests.stores.openbao import openbao

__all__ = ["moto", "openbao"]  # fixtures

KILLPOINT = Path(__file__).with_name("killpoint.py")
ROTATION_STEPS = (
    "after-create",
    "after-prove",
    "mid-store",
    "after-store",
    "before-switch",
    "after-switch",
)
RETIREMENT_STEPS = ("before-revoke", "mid-revoke")


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A memory file system where the machine has one: a year of runs writes (and fsyncs)
    thousands of store, lock and emulator files, which is not what this story is about."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="ppm-tokens-story-") as directory:
        yield Path(directory)


@pytest.fixture
def quick_emulator(scratch: Path) -> Iterator[RunningEmulator]:
    """The emulator serves from a thread of this process: a shorter switch interval lets its
    answers through without waiting out the default 5 ms for the GIL at every request."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    state = scratch / "emulator"
    running = start_emulator(db_path=state / "db.sqlite3", admin_token_file=state / "admin")
    try:
        yield running
    finally:
        running.stop()
        sys.setswitchinterval(interval)


@pytest.fixture
def story(quick_emulator: RunningEmulator, scratch: Path) -> Iterator[Story]:
    with story_of(quick_emulator, file_backend(scratch / "secrets"), scratch) as told:
        yield told
        check_no_value_leaked(told, scratch / "secrets")


def check_no_value_leaked(story: Story, store: Path) -> None:
    """I2: no value the emulator issued in anything a run printed, nor in any file of the
    work directory (the lock, a plan) outside the store."""
    values = story.control.issued_values()
    texts = {f"run {n}": story_lines(ui) for n, ui in enumerate(story.runs)}
    for path in story.workdir.rglob("*"):
        if path.is_file() and store not in path.parents:
            texts[str(path)] = path.read_text(errors="replace")
    assert scan_for_values(values, texts) == []


def story_lines(ui: RecordingUI) -> str:
    return "\n".join((*ui.stdout, *ui.stderr))


def test_a_year_of_daily_runs_after_the_bootstrap(story: Story) -> None:
    hand_made = story.hand_made()
    code, ui = story.bootstrap(hand_made)
    assert code == 0, story.printed()
    assert "Revoked the hand-made admin token" in story_lines(ui)
    assert "the server refuses it" in story_lines(ui)
    story.check("after the bootstrap")

    for day in range(1, 366):
        story.advance(timedelta(days=1))
        code, _ = story.apply()
        assert code == 0, f"day {day}: {story.printed()}"
        story.check(f"day {day}")

    # Every run rotated it: a new admin token each day, none seen by a person.
    made = [
        t
        for t in story.harness.list_tokens()
        if (owner := parse_owner(t.description)) is not None and owner.name == ADMIN
    ]
    assert len(made) == 366 == len(story.stored_ever)
    assert not story.harness.check_token(hand_made, made[0])  # any admin token's proof
    # The audit, authenticated the way the runs are, finds nothing wrong with the admin token.
    ui = RecordingUI()
    options = AuditOptions(spec_paths=[story.spec])
    assert audit_command.run(options, story.global_options(), story.environment(), ui) == 0
    assert not any(rule in story_lines(ui) for rule in ("PPMT017", "PPMT018", "PPMT019"))


def test_the_admin_token_goes_first_and_the_rest_of_the_run_uses_its_successor(
    story: Story,
) -> None:
    assert story.bootstrap(story.hand_made())[0] == 0
    before = story.held_guid()
    story.write_spec(spec_text(story.backend, tuple(f"reader-{n}" for n in range(4))))
    story.advance(timedelta(days=1, minutes=1))
    story.control.clear_log()

    code, _ = story.apply()

    assert code == 0, story.printed()
    after = story.held_guid()
    log = story.control.request_log()
    creates = [e for e in log if e["method"] == "POST" and e["path"] == "/__api__/tokens"]
    assert creates[0]["token_guid"] == after and creates[0]["actor"] == before
    proven = next(e["seq"] for e in log if e["actor"] == after)
    assert all(e["actor"] == after and e["seq"] > proven for e in creates[1:])
    assert len(creates) == 5  # the admin token, then the four readers


def test_bootstrap_again_changes_nothing_and_refuses_over_a_live_managed_token(
    story: Story,
) -> None:
    hand_made = story.hand_made()
    assert story.bootstrap(hand_made)[0] == 0
    stored = story.held_admin()
    # The hand-made token is gone: the message says where the admin token is now.
    with pytest.raises(AuthError, match="it revoked it: the admin token is now the one in store"):
        story.bootstrap(hand_made)
    code, ui = story.bootstrap(stored.value)
    assert code == 0 and "Nothing to do" in story_lines(ui)

    another = story.hand_made()
    with pytest.raises(UsageError, match="already holds ppm-admin's managed admin token"):
        story.bootstrap(another)
    assert story.held_admin().meta["token_guid"] == stored.meta["token_guid"]
    code, ui = story.bootstrap(another, force=True)
    assert code == 0, story.printed()
    assert story.held_admin().meta["token_guid"] != stored.meta["token_guid"]
    # The managed one it replaced keeps its hour for the pipelines that read it; the
    # hand-made one is refused at once.
    generations = [t.guid for t in story.admin_generations()]
    assert generations[1] == stored.meta["token_guid"]
    story.check("after bootstrap --force")


@pytest.fixture(params=["vault", "aws", "github"])
def remote(request: pytest.FixtureRequest) -> Iterator[tuple[Backend, object]]:
    with remote_backend(request.param, request) as pair:
        yield pair


def test_the_story_with_the_admin_token_in_each_remote_store(
    quick_emulator: RunningEmulator, scratch: Path, remote: tuple[Backend, object]
) -> None:
    """Two weeks: the first admin tokens expire on the server while the runs go on; with the
    GitHub secret, which ppm-tokens cannot read back, the job hands it over as
    PACKAGEMANAGER_TOKEN at every run."""
    backend, github = remote
    job_secret = None
    if github is not None:
        fake = github.fake  # type: ignore[attr-defined]

        def job_secret(name: str) -> str | None:
            return fake.secret_value("repo:acme/pipelines", name)  # type: ignore[no-any-return]

    with story_of(quick_emulator, backend, scratch, job_secret=job_secret) as story:
        hand_made = story.hand_made()
        assert story.bootstrap(hand_made)[0] == 0, story.printed()
        story.check("after the bootstrap")
        for day in range(1, 15):
            story.advance(timedelta(days=1))
            code, _ = story.apply()
            assert code == 0, f"{backend.kind}, day {day}: {story.printed()}"
            story.check(f"{backend.kind}, day {day}")
        assert len(story.stored_ever) == 15
        check_no_value_leaked(story, scratch / "secrets")


def killed(
    story: Story, point: str, *args: str, token: Secret | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI, SIGKILLed at `point` of the admin token's steps (tests/e2e/killpoint.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")}
    env.update(story.environment().variables, PPM_TOKENS_KILL_AT=f"{point}:{ADMIN}")
    if token is not None:
        env["PACKAGEMANAGER_TOKEN"] = token.reveal()
    result = subprocess.run(
        [sys.executable, str(KILLPOINT), *args, "--now", story.now().isoformat()],
        cwd=story.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ui = RecordingUI()
    ui.stdout.append(result.stdout)
    ui.stderr.append(result.stderr)
    story.runs.append(ui)  # scanned for values like every other run
    story.observe()
    return result


def check_store_holds_a_live_admin_token(story: Story, where: str) -> None:
    """What a kill leaves: the store hands out a token that works (the old or the new)."""
    live = {t.guid: t for t in story.harness.list_tokens()}
    token = live.get(story.held_guid())
    assert token is not None and token.is_active(story.now()), f"{where}: a dead token is stored"
    assert story.harness.check_token(story.held_admin().value, token), f"{where}: it fails"


@pytest.mark.slow
def test_a_kill_at_every_step_of_an_admin_rotation_converges(story: Story) -> None:
    hand_made = story.hand_made()
    # The bootstrap killed once its token exists: run again, it retires that one and finishes.
    bootstrap = ("bootstrap-admin", "-f", str(story.spec))
    first = killed(story, "after-create", *bootstrap, token=hand_made)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert story.bootstrap(hand_made)[0] == 0, story.printed()
    story.check("bootstrap after a killed bootstrap")

    apply = ("apply", "-f", str(story.spec), "--auto-approve")
    for point in ROTATION_STEPS:
        where = f"killed {point}"
        story.advance(timedelta(days=1))
        result = killed(story, point, *apply)
        assert result.returncode == -signal.SIGKILL, f"{where}: {result.stderr}"
        check_store_holds_a_live_admin_token(story, where)
        code, _ = story.apply()  # the next scheduled run
        assert code == 0, f"{where}: {story.printed()}"
        story.check(f"{where}, then one run")

    for point in RETIREMENT_STEPS:
        where = f"killed {point}"
        story.advance(timedelta(days=1))
        assert story.apply()[0] == 0
        story.advance(timedelta(hours=2))  # the predecessor's hour has passed: retire it
        result = killed(story, point, *apply)
        assert result.returncode == -signal.SIGKILL, f"{where}: {result.stderr}"
        check_store_holds_a_live_admin_token(story, where)
        assert story.apply()[0] == 0, f"{where}: {story.printed()}"
        story.check(f"{where}, then one run")

    # Whatever the kills left over is gone a grace later; none of it was a value a person saw.
    story.advance(timedelta(hours=2))
    assert story.apply()[0] == 0
    assert [t.guid for t in story.admin_generations()] == [story.held_guid()]
    assert not story.harness.check_token(hand_made, story.admin_generations()[0])


def test_a_leaked_admin_token_is_revoked_by_a_forced_rotation_and_the_next_run(
    story: Story,
) -> None:
    assert story.bootstrap(story.hand_made())[0] == 0
    leaked = story.held_guid()
    options = apply_command.ApplyCommandOptions(
        target=story.spec,
        auto_approve=True,
        rotate=frozenset({ADMIN}),
        grace=timedelta(0),
        only=frozenset({ADMIN}),
    )
    ui = RecordingUI()
    code = apply_command.run(options, story.global_options(), story.environment(), ui)
    story.runs.append(ui)
    # The run authenticated with the leaked token: it stores the successor, goes on with it,
    # and leaves the leaked one to the next run.
    assert code == 0, story_lines(ui)
    assert "it is the token this run authenticates with" in story_lines(ui)
    assert [t.guid for t in story.admin_generations()][1] == leaked

    assert story.apply()[0] == 0
    assert leaked not in [t.guid for t in story.admin_generations()]
    story.check("after the leak")
