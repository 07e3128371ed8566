"""Files a command is asked to write (--out, --html, --markdown, --record) in a place that cannot
hold them: a clear error naming the option, exit 1, no traceback; checked before anything is
changed, so a revocation is never left without its incident record."""

from __future__ import annotations

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_invariants import THREE_TOKENS, api_changes, managed


def test_unwritable_outputs_are_refused_before_anything_happens(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = str(write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS))
    assert cli("apply", "-f", spec, "--auto-approve").code == 0
    target = managed(http_driver)["ds-read"][0].guid
    missing = cli.workdir / "no-such-dir"
    emulator_control.clear_log()
    for args, option in (
        (("report", "--html", str(missing / "inventory.html"), "-f", spec), "--html"),
        (("report", "--markdown", str(missing / "inventory.md")), "--markdown"),
        (("audit", "-f", spec, "--format", "sarif", "--out", str(missing / "a.sarif")), "--out"),
        (("revoke", target, "-f", spec, "--yes", "--record", str(missing / "inc.md")), "--record"),
    ):
        run = cli(*args)
        assert run.code == 1, (args, run.stderr)
        assert f"cannot write {option} {missing}" in run.stderr, run.stderr
        assert "does not exist" in run.stderr
        assert "Traceback" not in run.stderr
    # Refused before reading the server, and above all before revoking anything.
    assert emulator_control.request_log() == []
    assert managed(http_driver)["ds-read"][0].revoked is None

    # plan --out: refused like the others, before the server is read and before any plan.
    emulator_control.clear_log()
    run = cli("plan", "-f", spec, "--out", str(missing / "plan.json"))
    assert run.code == 1
    assert "Traceback" not in run.stderr
    assert f"cannot write --out {missing / 'plan.json'}" in run.stderr
    assert run.stdout == ""
    assert emulator_control.request_log() == []
    assert api_changes(emulator_control) == []
