"""Promises made when a token was written hold on later runs: `rotate --grace` and the format."""

from __future__ import annotations

from datetime import timedelta

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import managed, stored_meta


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
