"""A platform engineer's first hour with the tool: the mistakes people make, and the messages
they must get back. The real CLI against the emulator."""

from __future__ import annotations

from reconciler.emulator.control import EmulatorControl
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_invariants import THREE_TOKENS, api_changes

# ds-read and ci-admin, without the uploader.
TWO_TOKENS = THREE_TOKENS.split("- name: uploader")[0]


def test_rotating_an_undeclared_name_says_which_names_exist(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", TWO_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    emulator_control.clear_log()
    for args in (("rotate", "ds-raed"), ("apply", "--auto-approve", "--rotate", "ds-raed")):
        run = cli(*args, "-f", str(spec))
        assert run.code == 1, run.stderr
        assert "cannot rotate 'ds-raed'" in run.stderr
        assert "did you mean 'ds-read'?" in run.stderr
        assert "declared: ci-admin, ds-read" in run.stderr
        # Not a plan that lists an error and then says "No changes".
        assert "No changes" not in run.stdout
    assert emulator_control.request_log() == []


def test_a_saved_plan_applied_from_another_directory_says_where_to_run_it(cli: Cli) -> None:
    write_spec(cli.workdir / "tokens.yaml", TWO_TOKENS)
    assert cli("plan", "-f", "tokens.yaml", "--out", "changes.plan.json").code == 0
    elsewhere = Cli(cli.emulator, cli.workdir / "elsewhere")
    (elsewhere.workdir / "home").mkdir(parents=True)
    run = elsewhere("apply", str(cli.workdir / "changes.plan.json"), "--auto-approve")
    cli.runs.extend(elsewhere.runs)  # scanned for token values like every other run
    assert run.code == 1, run.stderr
    assert "made from the spec tokens.yaml" in run.stderr
    assert "run apply from the directory where plan ran, or pass -f PATH" in run.stderr
    # The way out it names works.
    again = elsewhere(
        "apply", str(cli.workdir / "changes.plan.json"), "-f", str(cli.workdir / "tokens.yaml")
    )
    cli.runs.extend(elsewhere.runs[1:])
    assert again.code == 0, again.stderr


def test_rotate_cannot_alter_a_saved_plan(cli: Cli, emulator_control: EmulatorControl) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", TWO_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    assert cli("plan", "-f", str(spec), "--out", "p.json").code == 0
    emulator_control.clear_log()
    run = cli("apply", "p.json", "--rotate", "ds-read")
    assert run.code == 1
    assert "--rotate cannot change a saved plan" in run.stderr
    assert api_changes(emulator_control) == []


def test_a_server_address_with_a_path_gets_a_hint(cli: Cli) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", TWO_TOKENS)
    run = cli("plan", "-f", str(spec), "--server", cli.emulator.url + "/ppm")
    assert run.code == 1
    assert "not found (404)" in run.stderr
    assert "address of a Posit Package Manager server, without a path?" in run.stderr
    assert "Traceback" not in run.stderr
