"""examples/tokens.yaml, as shipped, plans and applies against the emulator with every store type
it declares: vault on OpenBao (JWT login with a GitHub Actions OIDC token from a fake endpoint),
aws on moto, github on the fake, a file store and a command store (a stand-in `op`). Only
environment variables point it at the test servers, as CI would."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import REPO_ROOT, Cli
from tests.e2e.test_invariants import managed
from tests.fakes.actions_oidc import start_actions_oidc
from tests.fakes.github import RunningGitHub, start_github_fake
from tests.stores.moto_server import Moto, moto
from tests.stores.openbao import JwtIssuer, OpenBao, openbao, prefix_policy

__all__ = ["moto", "openbao"]  # fixtures

OP = """\
#!{python}
# A stand-in for 1Password's `op item edit|delete NAME --vault V`: one file per item, beside
# the home directory (the real op, too, finds its configuration from HOME: a store's programs
# get only the allow-listed variables and the store's `env`).
import os, pathlib, sys
action, name = sys.argv[2], sys.argv[3]
item = pathlib.Path(os.environ["HOME"]).parent / "op-items" / name
if action == "delete":
    item.unlink(missing_ok=True)
else:
    item.parent.mkdir(parents=True, exist_ok=True)
    item.write_bytes(sys.stdin.buffer.read())
"""


@pytest.fixture
def github_server() -> Iterator[RunningGitHub]:
    running = start_github_fake()
    try:
        yield running
    finally:
        running.stop()


def vault_namespace_for_ci(server: OpenBao, issuer: JwtIssuer) -> str:
    """A namespace laid out as the README says: KV v2 at secret/, the jwt auth method trusting
    the CI's OIDC issuer, role ppm-tokens allowed only ppm/ on that mount."""
    namespace = f"data-platform-{secrets.token_hex(3)}"
    server.ok("POST", f"sys/namespaces/{namespace}", {})
    ns = {"namespace": namespace}
    server.ok("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, **ns)
    server.ok(
        "PUT", "sys/policies/acl/ppm-tokens", {"policy": prefix_policy("secret", "ppm/")}, **ns
    )
    server.ok("POST", "sys/auth/jwt", {"type": "jwt"}, **ns)
    server.ok(
        "POST",
        "auth/jwt/config",
        {"jwt_validation_pubkeys": [issuer.public_pem()], "bound_issuer": issuer.issuer},
        **ns,
    )
    server.ok(
        "POST",
        "auth/jwt/role/ppm-tokens",
        {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": ["ppm-tokens"],
            "bound_claims": {"repository": "acme/pipelines"},
            "token_policies": ["ppm-tokens"],
            "token_ttl": "10m",
        },
        **ns,
    )
    return namespace


def test_the_example_spec_applies_with_every_store_it_declares(  # noqa: PLR0917
    cli: Cli,
    openbao: OpenBao,
    moto: Moto,
    github_server: RunningGitHub,
    http_driver: HttpDriver,
    emulator_control: EmulatorControl,
    tmp_path: Path,
) -> None:
    issuer = JwtIssuer.new()
    namespace = vault_namespace_for_ci(openbao, issuer)
    oidc = start_actions_oidc(
        lambda audience: issuer.sign(
            sub="repo:acme/pipelines:ref:refs/heads/main", aud=audience, repository="acme/pipelines"
        )
    )
    kms = moto.client("kms")
    if not any(a["AliasName"] == "alias/ppm-tokens" for a in kms.list_aliases()["Aliases"]):
        kms.create_alias(
            AliasName="alias/ppm-tokens", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"]
        )
    github_server.fake.add_repository("acme/pipelines", "production")
    # Outside the work directory (scanned for leaks): the file store, `op` and its items.
    home = tmp_path / "outside" / "home"
    bin_dir = tmp_path / "outside" / "bin"
    bin_dir.mkdir(parents=True)
    op = bin_dir / "op"
    op.write_text(textwrap.dedent(OP).format(python=sys.executable))
    op.chmod(op.stat().st_mode | stat.S_IXUSR)
    spec = cli.workdir / "tokens.yaml"
    shutil.copy(REPO_ROOT / "examples" / "tokens.yaml", spec)
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "VAULT_ADDR": openbao.url,
        "VAULT_NAMESPACE": namespace,
        **oidc.env(),
        **moto.env(),
        "GITHUB_TOKEN": github_server.fake.new_token({"acme/pipelines": "write"}),
        "GITHUB_API_URL": github_server.url,
    }
    try:
        applied = cli("apply", "-f", str(spec), "--auto-approve", **env)
        plan = cli("plan", "-f", str(spec), "--detailed-exitcode", **env)
    finally:
        oidc.stop()

    assert applied.code == 0, applied.stdout + applied.stderr
    assert plan.code == 0, plan.stdout + plan.stderr
    assert oidc.audiences and set(oidc.audiences) == {"ppm-tokens"}
    active = {
        name: tokens[0].guid for name, tokens in managed(http_driver, "data-platform").items()
    }
    assert sorted(active) == [
        "build-agents-read",
        "cicd-admin",
        "ds-read",
        "maintainers-upload",
        "research-read",
    ]
    vault_meta = openbao.ok("GET", "secret/metadata/ppm/analysts/ds-read", namespace=namespace)[
        "data"
    ]["custom_metadata"]
    assert vault_meta["token_guid"] == active["ds-read"]
    aws_tags = {
        t["Key"]: t["Value"]
        for t in moto.client("secretsmanager").describe_secret(SecretId="ppm/maintainers/upload")[
            "Tags"
        ]
    }
    assert aws_tags["ppm-tokens:token_guid"] == active["maintainers-upload"]
    assert aws_tags["team"] == "data-platform"
    scope = github_server.fake.scope("env:acme/pipelines:production")
    github_value = json.loads(scope.secrets["PPM_ADMIN_TOKEN"].value)
    assert github_value["guid"] == active["cicd-admin"]
    netrc = (home / ".local" / "share" / "ppm-tokens" / "build-agents.netrc").read_text()
    assert netrc.startswith("machine 127.0.0.1 login __token__ password ")
    assert (tmp_path / "outside" / "op-items" / "research-read").is_file()
