"""Invariants I1-I8 of DESIGN.md, each proven end to end: the real CLI against the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import LiveToken, TokenRequest
from tests.e2e.conftest import Cli, token_entries, write_spec

THREE_TOKENS = """\
- name: ds-read
  user: analyst@example.com
  description: Read access for data science
  scope: repos:read
  resources: [cran, pypi]
- name: ci-admin
  user: ci-system
  description: CI administration
  scope: global:admin
- name: uploader
  user: maintainers@example.com
  description: Upload internal packages
  scope: sources:write
  resources: [internal-src]
"""

CHANGING_METHODS = {"POST", "PUT", "DELETE", "PATCH"}


def managed(driver: HttpDriver, namespace: str = "e2e") -> dict[str, list[LiveToken]]:
    by_name: dict[str, list[LiveToken]] = {}
    for token in driver.list_tokens():
        owner = parse_owner(token.description)
        if owner and owner.namespace == namespace and token.revoked is None:
            by_name.setdefault(owner.name, []).append(token)
    return by_name


def active_by_name(
    driver: HttpDriver, now: datetime, namespace: str = "e2e"
) -> dict[str, list[LiveToken]]:
    """Each managed name's tokens that are active at `now` (neither revoked nor expired),
    newest first."""
    by_name: dict[str, list[LiveToken]] = {}
    for token in driver.list_tokens():
        owner = parse_owner(token.description)
        if owner is not None and owner.namespace == namespace and token.is_active(now):
            by_name.setdefault(owner.name, []).append(token)
    for tokens in by_name.values():
        tokens.sort(key=lambda t: (t.created, t.guid), reverse=True)
    return by_name


def api_changes(control: EmulatorControl) -> list[dict[str, object]]:
    return [
        entry
        for entry in control.request_log()
        if entry["method"] in CHANGING_METHODS and str(entry["path"]).startswith("/__api__/")
    ]


def stored_value(cli: Cli, name: str) -> Secret:
    return Secret((cli.workdir / "secrets" / name).read_text().strip())


def stored_meta(cli: Cli, name: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((cli.workdir / "secrets" / f"{name}.meta.json").read_text())
    return data


def test_i1_old_token_revoked_only_after_successor_stored_and_verified(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    old = managed(http_driver)["ds-read"][0]
    # An immutable change: the token is replaced and the old one revoked at once.
    spec.write_text(spec.read_text().replace("resources: [cran, pypi]", "resources: [pypi]"))
    emulator_control.clear_log()
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    new = managed(http_driver)["ds-read"][0]
    assert new.guid != old.guid
    log = emulator_control.request_log()
    seq = {
        "create": next(e["seq"] for e in log if e.get("token_guid") == new.guid),
        "verify": next(e["seq"] for e in log if e.get("actor") == new.guid),
        "revoke": next(
            e["seq"] for e in log if e.get("token_guid") == old.guid and e["method"] == "POST"
        ),
    }
    assert seq["create"] < seq["verify"] < seq["revoke"], seq
    assert stored_meta(cli, "ds-read")["token_guid"] == new.guid


def test_i3_each_declared_token_has_one_current_token_matching_its_store(
    cli: Cli, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    tokens = managed(http_driver)
    assert sorted(tokens) == ["ci-admin", "ds-read", "uploader"]
    for name, generations in tokens.items():
        assert len(generations) == 1, name
        assert stored_meta(cli, name)["token_guid"] == generations[0].guid
        assert http_driver.check_token(stored_value(cli, name), generations[0]), name


def test_i4_second_apply_changes_nothing(cli: Cli, emulator_control: EmulatorControl) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    emulator_control.clear_log()
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    assert "No changes" in run.stdout
    assert api_changes(emulator_control) == []


def test_i6_never_revokes_self_other_namespaces_or_protected(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    def create(description: str) -> str:
        request = TokenRequest(description, "someone", "repos:read", ("pypi",), None)
        return http_driver.create_token(request).token.guid

    other_namespace = create("Theirs [ppm-tokens:other-team/reader]")
    protected = create("Hand-made, kept on purpose")
    unmanaged = create("Hand-made, forgotten")
    self_guid = http_driver.self_guid()
    assert self_guid is not None
    header = f"""\
    policy:
      unmanaged: revoke
      allow_never_expires: true
      protect: ["{protected}"]
    """
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS, header=header)
    run = cli("apply", "-f", str(spec), "--auto-approve")
    assert run.code == 0, run.stderr
    states = {t.guid: t.revoked for t in http_driver.list_tokens()}
    assert states[other_namespace] is None
    assert states[protected] is None
    assert states[self_guid] is None
    assert states[unmanaged] is not None  # the policy says revoke, and it is nobody's


def test_i7_invalid_spec_makes_no_server_or_store_call(
    cli: Cli, emulator_control: EmulatorControl
) -> None:
    spec = write_spec(
        cli.workdir / "tokens.yaml",
        THREE_TOKENS.replace("scope: global:admin", "scope: global:admn"),
    )
    emulator_control.clear_log()
    for command in (["plan", "-f", str(spec)], ["apply", "-f", str(spec), "--auto-approve"]):
        run = cli(*command)
        assert run.code == 3, run.stderr
        assert "tokens.yaml:" in run.stderr and "global:admn" in run.stderr
    assert emulator_control.request_log() == []
    assert not (cli.workdir / "secrets").exists()


def test_i8_saved_plan_refused_when_live_state_moved(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    plan_file = cli.workdir / "plan.json"
    assert cli("plan", "-f", str(spec), "--out", str(plan_file)).code == 0
    http_driver.create_token(TokenRequest("out of band", "x", "repos:read", ("cran",), None))
    emulator_control.clear_log()
    run = cli("apply", str(plan_file))
    assert run.code == 4, run.stderr
    assert "changed since" in run.stderr
    assert api_changes(emulator_control) == []


def test_i8_saved_plan_applies_when_nothing_moved(cli: Cli, http_driver: HttpDriver) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    plan_file = cli.workdir / "plan.json"
    assert cli("plan", "-f", str(spec), "--out", str(plan_file)).code == 0
    run = cli("apply", str(plan_file))
    assert run.code == 0, run.stderr
    assert sorted(managed(http_driver)) == ["ci-admin", "ds-read", "uploader"]


def test_i8_saved_plan_refused_when_spec_changed(cli: Cli) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    plan_file = cli.workdir / "plan.json"
    assert cli("plan", "-f", str(spec), "--out", str(plan_file)).code == 0
    spec.write_text(spec.read_text().replace("CI administration", "CI admin"))
    run = cli("apply", str(plan_file))
    assert run.code == 4
    assert "spec" in run.stderr


def test_plan_detailed_exitcode(cli: Cli) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("plan", "-f", str(spec), "--detailed-exitcode").code == 2
    assert cli("plan", "-f", str(spec)).code == 0
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    assert cli("plan", "-f", str(spec), "--detailed-exitcode").code == 0
    spec.write_text(spec.read_text().replace("[internal-src]", "[no-such-source]"))
    run = cli("plan", "-f", str(spec), "--detailed-exitcode")
    assert run.code == 1
    assert "no-such-source" in run.stdout + run.stderr


def test_plan_formats_carry_no_values(cli: Cli, emulator_control: EmulatorControl) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    emulator_control.advance(timedelta(days=61))
    now = emulator_control.now().isoformat()
    for fmt in ("text", "markdown", "json"):
        run = cli("plan", "-f", str(spec), "--format", fmt, "--now", now, "-v")
        assert run.code == 0, run.stderr
        assert "rotate" in run.stdout
    # The cli fixture scans all of the above for every issued value.


def test_apply_refuses_without_confirmation_on_non_interactive_stdin(cli: Cli) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    run = cli("apply", "-f", str(spec), input="yes\n")
    assert run.code == 1
    assert "--auto-approve" in run.stderr


def test_rotation_then_retirement_after_grace(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(2))
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    first = {name: gens[0].guid for name, gens in managed(http_driver).items()}
    emulator_control.advance(timedelta(days=61))
    run = cli(
        "apply", "-f", str(spec), "--auto-approve", "--now", emulator_control.now().isoformat()
    )
    assert run.code == 0, run.stderr
    rotated = managed(http_driver)
    assert all(len(gens) == 2 for gens in rotated.values())  # old ones live through the grace
    emulator_control.advance(timedelta(days=3, minutes=5))
    now = emulator_control.now().isoformat()
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", now)
    assert run.code == 0, run.stderr
    after = managed(http_driver)
    for name, old_guid in first.items():
        assert [t.guid for t in after[name]] != [old_guid]
        assert len(after[name]) == 1
        assert stored_meta(cli, name)["token_guid"] == after[name][0].guid


def test_emergency_rotate_with_zero_grace_revokes_at_once(
    cli: Cli, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    old = managed(http_driver)["uploader"][0]
    run = cli("rotate", "uploader", "-f", str(spec), "--grace", "0")
    assert run.code == 0, run.stderr
    current = managed(http_driver)
    assert [t.guid for t in current["uploader"]] != [old.guid]
    assert len(current["uploader"]) == 1
    assert len(current["ds-read"]) == 1  # nothing else touched


def test_file_paths_in_messages_are_relative_to_where_the_user_ran(cli: Cli) -> None:
    Path(cli.workdir / "tokens.yaml").write_text("version: 1\ntokens: [\n")
    run = cli("validate", "-f", "tokens.yaml")
    assert run.code == 3
    assert run.stdout.startswith("tokens.yaml:") or run.stderr.startswith("tokens.yaml:")


def test_i2_values_only_in_the_store(cli: Cli, emulator_control: EmulatorControl) -> None:
    """Every kind of output a run makes, with debug logs on, is free of issued values; the store
    holds them (which proves the scan would see a value where one is)."""
    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    plan_file = cli.workdir / "plan.json"
    assert cli("plan", "-f", str(spec), "--out", str(plan_file), "-v").code == 0
    assert cli("apply", str(plan_file), "-v").code == 0
    emulator_control.advance(timedelta(days=61))
    now = emulator_control.now().isoformat()
    for fmt in ("text", "markdown", "json"):
        assert cli("plan", "-f", str(spec), "--format", fmt, "--now", now, "-v").code == 0
    assert cli("apply", "-f", str(spec), "--auto-approve", "--now", now, "-v").code == 0
    assert cli("rotate", "ds-read", "-f", str(spec), "--grace", "0", "--now", now, "-v").code == 0

    admin = cli.emulator.admin_token()
    values = [v for v in emulator_control.issued_values() if v != admin]
    assert len(values) >= 7
    outputs = "".join(r.stdout + r.stderr for r in cli.runs)
    assert "DEBUG" in outputs  # the logs were on
    files = [p for p in cli.workdir.rglob("*") if p.is_file()]
    in_store = [p for p in files if "secrets" in p.relative_to(cli.workdir).parts]
    elsewhere = [p for p in files if p not in in_store]
    assert plan_file in elsewhere
    for value in [*values, admin]:
        assert value not in outputs
        for path in elsewhere:
            assert value not in path.read_text(errors="replace"), path
    values_in_store = [
        p for p in in_store if not p.name.endswith(".meta.json") and p.name != ".ppm-tokens-store"
    ]
    current = {p.read_text().strip() for p in values_in_store}
    assert current <= set(values) and len(current) == 3


def test_apply_reads_the_live_tokens_once(cli: Cli, emulator_control: EmulatorControl) -> None:
    """Plan, the saved-plan freshness check and the apply engine share one listing."""

    def listings() -> int:
        # Paged reads only: GET /__api__/tokens?_limit=1 is how a global:admin token is proven.
        return sum(
            1
            for e in emulator_control.request_log()
            if e["method"] == "GET" and e["path"] == "/__api__/tokens" and "_page=" in e["query"]
        )

    spec = write_spec(cli.workdir / "tokens.yaml", THREE_TOKENS)
    emulator_control.clear_log()
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    assert listings() == 1
    spec.write_text(spec.read_text().replace("CI administration", "CI admin"))
    plan_file = cli.workdir / "plan.json"
    assert cli("plan", "-f", str(spec), "--out", str(plan_file)).code == 0
    emulator_control.clear_log()
    run = cli("apply", str(plan_file))
    assert run.code == 0, run.stderr
    assert listings() == 1
