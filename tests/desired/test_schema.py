"""The JSON Schema file itself, and how its errors reach people."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.desired.schema import tokens_schema

from .helpers import REPO_ROOT, check, errors, messages, spec_with


def properties(node: object, where: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property subschema in the schema, with a dotted name."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if":
                continue  # conditions, not documented properties
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield f"{where}.{name}", prop
                    yield from properties(prop, f"{where}.{name}")
            else:
                yield from properties(value, f"{where}/{key}" if key == "$defs" else where)
    elif isinstance(node, list):
        for item in node:
            yield from properties(item, where)


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = tokens_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_top_level_schemas_link_serves_the_same_file() -> None:
    published = json.loads((REPO_ROOT / "schemas" / "tokens.schema.json").read_text())
    assert published == tokens_schema()


def test_every_property_has_a_description() -> None:
    found = list(properties(tokens_schema()))
    assert len(found) > 50
    missing = [name for name, prop in found if not prop.get("description")]
    assert missing == []


def test_objects_with_fixed_keys_refuse_unknown_ones() -> None:
    def objects(node: object) -> Iterator[Mapping[str, Any]]:
        if isinstance(node, dict):
            if "properties" in node and node.get("type") == "object":
                yield node
            for key, value in node.items():
                if key != "if":
                    yield from objects(value)
        elif isinstance(node, list):
            for item in node:
                yield from objects(item)

    # `store` only dispatches on `type`; each per-type schema closes the object.
    open_ones = [
        o.get("description") for o in objects(tokens_schema()) if "additionalProperties" not in o
    ]
    assert open_ones == ["A secret store, by type."]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("{type: file}", "store 'x' is missing required key 'path'"),
        ("{type: file, path: ~bob/x}", "only ~ or ~/ is understood"),
        ("{type: command, command: []}", "store 'x' command must not be empty"),
        ("{type: command, command: [op], timeout: 0}", "store 'x' timeout"),
        ("{type: vault, address: https://v, mount: secret}", "missing required key 'prefix'"),
        ("{type: aws, prefix: ppm/}", "missing required key 'region'"),
        ("{type: aws, region: r, prefix: p, bucket: b}", "unknown key 'bucket' in store 'x'"),
        ("{type: github}", "give exactly one of `repository` or `organization`"),
        ("{type: github, repository: acme}", "use OWNER/REPO"),
        ("{type: github, organization: acme, environment: prod}", "`environment` goes with"),
        ("{type: github, repository: a/b, visibility: all}", "`visibility` with `organization`"),
        (
            "{type: vault, address: https://v, mount: m, prefix: p, auth_method: ldap}",
            "'ldap' is not one of",
        ),
        ("{path: /tmp/x}", "store 'x' is missing required key 'type'"),
        ("[file]", "store 'x' must be a mapping"),
    ],
)
def test_store_entries_are_checked_by_type(entry: str, fragment: str) -> None:
    _, problems = check(f"version: 1\nstores:\n  x: {entry}\ntokens: []\n")
    assert any(fragment in message for message in messages(errors(problems))), problems


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"format": "yaml"}, "format: 'yaml' is not one of: raw, json, netrc"),
        ({"resources": "[cran, cran]"}, "lists the same entry twice"),
        ({"resources": "[]"}, "resources must not be empty"),
        ({"description": '""'}, "description must not be empty"),
        ({"rotation": "{after: 30 days}"}, "or none"),
        ({"rotation": "{every: 30d}"}, "unknown key 'every' in token 'ds-read' rotation"),
        ({"secret": "a/../b"}, "must not have empty, '.' or '..' path segments"),
        ({"secret": "/etc/x"}, "secret names use letters"),
        ({"expires": "2027-01-31T10:00:00Z"}, "use a duration like 90d"),
        ({"name": "x" * 64}, "at most 63 characters"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_token_fields_are_checked(fields: dict[str, str], fragment: str) -> None:
    _, problems = check(spec_with(**fields))
    assert any(fragment in message for message in messages(errors(problems))), problems


def test_errors_point_at_the_offending_node() -> None:
    text = spec_with(format="yaml", scope="repo:read")
    _, problems = check(text)
    lines = text.splitlines()
    for problem in errors(problems):
        assert lines[problem.line - 1][problem.col - 1 :].startswith(("yaml", "repo:read"))
    assert {p.path for p in errors(problems)} == {"/tokens/0/format", "/tokens/0/scope"}


def test_a_misspelt_required_key_is_reported_at_the_misspelling() -> None:
    text = spec_with(user=None, usr="analyst@example.com")
    _, problems = check(text)
    assert messages(errors(problems)) == [
        "token 'ds-read' is missing required key 'user' (is 'usr' a misspelling of it?)",
        "unknown key 'usr' in token 'ds-read': did you mean 'user'?",
    ]
    assert {p.line for p in problems} == {
        text.splitlines().index("    usr: analyst@example.com") + 1
    }


@pytest.mark.parametrize(
    ("missing", "lookalike"),
    [
        pytest.param("user", {"secret": "ds-read"}, id="secret-resembles-user"),
        pytest.param("scope", {}, id="store-resembles-scope"),
        pytest.param("description", {"descriptions": "x"}, id="a-real-misspelling"),
    ],
)
def test_a_missing_required_key_is_always_an_error(missing: str, lookalike: dict[str, str]) -> None:
    """A key that merely resembles the missing one (`secret` and `user`, `store` and `scope`)
    never makes the missing key go unreported."""
    spec, problems = check(spec_with(**{missing: None}, **lookalike))
    assert spec is None
    assert any(
        f"token 'ds-read' is missing required key {missing!r}" in message
        for message in messages(errors(problems))
    ), problems


def test_a_date_is_accepted_only_where_an_expiry_goes() -> None:
    spec, problems = check(spec_with(expires="2027-01-31"))
    assert problems == [] and spec is not None
    _, problems = check(spec_with(description="2027-01-31"))
    assert messages(problems) == [
        "token 'ds-read' description must be text, not a date "
        '(YAML reads `2027-01-31` as a date: quote it: "2027-01-31")'
    ]


def test_all_schema_errors_are_reported_in_one_run() -> None:
    text = spec_with(format="yaml", on_delete="later", state="gone", adopt="x")
    _, problems = check(text + "policy: {unmanaged: delete}\n")
    assert len(errors(problems)) == 5


def test_store_names_are_checked_at_the_key() -> None:
    _, problems = check(
        "version: 1\nstores:\n  My Vault: {type: file, path: /srv/ppm-tokens}\ntokens: []\n"
    )
    assert [(p.line, p.col, p.message) for p in problems] == [
        (
            3,
            3,
            "stores: key 'My Vault' is not valid: store names use a-z, 0-9, '.', '_' and '-', "
            "start with a letter or digit, and have at most 63 characters",
        )
    ]


def test_a_single_resource_written_as_text_says_how_to_make_a_list() -> None:
    _, problems = check(spec_with(resources="pypi"))
    assert messages(errors(problems)) == [
        "token 'ds-read' resources: 'pypi' is not valid: resources takes a list: write it as a "
        'list: ["pypi"] (text alone is allowed only as "*", for all)'
    ]


@pytest.mark.parametrize("written", ['"*"', "'*'", '["*"]'])
def test_a_quoted_star_alone_means_all_resources(written: str) -> None:
    # The bare-* hint says quote it; doing just that is enough.
    spec, problems = check(spec_with(resources=written))
    assert problems == [] and spec is not None
    assert spec.tokens[0].resources == ("*",)
