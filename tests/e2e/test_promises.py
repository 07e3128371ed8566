"""Promises made when a token was written hold on later runs: `rotate --grace`, the format, and
the grace of a saved plan applied days after it was made. What apply promises counts from when
it runs, on the server's clock; `--now` on a run that changes tokens only states that clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import api_changes, managed, stored_meta, stored_value


def test_rotate_grace_longer_than_the_spec_is_kept_by_later_applies(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(1))  # spec grace: 3d
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    (old,) = managed(http_driver)["t000"]
    run = cli("rotate", "t000", "-f", str(spec), "--grace", "7d")
    assert run.code == 0, run.stderr
    assert "retire_previous_after" in stored_meta(cli, "t000")

    emulator_control.advance(timedelta(days=5))
    now = emulator_control.now().isoformat()
    assert cli("apply", "-f", str(spec), "--auto-approve", "--now", now).code == 0
    assert old.guid in [t.guid for t in managed(http_driver)["t000"]]  # 5d < 7d promised

    emulator_control.advance(timedelta(days=2, minutes=5))
    now = emulator_control.now().isoformat()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert run.code == 0, run.stderr
    assert "grace until" in run.stdout
    assert [t.guid for t in managed(http_driver)["t000"]] != [old.guid]
    assert len(managed(http_driver)["t000"]) == 1


def test_format_change_writes_a_new_token_in_the_new_format(
    cli: Cli, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(1))
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    (old,) = managed(http_driver)["t000"]
    spec.write_text(
        spec.read_text().replace("resources: [pypi]", "resources: [pypi]\n    format: netrc")
    )
    plan = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert plan.code == 2
    assert "format changed raw -> netrc" in plan.stdout
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    payload = (cli.workdir / "secrets" / "t000").read_text()
    assert payload.startswith("machine 127.0.0.1 login __token__ password ")
    new = max(managed(http_driver)["t000"], key=lambda t: t.created)
    assert new.guid != old.guid
    assert stored_meta(cli, "t000")["token_guid"] == new.guid
    assert stored_meta(cli, "t000")["format"] == "netrc"
    assert cli("plan", "-f", str(spec), "--detailed-exitcode").code == 0


def test_a_saved_plan_applied_days_later_keeps_the_whole_grace_from_the_apply(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(1))  # grace 3d, after 60d
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    (old,) = managed(http_driver)["t000"]
    old_value = stored_value(cli, "t000")

    emulator_control.advance(timedelta(days=61))  # the rotation is due
    now = emulator_control.now().isoformat()
    planned = cli("plan", "-f", str(spec), "--out", "plan.json", "--now", now)
    assert planned.code == 0, planned.stderr

    # Reviewed for 5 days, longer than the grace: applied, it still gives the whole grace.
    emulator_control.advance(timedelta(days=5))
    applied_at = emulator_control.now()
    run = cli("apply", "plan.json", "--now", applied_at.isoformat())
    assert run.code == 0, run.stderr
    (new,) = [t for t in managed(http_driver)["t000"] if t.guid != old.guid]
    promised = datetime.fromisoformat(stored_meta(cli, "t000")["retire_previous_after"])
    assert applied_at + timedelta(days=3) <= promised < applied_at + timedelta(days=3, minutes=5)
    assert new.expires is not None  # 90d from its create, on the server's clock
    assert abs(new.expires - new.created - timedelta(days=90)) < timedelta(minutes=1)

    # Consumers that still hold the old value keep working through the grace...
    for elapsed in (timedelta(minutes=10), timedelta(days=2, hours=23)):
        emulator_control.set_now(applied_at + elapsed)
        now = emulator_control.now().isoformat()
        run = cli("apply", "-f", str(spec), "--auto-approve", "--now", now)
        assert run.code == 0, run.stderr
        assert old.guid in [t.guid for t in managed(http_driver)["t000"]], elapsed
        assert http_driver.check_token(old_value, old), elapsed  # a real repository read

    # ...and the first run after it retires the old token.
    emulator_control.set_now(applied_at + timedelta(days=3, minutes=10))
    now = emulator_control.now().isoformat()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert run.code == 0, run.stderr
    assert [t.guid for t in managed(http_driver)["t000"]] == [new.guid]
    assert not http_driver.check_token(old_value, old)

    saved = json.loads((cli.workdir / "plan.json").read_text())
    (rotate,) = [a for a in saved["actions"] if a["kind"] == "rotate"]
    assert rotate["grace"] == "3d"  # a duration in the plan, never a time


def test_commands_that_change_tokens_take_now_only_as_the_servers_time(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(1))
    ahead = (emulator_control.now() + timedelta(days=400)).isoformat()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", ahead)
    assert run.code == 1
    assert "ahead of the server's clock" in run.stderr
    assert "nothing was changed" in run.stderr and "plan --now" in run.stderr
    assert api_changes(emulator_control) == []
    # A preview of that moment is what plan is for.
    assert cli("plan", "-f", str(spec), "--now", ahead).code == 0

    # Within the clock skew, --now is the server's time; the expiry counts from the create.
    near = (emulator_control.now() + timedelta(minutes=4)).isoformat()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", near)
    assert run.code == 0, run.stderr
    (token,) = managed(http_driver)["t000"]
    assert token.expires is not None
    assert abs(token.expires - token.created - timedelta(days=90)) < timedelta(minutes=1)

    emulator_control.clear_log()
    behind = (emulator_control.now() - timedelta(days=30)).isoformat()
    for args in (["rotate", "t000", "-f", str(spec)], ["revoke", token.guid, "--yes"]):
        run = cli(*args, "--now", behind)
        assert run.code == 1, args
        assert "behind the server's clock" in run.stderr, args
    assert api_changes(emulator_control) == []
    assert [t.guid for t in managed(http_driver)["t000"]] == [token.guid]
