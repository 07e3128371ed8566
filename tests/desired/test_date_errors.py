"""Rules that read the date: time alone can make a spec that passed break one. `validate` still
refuses them; loading for plan and apply keeps the spec and names the token each one holds, so
the other tokens keep rotating."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.desired import check_bytes, load_spec
from reconciler.desired.model import Spec
from reconciler.errors import SpecError
from reconciler.problems import Problem

from .helpers import NOW, check, errors, no_git, spec_with

# helpers.NOW is 2026-12-01 12:00 UTC.
DEFAULTS = "defaults:\n  rotation: {after: 60d, before_expiry: 14d, grace: 3d}\n"


def load(text: str) -> tuple[Spec | None, list[Problem]]:
    """As load_spec reads a spec, from text."""
    raw = textwrap.dedent(text).encode()
    return check_bytes(
        raw,
        file="tokens.yaml",
        base_dir=Path("/nonexistent"),
        now=NOW,
        git_root_of=no_git,
        date_errors_per_token=True,
    )


@pytest.mark.parametrize(
    ("fields", "top", "dated"),
    [
        pytest.param({"expires": "2026-11-30"}, "", True, id="date-in-the-past"),
        pytest.param({"expires": "2026-12-01"}, "", True, id="date-ends-within-a-day"),
        pytest.param(
            {"expires": "2028-12-31"}, "policy: {max_expires: 365d}\n", True, id="date-over-policy"
        ),
        pytest.param({"expires": "2027-01-10"}, DEFAULTS, True, id="rotation-after-over-date"),
        pytest.param(
            {"expires": "2026-12-15", "rotation": "{before_expiry: 14d}"},
            "",
            True,
            id="before-expiry-within-a-run-of-date",
        ),
        pytest.param({"expires": "30d"}, DEFAULTS, False, id="rotation-after-over-duration"),
        pytest.param({"expires": "12h"}, "", False, id="duration-under-a-day"),
        pytest.param(
            {"expires": "400d"}, "policy: {max_expires: 365d}\n", False, id="duration-over-policy"
        ),
        pytest.param(
            {"expires": "2027-06-01", "rotation": "{after: 30d, grace: 30d}"},
            "",
            False,
            id="grace-not-shorter-than-after",
        ),
        pytest.param({"expires": "never"}, "", False, id="never-not-allowed"),
    ],
)
def test_only_the_rules_that_read_the_date_are_marked(
    fields: dict[str, str], top: str, dated: bool
) -> None:
    spec, problems = check(spec_with(top=top, **fields))
    found = errors(problems)
    assert spec is None and found
    assert [p.clock for p in found] == [dated] * len(found), found


def test_validate_refuses_a_date_error_at_its_place_with_what_to_change() -> None:
    """The issue's case: a date expiry 40 days ahead under the default rotation.after 60d."""
    spec, problems = check(spec_with(top=DEFAULTS, expires="2027-01-10"))
    assert spec is None
    (problem,) = errors(problems)
    assert (problem.path, problem.line, problem.col) == ("/tokens/0/expires", 14, 14)
    assert problem.message.endswith(
        "rotation.after 60d (from defaults) is not shorter than the expiry 2027-01-10: the token "
        "would expire before it is rotated; shorten rotation.after, or give expires a later date "
        "or a duration"
    )


def test_a_date_in_the_past_says_what_to_change() -> None:
    _, problems = check(spec_with(expires="2026-11-30"))
    assert [p.message for p in errors(problems)] == [
        "token 'ds-read' expires 2026-11-30 is in the past: choose a later date, or a duration "
        "such as 90d"
    ]


TWO_TOKENS = f"""\
version: 1
{DEFAULTS}stores:
  vault: {{type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}}
tokens:
  - name: dated
    user: a@example.com
    description: Until the contract ends
    scope: repos:read
    resources: [cran]
    store: vault
    expires: 2027-01-10
  - name: plain
    user: b@example.com
    description: Ninety days at a time
    scope: repos:read
    resources: [cran]
    store: vault
"""


def test_loading_keeps_the_spec_and_names_the_token_a_date_error_holds() -> None:
    spec, problems = load(TWO_TOKENS)
    assert spec is not None
    assert [t.name for t in spec.tokens] == ["dated", "plain"]
    assert [(found.token, found.problem) for found in spec.time_problems] == [
        ("dated", p) for p in errors(problems)
    ]


def test_load_spec_reads_the_file_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(TWO_TOKENS)
    spec = load_spec(path, now=NOW)
    assert [(found.token, found.problem.line) for found in spec.time_problems] == [("dated", 13)]


def test_any_other_error_still_refuses_the_spec_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(TWO_TOKENS.replace("    description: Ninety days at a time\n", ""))
    with pytest.raises(SpecError) as raised:
        load_spec(path, now=NOW)
    assert sorted(p.clock for p in raised.value.problems) == [False, True]


INHERITED = """\
version: 1
defaults:
  expires: 2027-01-10
  rotation: {after: 60d}
  store: vault
stores:
  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}
tokens:
  - {name: takes-both, user: a@example.com, description: a, scope: global:admin}
  - {name: own-expiry, user: b@example.com, description: b, scope: global:admin, expires: 90d}
  - name: own-rotation
    user: c@example.com
    description: c
    scope: global:admin
    rotation: {after: 20d}
  - {name: gone, state: absent}
"""


def test_an_error_reported_once_at_defaults_holds_every_token_that_takes_the_value() -> None:
    _, reported = check(INHERITED)
    assert [p.path for p in errors(reported)] == ["/defaults/rotation/after"]
    spec, _ = load(INHERITED)
    assert spec is not None
    assert [(f.token, f.problem.path) for f in spec.time_problems] == [
        ("takes-both", "/defaults/rotation/after")
    ]
    assert spec.time_problems[0].problem.message.startswith(
        "token 'takes-both': rotation.after 60d (from defaults) is not shorter than the expiry "
        "2027-01-10"
    )


def test_a_date_error_no_token_takes_holds_none_but_is_kept() -> None:
    text = """\
version: 1
defaults: {expires: 2026-11-30, store: vault}
stores:
  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}
tokens:
  - {name: own-expiry, user: b@example.com, description: b, scope: global:admin, expires: 90d}
"""
    spec, problems = load(text)
    assert spec is not None
    (problem,) = errors(problems)
    assert problem.path == "/defaults/expires"
    assert [(f.token, f.problem) for f in spec.time_problems] == [(None, problem)]
