"""A pull request controls the files a spec check reads: it cannot make one print a file of
the runner's, hang it, or read without bound. A spec (or an entry under `-f DIR`) that a link
leads out of its place, or that is not a regular file, is refused before it is read; what
messages quote of a file is an excerpt."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.desired import check_file
from reconciler.desired.loader import MAX_BYTES
from reconciler.inputs import Unreadable, read_bounded
from tests.hostile import unsafe_left

from .helpers import NOW, check, spec_with

# What a runner keeps beside a checkout: a credential a spec must never print.
CREDENTIAL = "https://x-access-token:ghs_0123456789abcdefABCDEF@github.com"
VALID = spec_with(stores="stores:\n  vault: {type: file, path: /nonexistent/ppm}\n")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout (the current directory) beside a home directory holding a credential."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".git-credentials").write_text(CREDENTIAL + "\n")
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "config").write_text(f"url: {CREDENTIAL}\n")
    (checkout / "examples").mkdir()
    (checkout / "examples" / "tokens.yaml").write_text(VALID)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("HOME", str(home))
    return checkout


def _only_problem(path: Path) -> str:
    spec, problems = check_file(path, now=NOW)
    assert spec is None and len(problems) == 1, problems
    assert CREDENTIAL[:12] not in problems[0].render()
    return problems[0].message


@pytest.mark.parametrize(
    "target, fragment",
    [
        ("../home/.git-credentials", "a symbolic link leads outside the current directory"),
        ("/dev/zero", "a symbolic link leads outside the current directory"),
        (".git/config", "a symbolic link leads into a hidden file or directory"),
    ],
    ids=["credentials-file", "dev-zero", "git-config"],
)
def test_a_spec_linked_out_of_the_checkout_is_refused_unread(
    runner: Path, target: str, fragment: str
) -> None:
    (runner / "tokens.yaml").symlink_to(target)
    started = time.perf_counter()
    message = _only_problem(Path("tokens.yaml"))
    assert fragment in message
    assert "name the file itself" in message
    assert time.perf_counter() - started < 1.0


def test_dot_dot_after_a_link_is_where_the_system_takes_it(runner: Path) -> None:
    """`home/../tokens.yaml` through a link `home` to a directory outside reads as inside the
    checkout, but opens the file beside that directory: that is the file checked."""
    (runner.parent / "tokens.yaml").write_text(CREDENTIAL + "\n")
    (runner / "home").symlink_to(runner.parent / "home")
    assert "leads outside the current directory" in _only_problem(Path("home/../tokens.yaml"))


def test_a_link_within_the_checkout_is_followed(runner: Path) -> None:
    (runner / "tokens.yaml").symlink_to("examples/tokens.yaml")
    (runner / "deploy").mkdir()
    (runner / "deploy" / "tokens.yaml").symlink_to("../examples/tokens.yaml")
    for named in (Path("tokens.yaml"), Path("deploy/tokens.yaml"), runner / "tokens.yaml"):
        spec, problems = check_file(named, now=NOW)
        assert spec is not None and problems == [], named


def test_named_outside_the_current_directory_a_spec_may_link_only_within_its_own(
    runner: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "real.yaml").write_text(VALID)
    (elsewhere / "tokens.yaml").symlink_to("real.yaml")
    (elsewhere / "out.yaml").symlink_to(tmp_path / "home" / ".git-credentials")
    assert check_file(elsewhere / "tokens.yaml", now=NOW)[0] is not None
    assert f"leads outside {elsewhere}" in _only_problem(elsewhere / "out.yaml")


def test_what_is_not_a_regular_file_is_refused_without_blocking(runner: Path) -> None:
    os.mkfifo(runner / "pipe.yaml")  # nobody writes to it: reading would wait for ever
    assert "it is a named pipe, not a regular file" in _only_problem(Path("pipe.yaml"))
    assert "it is a character device" in _only_problem(Path("/dev/zero"))


def test_a_file_over_the_limit_is_refused_by_its_size_before_a_byte_is_read(
    tmp_path: Path,
) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:  # sparse: 10 GiB on paper, nothing on disk
        handle.truncate(10 * 1024**3)
    started = time.perf_counter()
    spec, problems = check_file(huge, now=NOW)
    assert spec is None
    assert [p.message for p in problems] == ["file is 10240.0 MiB; the limit is 5 MiB"]
    assert time.perf_counter() - started < 1.0


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_file_whose_size_said_less_is_read_only_to_the_limit() -> None:
    # /proc files say 0 bytes and hold more: the bound is on what is read, not on st_size.
    with pytest.raises(Unreadable, match="over the limit of 16 bytes") as raised:
        read_bounded(Path("/proc/self/status"), 16)
    assert raised.value.size == 17
    assert MAX_BYTES == 5 * 1024 * 1024


def test_a_spec_that_is_one_value_is_not_quoted() -> None:
    _, problems = check(CREDENTIAL + "\n")
    assert [p.message for p in problems] == [
        "the top level is a single value; it must be a mapping (`version: 1`, ...)"
    ]


LONG = "s" * 5000


@pytest.mark.parametrize(
    "text",
    [
        spec_with(user=LONG),
        spec_with(store=LONG),
        spec_with(name=LONG),
        spec_with(secret=LONG),
        spec_with(scope=LONG),
        spec_with(**{LONG: "1"}),
        spec_with(top=f"{LONG}: 1\n"),
        spec_with(top=f"lock: {{type: vault, store: {LONG}}}\n"),
        spec_with(resources=f"[*{LONG}]"),
        spec_with(expires=f"!!{LONG} 1"),
        spec_with(expires="9" * 5000),
        f"version: 1\ntokens: [{{name: a}}, {{name: a, {LONG}: 1, {LONG}: 2}}]\n",
        "version: 1\ntokens: " + "[" * 10 + LONG,
    ],
    ids=[
        "user",
        "store",
        "name",
        "secret",
        "scope",
        "token-key",
        "top-level-key",
        "lock-store",
        "alias",
        "tag",
        "digits",
        "duplicate-key",
        "syntax",
    ],
)
def test_a_message_quotes_at_most_an_excerpt_of_a_value(text: str) -> None:
    _, problems = check(text)
    assert problems
    # 40 characters of a value; PyYAML's sentences quoting the input are cut at 80.
    limit = 80 if problems[0].message.startswith("YAML syntax") else 40
    for problem in problems:
        assert "s" * (limit + 1) not in problem.message, problem.message
        assert "9" * (limit + 1) not in problem.message, problem.message
        assert len(problem.render()) < 400, problem.render()


def test_validate_refuses_links_out_of_a_directory_with_exit_3(runner: Path) -> None:
    specs = runner / "specs"
    (specs / "eu").mkdir(parents=True)
    (specs / "good.yaml").write_text(VALID)
    (specs / "eu" / "within.yaml").symlink_to("../good.yaml")
    (specs / "eu" / "up.yaml").symlink_to("../../examples/tokens.yaml")  # leaves specs/
    (specs / "creds.yaml").symlink_to(runner.parent / "home" / ".git-credentials")
    (runner / "linked").symlink_to(runner.parent / "home")  # a directory leading out
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "-f", "specs", "-f", "linked"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    out = run.stdout + run.stderr
    assert CREDENTIAL[:12] not in out and "Traceback" not in out
    refused = sorted(line.split(":")[0] for line in run.stdout.splitlines())
    assert refused == ["linked", "specs/creds.yaml", "specs/eu/up.yaml"]
    assert "a symbolic link leads outside specs" in run.stdout
    assert "specs: 2 spec files: specs/eu/within.yaml, specs/good.yaml" in run.stderr


def test_a_file_name_cannot_forge_or_hide_a_line(tmp_path: Path) -> None:
    """A pull request names its files: a line break or an escape in a name under -f DIR is
    shown escaped in every line that names it (problems, the file list, the verdict)."""
    specs = tmp_path / "specs"
    specs.mkdir()
    forged = "x\n3 files valid\n\x1b[8m.yaml"
    (specs / forged).write_text("version: 1\ntokens: [\n")
    (specs / "ok.yaml").write_text(VALID)
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "-f", str(specs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3
    lines = (run.stdout + run.stderr).splitlines()
    assert "3 files valid" not in lines and ".yaml" not in lines
    assert unsafe_left(run.stdout + run.stderr) == []
    shown = "x\\n3 files valid\\n\\x1b[8m.yaml"
    assert run.stdout.startswith(f"{specs}/{shown}:3:1: YAML syntax")
    assert run.stderr.splitlines() == [
        f"{specs}: 2 spec files: {specs}/ok.yaml, {specs}/{shown}",
        f"{specs}/{shown}: 1 error",
    ]
