"""The whole story with `--driver rspm`: create, prove, store; a second apply changes nothing;
rotation, retirement after the grace, an emergency rotation, a saved plan, a token dropped from
the spec. The real CLI runs PPM's CLI (the test double in tests/fakes/rspm) against the emulator;
each run reads the token list in another of the JSON shapes the parser accepts."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_invariants import THREE_TOKENS, api_changes, managed, stored_meta, stored_value

FAKE_RSPM = Path(__file__).resolve().parents[1] / "fakes" / "rspm"
SHAPES = itertools.cycle(["plain", "camel", "go", "epoch"])


def rspm(cli: Cli, *args: str, shape: str | None = None) -> tuple[int, str, str]:
    """One CLI run with the rspm driver; the CLI double logs every argv it is given."""
    run = cli(
        *args,
        "--driver",
        "rspm",
        "--rspm",
        str(FAKE_RSPM),
        FAKE_RSPM_LIST_SHAPE=shape or next(SHAPES),
        FAKE_RSPM_LOG=str(cli.workdir / "rspm-argv.log"),
    )
    return run.code, run.stdout, run.stderr


def check_current(cli: Cli, http_driver: HttpDriver, names: list[str]) -> dict[str, str]:
    """I3: one active token per declared name, the one the store holds, and it authenticates."""
    tokens = managed(http_driver)
    assert sorted(tokens) == sorted(names)
    current = {}
    for name, generations in tokens.items():
        assert len(generations) == 1, name
        assert stored_meta(cli, name)["token_guid"] == generations[0].guid
        assert http_driver.check_token(stored_value(cli, name), generations[0]), name
        current[name] = generations[0].guid
    return current


def test_the_whole_story_through_rspm(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    code, out, err = rspm(cli, "plan", "-f", str(spec), "--detailed-exitcode")
    assert code == 2, err
    assert out.count("+ ") >= 3

    # Debug logs on: every rspm command is logged, and the scan of this run's output (by the
    # cli fixture) proves no value or admin token is among them.
    code, _, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve", "-v")
    assert code == 0, err
    assert "running " in err and "create token (--scope=repos:read)" in err
    first = check_current(cli, http_driver, ["ci-admin", "ds-read", "uploader"])

    emulator_control.clear_log()
    code, out, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve")
    assert code == 0, err
    assert "No changes" in out
    assert api_changes(emulator_control) == []  # I4

    # Rotation: the old generation lives through its grace, then the next run retires it.
    emulator_control.advance(timedelta(days=61))
    now = emulator_control.now().isoformat()
    code, _, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert code == 0, err
    assert all(len(generations) == 2 for generations in managed(http_driver).values())
    emulator_control.advance(timedelta(days=3, minutes=5))
    now = emulator_control.now().isoformat()
    code, _, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert code == 0, err
    rotated = check_current(cli, http_driver, ["ci-admin", "ds-read", "uploader"])
    assert all(rotated[name] != first[name] for name in first)

    # Emergency rotation: the old token is revoked at once; nothing else moves.
    code, _, err = rspm(cli, "rotate", "uploader", "-f", str(spec), "--grace", "0", "--now", now)
    assert code == 0, err
    emergency = check_current(cli, http_driver, ["ci-admin", "ds-read", "uploader"])
    assert emergency["uploader"] != rotated["uploader"]
    assert emergency["ds-read"] == rotated["ds-read"]

    # A reviewed, saved plan: a replacement (resources changed) applied as planned. (One server
    # speaks one shape; the saved plan's fingerprint is of the live state as that shape reads.)
    spec.write_text(spec.read_text().replace("resources: [cran, pypi]", "resources: [pypi]"))
    plan_file = cli.workdir / "plan.json"
    saved = ("-f", str(spec), "--out", str(plan_file), "--now", now)
    code, _, err = rspm(cli, "plan", *saved, shape="go")
    assert code == 0, err
    code, _, err = rspm(cli, "apply", str(plan_file), "--now", now, shape="go")
    assert code == 0, err
    replaced = check_current(cli, http_driver, ["ci-admin", "ds-read", "uploader"])
    assert replaced["ds-read"] != emergency["ds-read"]

    # A token dropped from the spec is revoked.
    spec.write_text(spec.read_text().split("- name: uploader")[0])
    code, _, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert code == 0, err
    check_current(cli, http_driver, ["ci-admin", "ds-read"])

    # PPM's CLI was what changed the server: every token command went through it.
    argv = [json.loads(line) for line in (cli.workdir / "rspm-argv.log").read_text().splitlines()]
    commands = {tuple(a[:2]) for a in argv}
    assert commands == {("create", "token"), ("list", "tokens"), ("revoke", "token")}
    creates = [a for a in argv if a[:2] == ["create", "token"]]
    assert all("--quiet" in a for a in creates)
    # The admin token and every value are checked absent from this log by the cli fixture.


def test_the_driver_and_a_wrapper_come_from_the_spec(
    cli: Cli, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    log = cli.workdir / "wrapped.log"
    header = f"""\
    server:
      driver: rspm
      rspm: [/usr/bin/env, FAKE_RSPM_LOG={log}, {FAKE_RSPM}]
    """
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS, header=header)
    assert cli("validate", "-f", str(spec)).code == 0
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    check_current(cli, http_driver, ["ci-admin", "ds-read", "uploader"])
    assert len(log.read_text().splitlines()) >= 4  # a list, then a create and a list per token
    # --driver http on the command line wins over the spec.
    emulator_control.clear_log()
    before = len(log.read_text().splitlines())
    run = cli("plan", "-f", str(spec), "--driver", "http")
    assert run.code == 0, run.stderr
    assert len(log.read_text().splitlines()) == before


def test_plan_and_the_read_only_commands_never_run_the_rspm_a_spec_names(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    """A pull request can change server.rspm; plan runs on pull requests with the admin token in
    its environment, so it (and list, show, audit, report) must not run that program. apply,
    which acts on the reviewed spec, does; --rspm on the command line is the operator's choice."""
    witness = cli.workdir / "ran"
    script = cli.workdir / "evil-rspm"
    script.write_text(
        f'#!/bin/sh\necho "$PACKAGEMANAGER_TOKEN" > {witness}\nexec {FAKE_RSPM} "$@"\n'
    )
    script.chmod(0o755)
    header = f"""\
    server:
      driver: rspm
      rspm: [{script}]
    """
    spec = str(write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS, header=header))
    emulator_control.clear_log()
    for args in (
        ("plan", "-f", spec),
        ("plan", "-f", spec, "--format", "json"),
        ("list", "-f", spec),
        ("show", "ds-read", "-f", spec),
        ("audit", "-f", spec),
        ("report", "--markdown", str(cli.workdir / "inventory.md"), "-f", spec),
    ):
        run = cli(*args)
        assert run.code == 1, (args, run.stdout, run.stderr)
        assert "server.rspm" in run.stderr and "--rspm PATH" in run.stderr, args
        assert "Traceback" not in run.stderr
        assert not witness.exists(), f"{args} ran the program the spec names"
    assert emulator_control.request_log() == []
    # The operator names the program: plan runs it, and only it.
    run = cli("plan", "-f", spec, "--rspm", str(FAKE_RSPM), "--detailed-exitcode")
    assert run.code == 2, run.stderr
    assert not witness.exists()
    # apply acts on the reviewed spec and runs what it names.
    run = cli("apply", "-f", spec, "--auto-approve")
    assert run.code == 0, run.stderr
    assert witness.exists()
    witness.unlink()  # it holds the admin token, which the leak scan looks for


def test_a_bad_rspm_setting_is_a_spec_error(cli: Cli) -> None:
    header = """\
    server:
      driver: rspm
      rspm: []
    """
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS, header=header)
    run = cli("validate", "-f", str(spec))
    assert run.code == 3
    assert "tokens.yaml:" in run.stderr + run.stdout
    assert "[kubectl, exec, deploy/ppm, --, rspm]" in run.stderr + run.stdout


def test_a_missing_rspm_fails_with_the_setting_to_fix(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    emulator_control.clear_log()
    run = cli("plan", "-f", str(spec), "--driver", "rspm", "--rspm", "/nonexistent/rspm")
    assert run.code == 1
    assert "server.rspm / --rspm" in run.stderr
    assert "Traceback" not in run.stderr
    assert api_changes(emulator_control) == []


def test_a_cli_of_another_version_fails_apply_at_once_with_its_error_line(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    """A CLI without a flag ppm-tokens uses fails each create once, showing cobra's `Error:`
    line (not the tail of its usage text) and the two versions; nothing is retried."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    log = cli.workdir / "rspm-argv.log"
    emulator_control.clear_log()
    run = cli(
        "apply", "-f", str(spec), "--auto-approve", "--driver", "rspm", "--rspm", str(FAKE_RSPM),
        FAKE_RSPM_MISSING="user", FAKE_RSPM_VERSION="2027.02.0-1", FAKE_RSPM_LOG=str(log),
    )  # fmt: skip
    assert run.code == 1
    output = run.stdout + run.stderr
    assert "rspm create token failed (exit 1): Error: unknown flag: --user: " in output
    assert "3 failed" in output
    assert "rspm is 2027.02.0-1 but the server is 2026.10.0-emulator" in output
    assert "Global Flags" not in output
    argv = [json.loads(line) for line in log.read_text().splitlines()]
    assert len([a for a in argv if a[:2] == ["create", "token"]]) == 3  # one per token
    assert argv.count(["--version"]) == 1
    assert api_changes(emulator_control) == []


def test_revoke_through_rspm_takes_now_as_the_servers_time(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """The CLI shows no Date: revoke asks the server over HTTP before it judges --now, rather
    than take this machine's clock (a month behind the emulator's here) for the server's."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS.split("- name: ci-admin")[0])
    emulator_control.advance(timedelta(days=30))
    now = emulator_control.now().isoformat()
    code, _, err = rspm(cli, "apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert code == 0, err
    (current,) = managed(http_driver)["ds-read"]
    code, out, err = rspm(cli, "revoke", "ds-read", "-f", str(spec), "--yes", "--now", now)
    assert code == 0, err
    assert f"Revoked {current.guid}." in out
    assert "ds-read" not in managed(http_driver)
