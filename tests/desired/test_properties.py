"""Whatever bytes arrive, the checker answers with problems, never with a crash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired import check_bytes, load_spec
from reconciler.desired.model import Spec
from reconciler.desired.rules import GitRootFinder, find_git_root
from reconciler.errors import ReconcilerError
from reconciler.problems import Problem

from .helpers import NOW, no_git

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FRAGMENTS = [
    "version: 1\n",
    "version: 2\n",
    "namespace: data-platform\n",
    "tokens:\n",
    "tokens: []\n",
    "  - name: ds-read\n",
    "  - {name: x, state: absent, store: v}\n",
    "    user: yes\n",
    "    user: analyst@example.com\n",
    "    description: Read access\n",
    "    scope: repos:read\n",
    "    scope: global:admin\n",
    "    resources: [cran, pypi]\n",
    '    resources: ["*"]\n',
    "    resources: [*]\n",
    "    expires: 2020-01-31\n",
    "    expires: never\n",
    "    expires: 0700\n",
    "    rotation: {after: 60d, grace: 3d}\n",
    "    store: vault\n",
    "    secret: ds-read\n",
    "    adopt: 6f1c\n",
    "stores:\n",
    "  vault: {type: vault, address: https://v, mount: secret, prefix: ppm/}\n",
    "  ci: {type: github, repository: acme/pipelines}\n",
    "  f: {type: file, path: ./x}\n",
    "  v: &v {type: command, command: [op]}\n",
    "  w: *v\n",
    "  <<: *v\n",
    "defaults:\n",
    "  store: vault\n",
    "  expires: 400d\n",
    "policy: {max_expires: 365d, allow_never_expires: on}\n",
    "\t- tab\n",
    "? [a]\n: b\n",
    "---\n",
    "a: &a [*a]\n",
    "- item\n",
    "{\n",
    "]\n",
    "'unterminated\n",
    "!!binary x: y\n",
    "key: !!timestamp 2027-02-30\n",
    "~\n",
    "\n",
]


def assert_answers(raw: bytes, git_root_of: GitRootFinder = no_git) -> None:
    """check_bytes answers with problems; it does not even raise errors of its own."""
    spec, problems = check_bytes(
        raw, file="t.yaml", base_dir=Path("/nonexistent"), now=NOW, git_root_of=git_root_of
    )
    assert all(isinstance(problem, Problem) for problem in problems)
    assert (spec is None) == any(p.severity == "error" for p in problems)
    assert spec is None or isinstance(spec, Spec)
    assert problems == sorted(problems)


@FAST
@given(st.text())
def test_any_text(text: str) -> None:
    assert_answers(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary())
def test_any_bytes(raw: bytes) -> None:
    assert_answers(raw)


@FAST
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14))
def test_yaml_ish_fragments(fragments: list[str]) -> None:
    # The real file-system probe here: `/nonexistent/x` is in no work tree, and must not crash.
    assert_answers("".join(fragments).encode(), find_git_root)


@FAST
@given(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=10),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
)
def test_fragments_with_noise(fragments: list[str], noise: str) -> None:
    assert_answers(("".join(fragments) + noise).encode("utf-8", "surrogatepass"))


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200))
def test_load_spec_raises_only_spec_errors(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(raw)
    try:
        load_spec(path, now=NOW)
    except ReconcilerError as error:
        assert error.exit_code == 3
