"""Saved plans that cannot be bent: the real CLI applies `plan --out` files only as made.

One server state and one saved plan (a create, a replace, a revoke and a noop, next to another
namespace's token) are set up once; each test edits a copy of the plan file one way and proves
that `apply` exits 4, names what differs, and made no request that changes anything, and that
the store is untouched. Then the fingerprint in both directions: another team's activity leaves
a saved plan applicable; a change the plan depends on makes it stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands import apply_many
from reconciler.commands import plan as plan_command
from reconciler.commands.apply import ApplyCommandOptions
from reconciler.commands.plan import LiveState
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.desired.model import Spec
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.server.http import HttpDriver
from tests.desired.test_validate_command import RecordingUI
from tests.e2e.conftest import Cli, scan_for_values, token_entries, work_tree_files, write_spec
from tests.e2e.test_invariants import api_changes, managed

OURS = """\
- name: keep
  user: analyst@example.com
  description: Stays as it is
  scope: repos:read
  resources: [cran]
- name: narrowed
  user: analyst@example.com
  description: Read everything
  scope: repos:read
  resources: [cran, pypi]
- name: gone
  user: analyst@example.com
  description: Soon undeclared
  scope: repos:read
  resources: [pypi]
"""
# The next revision: `narrowed` loses a repository (replace), `gone` goes (revoke), `fresh` comes
# (create), `keep` stays (noop).
OURS_NEXT = OURS[: OURS.index("- name: gone")].replace("[cran, pypi]", "[cran]") + (
    "- name: fresh\n  user: analyst@example.com\n  description: New\n"
    "  scope: repos:read\n  resources: [cran]\n"
)


@dataclass(frozen=True)
class Setup:
    cli: Cli
    control: EmulatorControl
    plan: dict[str, Any]
    theirs: str  # GUID of another namespace's token

    def store_digest(self) -> str:
        digest = hashlib.sha256()
        for path in sorted((self.cli.workdir / "secrets").rglob("*")):
            if path.is_file():
                digest.update(path.name.encode() + path.read_bytes())
        return digest.hexdigest()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("saved-plans")
    emulator = start_emulator(
        db_path=root / "state" / "emulator.sqlite3", admin_token_file=root / "state" / "admin"
    )
    try:
        workdir = root / "work"
        (workdir / "home").mkdir(parents=True)
        cli = Cli(emulator, workdir)
        spec = write_spec(workdir / "tokens.yaml", OURS)
        assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
        other = write_spec(workdir / "theirs.yaml", token_entries(1), namespace="other-team")
        assert cli("apply", "-f", str(other), "--auto-approve").code == 0
        write_spec(spec, OURS_NEXT)
        assert cli("plan", "-f", str(spec), "--out", "plan.json").code == 0
        plan = json.loads((workdir / "plan.json").read_text())
        assert {a["kind"] for a in plan["actions"]} == {"create", "replace", "revoke", "noop"}
        control = EmulatorControl(emulator.url, emulator.admin_token())
        driver = HttpDriver(emulator.url, Secret(emulator.admin_token()))
        try:
            theirs = managed(driver, "other-team")["t000"][0].guid
        finally:
            driver.close()
        yield Setup(cli, control, plan, theirs)
        _assert_no_leaks(cli, emulator)
    finally:
        emulator.stop()


def _assert_no_leaks(cli: Cli, emulator: RunningEmulator) -> None:
    """I2, as the function-scoped `cli` fixture checks it."""
    values = EmulatorControl(emulator.url, emulator.admin_token()).issued_values()
    texts = {f"output of {r.args}": r.stdout + r.stderr for r in cli.runs}
    for path in cli.workdir.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(cli.workdir).parts:
            texts[str(path)] = path.read_text(errors="replace")
    for path in work_tree_files():
        if path.is_file() and path.stat().st_size < 5_000_000:
            texts[str(path)] = path.read_text(errors="replace")
    assert not scan_for_values(values, texts)


def _action(plan: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in plan["actions"] if a["kind"] == kind)
    return found


Edit = Callable[[dict[str, Any], Setup], None]


def _noop_into_revoke(plan: dict[str, Any], setup: Setup) -> None:
    _action(plan, "noop").update(kind="revoke", reason="no longer declared")
    plan["summary"].update(noop=0, revoke=2)  # a careful forger keeps the counts right


def _guid_of_another_namespace(plan: dict[str, Any], setup: Setup) -> None:
    _action(plan, "revoke")["guid"] = setup.theirs


def _added(plan: dict[str, Any], setup: Setup) -> None:
    keep = _action(plan, "noop")
    plan["actions"].append({**keep, "kind": "revoke", "reason": "no longer declared"})
    plan["summary"]["revoke"] += 1


def _dropped(plan: dict[str, Any], setup: Setup) -> None:
    plan["actions"].remove(_action(plan, "create"))
    plan["summary"]["create"] -= 1


def _future(plan: dict[str, Any], setup: Setup) -> None:
    plan["generated_at"] = (datetime.now(UTC) + timedelta(days=400)).isoformat()


TAMPERING: dict[str, tuple[Edit, str]] = {
    "noop-edited-into-a-revoke": (_noop_into_revoke, "saved action"),
    "guid-of-another-namespace": (_guid_of_another_namespace, "its guid differ"),
    "server-changed": (lambda p, _: p.update(server="https://ppm.example.com"), "is for server"),
    "namespace-changed": (lambda p, _: p.update(namespace="other-team"), "namespace"),
    "action-added": (_added, "has 1 action"),
    "action-dropped": (_dropped, "saved action"),
    "reason-edited": (lambda p, _: _action(p, "replace").update(reason="routine"), "reason"),
    "replaced-token-kept": (
        lambda p, _: _action(p, "replace").update(revoke_replaced=False),
        "revoke_replaced",
    ),
    "grace-promised": (lambda p, _: _action(p, "replace").update(grace="30d"), "its grace differ"),
    "secret-deletion-added": (
        lambda p, _: _action(p, "revoke").update(delete_secret={"store": "local", "key": "keep"}),
        "its delete_secret differ",
    ),
    "token-fields-edited": (
        lambda p, _: _action(p, "create")["token"].update(user="attacker@example.com"),
        "with user other than the spec",
    ),
    "summary-edited": (lambda p, _: p["summary"].update(revoke=0), "summary"),
    "moment-in-the-future": (_future, "later than now"),
    "kind-that-does-not-exist": (
        lambda p, _: _action(p, "revoke").update(kind="destroy"),
        "malformed plan file",
    ),
    "guid-not-a-string": (lambda p, _: _action(p, "revoke").update(guid=5), "malformed plan"),
    "actions-removed": (lambda p, _: p.pop("actions"), "malformed plan file"),
    "another-format-version": (lambda p, _: p.update(format_version=1), "format_version 1"),
    "key-never-written": (
        lambda p, _: _action(p, "revoke").update(delete_secret_too=True),
        "has the key 'delete_secret_too', which this version never writes",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("edit, message", [pytest.param(*v, id=k) for k, v in TAMPERING.items()])
def test_a_tampered_saved_plan_is_refused_before_any_change(
    setup: Setup, edit: Edit, message: str
) -> None:
    plan = json.loads(json.dumps(setup.plan))
    edit(plan, setup)
    path = setup.cli.workdir / "tampered.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    before = setup.store_digest()
    setup.control.clear_log()

    run = setup.cli("apply", str(path))

    assert run.code == 4, run.stdout + run.stderr
    assert message in run.stderr
    assert api_changes(setup.control) == []
    assert setup.store_digest() == before


def _plan_then(cli: Cli, spec: Path, between: Callable[[], None]) -> int:
    assert cli("apply", "-f", str(spec), "--auto-approve").code == 0
    spec.write_text(spec.read_text().replace("Read everything", "Read all"))
    assert cli("plan", "-f", str(spec), "--out", "plan.json").code == 0
    between()
    return cli("apply", "plan.json").code


@pytest.mark.slow
def test_another_namespaces_activity_leaves_a_saved_plan_applicable(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", OURS)
    other = write_spec(cli.workdir / "theirs.yaml", token_entries(2), namespace="other-team")

    def another_team_works() -> None:
        assert cli("apply", "-f", str(other), "--auto-approve").code == 0
        http_driver.revoke_token(managed(http_driver, "other-team")["t001"][0].guid)
        emulator_control.recreate_repo("bioconductor")  # nobody here references it

    assert _plan_then(cli, spec, another_team_works) == 0
    assert len(managed(http_driver)["narrowed"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("change", ["referenced-repository-recreated", "our-token-revoked"])
def test_a_change_the_plan_depends_on_makes_it_stale(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver, change: str
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", OURS)

    def moved() -> None:
        if change == "our-token-revoked":
            http_driver.revoke_token(managed(http_driver)["keep"][0].guid)
        else:
            emulator_control.recreate_repo("pypi")
        emulator_control.clear_log()

    assert _plan_then(cli, spec, moved) == 4
    assert "changed since it was made" in cli.runs[-1].stderr
    assert api_changes(emulator_control) == []


def test_a_saved_plan_of_several_specs_reads_only_the_tokens_each_plan_reads(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server many teams share, the listing is cut down to what a spec's plan can read
    before the rest is read in full; applying a saved plan of several specs reads it so too."""
    specs = [
        write_spec(cli.workdir / f"{ns}.yaml", token_entries(1, prefix=ns), namespace=ns)
        for ns in ("alpha", "beta")
    ]
    plan_file = cli.workdir / "plan.json"
    saved = cli("plan", *(f"-f{spec}" for spec in specs), "--out", str(plan_file))
    assert saved.code in (0, 2), saved.stderr
    reads: list[Spec | None] = []

    def read_live(driver: Driver, spec: Spec | None = None) -> LiveState:
        reads.append(spec)
        return plan_command.read_live(driver, spec)

    monkeypatch.setattr(apply_many, "read_live", read_live)
    ui = RecordingUI()
    env = Environment(cli.env(), cli.workdir)
    code = apply_many.run(
        apply_many.ApplyTargets(files=(), plan_file=plan_file),
        ApplyCommandOptions(target=plan_file),
        GlobalOptions(),
        env,
        ui,
    )

    assert code == 0, ui.stderr
    assert [spec.namespace if spec else None for spec in reads] == ["alpha", "beta"]
