"""Guards seen through the real CLI: the mass-revoke guard, plan running no command from the
spec, the sweep of what killed writes leave, and a summary that counts every revoke."""

from __future__ import annotations

import re
import sys
import textwrap

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import THREE_TOKENS, api_changes, managed
from tests.jwt_shapes import jwt_shaped


def revokes(control: EmulatorControl) -> list[object]:
    return [e for e in api_changes(control) if str(e["path"]).endswith("/revoke")]


def test_revoking_more_than_max_revokes_needs_allow_mass_revoke(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(12))
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    write_spec(spec, token_entries(1))
    emulator_control.clear_log()

    refused = cli("apply", "-f", str(spec), "--auto-approve")

    assert refused.code == 1
    assert "would revoke 11 token(s), more than policy.max_revokes (10)" in refused.stderr
    assert "two spec files sharing namespace 'e2e'" in refused.stderr
    assert "--allow-mass-revoke" in refused.stderr
    assert api_changes(emulator_control) == []
    assert len(managed(http_driver)) == 12

    allowed = cli("apply", "-f", str(spec), "--auto-approve", "--allow-mass-revoke")

    assert allowed.code == 0, allowed.stderr
    assert "0 created, 0 rotated, 0 replaced, 0 repaired, 11 revoked, 0 failed" in allowed.stderr
    assert sorted(managed(http_driver)) == ["t000"]


def test_a_second_spec_sharing_the_namespace_is_stopped_before_it_revokes(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    first = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(first), "--auto-approve").code == 0
    other = write_spec(cli.workdir / "other.yaml", token_entries(2, prefix="o"))
    emulator_control.clear_log()

    run = cli("apply", "-f", str(other), "--auto-approve")

    assert run.code == 1
    assert "would revoke 3 token(s), 3 of the 3 active tokens namespace 'e2e' manages" in (
        run.stderr
    )
    assert api_changes(emulator_control) == []  # not even the creates ran
    assert sorted(managed(http_driver)) == ["ci-admin", "ds-read", "uploader"]


def test_the_summary_counts_the_tokens_a_replace_revoked(cli: Cli) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    spec.write_text(spec.read_text().replace("CI administration", "CI admin"))

    run = cli("apply", "-f", str(spec), "--auto-approve")

    assert run.code == 0, run.stderr
    assert "0 created, 0 rotated, 1 replaced, 0 repaired, 1 revoked, 0 failed" in run.stderr


STORE = """\
import os, pathlib, sys
root = pathlib.Path(sys.argv[1])
if os.environ["PPM_TOKENS_ACTION"] == "put":
    (root / sys.argv[2]).write_bytes(sys.stdin.buffer.read())
else:
    (root / "read_command-ran").write_text("yes")
    meta = root / "meta"
    if meta.exists():
        sys.stdout.write(meta.read_text())
"""


def test_plan_never_runs_the_read_command_and_apply_does(cli: Cli) -> None:
    """A pull request can change the spec that plan reads; plan must not run what it names."""
    root = cli.workdir / "secrets"
    root.mkdir()
    script = cli.workdir / "store.py"
    script.write_text(STORE)
    argv = f'["{sys.executable}", "{script}", "{root}", "{{secret}}"]'
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            namespace: e2e
            stores:
              cmd: {{type: command, command: {argv}, read_command: {argv}}}
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
    ran = root / "read_command-ran"

    planned = cli("plan", "-f", str(spec))
    assert planned.code == 0, planned.stderr
    assert re.search(r"\+ +create +reader", planned.stdout), planned.stdout
    assert not ran.exists()

    applied = cli("apply", "-f", str(spec), "--auto-approve")
    assert ran.exists()
    # The read_command prints nothing: apply cannot confirm the write, and since a command
    # store cannot take a value back, the new token is kept, not revoked.
    assert applied.code == 1
    assert "cannot go back" in applied.stderr and "stays active" in applied.stderr

    ran.unlink()
    again = cli("plan", "-f", str(spec))
    assert again.code == 0 and not ran.exists()
    # Plan reads the state directory: it knows what apply wrote, so nothing is repaired.
    assert "No changes" in again.stdout


def test_what_a_killed_write_left_is_removed_by_the_next_run(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    store = cli.workdir / "secrets"
    leftovers = [store / ".ds-read.q1w2e3.tmp", store / "ds-read.previous"]
    for path in leftovers:
        path.write_text(jwt_shaped("left-behind"))
    (store / "ds-read.previous.meta.json").write_text("{}")
    emulator_control.clear_log()

    run = cli("apply", "-f", str(spec), "--auto-approve")

    assert run.code == 0, run.stderr
    assert "Cleaned up: store 'local': removed .ds-read.q1w2e3.tmp" in run.stderr
    assert not any(path.exists() for path in leftovers)
    assert not (store / "ds-read.previous.meta.json").exists()
    assert "No changes" in run.stdout and api_changes(emulator_control) == []
