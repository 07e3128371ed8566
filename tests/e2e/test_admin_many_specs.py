"""Two specs on one server, run together with `-f DIR`: one rotates the admin token it runs
with (server.auth.token), the other authenticates with what that store holds
(server.auth: {type: token, store:, secret:}). A saved plan of both, a kill between the admin
token's value and its metadata, the next day's run, and a saved plan made before an emergency
rotation: the reading spec always authenticates, and no value is printed (the story fixture
scans every run)."""

from __future__ import annotations

import signal
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.commands import apply as apply_command
from reconciler.commands import apply_many, plan, plan_many
from reconciler.errors import StalePlanError
from tests.desired.test_validate_command import RecordingUI
from tests.e2e.admin_story import ADMIN, Story
from tests.e2e.test_admin_rotation import killed, quick_emulator, scratch, story, story_lines

__all__ = ["quick_emulator", "scratch", "story"]  # fixtures

READER_OF_THE_STORE = "b-read"


def reading_spec(story: Story) -> str:
    """Another namespace, whose runs authenticate with the admin token `story.spec` rotates."""
    return textwrap.dedent(
        f"""\
        version: 1
        namespace: other
        server:
          auth: {{type: token, store: remote, secret: {story.backend.secret_name(ADMIN)}}}
        defaults:
          store: remote
        stores:
          remote: {story.backend.store}
        tokens:
          - name: {READER_OF_THE_STORE}
            user: analyst@example.com
            description: Read access for the other team
            scope: repos:read
            resources: [pypi]
            secret: {READER_OF_THE_STORE}
        """
    )


def apply_all(story: Story, *, saved: Path | None = None) -> tuple[int, RecordingUI]:
    """`apply -f DIR --auto-approve`, or `apply PLAN.json` when `saved` is given."""
    ui = RecordingUI()
    targets = apply_many.ApplyTargets(() if saved else (story.workdir,), saved)
    options = apply_command.ApplyCommandOptions(target=saved or story.workdir, auto_approve=True)
    try:
        return apply_many.run(targets, options, story.global_options(), story.environment(), ui), ui
    finally:
        story.runs.append(ui)
        story.observe()


def plan_all(story: Story, out: Path) -> int:
    ui = RecordingUI()
    story.runs.append(ui)
    options = plan.PlanOptions(story.workdir, out=out)
    return plan_many.run((story.workdir,), options, story.global_options(), story.environment(), ui)


def check_reader(story: Story, where: str) -> None:
    """The reading spec's token is the one its store holds, and it authenticates."""
    held = story.backend.held(READER_OF_THE_STORE)
    assert held is not None, f"{where}: the reading spec's token was never stored"
    (current,) = [
        t
        for t in story.harness.list_tokens()
        if t.guid == held.meta.get("token_guid") and t.is_active(story.now())
    ]
    assert story.harness.check_token(held.value, current), where


def test_a_spec_reading_the_admin_token_another_spec_rotates(story: Story) -> None:
    assert story.bootstrap(story.hand_made())[0] == 0, story.printed()
    (story.workdir / "other.yaml").write_text(reading_spec(story))
    code, ui = apply_all(story)
    assert code == 0, story_lines(ui)
    check_reader(story, "first run")

    # The next day, from a saved plan of both: every part re-derived with the admin token held
    # before the rotation, applied after it; the old token keeps its grace.
    story.advance(timedelta(days=1, hours=1))
    saved = story.workdir / "plan.json"
    assert plan_all(story, saved) == 0, story.printed()
    code, ui = apply_all(story, saved=saved)
    assert code == 0, story_lines(ui)
    story.check("after a saved plan of both specs")
    check_reader(story, "after a saved plan of both specs")

    # A run killed between the admin token's value and its metadata; the next day's run reads
    # the value the store took, in both specs.
    story.advance(timedelta(days=1, hours=1))
    cut = killed(story, "mid-store", "apply", "-f", str(story.workdir), "--auto-approve")
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    assert "token_guid" not in story.held_admin().meta
    story.advance(timedelta(days=1, hours=1))
    code, ui = apply_all(story)
    assert code == 0, story_lines(ui)
    story.check("the day after a cut write")
    check_reader(story, "the day after a cut write")

    # A saved plan made before an emergency rotation of the admin token is stale: nothing is
    # applied, and the next run from the specs authenticates in both.
    assert plan_all(story, saved) == 0, story.printed()
    rotate = apply_command.ApplyCommandOptions(
        target=story.spec,
        auto_approve=True,
        rotate=frozenset({ADMIN}),
        only=frozenset({ADMIN}),
        grace=timedelta(0),
    )
    ui = RecordingUI()
    story.runs.append(ui)
    assert apply_command.run(rotate, story.global_options(), story.environment(), ui) == 0
    before = story.harness.list_tokens()
    with pytest.raises(StalePlanError):
        apply_all(story, saved=saved)
    assert story.harness.list_tokens() == before
    code, ui = apply_all(story)
    assert code == 0, story_lines(ui)
    story.check("after the emergency rotation")
    check_reader(story, "after the emergency rotation")
