"""Many specs in one repository, end to end: a `tokens/` directory of three specs (three
namespaces) on two emulators (two servers, each with its own admin token), planned and applied
in one command each, through the real CLI.

Both emulators' request logs show what was sent: nothing at all when a spec is invalid or two
specs clash, nothing that changes anything when a saved plan is refused. Every value either
emulator issued is looked for in every output and file (I2).
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.ownership import parse_owner
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, Run, scan_for_values, write_spec
from tests.e2e.test_invariants import api_changes


@pytest.fixture
def eu(tmp_path: Path) -> Iterator[RunningEmulator]:
    """The second server."""
    state = tmp_path / "eu-state"
    running = start_emulator(db_path=state / "eu.sqlite3", admin_token_file=state / "admin.token")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def servers(
    cli: Cli, emulator: RunningEmulator, eu: RunningEmulator
) -> Iterator[tuple[EmulatorControl, EmulatorControl]]:
    """Control of both servers; afterwards, the second server's values are looked for in
    everything the runs printed or left (the `cli` fixture looks for the first's)."""
    with (
        EmulatorControl(emulator.url, emulator.admin_token()) as main,
        EmulatorControl(eu.url, eu.admin_token()) as other,
    ):
        for control in (main, other):
            control.clear_log()  # the readiness probe
        yield main, other
        values = [*other.issued_values(), eu.admin_token()]
        texts = {f"stdout of {r.args}": r.stdout for r in cli.runs}
        texts.update({f"stderr of {r.args}": r.stderr for r in cli.runs})
        for path in cli.workdir.rglob("*"):
            if path.is_file() and "secrets" not in path.relative_to(cli.workdir).parts:
                texts[str(path)] = path.read_text(errors="replace")
        assert scan_for_values(values, texts) == []


def spec_text(namespace: str, server: str, tokens: str, *, store: Path, token_env: str = "") -> str:
    header = textwrap.dedent(
        f"""\
        version: 1
        namespace: {namespace}
        server:
          url: {server}
        """
    )
    if token_env:
        header += f"  token_env: {token_env}\n"
    return (
        header
        + textwrap.dedent(
            f"""\
        defaults:
          expires: 90d
          rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
          store: local
        stores:
          local: {{type: file, path: {store}}}
        tokens:
        """
        )
        + textwrap.indent(textwrap.dedent(tokens), "  ")
    )


PLATFORM = """\
- name: reader
  user: analyst@example.com
  description: Read the Python mirror
  scope: repos:read
  resources: [pypi]
- name: uploader
  user: maintainers@example.com
  description: Upload internal packages
  scope: sources:write
  resources: [internal-src]
"""
DATA = """\
- name: cran-read
  user: data@example.com
  description: Read CRAN
  scope: repos:read
  resources: [cran]
"""
EU = """\
- name: reader
  user: eu@example.com
  description: Read the Python mirror in the EU
  scope: repos:read
  resources: [pypi]
"""


def write_repository(cli: Cli, emulator: RunningEmulator, eu: RunningEmulator) -> Path:
    """tokens/platform.yaml and tokens/data.yaml on the first server, tokens/eu/eu.yaml on the
    second, whose token is in PPM_EU_TOKEN."""
    tokens = cli.workdir / "tokens"
    (tokens / "eu").mkdir(parents=True)
    secrets = cli.workdir / "secrets"
    (tokens / "platform.yaml").write_text(
        spec_text("platform", emulator.url, PLATFORM, store=secrets / "platform")
    )
    (tokens / "data.yaml").write_text(spec_text("data", emulator.url, DATA, store=secrets / "data"))
    (tokens / "eu" / "eu.yaml").write_text(
        spec_text("eu", eu.url, EU, store=secrets / "eu", token_env="PPM_EU_TOKEN")
    )
    (tokens / "README.md").write_text("Not a spec: only *.yaml and *.yml are read.\n")
    return tokens


def run(cli: Cli, eu: RunningEmulator, *args: str, **env: str) -> Run:
    """The CLI as a CI job runs it here: no PACKAGEMANAGER_ADDRESS (each spec names its
    server), PACKAGEMANAGER_TOKEN for the first server, PPM_EU_TOKEN for the second."""
    variables = {"PACKAGEMANAGER_ADDRESS": "", "PPM_EU_TOKEN": eu.admin_token(), **env}
    return cli(*args, **variables)


def owned(server: RunningEmulator) -> dict[tuple[str, str], list[str]]:
    """(namespace, name) -> GUIDs of the active managed tokens on `server`."""
    driver = HttpDriver(server.url, Secret(server.admin_token()))
    try:
        found: dict[tuple[str, str], list[str]] = {}
        for token in driver.list_tokens():
            owner = parse_owner(token.description)
            if owner is not None and token.revoked is None:
                found.setdefault((owner.namespace, owner.name), []).append(token.guid)
        return found
    finally:
        driver.close()


def authenticates(server: RunningEmulator, value: str, repo: str = "pypi") -> bool:
    """As pip (a PEP 503 index) or R (PACKAGES) would use the value."""
    pair = base64.b64encode(f"__token__:{value}".encode()).decode()
    index = "src/contrib/PACKAGES" if repo == "cran" else "simple/"
    response = httpx.get(
        f"{server.url}/{repo}/latest/{index}", headers={"Authorization": f"Basic {pair}"}
    )
    return response.status_code == 200


def stored(cli: Cli, namespace: str, name: str) -> tuple[str, str]:
    """The value and the GUID a spec's file store holds for a token."""
    directory = cli.workdir / "secrets" / namespace
    meta = json.loads((directory / f"{name}.meta.json").read_text())
    return (directory / name).read_text().strip(), meta["token_guid"]


def requests(*controls: EmulatorControl) -> list[list[dict[str, object]]]:
    return [control.request_log() for control in controls]


def test_three_specs_on_two_servers_planned_and_applied_in_one_command(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    write_repository(cli, emulator, eu)

    checked = run(cli, eu, "validate", "-f", "tokens")
    assert checked.code == 0, checked.stderr
    assert (
        "tokens: 3 spec files: tokens/data.yaml, tokens/eu/eu.yaml, tokens/platform.yaml"
        in checked.stderr
    )

    # One Markdown comment for the whole repository.
    plan = run(cli, eu, "plan", "-f", "tokens/", "--format", "markdown", "--detailed-exitcode")
    assert plan.code == 2, plan.stderr
    comment = plan.stdout
    assert comment.startswith(
        "## ppm-tokens plan: 3 specs on 2 servers\n\n**Plan for 3 specs: 4 to create"
    )
    assert "<!-- ppm-tokens: next part -->" not in comment
    for path, namespace in [
        ("tokens/data\\.yaml", "data"),
        ("tokens/eu/eu\\.yaml", "eu"),
        ("tokens/platform\\.yaml", "platform"),
    ]:
        assert comment.count(f"### <code>{path}</code>: <code>{namespace}</code> on ") == 1
        assert f"| <code>{path}</code> | <code>{namespace}</code> |" in comment
    assert (
        comment.index("data\\.yaml")
        < comment.index("eu/eu\\.yaml")
        < comment.index("platform\\.yaml")
    )
    assert requests(*servers)[0] and requests(*servers)[1]  # each spec read its own server
    assert api_changes(servers[0]) == [] and api_changes(servers[1]) == []

    applied = run(cli, eu, "apply", "-f", "tokens", "--auto-approve")
    assert applied.code == 0, applied.stderr
    assert "[3/3] tokens/platform.yaml: namespace platform on " + emulator.url in applied.stdout
    assert applied.stderr.rstrip().endswith("Apply complete for 3 specs: 3 succeeded, 0 failed.")

    main = owned(emulator)
    assert sorted(main) == [
        ("data", "cran-read"),
        ("platform", "reader"),
        ("platform", "uploader"),
    ]
    assert sorted(owned(eu)) == [("eu", "reader")]
    # Each store holds its own server's current token, and the value works there (I3).
    for server, namespace, name, repo in [
        (emulator, "platform", "reader", "pypi"),
        (emulator, "data", "cran-read", "cran"),
        (eu, "eu", "reader", "pypi"),
    ]:
        value, guid = stored(cli, namespace, name)
        assert owned(server)[(namespace, name)] == [guid]
        assert authenticates(server, value, repo)
    eu_value, _ = stored(cli, "eu", "reader")
    assert not authenticates(emulator, eu_value)  # a token of one server only

    # Converged: the next plan is empty and the next apply changes nothing anywhere (I4).
    for control in servers:
        control.clear_log()
    again = run(cli, eu, "plan", "-f", "tokens", "--detailed-exitcode")
    assert again.code == 0, again.stderr
    assert again.stdout.rstrip().endswith("No changes in 3 specs. The live tokens match the specs.")
    assert run(cli, eu, "apply", "-f", "tokens", "--auto-approve").code == 0
    assert api_changes(servers[0]) == [] and api_changes(servers[1]) == []


def test_a_saved_plan_of_three_specs_applies_whole_and_a_tampered_part_is_refused(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    write_repository(cli, emulator, eu)
    saved = run(cli, eu, "plan", "-f", "tokens", "--out", "plan.json")
    assert saved.code == 0, saved.stderr
    assert "Saved the plan of 3 specs to plan.json" in saved.stderr
    document = json.loads((cli.workdir / "plan.json").read_text())
    assert [p["namespace"] for p in document["plans"]] == ["data", "eu", "platform"]
    assert document["summary"]["create"] == 4

    # One edited part (the last spec's reason) refuses the whole file: nothing created anywhere.
    tampered = json.loads(json.dumps(document))
    tampered["plans"][2]["actions"][0]["reason"] = "approved by security"
    (cli.workdir / "tampered.json").write_text(json.dumps(tampered))
    for control in servers:
        control.clear_log()
    refused = run(cli, eu, "apply", "tampered.json")
    assert refused.code == 4, refused.stderr
    assert "saved action 1 (create reader)" in refused.stderr
    assert "reason differ" in refused.stderr
    assert api_changes(servers[0]) == [] and api_changes(servers[1]) == []
    assert owned(emulator) == {} and owned(eu) == {}

    # A part that moved on its server refuses the whole file too.
    moved = json.loads(json.dumps(document))
    moved["plans"][1]["live_fingerprint"] = "sha256:" + "0" * 64
    (cli.workdir / "moved.json").write_text(json.dumps(moved))
    assert run(cli, eu, "apply", "moved.json").code == 4
    assert owned(emulator) == {} and owned(eu) == {}

    # A part copied over another (its summary made to add up) is an edit too.
    doubled = json.loads(json.dumps(document))
    doubled["plans"][1] = doubled["plans"][0]
    doubled["summary"] = {
        kind: sum(plan["summary"][kind] for plan in doubled["plans"])
        for kind in document["summary"]
    }
    (cli.workdir / "doubled.json").write_text(json.dumps(doubled))
    twice = run(cli, eu, "apply", "doubled.json")
    assert twice.code == 4
    assert "holds two plans of the spec tokens/data.yaml" in twice.stderr
    assert owned(emulator) == {} and owned(eu) == {}

    # A --now that is not the servers' time refuses the whole file too (exit 1).
    elsewhen = run(cli, eu, "apply", "plan.json", "--now", "+2d")
    assert elsewhen.code == 1
    assert "ahead of the server's clock" in elsewhen.stderr
    assert owned(emulator) == {} and owned(eu) == {}

    applied = run(cli, eu, "apply", "plan.json")
    assert applied.code == 0, applied.stderr
    assert "Apply complete for 3 specs: 3 succeeded, 0 failed." in applied.stderr
    assert len(owned(emulator)) == 3 and list(owned(eu)) == [("eu", "reader")]

    # Applied once; the same file again is stale on every server now.
    for control in servers:
        control.clear_log()
    again = run(cli, eu, "apply", "-f", "plan.json")  # -f takes a saved plan too
    assert again.code == 4
    assert api_changes(servers[0]) == [] and api_changes(servers[1]) == []


def test_two_specs_with_one_namespace_on_one_server_are_refused_before_any_request(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    tokens = write_repository(cli, emulator, eu)
    # Copied from platform.yaml and not renamed: the usual cause of two specs revoking each
    # other's tokens on every apply.
    (tokens / "platform-copy.yml").write_text(
        spec_text("platform", emulator.url + "/", DATA, store=cli.workdir / "secrets" / "copy")
    )
    for args in (["plan", "-f", "tokens"], ["apply", "-f", "tokens", "--auto-approve"]):
        refused = run(cli, eu, *args)
        assert refused.code == 3, refused.stderr
        assert "tokens/platform.yaml:2:1: namespace 'platform' on " in refused.stderr
        assert "is also managed by tokens/platform-copy.yml" in refused.stderr
        assert "Nothing was changed." in refused.stderr
    checked = run(cli, eu, "validate", "-f", "tokens")
    assert checked.code == 3
    assert "is also managed by tokens/platform-copy.yml" in checked.stdout
    assert requests(*servers) == [[], []]


def test_an_invalid_spec_among_valid_ones_sends_nothing_anywhere(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    tokens = write_repository(cli, emulator, eu)
    data = tokens / "data.yaml"
    data.write_text(data.read_text().replace("repos:read", "repos:reed"))
    eu_spec = tokens / "eu" / "eu.yaml"
    eu_spec.write_text(eu_spec.read_text().replace("user: eu@example.com", "user: eu@"))
    saved = run(cli, eu, "plan", "-f", "tokens", "--out", "plan.json")
    applied = run(cli, eu, "apply", "-f", "tokens", "--auto-approve")
    for refused in (saved, applied):
        assert refused.code == 3, refused.stderr
        # Every problem of every file, by file and line.
        assert "tokens/data.yaml:" in refused.stderr and "repos:reed" in refused.stderr
        assert "tokens/eu/eu.yaml:" in refused.stderr
        assert "Nothing was changed." in refused.stderr
    assert not (cli.workdir / "plan.json").exists()
    assert requests(*servers) == [[], []]  # I7, on every server


def test_each_server_gets_only_its_own_admin_token(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    tokens = write_repository(cli, emulator, eu)
    missing = run(cli, eu, "plan", "-f", "tokens", PPM_EU_TOKEN="")
    assert missing.code == 1
    assert "server.token_env names PPM_EU_TOKEN, which is not set" in missing.stderr
    # Without token_env both servers would get PACKAGEMANAGER_TOKEN: refused, naming both.
    eu_spec = tokens / "eu" / "eu.yaml"
    eu_spec.write_text(eu_spec.read_text().replace("  token_env: PPM_EU_TOKEN\n", ""))
    shared = run(cli, eu, "plan", "-f", "tokens")
    assert shared.code == 1
    assert "would both authenticate with PACKAGEMANAGER_TOKEN" in shared.stderr
    assert "tokens/eu/eu.yaml" in shared.stderr
    assert requests(*servers) == [[], []]


def test_a_spec_that_fails_does_not_stop_the_others(
    cli: Cli,
    emulator: RunningEmulator,
    eu: RunningEmulator,
    servers: tuple[EmulatorControl, EmulatorControl],
) -> None:
    write_repository(cli, emulator, eu)
    # The second server refuses this run's token: its spec fails, the two others go on.
    plan = run(cli, eu, "plan", "-f", "tokens", "--detailed-exitcode", PPM_EU_TOKEN="not-admin")
    assert plan.code == 1  # an error wins over changes
    assert "Could not plan:" in plan.stdout
    assert "1 spec could not be planned." in plan.stdout
    saved = run(cli, eu, "plan", "-f", "tokens", "--out", "plan.json", PPM_EU_TOKEN="not-admin")
    assert saved.code == 1
    assert "Did not save the plan to plan.json: tokens/eu/eu.yaml could not be planned" in (
        saved.stderr
    )
    assert not (cli.workdir / "plan.json").exists()

    applied = run(cli, eu, "apply", "-f", "tokens", "--auto-approve", PPM_EU_TOKEN="not-admin")
    assert applied.code == 1
    assert "  failed tokens/eu/eu.yaml (namespace eu on " in applied.stderr
    assert applied.stderr.rstrip().endswith(
        "Apply complete for 3 specs: 2 succeeded, 1 failed. "
        "A failure in one spec did not stop the others."
    )
    assert len(owned(emulator)) == 3  # the specs after the failed one were applied too
    assert owned(eu) == {}


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_a_directory_holding_one_spec_plans_exactly_as_that_file(
    cli: Cli, output_format: str
) -> None:
    (cli.workdir / "tokens").mkdir()
    write_spec(
        cli.workdir / "tokens" / "only.yaml",
        """\
        - name: reader
          user: analyst@example.com
          description: Read the Python mirror
          scope: repos:read
          resources: [pypi]
        """,
    )
    now = ("--now", "2026-11-01T12:00:00Z", "--format", output_format)
    by_directory = cli("plan", "-f", "tokens", *now)
    by_file = cli("plan", "-f", "tokens/only.yaml", *now)
    assert by_directory.code == by_file.code == 0, by_directory.stderr
    assert by_directory.stdout == by_file.stdout
    assert "[1/1]" not in by_directory.stdout and "1 specs" not in by_directory.stdout
    if output_format == "json":
        assert "plans" not in json.loads(by_directory.stdout)  # the one-spec shape
    assert by_directory.stderr == "tokens: 1 spec file: tokens/only.yaml\n"
