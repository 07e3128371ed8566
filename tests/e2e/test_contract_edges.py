"""Edges of the CLI contract a user meets first: flags where the contract lists them, and what
`plan --out` leaves behind when the plan cannot be applied."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Cli, write_spec

UNKNOWN_REPOSITORY = """\
- name: reader
  user: analyst@example.com
  description: Reads a repository the server does not have
  scope: repos:read
  resources: [no-such-repo]
"""

FINE = """\
- name: reader
  user: analyst@example.com
  description: Reads PyPI
  scope: repos:read
  resources: [pypi]
"""


def test_a_plan_with_errors_is_not_saved(cli: Cli) -> None:
    write_spec(cli.workdir / "tokens.yaml", UNKNOWN_REPOSITORY)
    run = cli("plan", "--out", "plan.json", "--detailed-exitcode")
    assert run.code == 1
    assert "unknown repository 'no-such-repo'" in run.stdout
    assert not (cli.workdir / "plan.json").exists()
    assert "Did not save the plan to plan.json: it has errors" in run.stderr
    assert "apply it with" not in run.stderr


def test_a_plan_of_several_specs_with_errors_is_not_saved(cli: Cli) -> None:
    for team, tokens in (("a", UNKNOWN_REPOSITORY), ("b", FINE)):
        (cli.workdir / "tokens" / team).mkdir(parents=True)  # each its own store directory
        write_spec(cli.workdir / "tokens" / team / "tokens.yaml", tokens, namespace=team)
    run = cli("plan", "-f", "tokens", "--out", "plan.json")
    assert run.code == 1
    assert not (cli.workdir / "plan.json").exists()
    assert "Did not save the plan to plan.json: it has errors" in run.stderr


def test_validate_takes_the_global_verbose_flag_after_its_name(cli: Cli) -> None:
    path: Path = write_spec(cli.workdir / "tokens.yaml", FINE)
    assert cli("validate", "-v", "-f", str(path)).code == 0
    assert cli("validate", "--verbose").code == 0
    path.write_text(path.read_text() + "  - name: reader\n", encoding="utf-8")
    bad = cli("validate", "-v")
    assert bad.code == 3
    assert "tokens.yaml:" in bad.stderr
