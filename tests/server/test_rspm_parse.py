"""The tolerant reader of `rspm list tokens --output-format json`: every shape in rspm_lists/
reads to the same tokens, and what it cannot read is named, never guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.server.model import TokenStatus
from reconciler.server.rspm_parse import (
    FIELDS,
    Field,
    RspmOutputError,
    describe_report,
    parse_token_list,
)

LISTS = Path(__file__).parent / "rspm_lists"
SHAPES = sorted(LISTS.iterdir())
NOW = datetime(2026, 2, 1, tzinfo=UTC)
FIRST = "0b6f6c3e-2a47-4c57-9a0e-1d1b2f6c0001"
SECOND = "0b6f6c3e-2a47-4c57-9a0e-1d1b2f6c0002"
REPO_IDS = ("7d1c0000-0000-4000-8000-000000000001", "7d1c0000-0000-4000-8000-000000000002")


@pytest.mark.parametrize("path", SHAPES, ids=[p.name for p in SHAPES])
def test_every_shape_reads_to_the_same_tokens(path: Path) -> None:
    tokens, report = parse_token_list(path.read_text())
    assert [t.guid for t in tokens] == [FIRST, SECOND]
    reader, uploader = tokens
    assert reader.description == "CI reader [ppm-tokens:team/ci-read]"
    assert reader.user == "ci@example.com"
    assert reader.scope == "repos:read"
    assert reader.resources == ("cran", "pypi")
    assert reader.resource_ids in (REPO_IDS, ())  # a shape without ids cannot tell
    assert reader.created == datetime(2026, 1, 10, 8, tzinfo=UTC)
    assert reader.expires == datetime(2026, 4, 10, 8, tzinfo=UTC)
    assert reader.status(NOW) is TokenStatus.ACTIVE
    assert uploader.scope == "sources:write"
    assert uploader.resources == ("*",)
    assert uploader.resource_ids == ()
    assert uploader.expires is None
    assert uploader.status(NOW) is TokenStatus.REVOKED
    assert abs((uploader.created - datetime(2025, 5, 31, 22, tzinfo=UTC)).total_seconds()) < 1
    assert report.count == 2
    assert report.found[Field.GUID] is not None
    assert report.found[Field.CREATED] is not None


def test_report_names_the_keys_the_server_used() -> None:
    _, report = parse_token_list((LISTS / "camel.json").read_text())
    assert report.found[Field.GUID] == "id"
    assert report.found[Field.CREATED] == "createdAt"
    assert report.found[Field.REVOKED] == "revokedAt"
    assert report.unknown == ("lastUsedAt",)
    line = describe_report(report)
    assert "guid (as id)" in line
    assert "not read: lastUsedAt" in line


def test_go_zero_time_means_never_and_email_may_be_empty() -> None:
    tokens, _ = parse_token_list((LISTS / "go.json").read_text())
    assert tokens[1].expires is None
    assert tokens[0].email is None
    assert tokens[1].email == "ops@example.com"


@pytest.mark.parametrize("text", ["", "null", "[]", '{"tokens": []}', "  \n"])
def test_empty_listings(text: str) -> None:
    tokens, report = parse_token_list(text)
    assert tokens == []
    assert report.count == 0


def test_a_single_object_is_one_token() -> None:
    item = {"guid": FIRST, "description": "", "scope": "global:admin", "created": 1768032000}
    tokens, _ = parse_token_list(json.dumps(item))
    assert [t.guid for t in tokens] == [FIRST]


def _one(**fields: object) -> str:
    base: dict[str, object] = {
        "guid": FIRST,
        "description": "secret-looking words",
        "scope": "repos:read",
        "created": "2026-01-10T08:00:00Z",
    }
    base.update(fields)
    return json.dumps([{k: v for k, v in base.items() if v is not None}])


@pytest.mark.parametrize(
    ("missing", "field"),
    [("guid", Field.GUID), ("created", Field.CREATED), ("scope", Field.SCOPE)],
)
def test_a_missing_required_field_is_named_with_what_was_tried(missing: str, field: Field) -> None:
    text = json.loads(_one())
    del text[0][missing]
    text[0]["weird\x1bkey"] = "v"
    with pytest.raises(RspmOutputError) as caught:
        parse_token_list(json.dumps(text))
    message = str(caught.value)
    assert f"token #1 has no {field.value} field" in message
    assert ", ".join(FIELDS[field]) in message
    assert "weird\\x1bkey" in message  # the keys it has, escaped
    assert "secret-looking words" not in message  # never a value
    assert "rspm_parse.py" in message


def test_no_description_anywhere_is_refused_rather_than_read_as_unmanaged() -> None:
    text = json.loads(_one())
    del text[0]["description"]
    with pytest.raises(RspmOutputError, match="no token has a description field"):
        parse_token_list(json.dumps(text))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("this is a table, not json", "not JSON"),
        ('{"something": 1}', "keys: something"),
        ('"a string"', "got str"),
        ("[1, 2]", "entry #1 is not an object"),
        (_one(created="yesterday"), "created is not a time"),
        (_one(expires=[1]), "expires is not a time"),
    ],
)
def test_unreadable_output_says_why(text: str, match: str) -> None:
    with pytest.raises(RspmOutputError, match=match):
        parse_token_list(text)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"revoked": True}, TokenStatus.REVOKED),
        ({"is_revoked": False}, TokenStatus.ACTIVE),
        ({"revoked": ""}, TokenStatus.ACTIVE),
        ({"state": "Revoked"}, TokenStatus.REVOKED),
        ({"expires": "2026-01-20T00:00:00Z"}, TokenStatus.EXPIRED),
        ({"expires": "never"}, TokenStatus.ACTIVE),
    ],
)
def test_revocation_and_expiry_variants(fields: dict[str, object], status: TokenStatus) -> None:
    tokens, _ = parse_token_list(_one(**fields))
    assert tokens[0].status(NOW) is status


def test_scope_variants() -> None:
    assert parse_token_list(_one(scope=None, scopes="sources:admin"))[0][0].scope == (
        "sources:admin"
    )
    domain = [{"domain": "blocklist", "access": "read"}]
    assert parse_token_list(_one(scope=None, permissions=domain))[0][0].scope == "blocklist:read"
    # Several scopes are kept visible (they match no declared scope), never reduced to one.
    several = parse_token_list(_one(scope=["repos:read", "sources:write"]))[0][0]
    assert several.scope == "repos:read,sources:write"


def test_what_the_cli_sent_is_named_in_excerpts() -> None:
    """Keys the CLI sent are named in errors and in doctor's report: each an excerpt, at most
    a dozen, whatever the output holds; JSON nested past the parser is an error, not a crash."""
    item = {f"{i}-{'k' * 5000}\x1b[8m": 1 for i in range(50)}
    with pytest.raises(RspmOutputError) as raised:
        parse_token_list(json.dumps([item]))
    message = str(raised.value)
    assert "k" * 41 not in message and "\x1b" not in message
    assert "and 38 more" in message and len(message) < 2000
    listed = [{"guid": "g", "created": "2026-01-01T00:00:00Z", "scope": "repos:read",
               "description": "d", f"last{'_' * 5000}used\x1b": 1}]  # fmt: skip
    _, report = parse_token_list(json.dumps(listed))
    shown = describe_report(report)
    assert "_" * 41 not in shown and "\x1b" not in shown
    with pytest.raises(RspmOutputError, match="nested too deeply"):
        parse_token_list("[" * 100_000 + "]" * 100_000)
