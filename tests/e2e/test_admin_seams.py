"""Where the admin token that rotates itself meets the other promises: a bootstrap cut between
the value and its metadata, `--now` on bootstrap-admin, a revoke of the admin token the runs
use (refused, done with a break-glass token, or during a cut write), and commands that leave no
store connection open in a process that goes on. In-process runs against the emulator
(tests/e2e/admin_story.py), a subprocess where the point is a kill -9."""

from __future__ import annotations

import gc
import signal
import warnings
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.commands import bootstrap_admin, list_, plan, revoke
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import AuthError, UsageError
from reconciler.secret import Secret
from tests.desired.test_validate_command import RecordingUI
from tests.e2e.admin_story import ADMIN, NO_WAIT, READER, Story, story_of
from tests.e2e.real_stores import vault_backend
from tests.e2e.test_admin_rotation import killed, quick_emulator, scratch, story, story_lines
from tests.stores.openbao import OpenBao, openbao

__all__ = ["openbao", "quick_emulator", "scratch", "story"]  # fixtures


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


def bootstrap(story: Story, token: Secret, options: GlobalOptions) -> int:
    """bootstrap-admin with these global options (Story.bootstrap passes the emulator's time)."""
    env = story.environment()
    env = Environment({**env.variables, "PACKAGEMANAGER_TOKEN": token.reveal()}, env.cwd)
    ui = RecordingUI()
    story.runs.append(ui)
    spec = bootstrap_admin.BootstrapOptions(story.spec)
    return bootstrap_admin.run(spec, options, env, ui, NO_WAIT)


def test_bootstrap_admin_takes_now_only_as_the_servers_time(story: Story) -> None:
    """It creates and revokes tokens: --now days away from the server's clock would make the
    admin token's expiry count from a time the server does not judge by."""
    hand_made = story.hand_made()
    before = story.harness.list_tokens()
    ahead = GlobalOptions(now=(story.now() + timedelta(days=30)).isoformat(), spec_programs=True)
    with pytest.raises(UsageError, match="ahead of the server's clock"):
        bootstrap(story, hand_made, ahead)
    assert story.harness.list_tokens() == before  # nothing made, nothing revoked


def test_bootstrap_admin_counts_the_admin_tokens_expiry_on_the_servers_clock(
    story: Story,
) -> None:
    """A server whose clock is a month ahead of this machine's (no --now): the admin token
    still gets its 7 days, from its creation on the server."""
    story.advance(timedelta(days=30))
    assert bootstrap(story, story.hand_made(), GlobalOptions(spec_programs=True)) == 0
    (admin,) = story.admin_generations()
    assert admin.expires is not None
    assert admin.expires - admin.created > timedelta(days=7) - timedelta(minutes=1)
    story.check("after a bootstrap on a server a month ahead")


def test_revoking_the_admin_token_the_runs_use_says_what_the_next_run_needs(story: Story) -> None:
    """A break-glass token revokes the stored admin token (a leak, no time to replace it): the
    next apply cannot authenticate from the store, so the command does not promise that it
    recreates the token; it names bootstrap-admin, which then does."""
    assert story.bootstrap(story.hand_made())[0] == 0
    stored = story.held_guid()
    ui = RecordingUI()
    story.runs.append(ui)
    options = revoke.RevokeOptions(target=ADMIN, spec_paths=[story.spec], yes=True)
    break_glass = GlobalOptions(
        now=story.now().isoformat(), token_file=story.emulator.admin_token_file
    )
    assert revoke.run(options, break_glass, story.environment(), ui, NO_WAIT) == 0
    said = story_lines(ui)
    assert f"Revoked {stored}." in said
    assert "recreates" not in said
    assert f"ppm-tokens bootstrap-admin -f {story.spec}" in said

    with pytest.raises(AuthError, match="refused"):
        story.apply()
    assert story.bootstrap(story.hand_made())[0] == 0, story.printed()
    story.check("after a bootstrap that follows the revoke")


def test_a_revoke_of_the_admin_token_in_use_points_to_the_leak_procedure(story: Story) -> None:
    """`revoke ppm-admin --replace` authenticates with the very token: refused, with the way
    the README gives for a leaked admin token (a forced rotation without grace, then apply)."""
    assert story.bootstrap(story.hand_made())[0] == 0
    options = revoke.RevokeOptions(target=ADMIN, spec_paths=[story.spec], yes=True, replace=True)
    with pytest.raises(UsageError, match="it is the token this command authenticates with") as no:
        revoke.run(options, story.global_options(), story.environment(), RecordingUI(), NO_WAIT)
    assert f"ppm-tokens rotate {ADMIN} -f {story.spec} --grace 0" in str(no.value)
    assert f"then `ppm-tokens apply -f {story.spec}`" in str(no.value)


def test_a_revoke_during_a_cut_write_checks_with_the_value_the_store_holds(story: Story) -> None:
    """The store took the new admin token's value, not its metadata (a run killed there), and
    the token leaks: revoked with a break-glass token, the revocation is checked with the
    value the store hands out, which its jti says is this token, not only by the listing."""
    assert story.bootstrap(story.hand_made())[0] == 0
    rotate = ("rotate", ADMIN, "-f", str(story.spec))
    assert killed(story, "mid-store", *rotate).returncode == -signal.SIGKILL
    cut = story.held_guid()
    assert "token_guid" not in story.held_admin().meta
    ui = RecordingUI()
    story.runs.append(ui)
    options = revoke.RevokeOptions(target=cut, spec_paths=[story.spec], yes=True)
    break_glass = GlobalOptions(
        now=story.now().isoformat(), token_file=story.emulator.admin_token_file
    )
    assert revoke.run(options, break_glass, story.environment(), ui, NO_WAIT) == 0
    assert "Checked: the revoked value (read from store 'remote'" in story_lines(ui)


def test_plan_list_and_revoke_release_the_connections_of_the_stores_they_read(
    quick_emulator: RunningEmulator, scratch: Path, openbao: OpenBao
) -> None:
    """Against OpenBao, in a process that goes on (a scheduler, these tests): every store a
    command opened is closed when it ends, none is left to the garbage collector."""
    with story_of(quick_emulator, vault_backend(openbao), scratch) as told:
        assert told.bootstrap(told.hand_made())[0] == 0, told.printed()
        assert told.apply()[0] == 0, told.printed()
        options, env, ui = told.global_options(), told.environment(), RecordingUI()
        told.runs.append(ui)
        commands = {
            "plan": lambda: plan.run(plan.PlanOptions(told.spec), options, env, ui),
            "list": lambda: list_.run(list_.ListOptions(spec_paths=[told.spec]), options, env, ui),
            "revoke --replace": lambda: revoke.run(
                revoke.RevokeOptions(READER, [told.spec], yes=True, replace=True),
                options,
                env,
                ui,
                NO_WAIT,
            ),
        }
        for name, command in commands.items():
            gc.collect()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                assert command() == 0, f"{name}: {story_lines(ui)}"
                gc.collect()
            left = [str(w.message) for w in caught if w.category is ResourceWarning]
            assert left == [], name
