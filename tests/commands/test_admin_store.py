"""The admin token kept in a store (server.auth.token, server.auth.store): read from it when
neither --token-file nor the environment gives one, through the store's own read-back, and
refused before anything is sent where it cannot be read."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.commands.admin_store import read_held
from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    admin_credential,
    check_admin_source,
)
from reconciler.commands.specs import resolve
from reconciler.desired import load_spec
from reconciler.desired.model import Spec
from reconciler.errors import UsageError
from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, SecretPayload
from reconciler.stores.file import FileStore
from tests.jwt_shapes import jwt_shaped

NOW = datetime(2026, 3, 1, tzinfo=UTC)
MANAGED = jwt_shaped("6f1c0a52-1111-4222-8333-944455556666")
FROM_ENV = jwt_shaped("0b7e0a52-2222-4222-8333-944455556666")


def write_spec(directory: Path, store: str, auth: str = "{type: token, token: ppm-admin}") -> Spec:
    path = directory / "tokens.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            namespace: ops
            server: {{url: http://127.0.0.1:9, auth: {auth}}}
            stores: {{admin: {store}}}
            tokens:
              - name: ppm-admin
                user: ppm-tokens
                description: The admin token ppm-tokens runs with
                scope: global:admin
                store: admin
                secret: PPM_ADMIN
            """
        ),
        encoding="utf-8",
    )
    return load_spec(path, now=NOW)


def put(root: Path, key: str, value: str, fmt: str = "raw") -> None:
    meta = SecretMeta(
        token_guid="6f1c0a52-1111-4222-8333-944455556666",
        name="ppm-admin",
        namespace="ops",
        created=NOW,
        expires=None,
        scope="global:admin",
        format=fmt,
    )
    FileStore("admin", root).put(key, SecretPayload(Secret(value), meta))


def env(directory: Path, **variables: str) -> Environment:
    return Environment({"HOME": str(directory / "home"), **variables}, directory)


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    return write_spec(tmp_path, f"{{type: file, path: {tmp_path / 'secrets'}}}")


def test_the_admin_token_is_read_from_its_store(spec: Spec, tmp_path: Path) -> None:
    put(tmp_path / "secrets", "PPM_ADMIN", MANAGED)
    credential = admin_credential(GlobalOptions(), env(tmp_path), spec)
    assert credential.value == Secret(MANAGED)
    assert credential.source == "the admin token in store 'admin' (file) under 'PPM_ADMIN'"
    assert MANAGED not in repr(credential)


def test_the_environment_and_token_file_still_win(spec: Spec, tmp_path: Path) -> None:
    put(tmp_path / "secrets", "PPM_ADMIN", MANAGED)
    given = admin_credential(GlobalOptions(), env(tmp_path, PACKAGEMANAGER_TOKEN=FROM_ENV), spec)
    assert (given.value, given.source) == (Secret(FROM_ENV), "PACKAGEMANAGER_TOKEN")
    token_file = tmp_path / "break-glass.token"
    token_file.write_text(FROM_ENV + "\n")
    token_file.chmod(0o600)
    options = GlobalOptions(token_file=token_file)
    assert admin_credential(options, env(tmp_path), spec).value == Secret(FROM_ENV)
    # An empty variable (a workflow's deleted secret) counts as unset: the store is read.
    empty = admin_credential(GlobalOptions(), env(tmp_path, PACKAGEMANAGER_TOKEN=""), spec)
    assert empty.value == Secret(MANAGED)


def test_an_unset_token_env_falls_back_to_the_store_not_to_packagemanager_token(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, f"{{type: file, path: {tmp_path / 'secrets'}}}")
    spec = replace(spec, server=replace(spec.server, token_env="PPM_EU_TOKEN"))
    put(tmp_path / "secrets", "PPM_ADMIN", MANAGED)
    # PACKAGEMANAGER_TOKEN may be another server's admin token: never taken for this one.
    variables = env(tmp_path, PACKAGEMANAGER_TOKEN=FROM_ENV)
    assert admin_credential(GlobalOptions(), variables, spec).value == Secret(MANAGED)


def test_an_empty_store_says_to_bootstrap(spec: Spec, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no admin token under 'PPM_ADMIN'") as raised:
        admin_credential(GlobalOptions(), env(tmp_path), spec)
    assert "ppm-tokens bootstrap-admin -f" in str(raised.value)


def test_a_github_secret_is_read_by_the_job_not_by_ppm_tokens(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "{type: github, repository: acme/pipelines}")
    for check in (admin_credential, check_admin_source):
        with pytest.raises(UsageError, match="cannot be read back") as raised:
            check(GlobalOptions(), env(tmp_path), spec)
        assert "PACKAGEMANAGER_TOKEN: ${{ secrets.PPM_ADMIN }}" in str(raised.value)
    given = admin_credential(GlobalOptions(), env(tmp_path, PACKAGEMANAGER_TOKEN=FROM_ENV), spec)
    assert given.value == Secret(FROM_ENV)


def test_a_command_store_is_read_only_by_commands_that_run_the_specs_programs(
    tmp_path: Path,
) -> None:
    printer = tmp_path / "print-admin.py"
    printer.write_text(f"print({MANAGED!r})\n")
    store = (
        f"{{type: command, command: [{sys.executable}, -c, pass], "
        f"read_value_command: [{sys.executable}, {printer}, '{{secret}}'], "
        f"state_dir: {tmp_path / 'state'}}}"
    )
    spec = write_spec(tmp_path, store)
    # plan, list, show, audit, report: run on pull requests, they run no program a spec names.
    with pytest.raises(UsageError, match="read_value_command, a program the spec names"):
        check_admin_source(GlobalOptions(), env(tmp_path), spec)
    with pytest.raises(UsageError, match="set PACKAGEMANAGER_TOKEN or pass --token-file"):
        admin_credential(GlobalOptions(), env(tmp_path), spec)
    applying = GlobalOptions(spec_programs=True)
    assert admin_credential(applying, env(tmp_path), spec).value == Secret(MANAGED)


def test_what_the_store_hands_out_is_named_by_the_values_jti(tmp_path: Path) -> None:
    store = FileStore("admin", tmp_path)
    put(tmp_path, "raw-admin", MANAGED + "\n")
    held = read_held(store, "raw-admin")
    assert held is not None and held.value == Secret(MANAGED)
    assert held.guid == "6f1c0a52-1111-4222-8333-944455556666"
    # Taken out of the format its metadata records.
    put(tmp_path, "json-admin", '{"token": "' + FROM_ENV + '"}', fmt="json")
    held = read_held(store, "json-admin")
    assert held is not None and held.value == Secret(FROM_ENV)
    assert read_held(store, "nothing-here") is None


def test_a_spec_reading_another_specs_admin_token_on_another_server_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "eu").mkdir()
    rotating = write_spec(tmp_path / "eu", f"{{type: file, path: {tmp_path / 'shared'}}}")
    reader = tmp_path / "us" / "tokens.yaml"
    reader.parent.mkdir()
    reader.write_text(
        "version: 1\n"
        "server:\n"
        "  url: http://127.0.0.2:9\n"
        "  auth: {type: token, store: theirs, secret: PPM_ADMIN}\n"
        # The same place under another store name.
        f"stores: {{theirs: {{type: file, path: {tmp_path / 'shared'}}}}}\n"
        "tokens: []\n"
    )
    specs = [rotating, load_spec(reader, now=NOW)]
    with pytest.raises(UsageError, match="would both authenticate with the admin token in the "):
        resolve(specs, GlobalOptions(), env(tmp_path))
    # On the same server, reading the admin token another spec rotates is what it is for.
    same = replace(specs[1], server=replace(specs[1].server, url="http://127.0.0.1:9"))
    assert len(resolve([rotating, same], GlobalOptions(), env(tmp_path))) == 2
