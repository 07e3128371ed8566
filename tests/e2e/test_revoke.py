"""`ppm-tokens revoke`: incident response against the emulator. With --replace the old value
fails at once, the new one works, the store holds the new one and the record names both."""

from __future__ import annotations

import base64
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import httpx

from reconciler.emulator.control import EmulatorControl
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, Run, write_spec
from tests.e2e.test_invariants import THREE_TOKENS, managed, stored_meta, stored_value
from tests.ops.seed import HOSTILE, HOSTILE_GUID, Seed, insert_with_guid, seed, utc_now


def answer_on_terminal(cli: Cli, args: list[str], prompt: bytes, answer: str) -> tuple[int, str]:
    """Runs the CLI on a pseudo-terminal and types `answer` once `prompt` appears."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cli.workdir,
        env=cli.env(TERM="xterm", COLUMNS="120"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    break
            if not answered and prompt in seen:
                os.write(controller, answer.encode() + b"\n")
                answered = True
        code = process.wait(timeout=30)
        while select.select([controller], [], [], 0.1)[0]:  # what it wrote before exiting
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        with_rest = seen.decode(errors="replace")
        cli.runs.append(Run(tuple(args), code, with_rest, ""))  # scanned for values (I2)
        return code, with_rest
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)


def index_status(cli: Cli, value: Secret, repo: str = "pypi") -> int:
    """What pip would get: the repository index with HTTP Basic __token__/value."""
    pair = base64.b64encode(f"__token__:{value.reveal()}".encode()).decode()
    response = httpx.get(
        f"{cli.emulator.url}/{repo}/latest/simple/", headers={"Authorization": f"Basic {pair}"}
    )
    return response.status_code


def test_revoke_replace(cli: Cli, http_driver: HttpDriver) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    old = managed(http_driver)["ds-read"][0]
    old_value = stored_value(cli, "ds-read")
    assert index_status(cli, old_value) == 200

    run = cli("revoke", "ds-read", "--replace", "--yes", "--record", "incident.md")
    assert run.code == 0, run.stdout + run.stderr

    current = managed(http_driver)["ds-read"]
    assert len(current) == 1 and current[0].guid != old.guid
    new = current[0]
    assert index_status(cli, old_value) == 401  # at once
    new_value = stored_value(cli, "ds-read")
    assert index_status(cli, new_value) == 200
    assert stored_meta(cli, "ds-read")["token_guid"] == new.guid
    assert f"Created, proved and stored {new.guid}; revoked {old.guid}." in run.stdout
    assert "Checked: the revoked value (read from store 'local', secret 'ds-read')" in run.stdout
    record = (cli.workdir / "incident.md").read_text()
    assert old.guid in record and new.guid in record
    assert "# Incident: token ds\\-read revoked" in record  # Markdown-escaped
    assert "What consumers must do" in record
    # The other tokens are untouched.
    assert {name: len(g) for name, g in managed(http_driver).items()} == {
        "ds-read": 1,
        "ci-admin": 1,
        "uploader": 1,
    }


def test_revoke_managed_token_says_apply_recreates_it(cli: Cli, http_driver: HttpDriver) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    uploader = managed(http_driver)["uploader"][0]
    run = cli("revoke", uploader.guid[:8], "--yes", "--record", "incident.md")
    assert run.code == 0, run.stderr
    assert f"Revoked {uploader.guid}." in run.stdout
    assert "Checked: the revoked value (read from store 'local', secret 'uploader')" in run.stdout
    assert "Next apply: recreates e2e/uploader" in run.stdout
    assert "uploader" not in managed(http_driver)
    record = (cli.workdir / "incident.md").read_text()
    assert "none made by this command" in record
    assert "run <code>ppm-tokens apply</code> now" in record
    plan = cli("plan", "-f", str(spec))
    assert "uploader" in plan.stdout and "recreate" in plan.stdout


def test_revoke_of_another_namespace_s_token_names_its_owner_and_the_specs_given(
    cli: Cli, http_driver: HttpDriver
) -> None:
    """Incident response may revoke any token a person names; when the specs given do not
    declare it, the confirmation, the refusal of --replace and the next-apply note say whose it
    is and that the specs given do not declare it (not that no spec was given)."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    (cli.workdir / "other").mkdir()
    other = write_spec(cli.workdir / "other" / "tokens.yaml", "[]\n", namespace="other")
    uploader = managed(http_driver)["uploader"][0]

    refused = cli("revoke", uploader.guid, "--replace", "--yes", "-f", str(other))
    assert refused.code == 1
    assert f"none of the specs given ({other}) does: it belongs to e2e/uploader" in (refused.stderr)
    assert "pass -f FILE" not in refused.stderr
    assert "uploader" in managed(http_driver)

    run = cli("revoke", uploader.guid, "--yes", "-f", str(other))
    assert run.code == 0, run.stderr
    assert "managed by e2e/uploader, which no spec given declares" in run.stderr
    assert "(no spec given declares it)" in run.stdout
    assert "no spec was given" not in run.stdout
    assert "uploader" not in managed(http_driver)


def test_revoke_unmanaged_by_description_checks_the_listing(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(emulator_control, http_driver, [Seed("leaked", HOSTILE)], now=utc_now())
    emulator_control.reset_clock()
    guid = seeded["leaked"].guid
    run = cli("revoke", HOSTILE, "--yes", "--record", "incident.md")
    assert run.code == 0, run.stderr
    assert "server's token listing" in run.stdout
    assert "Next apply: nothing: no spec declares it" in run.stdout
    assert next(t for t in http_driver.list_tokens() if t.guid == guid).revoked is not None
    record = (cli.workdir / "incident.md").read_text()
    assert "\x1b" not in record and "\u202e" not in record and "<script>" not in record
    # Revoking again is not an error.
    again = cli("revoke", guid, "--yes")
    assert again.code == 0 and "already revoked" in again.stdout


def test_revoke_refuses_without_confirmation_off_a_terminal(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(emulator_control, http_driver, [Seed("t", "Some token")], now=utc_now())
    emulator_control.reset_clock()
    run = cli("revoke", seeded["t"].guid)
    assert run.code == 1
    assert "refusing to revoke without confirmation" in run.stderr
    assert next(t for t in http_driver.list_tokens() if t.guid == seeded["t"].guid).revoked is None


def test_revoke_asks_on_a_terminal(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(emulator_control, http_driver, [Seed("t", "Some token")], now=utc_now())
    emulator_control.reset_clock()
    code, screen = answer_on_terminal(
        cli, ["revoke", seeded["t"].guid], b"Revoke it now?", answer="n"
    )
    assert code == 1
    assert "Cancelled; nothing was revoked." in screen
    assert next(t for t in http_driver.list_tokens() if t.guid == seeded["t"].guid).revoked is None


def test_revoke_never_revokes_its_own_token(cli: Cli, http_driver: HttpDriver) -> None:
    self_guid = http_driver.self_guid()
    assert self_guid is not None
    run = cli("revoke", self_guid, "--yes")
    assert run.code == 1
    assert "it is the token this command authenticates with" in run.stderr
    assert next(t for t in http_driver.list_tokens() if t.guid == self_guid).revoked is None


def test_replace_needs_a_declaring_spec(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(emulator_control, http_driver, [Seed("t", "Some token")], now=utc_now())
    emulator_control.reset_clock()
    run = cli("revoke", seeded["t"].guid, "--replace", "--yes")
    assert run.code == 1
    assert "--replace needs a spec that declares" in run.stderr
    assert next(t for t in http_driver.list_tokens() if t.guid == seeded["t"].guid).revoked is None


def test_revoke_never_revokes_a_protected_guid(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """`policy.protect` in any spec given with -f guards the GUID, managed by that spec or not
    (a break-glass token is typically unmanaged)."""
    seeded = seed(emulator_control, http_driver, [Seed("glass", "Break glass")], now=utc_now())
    emulator_control.reset_clock()
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    uploader = managed(http_driver)["uploader"][0].guid
    glass = seeded["glass"].guid
    write_spec(spec, THREE_TOKENS, header=f"policy:\n  protect: [{glass}, {uploader}]\n")
    for target in (glass, "Break glass", uploader, "uploader"):
        run = cli("revoke", target, "-f", str(spec), "--yes")
        assert run.code == 1, (target, run.stdout)
        assert "lists it in policy.protect" in run.stderr, target
    listed = {t.guid: t for t in http_driver.list_tokens()}
    assert listed[glass].revoked is None and listed[uploader].revoked is None


def test_a_guid_with_control_characters_is_revoked_and_shown_escaped(
    cli: Cli, http_driver: HttpDriver
) -> None:
    insert_with_guid(cli.emulator, HOSTILE_GUID, "Odd guid")
    run = cli("revoke", "Odd guid", "--yes", "--record", "incident.md")
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    assert "Revoked deadbeef-\\x1b]0;pwned" in run.stdout
    assert "\x1b" not in (cli.workdir / "incident.md").read_text()
    assert next(t for t in http_driver.list_tokens() if t.guid == HOSTILE_GUID).revoked
    again = cli("revoke", "Odd guid", "--yes")
    assert again.code == 0 and "already revoked" in again.stdout
    assert "\x1b" not in again.stdout


def test_revoke_replace_during_an_apply_fails_and_revokes_nothing(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """The scheduled apply holds the lock mid-create while on-call runs `revoke --replace`:
    the replacement would race the apply for the same store entry, so it is refused at once,
    nothing is revoked, and the apply completes."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    uploader = managed(http_driver)["uploader"][0].guid
    write_spec(
        spec,
        THREE_TOKENS + "- name: extra\n  user: x@example.com\n  description: X\n"
        "  scope: repos:read\n  resources: [pypi]\n",
    )
    emulator_control.set_faults(hold={"method": "POST", "path_regex": r"^/__api__/tokens$"})
    applying = cli.popen("apply", "-f", str(spec), "--auto-approve")
    deadline = time.monotonic() + 60
    while not emulator_control.faults().get("held"):
        assert time.monotonic() < deadline and applying.poll() is None, "the apply never held"
        time.sleep(0.01)  # polling interval while the other process reaches the held create
    run = cli("revoke", "uploader", "-f", str(spec), "--replace", "--yes")
    emulator_control.clear_faults()  # releases the held create
    stdout, stderr = applying.communicate(timeout=120)
    cli.runs.append(Run(("apply",), applying.returncode, stdout, stderr))  # scanned (I2)
    assert run.code == 1
    assert "another run holds the apply lock" in run.stderr
    assert "ppm-tokens force-unlock" in run.stderr
    assert applying.returncode == 0, stderr
    tokens = managed(http_driver)
    assert [t.guid for t in tokens["uploader"]] == [uploader]
    assert len(tokens["extra"]) == 1


def test_after_a_replace_killed_mid_proof_revoke_by_name_takes_the_stored_token(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """kill -9 of `revoke --replace` after the replacement was created but before it was
    stored: the store (and every consumer) still holds the leaked token. Run again, by name,
    the command must act on that one, not on the newer token nobody holds."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    leaked = managed(http_driver)["ds-read"][0].guid
    emulator_control.set_faults(hold={"method": "GET", "path_regex": r"^/(pypi|cran)/"})
    first = cli.popen("revoke", "ds-read", "--replace", "--yes")
    deadline = time.monotonic() + 60
    while not emulator_control.faults().get("held"):
        assert time.monotonic() < deadline and first.poll() is None, "the proof was never held"
        time.sleep(0.01)  # polling interval while the other process reaches the held proof
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    emulator_control.clear_faults()
    unstored = {t.guid for t in managed(http_driver)["ds-read"]} - {leaked}
    assert len(unstored) == 1 and stored_meta(cli, "ds-read")["token_guid"] == leaked

    show = cli("show", "ds-read")
    assert show.code == 0, show.stderr
    assert re.search(rf"^  GUID +{leaked}$", show.stdout, flags=re.M)
    again = cli("revoke", "ds-read", "--replace", "--yes")
    assert again.code == 0, again.stderr
    assert f"revoked {leaked}." in again.stdout
    assert leaked not in {t.guid for t in managed(http_driver)["ds-read"]}
    assert index_status(cli, stored_value(cli, "ds-read")) == 200
    # The token the killed run made and never stored goes with the next apply.
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    assert [t.guid for t in managed(http_driver)["ds-read"]] == [
        stored_meta(cli, "ds-read")["token_guid"]
    ]


def test_revoke_replace_leaves_no_generation_of_the_name_active(
    cli: Cli, http_driver: HttpDriver
) -> None:
    """An older generation in its grace may leak with the current one: once the replacement
    is stored, every active token of the name is revoked, and the output and record say so."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    older = managed(http_driver)["ds-read"][0].guid
    assert cli("rotate", "ds-read", "-f", str(spec), "--grace", "3d").code == 0
    (current,) = {t.guid for t in managed(http_driver)["ds-read"]} - {older}

    run = cli("revoke", "ds-read", "--replace", "--yes", "--record", "incident.md")
    assert run.code == 0, run.stdout + run.stderr
    (new,) = managed(http_driver)["ds-read"]
    assert new.guid not in (older, current)
    assert stored_meta(cli, "ds-read")["token_guid"] == new.guid
    assert f"revoked {current}." in run.stdout
    assert f"Also revoked the older generation(s) still active: {older}." in run.stdout
    assert "Still active" not in run.stdout
    record = (cli.workdir / "incident.md").read_text()
    assert f"**Also revoked:** <code>{older}</code>" in record


def test_revoke_names_each_generation_it_leaves_with_the_command_to_revoke_it(
    cli: Cli, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    older = managed(http_driver)["ds-read"][0].guid
    assert cli("rotate", "ds-read", "-f", str(spec), "--grace", "3d").code == 0

    run = cli("revoke", "ds-read", "--yes", "--record", "incident.md")
    assert run.code == 0, run.stdout + run.stderr
    command = f"ppm-tokens revoke {older} -f tokens.yaml --yes"
    assert (
        f"Still active: {older}, an older generation of e2e/ds-read, which this command was not "
        f"asked to revoke; revoke it with: {command}" in run.stdout
    )
    record = (cli.workdir / "incident.md").read_text()
    assert f"**Still active:** <code>{older}</code>" in record and command in record
    assert cli(*command.split()[1:]).code == 0
    assert "ds-read" not in managed(http_driver)
