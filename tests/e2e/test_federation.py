"""Plan and apply with no stored admin token: the CLI exchanges an OpenID Connect identity token
at the server (server.auth: identity-federation) once per run, and stops cleanly when the server
gives a token without global:admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, token_entries, write_spec
from tests.e2e.test_invariants import managed
from tests.fakes.oidc_issuer import OidcIssuer

FEDERATION = """\
server:
  auth: {type: identity-federation}
"""


@pytest.fixture
def identity_env(oidc_issuer: OidcIssuer, tmp_path: Path) -> dict[str, str]:
    """No PACKAGEMANAGER_TOKEN; the identity token where PPM's CLI would look for it."""
    path = tmp_path / "outside" / "identity.jwt"
    path.parent.mkdir()
    path.write_text(oidc_issuer.identity_token())
    return {"PACKAGEMANAGER_TOKEN": "", "PACKAGEMANAGER_IDENTITY_TOKEN_FILE": str(path)}


def test_plan_and_apply_run_on_an_exchanged_token(
    cli: Cli,
    emulator_control: EmulatorControl,
    http_driver: HttpDriver,
    oidc_issuer: OidcIssuer,
    identity_env: dict[str, str],
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust())
    spec = str(write_spec(cli.workdir / "tokens.yaml", token_entries(2), header=FEDERATION))
    emulator_control.clear_log()
    planned = cli("plan", "-f", spec, "--detailed-exitcode", **identity_env)
    assert planned.code == 2, planned.stdout + planned.stderr
    applied = cli("apply", "-f", spec, "--auto-approve", **identity_env)
    assert applied.code == 0, applied.stdout + applied.stderr
    again = cli("plan", "-f", spec, "--detailed-exitcode", **identity_env)
    assert again.code == 0, again.stdout + again.stderr
    log = emulator_control.request_log()
    assert set(managed(http_driver)) == {"t000", "t001"}
    exchanges = [e for e in log if e["path"] == "/__api__/token"]
    assert [e["status"] for e in exchanges] == [200, 200, 200]  # one per run
    exchanged = {e["token_guid"] for e in exchanges}
    admin_calls = [e for e in log if str(e["path"]).startswith("/__api__/tokens")]
    assert admin_calls
    assert {e["actor"] for e in admin_calls} <= exchanged  # never the bootstrap admin token
    identity = Path(identity_env["PACKAGEMANAGER_IDENTITY_TOKEN_FILE"]).read_text()
    assert all(identity not in run.stdout + run.stderr for run in cli.runs)


def test_a_token_without_global_admin_stops_the_run_with_what_to_do(
    cli: Cli,
    emulator_control: EmulatorControl,
    oidc_issuer: OidcIssuer,
    identity_env: dict[str, str],
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(scope="repos:read", resources=["*"]))
    spec = str(write_spec(cli.workdir / "tokens.yaml", token_entries(1), header=FEDERATION))
    emulator_control.clear_log()
    run = cli("apply", "-f", spec, "--auto-approve", **identity_env)
    assert run.code == 1
    assert "carries repos:read, not global:admin" in run.stderr
    assert "use a stored admin token" in run.stderr
    assert [e["path"] for e in emulator_control.request_log()] == ["/__api__/token"]


def test_a_saved_plan_on_a_server_that_lists_exchanged_tokens(
    cli: Cli,
    emulator_control: EmulatorControl,
    oidc_issuer: OidcIssuer,
    identity_env: dict[str, str],
) -> None:
    """Each run's exchange adds a listed token: the apply's is new to the saved plan, which is
    stale (README: Identity federation); with unmanaged tokens left out, it applies."""
    emulator_control.trust_issuers(oidc_issuer.trust(listed=True))
    saved = str(cli.workdir / "plan.json")
    for policy, code in (("report", 4), ("ignore", 0)):
        header = f"{FEDERATION}policy: {{unmanaged: {policy}}}\n"
        spec = str(write_spec(cli.workdir / "tokens.yaml", token_entries(1), header=header))
        planned = cli("plan", "-f", spec, "--out", saved, **identity_env)
        assert planned.code == 0, planned.stderr
        applied = cli("apply", saved, **identity_env)
        assert applied.code == code, f"{policy}: {applied.stderr}"
