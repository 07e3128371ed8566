"""A secret store that is down or flaky, seen through the real CLI against the emulator.

The store is a `command` store running a small script that keeps values in a directory outside
the repository and can be switched down, or made to fail a number of times first.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from reconciler.emulator.control import EmulatorControl
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli
from tests.e2e.test_invariants import managed

SCRIPT = """\
import os, pathlib, sys
root = pathlib.Path(sys.argv[1])
mode = (root / "mode").read_text().strip() if (root / "mode").exists() else "up"
if mode.startswith("flaky:"):
    counter = root / "failures"
    failed = int(counter.read_text()) if counter.exists() else 0
    if failed < int(mode.split(":")[1]):
        counter.write_text(str(failed + 1))
        sys.exit("store temporarily unavailable")
elif mode == "down":
    sys.exit("vault is sealed")
(root / "values").mkdir(exist_ok=True)
(root / "values" / sys.argv[2]).write_bytes(sys.stdin.buffer.read())
"""


def command_store_spec(cli: Cli) -> tuple[Path, Path]:
    root = cli.workdir / "secrets"
    root.mkdir()
    script = cli.workdir / "store.py"
    script.write_text(SCRIPT)
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            namespace: e2e
            stores:
              cmd:
                type: command
                command: ["{sys.executable}", "{script}", "{root}", "{{secret}}"]
            defaults: {{store: cmd, expires: 30d}}
            tokens:
              - name: reader
                user: reader@example.com
                description: Reads pypi
                scope: repos:read
                resources: [pypi]
            """
        )
    )
    return spec, root


def test_store_down_revokes_the_new_token_and_keeps_the_old(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec, root = command_store_spec(cli)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    old = managed(http_driver)["reader"][0]
    old_value = Secret((root / "values" / "reader").read_text().strip())

    (root / "mode").write_text("down")
    emulator_control.clear_log()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--rotate", "reader")
    assert run.code == 1
    assert "store 'cmd'" in run.stderr and "vault is sealed" in run.stderr
    assert "was revoked" in run.stderr and "failed" in run.stderr
    # Off a terminal each result is printed as it comes: the failure once, not again in a
    # recap; the summary counts the new token it revoked apart from what the run superseded.
    assert run.stderr.count("failed  rotate reader:") == 1
    assert "0 revoked, 1 failed (1 new token this run made was revoked again)." in run.stderr
    created = [
        e["token_guid"]
        for e in emulator_control.request_log()
        if e["method"] == "POST" and e["path"] == "/__api__/tokens"
    ]
    assert len(created) == 1
    states = {t.guid: t for t in http_driver.list_tokens()}
    assert states[created[0]].revoked is not None  # the unusable new token is gone
    assert states[old.guid].revoked is None
    assert http_driver.check_token(old_value, old)  # consumers keep working
    assert managed(http_driver)["reader"] == [states[old.guid]]


def test_flaky_store_is_retried_until_it_works(cli: Cli, http_driver: HttpDriver) -> None:
    spec, root = command_store_spec(cli)
    (root / "mode").write_text("flaky:2")
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    assert (root / "failures").read_text() == "2"
    current = managed(http_driver)["reader"]
    assert len(current) == 1
    value = Secret((root / "values" / "reader").read_text().strip())
    assert http_driver.check_token(value, current[0])
