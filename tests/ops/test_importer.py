"""Spec generation for `import`: names, expiries, escaping, and what becomes a comment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.desired import check_bytes
from reconciler.ops.importer import (
    ImportSettings,
    generate,
    lifetime_text,
    scalar,
    slug,
    unique_names,
)
from reconciler.ops.view import build_views
from reconciler.server.model import Resource
from tests.ops.helpers import NOW, live

SETTINGS = ImportSettings(namespace="imported", server="https://ppm.example.com", store_path="s")
RESOURCES = [Resource("id-pypi", "pypi", "repo", "python")]


def test_slug() -> None:
    assert slug("Token für Zürich / Team 2") == "token-fur-zurich-team-2"
    assert slug("  --CI__deploy..  ") == "ci__deploy"
    assert slug("日本語") == ""
    assert len(slug("x" * 200)) == 63


def test_unique_names_stay_valid() -> None:
    assert unique_names(["ci", "ci", "ci"]) == ["ci", "ci-2", "ci-3"]
    long = "y" * 63
    names = unique_names([long, long])
    assert names[1].endswith("-2") and len(names[1]) == 63


def test_lifetime_text() -> None:
    start = NOW
    assert lifetime_text(start, start + timedelta(days=90)) == "90d"
    assert lifetime_text(start, start + timedelta(hours=36)) == "36h"
    assert lifetime_text(start, start + timedelta(days=3, minutes=7, seconds=20)) == "4327m"
    assert lifetime_text(start, start + timedelta(days=5000, minutes=1)) is None
    assert lifetime_text(start, start) is None


@given(st.text())
def test_scalar_round_trips_any_text(text: str) -> None:
    line = scalar(text)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u202e" not in line
    assert yaml.safe_load(f"key: {line}")["key"] == text


def test_generate_adopts_and_comments() -> None:
    tokens = [
        live("g-1", "CI deploy", age=timedelta(days=3)),
        live("g-2", "CI deploy", age=timedelta(days=2), lifetime=None),
        live("g-3", "orphan", resource_ids=("id-old",)),
        live("g-4", "odd scope", scope="future:scope", resources=(), resource_ids=()),
        live("g-5", "ours [ppm-tokens:imported/kept]"),
        live("g-6", "theirs [ppm-tokens:other/x]"),
        live("g-admin", "the admin", scope="global:admin", resources=(), resource_ids=()),
    ]
    views = build_views(tokens, [], NOW, self_guid="g-admin")
    text, guids = generate(views, SETTINGS, now=NOW, resources=RESOURCES)
    document = yaml.safe_load(text)
    entries = {e["name"]: e for e in document["tokens"]}
    assert set(entries) == {"ci-deploy", "ci-deploy-2", "kept"}
    assert entries["ci-deploy"]["adopt"] == "g-1"
    assert entries["ci-deploy-2"]["expires"] == "never"
    assert "adopt" not in entries["kept"]  # it carries this namespace's marker already
    assert document["policy"]["allow_never_expires"] is True
    assert list(guids) == ["g-1", "g-2", "g-5"]
    assert "not imported: g-3 (orphan)" in text
    assert "not imported: g-4 (odd scope): scope 'future:scope'" in text
    assert "not imported: g-6" in text and "another namespace" in text
    assert "not imported: g-admin" in text
    excluded_text, excluded_guids = generate(
        views, SETTINGS, now=NOW, resources=RESOURCES, excluded={"g-1": "the spec cannot hold it"}
    )
    assert "g-1" not in excluded_guids and "not imported: g-1" in excluded_text


def test_names_yaml_would_misread_are_quoted() -> None:
    """A description like `123`, `yes` or `null` gives a name YAML reads as a number, a boolean
    or nothing unless it is quoted: the token is adopted under that name, not left out."""
    descriptions = ["123", "yes", "null", "true", "1e3", "0x1f", "on", "no", "1.5", "plain"]
    tokens = [live(f"{i:08x}-0000-4000-8000-000000000000", t) for i, t in enumerate(descriptions)]
    views = build_views(tokens, [], NOW)
    text, guids = generate(views, SETTINGS, now=NOW, resources=RESOURCES)
    assert len(guids) == len(descriptions)
    spec, problems = check_bytes(
        text.encode(),
        file="tokens.yaml",
        base_dir=Path("/srv/specs"),
        now=NOW,
        git_root_of=lambda p: None,
    )
    assert spec is not None, problems
    assert sorted(t.name for t in spec.tokens) == sorted(descriptions)
    assert "  - name: plain\n" in text  # ordinary names stay unquoted


def test_an_older_active_generation_is_named_as_one_import_cannot_place() -> None:
    """After a write cut in two, the store may hand out the older of two active generations:
    import reads no store, so it keeps the newest and says it cannot tell, never "retiring"."""
    tokens = [
        live("g-old", "reader [ppm-tokens:imported/reader]", age=timedelta(days=3)),
        live("g-new", "reader [ppm-tokens:imported/reader]", age=timedelta(hours=1)),
    ]
    views = build_views(tokens, [], NOW, self_guid=None)
    text, guids = generate(views, SETTINGS, now=NOW, resources=RESOURCES)
    assert guids == ("g-new",)
    assert "not imported: g-old" in text
    assert "the newest, g-new, is imported" in text and "import reads no store" in text
    assert "retiring" not in text
