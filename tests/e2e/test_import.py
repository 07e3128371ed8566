"""`ppm-tokens import` round trip: 20 unmanaged tokens -> import -> validate passes -> plan shows
only noops -> a forced rotation of one adopted token replaces it and the rest stay."""

from __future__ import annotations

import json
from datetime import timedelta

import yaml

from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli
from tests.ops.seed import HOSTILE, HOSTILE_GUID, Seed, insert_with_guid, seed, utc_now

SCOPES = [
    ("repos:read", ("pypi",)),
    ("repos:read", ("cran", "pypi")),
    ("repos:read", ("*",)),
    ("sources:write", ("internal-src",)),
    ("global:admin", ()),
    ("blocklist:read", ()),
    ("metadata:read", ()),
    ("sources:admin", ("git-builder",)),
]


def twenty() -> list[Seed]:
    seeds = []
    for index in range(20):
        scope, resources = SCOPES[index % len(SCOPES)]
        lifetime = None if index % 7 == 3 else timedelta(days=30 + index * 11, hours=index % 3)
        seeds.append(
            Seed(
                f"t{index}",
                # Duplicates and text that is no valid name, on purpose.
                "CI deploy" if index % 5 == 0 else f"Token #{index} für Zürich / team {index % 4}",
                user=f"user{index}@example.com" if index % 2 else "ci-system",
                scope=scope,
                resources=resources,
                age=timedelta(days=index * 3, minutes=index),
                lifetime=lifetime,
            )
        )
    seeds.append(Seed("hostile", HOSTILE, user="mallory@example.com"))
    return seeds


def test_import_round_trip(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(emulator_control, http_driver, twenty(), now=utc_now())
    emulator_control.reset_clock()
    # The store sits in the test's directory, where the leak scan expects values.
    run = cli("import", "--namespace", "adopted", "--store-path", "secrets")
    assert run.code == 0, run.stderr
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(run.stdout)
    document = yaml.safe_load(run.stdout)
    entries = document["tokens"]
    assert len(entries) == 20  # the admin token this run uses is left out, and says so
    assert "the token this import authenticates with is left out" in run.stdout
    # A description with control characters cannot be declared (validate refuses it), so the
    # hostile token is written as a comment saying why, not adopted under a changed text.
    hostile = seeded.pop("hostile")
    assert f"not imported: {hostile.guid}" in run.stdout
    assert {e["adopt"] for e in entries} == {t.guid for t in seeded.values()}
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names)
    assert {"ci-deploy", "ci-deploy-2", "ci-deploy-3", "ci-deploy-4"} <= set(names)
    assert "token-1-fur-zurich-team-1" in names
    by_guid = {e["adopt"]: e for e in entries}
    for token in seeded.values():
        entry = by_guid[token.guid]
        assert entry["user"] == token.user
        assert entry["scope"] == token.scope
        assert entry["description"] == token.description
        assert tuple(entry.get("resources", ())) == token.resources
    assert document["policy"]["allow_never_expires"] is True
    # Hostile text is escaped in the YAML, never written raw.
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout and "\r" not in run.stdout

    validate = cli("validate", "-f", "tokens.yaml")
    assert validate.code == 0, validate.stderr
    plan = cli("plan", "-f", "tokens.yaml", "--format", "json", "--detailed-exitcode")
    assert plan.code == 0, plan.stdout + plan.stderr
    actions = json.loads(plan.stdout)["actions"]
    assert len(actions) == 20
    assert {a["kind"] for a in actions} == {"noop"}
    warnings = json.loads(plan.stdout)["warnings"]
    assert any(hostile.guid in json.dumps(w) for w in warnings)  # reported as unmanaged

    target = next(e for e in entries if e["scope"] == "repos:read")
    rotate = cli("apply", "-f", "tokens.yaml", "--auto-approve", "--rotate", target["name"])
    assert rotate.code == 0, rotate.stdout + rotate.stderr
    live = {t.guid: t for t in http_driver.list_tokens()}
    assert live[target["adopt"]].revoked is not None  # grace 0: replaced at once
    successor = [
        t
        for t in live.values()
        if (owner := parse_owner(t.description)) is not None
        and (owner.namespace, owner.name) == ("adopted", target["name"])
    ]
    assert len(successor) == 1 and successor[0].revoked is None
    stored = cli.workdir / "secrets" / target["name"]
    assert stored.is_file()
    for entry in entries:
        if entry is not target:
            assert live[entry["adopt"]].revoked is None, entry["name"]
    again = cli("plan", "-f", "tokens.yaml", "--format", "json", "--detailed-exitcode")
    assert again.code == 0, again.stdout
    assert {a["kind"] for a in json.loads(again.stdout)["actions"]} == {"noop"}


def test_import_filters_and_records_inactive_tokens(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    seeded = seed(
        emulator_control,
        http_driver,
        [
            Seed("keep", "Keep me"),
            Seed("other", "Something else"),
            Seed("gone", "Keep me, revoked", revoke=True),
            Seed("orphan", "Keep me, orphaned", resources=("internal",)),
        ],
        now=utc_now(),
    )
    emulator_control.reset_clock()
    emulator_control.recreate_repo("internal")
    run = cli("import", "--search", "KEEP", "--status", "all")
    assert run.code == 0, run.stderr
    document = yaml.safe_load(run.stdout)
    entries = {e["adopt"]: e for e in document["tokens"]}
    assert set(entries) == {seeded["keep"].guid, seeded["gone"].guid}
    assert entries[seeded["gone"].guid]["state"] == "absent"
    assert f"not imported: {seeded['orphan'].guid}" in run.stdout
    # Without --namespace and --store-path: namespace "default", values under the user's data
    # directory once a token rotates.
    assert document["namespace"] == "default"
    paths = [store["path"] for store in document["stores"].values()]
    assert paths == ["~/.local/share/ppm-tokens/default"]
    assert "no longer exist on the server" in run.stdout
    (cli.workdir / "tokens.yaml").write_text(run.stdout)
    assert cli("validate").code == 0
    plan = cli("plan", "--format", "json")
    assert plan.code == 0, plan.stderr
    assert {a["kind"] for a in json.loads(plan.stdout)["actions"]} == {"noop"}


def test_a_guid_with_control_characters_is_left_out_saying_why(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    """A GUID no spec can adopt costs that token only, not the whole import."""
    seeded = seed(emulator_control, http_driver, [Seed("plain", "Plain token")], now=utc_now())
    emulator_control.reset_clock()
    insert_with_guid(cli.emulator, HOSTILE_GUID, "Odd guid")
    run = cli("import")
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.stdout + run.stderr
    assert "# not imported: deadbeef-\\x1b]0;pwned" in run.stdout
    document = yaml.safe_load(run.stdout)
    assert [e["adopt"] for e in document["tokens"]] == [seeded["plain"].guid]


def test_import_warns_when_a_name_has_two_active_generations(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    marked = "reader [ppm-tokens:adopted/reader]"
    seed(
        emulator_control,
        http_driver,
        [Seed("old", marked, age=timedelta(days=2)), Seed("new", marked, age=timedelta(hours=1))],
        now=utc_now(),
    )
    emulator_control.reset_clock()
    run = cli("import", "--namespace", "adopted", "--store-path", "secrets")
    assert run.code == 0, run.stderr
    assert "Warning: 1 older generation(s) still active" in run.stderr
    assert "ppm-tokens list -f SPEC" in run.stderr
    assert len(yaml.safe_load(run.stdout)["tokens"]) == 1
