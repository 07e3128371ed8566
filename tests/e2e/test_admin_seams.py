"""Where the admin token that rotates itself meets the other promises: a bootstrap cut between
the value and its metadata, `--now` on bootstrap-admin, a revoke of the admin token the runs
use. In-process runs against the emulator (tests/e2e/admin_story.py), one subprocess where the
point is a kill -9."""

from __future__ import annotations

import signal

import pytest

from reconciler.errors import UsageError
from tests.e2e.admin_story import Story
from tests.e2e.test_admin_rotation import killed, quick_emulator, scratch, story, story_lines

__all__ = ["quick_emulator", "scratch", "story"]  # fixtures


def test_a_bootstrap_cut_between_value_and_metadata_is_seen_by_the_next_one(story: Story) -> None:
    """The killed bootstrap's token is in the store (its value says so, its metadata was never
    written): running bootstrap-admin again is told the store holds a live managed admin token,
    as after a bootstrap that finished, rather than that its plan makes no token."""
    hand_made = story.hand_made()
    bootstrap = ("bootstrap-admin", "-f", str(story.spec))
    cut = killed(story, "mid-store", *bootstrap, token=hand_made)
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    stored = story.held_admin()
    assert "token_guid" not in stored.meta  # the write was cut before its metadata

    with pytest.raises(UsageError, match="already holds ppm-admin's managed admin token"):
        story.bootstrap(hand_made)
    code, ui = story.bootstrap(stored.value)
    assert code == 0 and "Nothing to do" in story_lines(ui), story.printed()
    assert story.apply()[0] == 0, story.printed()  # records the metadata
    assert story.held_admin().meta["token_guid"] == story.held_guid()
