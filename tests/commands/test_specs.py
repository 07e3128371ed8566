"""Several specs in one run, before any request: which files -f names, and the rules that hold
between specs (namespaces, secrets, admin tokens)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.commands.runtime import Environment, GlobalOptions, admin_token
from reconciler.commands.specs import (
    expand,
    load_all,
    namespace_clashes,
    refuse_secret_clashes,
    resolve,
    secret_clashes,
)
from reconciler.desired.model import Spec
from reconciler.errors import SpecError, UsageError
from reconciler.urls import server_identity

NOW = datetime(2026, 3, 1, tzinfo=UTC)
A = "https://ppm.example.com"
B = "https://ppm-eu.example.com"


def spec_file(
    path: Path,
    namespace: str | None,
    *,
    server: str | None = None,
    token_env: str | None = None,
    store: str = "./secrets",
    secret: str = "reader",
) -> Path:
    lines = ["version: 1"]
    if namespace is not None:
        lines.append(f"namespace: {namespace}")
    if server or token_env:
        lines.append("server:")
        lines += [f"  url: {server}"] if server else []
        lines += [f"  token_env: {token_env}"] if token_env else []
    lines += [
        "stores:",
        f"  local: {{type: file, path: {store}}}",
        "defaults: {store: local}",
        "tokens:",
        "  - {name: reader, user: ci, description: Reads, scope: repos:read, "
        f"resources: [pypi], secret: {secret}}}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def load(*paths: Path) -> tuple[Spec, ...]:
    return load_all(paths, now=NOW)


def env(**variables: str) -> Environment:
    return Environment(variables, Path("/"))


# -- which files ------------------------------------------------------------------------------


def test_a_directory_stands_for_every_spec_under_it_sorted(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    for name in ("b.yaml", "a.yml", "team/c.yaml", "team/deeper/d.yaml"):
        spec_file(tokens / name, name.replace("/", "-").split(".")[0])
    (tokens / "README.md").write_text("not a spec")
    (tokens / ".hidden.yaml").write_text("skipped")
    (tokens / ".git").mkdir()
    (tokens / ".git" / "x.yaml").write_text("skipped")
    found = expand([tokens])
    assert [p.relative_to(tokens).as_posix() for p in found.paths] == [
        "a.yml",
        "b.yaml",
        "team/c.yaml",
        "team/deeper/d.yaml",
    ]
    assert found.notes == (f"{tokens}: 4 spec files: {', '.join(str(p) for p in found.paths)}",)


def test_files_keep_their_order_and_one_file_named_twice_is_one_spec(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    first = spec_file(tokens / "z.yaml", "z")
    other = spec_file(tmp_path / "other.yaml", "other")
    missing = tmp_path / "missing.yaml"
    found = expand([first, other, tokens, missing])
    assert found.paths == (first, other, missing)  # missing: the spec check reports it


def test_a_directory_without_specs_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"holds no spec \(no \*\.yaml or \*\.yml file"):
        expand([tmp_path / "empty"])


def test_every_error_of_every_file_is_reported_together(tmp_path: Path) -> None:
    good = spec_file(tmp_path / "good.yaml", "good")
    bad = spec_file(tmp_path / "bad.yaml", "bad")
    bad.write_text(bad.read_text().replace("repos:read", "repos:reed"))
    worse = tmp_path / "worse.yaml"
    worse.write_text("version: 1\nnamespace: [x]\n")
    with pytest.raises(SpecError) as raised:
        load(good, bad, worse, tmp_path / "missing.yaml")
    files = {Path(p.file).name for p in raised.value.problems}
    assert files == {"bad.yaml", "worse.yaml", "missing.yaml"}


# -- namespaces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (A, A, True),
        (A, A + "/", True),
        (A, "HTTPS://PPM.Example.com", True),
        (A, B, False),
        (A, A + "/ppm", False),
        (A, A + ":443", True),
        ("http://ppm.example.com:80", "HTTP://ppm.example.com", True),
        ("https://bücher.example", "https://xn--bcher-kva.example/", True),
    ],
)
def test_server_spellings(one: str, other: str, same: bool) -> None:
    assert (server_identity(one) == server_identity(other)) is same


@pytest.mark.parametrize(
    "spelling",
    ["https://ppm.example.com:443", "https://PPM.example.com:443/", "HTTPS://ppm.example.com"],
)
def test_one_namespace_on_another_spelling_of_one_server_clashes(
    tmp_path: Path, spelling: str
) -> None:
    """--server and PACKAGEMANAGER_ADDRESS take any spelling; plan and apply see one server."""
    specs = load(
        spec_file(tmp_path / "a.yaml", "platform", store="./a"),
        spec_file(tmp_path / "b.yaml", "platform", store="./b"),
    )
    assert namespace_clashes([(specs[0], A), (specs[1], spelling)]) != []
    assert namespace_clashes([(specs[0], A), (specs[1], B)]) == []


def test_one_namespace_on_one_server_twice_names_both_files_and_the_line(tmp_path: Path) -> None:
    first = spec_file(tmp_path / "a.yaml", "platform", server=A)
    second = spec_file(
        tmp_path / "b.yaml", "platform", server="https://PPM.example.com/", store="./other"
    )
    third = spec_file(tmp_path / "c.yaml", "platform", server=B, store="./third")
    specs = load(first, second, third)
    [problem] = namespace_clashes([(s, s.server.url) for s in specs])
    assert problem.file == str(second)
    assert (problem.line, problem.col) == (2, 1)
    message = f"namespace 'platform' on https://PPM.example.com is also managed by {first}"
    assert message in problem.message
    assert "revoke each other's tokens" in problem.message


def test_the_default_namespace_clashes_too(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", None, server=A),
        spec_file(tmp_path / "b.yaml", None, server=A, store="./other"),
    )
    [problem] = namespace_clashes([(s, s.server.url) for s in specs])
    assert problem.line == 0
    assert problem.message.startswith("the default namespace 'default' on ")


def test_offline_a_spec_without_a_server_clashes_with_any(tmp_path: Path) -> None:
    """--server or PACKAGEMANAGER_ADDRESS then applies to every spec: all on one server."""
    specs = load(
        spec_file(tmp_path / "a.yaml", "ns", server=A),
        spec_file(tmp_path / "b.yaml", "ns", store="./other"),
    )
    [problem] = namespace_clashes([(s, s.server.url) for s in specs])
    assert f"ns' on {A} is also managed by" in problem.message


# -- secrets ----------------------------------------------------------------------------------


def test_two_specs_writing_one_secret_of_one_store_clash(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = spec_file(tmp_path / "a.yaml", "a", store=str(store))
    # The same directory, written another way, from another directory.
    second = spec_file(tmp_path / "team" / "b.yaml", "b", store="../store")
    [problem] = secret_clashes(load(first, second), {})
    assert problem.file == str(second)
    assert problem.path == "/tokens/0"
    assert f"also written by token 'reader' of {first}" in problem.message


def test_other_secrets_or_stores_do_not_clash(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", "a", store="./one"),
        spec_file(tmp_path / "b.yaml", "b", store="./two"),
        spec_file(tmp_path / "c.yaml", "c", store="./one", secret="c-reader"),
    )
    assert secret_clashes(specs, {}) == []


def vault_spec(path: Path, namespace: str, stores: str, *tokens: str) -> Path:
    """A spec whose vault stores are `stores` (YAML lines) and whose tokens are `store:secret`."""
    lines = ["version: 1", f"namespace: {namespace}", "stores:", stores]
    lines.append("tokens:")
    for index, token in enumerate(tokens):
        store, _, secret = token.partition(":")
        lines.append(
            f"  - {{name: t{index}, user: ci, description: Reads, scope: repos:read, "
            f"resources: [pypi], store: {store}, secret: {secret}}}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_one_secret_named_through_other_store_settings_in_two_specs_clashes(
    tmp_path: Path,
) -> None:
    """prefix ppm/x/ + y is prefix ppm/ + x/y; an address's case and slash name no other Vault."""
    first = vault_spec(
        tmp_path / "a.yaml",
        "a",
        "  v: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/x/}",
        "v:y",
    )
    second = vault_spec(
        tmp_path / "b.yaml",
        "b",
        '  w: {type: vault, address: "https://Vault.example.com:443/", mount: secret/, '
        "prefix: ppm/}",
        "w:x/y",
    )
    [problem] = secret_clashes(load(first, second), {})
    assert problem.file == str(second)
    assert f"also written by token 't0' of {first}" in problem.message
    assert "Vault https://vault.example.com, secret/ppm/x/y" in problem.message


def test_the_environment_can_make_two_stores_of_one_spec_one(tmp_path: Path) -> None:
    """VAULT_ADDR overrides every vault store's address: two stores that differ only there
    then write one entry. The spec alone does not say so; plan and apply, which read the
    environment, refuse it before any request."""
    stores = (
        "  eu: {type: vault, address: https://vault-eu.example.com, mount: secret, prefix: ppm/}\n"
        "  us: {type: vault, address: https://vault-us.example.com, mount: secret, prefix: ppm/}"
    )
    [spec] = load(vault_spec(tmp_path / "a.yaml", "a", stores, "eu:ppm", "us:ppm"))
    assert secret_clashes([spec], {}) == []
    [problem] = secret_clashes([spec], {"VAULT_ADDR": "https://vault.example.com"})
    assert "token 't1'" in problem.message and "token 't0' of this spec" in problem.message
    with pytest.raises(SpecError, match=r"Vault https://vault\.example\.com, secret/ppm/ppm"):
        refuse_secret_clashes(spec, env(VAULT_ADDR="https://vault.example.com"))
    refuse_secret_clashes(spec, env())


def test_a_token_of_another_spec_may_not_write_where_a_spec_keeps_its_vault_lock(
    tmp_path: Path,
) -> None:
    """Spec `a` keeps its vault lock at the default place, `<prefix>locks/a/`; spec `b`, on the
    same Vault and mount through another store entry, must not write a secret there."""
    vault = "  v: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}"
    locked = vault_spec(tmp_path / "a.yaml", "a", vault, "v:reader")
    locked.write_text(locked.read_text() + "lock: {type: vault, store: v}\n")
    other = "  w: {type: vault, address: 'HTTPS://vault.example.com/', mount: /secret, prefix: ''}"
    writes = vault_spec(tmp_path / "b.yaml", "b", other, "w:ppm/locks/a/x", "w:ppm/locks/b/x")
    [problem] = secret_clashes(load(locked, writes), {})
    assert problem.file == str(writes) and problem.path == "/tokens/0"
    assert f"is where the vault lock of {locked} keeps its record" in problem.message
    assert "the apply lock's default place 'ppm/locks/a/'" in problem.message


def test_a_token_of_another_spec_may_not_write_where_a_spec_reads_its_admin_token(
    tmp_path: Path,
) -> None:
    """Spec `a` rotates the admin token, `b` reads it (server.auth.store) through another
    spelling of the directory: that is what server.auth.store is for. Spec `c`'s reader
    writing there would replace the admin token with a repos:read token on every apply."""
    store = tmp_path / "shared"
    rotates = tmp_path / "a.yaml"
    rotates.write_text(
        "version: 1\nnamespace: a\nserver: {auth: {type: token, token: ppm-admin}}\n"
        f"stores:\n  local: {{type: file, path: {store}}}\n"
        "tokens:\n  - {name: ppm-admin, user: ci, description: Admin, scope: global:admin, "
        "store: local}\n"
    )
    reads = tmp_path / "team" / "b.yaml"
    reads.parent.mkdir()
    reads.write_text(
        "version: 1\nnamespace: b\n"
        "server: {auth: {type: token, store: shared, secret: ppm-admin}}\n"
        "stores:\n  shared: {type: file, path: ../shared/}\n  own: {type: file, path: ../b}\n"
        "tokens:\n  - {name: reader, user: ci, description: Reads, scope: repos:read, "
        "resources: [pypi], store: own}\n"
    )
    writes = spec_file(tmp_path / "c.yaml", "c", store=f"{store}/.", secret="ppm-admin")

    assert secret_clashes(load(rotates, reads), {}) == []
    [problem] = secret_clashes(load(reads, writes), {})
    assert problem.file == str(writes) and problem.path == "/tokens/0"
    assert "token 'reader': secret 'ppm-admin' in store 'local' is where server.auth reads" in (
        problem.message
    )
    assert f"store 'shared', secret 'ppm-admin' of {reads}" in problem.message


# -- admin tokens -----------------------------------------------------------------------------


def test_each_server_with_its_own_token_variable_resolves(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", "a", server=A, store="./a"),
        spec_file(tmp_path / "b.yaml", "b", server=A, store="./b"),
        spec_file(tmp_path / "c.yaml", "c", server=B, token_env="PPM_EU", store="./c"),
    )
    targets = resolve(specs, GlobalOptions(), env(PACKAGEMANAGER_TOKEN="t-a", PPM_EU="t-b"))
    assert [t.server for t in targets] == [A, A, B]
    options, variables = GlobalOptions(), env(PACKAGEMANAGER_TOKEN="t-a", PPM_EU="t-b")
    assert [admin_token(options, variables, s).reveal() for s in specs] == ["t-a", "t-a", "t-b"]


def test_one_token_for_two_servers_is_refused(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", "a", server=A, store="./a"),
        spec_file(tmp_path / "b.yaml", "b", server=B, store="./b"),
    )
    with pytest.raises(UsageError, match="would both authenticate with PACKAGEMANAGER_TOKEN"):
        resolve(specs, GlobalOptions(), env(PACKAGEMANAGER_TOKEN="t"))
    token_file = tmp_path / "admin.token"
    token_file.write_text("t")
    with pytest.raises(UsageError, match="leave out --token-file"):
        resolve(specs, GlobalOptions(token_file=token_file), env())


def test_one_token_for_two_spellings_of_one_server_is_one_server(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", "a", server=A, store="./a"),
        spec_file(tmp_path / "b.yaml", "b", server="https://PPM.example.com:443/", store="./b"),
    )
    targets = resolve(specs, GlobalOptions(), env(PACKAGEMANAGER_TOKEN="t"))
    assert [t.server for t in targets] == [A, A]  # what is requested and shown: canonical


def test_server_override_puts_every_spec_on_one_server(tmp_path: Path) -> None:
    specs = load(
        spec_file(tmp_path / "a.yaml", "same", server=A, store="./a"),
        spec_file(tmp_path / "b.yaml", "same", server=B, store="./b"),
    )
    variables = env(PACKAGEMANAGER_TOKEN="t", PACKAGEMANAGER_ADDRESS="http://127.0.0.1:9")
    with pytest.raises(SpecError, match=r"on http://127\.0\.0\.1:9 is also managed"):
        resolve(specs, GlobalOptions(), variables)


def test_a_named_token_variable_that_is_not_set_does_not_fall_back(tmp_path: Path) -> None:
    """PACKAGEMANAGER_TOKEN may hold another server's token: it is never sent instead."""
    [spec] = load(spec_file(tmp_path / "a.yaml", "a", server=B, token_env="PPM_EU"))
    with pytest.raises(UsageError, match=r"server\.token_env names PPM_EU, which is not set"):
        admin_token(GlobalOptions(), env(PACKAGEMANAGER_TOKEN="other-server"), spec)
    token_file = tmp_path / "admin.token"
    token_file.write_text("from-file")
    assert admin_token(GlobalOptions(token_file=token_file), env(), spec).reveal() == "from-file"
