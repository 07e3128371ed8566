"""`doctor -f SPEC` tries the proof of every scope the spec uses, with one probe each, and names
each scope whose proof cannot tell a token from none or a wrong one; a scope declared with the
weaker proof passes by the token list, and apply then uses it. With identity federation it says
first what the exchange gave."""

from __future__ import annotations

from pathlib import Path

from reconciler.commands.doctor_probe import PROBE_OWNER
from reconciler.emulator.control import EmulatorControl
from reconciler.ownership import parse_owner
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_doctor import STEPS
from tests.e2e.test_invariants import api_changes
from tests.fakes.oidc_issuer import OidcIssuer

SCOPES = [
    "global:admin",
    "repos:read",
    "sources:write",
    "sources:admin",
    "blocklist:read",
    "blocklist:admin",
    "metadata:read",
    "metadata:admin",
]
RESOURCES = {
    "repos:read": ["[pypi]", "[cran]"],  # two proof paths: a Python index and an R one
    "sources:write": ["[internal-src]"],
    "sources:admin": ["[pypi-src]"],
}
PUBLIC_BLOCKLIST = "^/__api__/blocklist$"


def every_scope(path: Path, header: str = "") -> Path:
    entries = []
    for scope in SCOPES:
        for index, resources in enumerate(RESOURCES.get(scope, [""])):
            name = scope.replace(":", "-") + (f"-{index}" if index else "")
            entries.append(
                f"- name: {name}\n  user: ops@example.com\n  description: {scope} consumer\n"
                f"  scope: {scope}\n" + (f"  resources: {resources}\n" if resources else "")
            )
    return write_spec(path, "".join(entries), header=header)


def steps_in(output: str) -> list[tuple[str, str]]:
    """(outcome, title) of each reported step; a title may hold a scope's colon."""
    found = []
    for line in output.splitlines():
        outcome, _, rest = line.partition(" ")
        if outcome in ("ok", "FAIL", "note") and ": " in rest:
            found.append((outcome, rest.strip().split(": ")[0]))
    return found


def probes_left_active(driver: HttpDriver) -> list[str]:
    return [
        t.guid
        for t in driver.list_tokens()
        if parse_owner(t.description) == PROBE_OWNER and t.revoked is None
    ]


def test_a_spec_of_every_scope_passes_and_every_probe_is_revoked(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = every_scope(cli.workdir / "tokens.yaml")
    emulator_control.clear_log()
    run = cli("doctor", "-f", str(spec))
    assert run.code == 0, run.stdout + run.stderr
    assert steps_in(run.stdout) == [("ok", t) for t in STEPS + [f"prove {s}" for s in SCOPES]]
    assert "/pypi/latest/simple/, GET /cran/latest/src/contrib/PACKAGES: refuses no token" in (
        run.stdout
    )
    assert probes_left_active(http_driver) == []
    changes = [(e["method"], e["path"]) for e in api_changes(emulator_control)]
    assert changes.count(("POST", "/__api__/tokens")) == 1 + len(SCOPES)
    revokes = [path for method, path in changes if path.endswith("/revoke")]
    assert len(revokes) == 1 + len(SCOPES)


def test_a_proof_path_that_answers_anyone_fails_naming_its_scope(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    spec = every_scope(cli.workdir / "tokens.yaml")
    emulator_control.set_faults(public_paths=PUBLIC_BLOCKLIST)
    run = cli("doctor", "-f", str(spec))
    assert run.code == 1
    failed = [title for outcome, title in steps_in(run.stdout) if outcome == "FAIL"]
    assert failed == ["prove blocklist:read"]
    line = next(x for x in run.stdout.splitlines() if x.startswith("FAIL  prove blocklist:read"))
    assert "GET /__api__/blocklist answers without a token" in line
    assert "server.proof: {blocklist:read: listed}" in line
    assert "probe revoked" in line
    assert "The proof of blocklist:read does not hold on this server" in run.stdout
    assert probes_left_active(http_driver) == []


def test_a_declared_weaker_proof_passes_doctor_and_apply_uses_it(
    cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    header = "server: {proof: {blocklist:read: listed}}\n"
    tokens = (
        "- name: blocklist\n  user: ops@example.com\n  description: d\n  scope: blocklist:read\n"
    )
    spec = str(write_spec(cli.workdir / "tokens.yaml", tokens, header=header))
    emulator_control.set_faults(public_paths=PUBLIC_BLOCKLIST)
    doctor = cli("doctor", "-f", spec)
    assert doctor.code == 0, doctor.stdout
    assert "the token list shows the probe" in doctor.stdout
    assert "no request proves it here, as server.proof says" in doctor.stdout
    applied = cli("apply", "-f", spec, "--auto-approve")
    assert applied.code == 0, applied.stdout + applied.stderr
    assert "proven by the token list only (server.proof)" in applied.stdout + applied.stderr

    # The same spec without the declaration: the token is refused as unprovable.
    bare = str(write_spec(cli.workdir / "bare.yaml", tokens, namespace="bare"))
    refused = cli("apply", "-f", bare, "--auto-approve")
    assert refused.code == 1
    assert "answers without a token" in refused.stdout + refused.stderr


def test_doctor_says_what_identity_federation_gave(
    cli: Cli, emulator_control: EmulatorControl, oidc_issuer: OidcIssuer, tmp_path: Path
) -> None:
    identity = tmp_path / "outside" / "identity.jwt"
    identity.parent.mkdir()
    identity.write_text(oidc_issuer.identity_token())
    spec = str(
        write_spec(
            cli.workdir / "tokens.yaml",
            "[]\n",
            header=f"server: {{auth: {{type: identity-federation, identity_token: "
            f"{{file: {identity}}}}}}}\n",
        )
    )
    env = {"PACKAGEMANAGER_TOKEN": ""}
    emulator_control.trust_issuers(oidc_issuer.trust(lifetime_seconds=600))
    run = cli("doctor", "-f", spec, **env)
    assert run.code == 0, run.stdout + run.stderr
    assert steps_in(run.stdout) == [("ok", "exchange the identity token")] + [
        ("ok", t) for t in STEPS
    ]
    assert "a token with scope global:admin, expires in 10 minutes" in run.stdout
    assert "is not listed: the server keeps the tokens it gives in exchange out" in run.stdout

    emulator_control.trust_issuers(oidc_issuer.trust(scope="blocklist:read"))
    narrow = cli("doctor", "-f", spec, **env)
    assert narrow.code == 1
    assert steps_in(narrow.stdout) == [("FAIL", "exchange the identity token")]
    assert "a token with scope blocklist:read" in narrow.stdout
    assert "not global:admin" in narrow.stdout
