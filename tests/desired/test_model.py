"""The typed Spec built from a valid file: defaults applied, values normalised."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest

from reconciler.desired import check_file, load_spec
from reconciler.desired.model import (
    Driver,
    OnDelete,
    Rotation,
    Scope,
    SecretFormat,
    TokenState,
    UnmanagedPolicy,
)
from reconciler.durations import Expiry
from reconciler.errors import ReconcilerError, SpecError

from .helpers import NOW, check, spec_with


def test_built_in_defaults() -> None:
    spec, problems = check(spec_with(resources="[pypi, cran]"))
    assert problems == [] and spec is not None
    assert spec.version == 1
    assert spec.namespace == "default"
    assert spec.server.url is None and spec.server.driver is Driver.HTTP
    assert spec.policy.max_expires is None
    assert spec.policy.allow_never_expires is False
    assert spec.policy.unmanaged is UnmanagedPolicy.REPORT
    assert spec.policy.protect == frozenset()
    token = spec.tokens[0]
    assert token.resources == ("cran", "pypi")  # sorted
    assert token.expires == Expiry(lifetime=timedelta(days=90))
    assert token.rotation == Rotation(after=None, before_expiry=None, grace=timedelta(0))
    assert token.secret == "ds-read"
    assert token.format is SecretFormat.RAW
    assert token.on_delete is OnDelete.KEEP
    assert token.state is TokenState.PRESENT
    assert token.adopt is None
    assert token.line == 6  # the `- name:` line


def test_defaults_block_then_token_fields_win_key_by_key() -> None:
    top = (
        "defaults:\n"
        "  expires: 30d\n"
        "  rotation: {after: 20d, before_expiry: 5d, grace: 1d}\n"
        "  store: ci\n"
        "  format: netrc\n"
        "  on_delete: delete\n"
    )
    spec, problems = check(
        spec_with(top=top, store=None, secret="PPM_READ", rotation="{grace: 2d}", format="json")
    )
    assert problems == [] and spec is not None
    token = spec.tokens[0]
    assert token.expires == Expiry(lifetime=timedelta(days=30))
    assert token.rotation == Rotation(
        after=timedelta(days=20), before_expiry=timedelta(days=5), grace=timedelta(days=2)
    )
    assert (token.store, token.secret, token.format, token.on_delete) == (
        "ci",
        "PPM_READ",
        SecretFormat.JSON,
        OnDelete.DELETE,
    )


def test_none_switches_off_an_inherited_rotation_reason() -> None:
    top = "defaults:\n  rotation: {after: 60d, before_expiry: 14d}\n"
    spec, _ = check(spec_with(top=top, rotation="{after: none}"))
    assert spec is not None
    assert spec.tokens[0].rotation == Rotation(after=None, before_expiry=timedelta(days=14))


def test_expiry_forms() -> None:
    top = "policy: {allow_never_expires: true}\n"
    for written, expected in [
        ("36h", Expiry(lifetime=timedelta(hours=36))),
        ("2027-01-31", Expiry(on=date(2027, 1, 31))),
        ("'2027-01-31'", Expiry(on=date(2027, 1, 31))),
        ("never", Expiry()),
    ]:
        spec, problems = check(spec_with(top=top, expires=written))
        assert problems == [] and spec is not None, written
        assert spec.tokens[0].expires == expected


def test_scopes_without_resources_have_none_and_star_stays_alone() -> None:
    spec, _ = check(spec_with(scope="global:admin", resources=None))
    assert spec is not None and spec.tokens[0].resources == ()
    spec, _ = check(spec_with(resources='["*"]'))
    assert spec is not None and spec.tokens[0].resources == ("*",)


def test_absent_tokens_get_harmless_placeholders() -> None:
    text = (
        "version: 1\nstores:\n  v: {type: file, path: /srv/x}\ntokens:\n"
        "  - {name: gone, state: absent, store: v, secret: old/gone}\n"
        "  - {name: admin, state: absent, store: v, scope: global:admin}\n"
    )
    spec, problems = check(text)
    assert problems == [] and spec is not None
    gone, admin = spec.tokens
    assert (gone.state, gone.user, gone.description) == (TokenState.ABSENT, "", "")
    assert (gone.scope, gone.resources, gone.secret) == (Scope.REPOS_READ, ("*",), "old/gone")
    assert (admin.scope, admin.resources, admin.secret) == (Scope.GLOBAL_ADMIN, (), "admin")


def test_server_stores_and_policy() -> None:
    top = (
        "namespace: data-platform\n"
        "server: {url: 'https://ppm.example.com/', driver: rspm}\n"
        "policy:\n"
        "  max_expires: 180d\n"
        "  unmanaged: revoke\n"
        "  protect: [6F1C2A4E-0B7D-4C8E-9A3F-1D2E3F4A5B6C]\n"
    )
    stores = "stores:\n  vault: {type: vault, address: https://v, mount: m, prefix: p/}\n"
    stores += "  op: {type: command, command: [op, edit, '{secret}'], timeout: 5}\n"
    spec, problems = check(
        spec_with(top=top, stores=stores, adopt="ABCDEF01-2345-6789-ABCD-EF0123456789")
    )
    assert problems == [] and spec is not None
    assert spec.namespace == "data-platform"
    assert spec.server.url == "https://ppm.example.com"
    assert spec.server.driver is Driver.RSPM
    assert spec.policy.max_expires == timedelta(days=180)
    assert spec.policy.unmanaged is UnmanagedPolicy.REVOKE
    assert spec.policy.protect == frozenset({"6f1c2a4e-0b7d-4c8e-9a3f-1d2e3f4a5b6c"})
    assert spec.tokens[0].adopt == "abcdef01-2345-6789-abcd-ef0123456789"
    op = spec.stores["op"]
    assert (op.name, op.type) == ("op", "command")
    assert dict(op.options) == {"command": ("op", "edit", "{secret}"), "timeout": 5}
    with pytest.raises(TypeError):
        op.options["timeout"] = 6  # type: ignore[index]
    assert dict(spec.stores["vault"].options) == {
        "address": "https://v",
        "mount": "m",
        "prefix": "p/",
    }


def test_file_store_path_is_kept_as_written_for_the_store_to_resolve() -> None:
    stores = "stores:\n  local: {type: file, path: ~/.local/share/ppm-tokens}\n"
    spec, _ = check(spec_with(stores=stores, store="local"))
    assert spec is not None
    assert spec.stores["local"].options["path"] == "~/.local/share/ppm-tokens"


def test_load_spec_returns_the_spec_and_records_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    raw = spec_with(scope="metadata:read", resources=None).encode()
    path.write_bytes(raw)
    spec = load_spec(path, now=NOW)  # a warning does not stop it
    assert spec.path == str(path)
    assert spec.sha256 == hashlib.sha256(raw).hexdigest()
    assert spec.token("ds-read") is not None and spec.token("nope") is None


def test_load_spec_raises_spec_error_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(spec_with(scope="metadata:read", user="a@@b", format="yaml", resources=None))
    with pytest.raises(SpecError) as raised:
        load_spec(path, now=NOW)
    assert raised.value.exit_code == 3
    assert [p.path for p in raised.value.problems] == ["/tokens/0/user", "/tokens/0/format"]
    assert "(and 1 more)" in str(raised.value)
    _, problems = check_file(path, now=NOW)
    assert len(problems) == 3  # check_file keeps the warning


def test_load_spec_of_a_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError) as raised:
        load_spec(tmp_path / "nope.yaml", now=NOW)
    assert isinstance(raised.value, SpecError)
    assert "nope.yaml" in str(raised.value)


def test_whole_numbers_written_with_a_point_mean_the_integer() -> None:
    """The schema lets `version: 1.0` through (1.0 is the integer 1 to JSON Schema); building
    the spec must not crash on it, and `max_revokes: 5.0` must not fall back to the default."""
    example = Path(__file__).resolve().parents[1] / "examples" / "valid"
    spec = load_spec(example / "whole_numbers_with_a_point.yaml", now=NOW)
    assert spec.version == 1
    assert spec.policy.max_revokes == 5 and isinstance(spec.policy.max_revokes, int)
    window = spec.stores["aws"].options["recovery_window_days"]
    assert window == 8 and isinstance(window, int)
