"""Backends for end-to-end tests of the vault, aws and github stores: the spec entry, the
environment the CLI needs, and a direct look at what the backend holds (as its operator would
look, not through the store under test)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest

from reconciler.secret import Secret
from tests.e2e.conftest import Cli, Run
from tests.fakes.github import RunningGitHub, start_github_fake
from tests.stores.moto_server import REGION, Moto, unique_prefix
from tests.stores.openbao import OpenBao, new_mount, prefix_policy, token_with_policy


@dataclass(frozen=True)
class Held:
    """What a backend holds under one key: its metadata and the token value inside."""

    meta: dict[str, str]
    value: Secret


@dataclass
class Backend:
    kind: str
    store: str  # the YAML of the store entry, one line
    env: dict[str, str]
    held: Callable[[str], Held | None]
    delete_out_of_band: Callable[[str], None]
    # The environment of credentials that may write values but not the metadata beside them
    # (a policy, IAM statement or token permission short of what the README asks for).
    metadata_refused: Callable[[], AbstractContextManager[dict[str, str]]]
    secret_name: Callable[[str], str] = lambda name: name


def _token_from(payload: str) -> Secret:
    text = payload.strip()
    if text.startswith("{"):
        return Secret(str(json.loads(text)["token"]))
    return Secret(text.split()[-1])


def vault_backend(server: OpenBao) -> Backend:
    mount = new_mount(server)
    token = token_with_policy(server, f"e2e-{mount}", prefix_policy(mount, "ppm/"))

    def held(key: str) -> Held | None:
        meta = server.api("GET", f"{mount}/metadata/ppm/{key}")
        data = server.api("GET", f"{mount}/data/ppm/{key}")
        if meta.status_code != 200 or data.status_code != 200:
            return None
        custom = meta.json()["data"]["custom_metadata"]
        return Held(custom, _token_from(data.json()["data"]["data"]["token"]))

    def delete(key: str) -> None:
        server.ok("DELETE", f"{mount}/data/ppm/{key}")  # `vault kv delete`: a soft delete

    @contextmanager
    def metadata_refused() -> Iterator[dict[str, str]]:
        values_only = f"""
path "{mount}/data/ppm/*" {{ capabilities = ["create", "read", "update"] }}
path "{mount}/metadata/ppm/*" {{ capabilities = ["read", "list"] }}
"""
        yield {"VAULT_TOKEN": token_with_policy(server, f"values-{mount}", values_only)}

    store = f"{{type: vault, address: {server.url}, mount: {mount}, prefix: ppm/}}"
    return Backend("vault", store, {"VAULT_TOKEN": token}, held, delete, metadata_refused)


def aws_backend(moto: Moto) -> Backend:
    prefix = unique_prefix()
    client = moto.client("secretsmanager")

    def held(key: str) -> Held | None:
        try:
            found = client.describe_secret(SecretId=prefix + key)
            value = client.get_secret_value(SecretId=prefix + key, VersionStage="AWSCURRENT")
        except (
            client.exceptions.ResourceNotFoundException,
            client.exceptions.InvalidRequestException,
        ):
            return None
        if found.get("DeletedDate"):
            return None
        tags = {t["Key"].removeprefix("ppm-tokens:"): t["Value"] for t in found["Tags"]}
        return Held(tags, _token_from(value["SecretString"]))

    def delete(key: str) -> None:
        client.delete_secret(SecretId=prefix + key, RecoveryWindowInDays=7)

    @contextmanager
    def metadata_refused() -> Iterator[dict[str, str]]:
        keys = moto.user_with_policy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": ["secretsmanager:TagResource", "secretsmanager:UntagResource"],
                        "Resource": "*",
                    },
                ],
            }
        )
        with moto.iam_enforced():
            yield moto.env(AWS_ACCESS_KEY_ID=keys["id"], AWS_SECRET_ACCESS_KEY=keys["secret"])

    store = f"{{type: aws, region: {REGION}, prefix: {prefix}}}"
    return Backend("aws", store, moto.env(), held, delete, metadata_refused)


def github_backend(github: RunningGitHub) -> Backend:
    github.fake.add_repository("acme/pipelines")
    token = github.fake.new_token({"acme/pipelines": "write"})
    scope = "repo:acme/pipelines"

    def held(key: str) -> Held | None:
        variable = github.fake.scope(scope).variables.get(f"{key}_PPM_TOKENS_META")
        value = github.fake.secret_value(scope, key)
        if variable is None or value is None:
            return None
        return Held(json.loads(variable.value), _token_from(value))

    def delete(key: str) -> None:
        github.fake.scope(scope).secrets.pop(key)

    @contextmanager
    def metadata_refused() -> Iterator[dict[str, str]]:
        grant = {"secrets": "write", "variables": "read"}
        values_only = github.fake.new_token({"acme/pipelines": grant})
        yield {"GITHUB_TOKEN": values_only, "GITHUB_API_URL": github.url}

    return Backend(
        "github",
        "{type: github, repository: acme/pipelines}",
        {"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url},
        held,
        delete,
        metadata_refused,
        secret_name=lambda name: name.upper().replace("-", "_"),
    )


@contextmanager
def remote_backend(
    kind: str, request: pytest.FixtureRequest
) -> Iterator[tuple[Backend, RunningGitHub | None]]:
    """A vault, aws or github backend on its server (the `openbao` and `moto` fixtures, a GitHub
    fake started here and stopped after), with the fake when it is GitHub's."""
    if kind == "vault":
        yield vault_backend(request.getfixturevalue("openbao")), None
    elif kind == "aws":
        yield aws_backend(request.getfixturevalue("moto")), None
    else:
        running = start_github_fake()
        try:
            yield github_backend(running), running
        finally:
            running.stop()


def spec_text(backend: Backend, names: list[str], *, namespace: str = "e2e") -> str:
    tokens = "".join(
        textwrap.dedent(
            f"""\
            - name: {name}
              user: user{index}@example.com
              description: token number {index}
              scope: repos:read
              resources: [pypi]
              secret: {backend.secret_name(name)}
              format: {"json" if index % 2 else "raw"}
            """
        )
        for index, name in enumerate(names)
    )
    return textwrap.dedent(
        f"""\
        version: 1
        namespace: {namespace}
        defaults:
          expires: 90d
          rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
          store: remote
        stores:
          remote: {backend.store}
        tokens:
        """
    ) + textwrap.indent(tokens, "  ")


# Every logger that could ever see a request body, at DEBUG: the redaction must hold there too.
DEBUG_LOGGERS = ("botocore", "boto3", "urllib3", "httpx", "httpcore", "reconciler")
_DEBUG_MAIN = f"""
import logging
import reconciler.cli as cli
import reconciler.commands.terminal as terminal
base = terminal.configure_logging
def configure(verbose):
    base(verbose)
    for name in {DEBUG_LOGGERS!r}:
        logging.getLogger(name).setLevel(logging.DEBUG)
terminal.configure_logging = configure
cli.main()
"""


def run_with_debug_logs(cli: Cli, *args: str, **env: str) -> Run:
    """The CLI with `-v` and the SDKs' own debug logging on; recorded for the leak scan."""
    result = subprocess.run(
        [sys.executable, "-c", _DEBUG_MAIN, *args, "-v"],
        cwd=cli.workdir,
        env=cli.env(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    run = Run((*args, "-v"), result.returncode, result.stdout, result.stderr)
    cli.runs.append(run)
    return run
