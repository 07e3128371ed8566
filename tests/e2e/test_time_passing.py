"""Time that passes must not stop the scheduled rotation: a date expiry that the default
rotation.after no longer fits (nobody changed the spec) stops only its own token. validate
still refuses it; plan and apply report it, keep that token as it is and go on with the rest."""

from __future__ import annotations

from datetime import timedelta

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_invariants import managed, stored_meta


def test_a_date_rule_time_broke_holds_its_token_and_the_rest_rotates(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    contract_end = (emulator_control.now() + timedelta(days=70)).date().isoformat()
    spec = write_spec(
        cli.workdir / "tokens.yaml",
        f"""\
        - name: plain
          user: analyst@example.com
          description: Read access, ninety days at a time
          scope: repos:read
          resources: [pypi]
        - name: dated
          user: partner@example.com
          description: Read access until the contract ends
          scope: repos:read
          resources: [pypi]
          expires: {contract_end}
        """,
    )
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    before = managed(http_driver)
    # 61 days on, `plain` is due (rotation.after 60d) and `dated` has 9 days left: rotation.after
    # 60d no longer fits before its date.
    emulator_control.advance(timedelta(days=61))
    now = emulator_control.now().isoformat()

    checked = cli("validate", "-f", str(spec), "--now", now)
    assert checked.code == 3
    assert "tokens.yaml:20:14: token 'dated': rotation.after 60d (from defaults)" in checked.stdout

    plan_file = cli.workdir / "plan.json"
    plan = cli(
        "plan", "-f", str(spec), "--now", now, "--detailed-exitcode", "--out", str(plan_file)
    )
    assert plan.code == 1, plan.stdout + plan.stderr
    assert "rotate" in plan.stdout and "plain" in plan.stdout
    assert "Errors:" in plan.stdout and "token dated is left as it is" in plan.stdout
    assert "Did not save the plan" in plan.stderr and not plan_file.exists()

    applied = cli("apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert applied.code == 1, applied.stdout + applied.stderr
    assert "the tokens they name were left as they are" in applied.stderr
    after = managed(http_driver)
    assert len(after["plain"]) == 2  # rotated; the old one keeps its grace
    (new,) = {t.guid for t in after["plain"]} - {t.guid for t in before["plain"]}
    assert stored_meta(cli, "plain")["token_guid"] == new
    assert [t.guid for t in after["dated"]] == [t.guid for t in before["dated"]]
    assert stored_meta(cli, "dated")["token_guid"] == before["dated"][0].guid

    # The day-2 commands that read the spec keep working, and say what happens to it.
    shown = cli("show", "dated", "-f", str(spec), "--now", now)
    assert shown.code == 0, shown.stderr
    assert "kept as it is" in shown.stdout
    for args in (("audit",), ("report", "--markdown", "report.md")):
        run = cli(*args, "-f", str(spec), "--now", now)
        assert run.code == 0, (args, run.stderr)
    rotated = cli("rotate", "plain", "-f", str(spec), "--grace", "0", "--now", now)
    assert rotated.code == 0, rotated.stdout + rotated.stderr
    replaced = cli("revoke", "plain", "-f", str(spec), "--replace", "--yes", "--now", now)
    assert replaced.code == 0, replaced.stdout + replaced.stderr
    refused = cli("revoke", "dated", "-f", str(spec), "--replace", "--yes", "--now", now)
    assert refused.code == 1
    assert "cannot replace" in refused.stderr and "without --replace" in refused.stderr
    assert [t.guid for t in managed(http_driver)["dated"]] == [t.guid for t in before["dated"]]
