"""The desired state: tokens.yaml -> validated, typed `Spec` (what the live tokens are planned
against; `reconciler.server.model` holds the live side).

    check_file(path, now=...)  -> (Spec or None, every problem found)
    load_spec(path, now=...)   -> Spec, or SpecError carrying every error

Order: the YAML loader (syntax, duplicate keys, size and alias bounds), then characters that
could hide or forge text (desired/text_rules.py), then the JSON Schema (schemas/tokens.schema.json),
then the semantic rules. No network; `now` is passed in.

`check_file` (validate) refuses every error. `load_spec` (plan, apply and the day-2 commands)
refuses every error but those of the rules that read the date (Problem.clock): time alone can
make a spec that passed break one, and that must stop only the tokens it concerns, not every
scheduled rotation. The Spec carries them in `time_problems` for the planner to report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from reconciler.desired.build import build_spec
from reconciler.desired.loader import (
    MAX_BYTES,
    Document,
    JsonPath,
    collector_paused,
    parse,
    pointer,
    too_large,
)
from reconciler.desired.model import Spec, TimeProblem
from reconciler.desired.rules import (
    Context,
    GitRootFinder,
    character_problems,
    find_git_root,
    rule_problems,
)
from reconciler.desired.schema import schema_problems
from reconciler.desired.timing import held
from reconciler.errors import SpecError
from reconciler.inputs import Unreadable, boundary_of, leaves, read_bounded, resolved
from reconciler.problems import Problem, Severity

__all__ = ["check_bytes", "check_file", "load_spec"]


def check_file(
    path: Path,
    *,
    now: datetime,
    git_root_of: GitRootFinder = find_git_root,
    date_errors_per_token: bool = False,
) -> tuple[Spec | None, list[Problem]]:
    """Every problem in the spec file (errors and warnings, by line and column); the Spec only
    when there is no error (see check_bytes for `date_errors_per_token`). The file is read only
    if it is a regular file of at most MAX_BYTES that its name reaches without leaving the
    current directory (or, named outside it, the directory holding it): see
    `reconciler.inputs`."""
    file = str(path)
    try:
        raw = read_spec_bytes(path)
    except Unreadable as exc:
        if exc.size is not None:
            return None, [too_large(file, exc.size)]
        return None, [Problem(file, 0, 0, "", f"cannot read the file: {exc.reason}")]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [Problem(file, 0, 0, "", f"cannot read the file: {reason}")]
    except ValueError:  # a NUL in a name a saved plan recorded: no file has it
        return None, [Problem(file, 0, 0, "", "cannot read the file: not a file name")]
    return check_bytes(
        raw,
        file=file,
        # Absolute: a relative store path is checked from where it leads (`-f tokens.yaml`
        # names the spec relatively, and `..` from `.` says nothing).
        base_dir=Path(os.path.abspath(path.parent)),
        now=now,
        git_root_of=git_root_of,
        date_errors_per_token=date_errors_per_token,
    )


def read_spec_bytes(path: Path, *, within: Path | None = None) -> bytes:
    """The bytes of a spec file, or Unreadable before any is read: a name that leads (through a
    link) outside `within` (by default `boundary_of(path)`) or into a hidden directory, a file
    that is not regular, or one over MAX_BYTES."""
    why = leaves(path, within if within is not None else boundary_of(path))
    if why is not None:
        # A pull request can make its spec a link to any file on the runner: never read it.
        raise Unreadable(f"{why}, and a spec is read only there: name the file itself")
    return read_bounded(resolved(path), MAX_BYTES, follow_links=False)


def check_bytes(
    raw: bytes,
    *,
    file: str,
    base_dir: Path,
    now: datetime,
    git_root_of: GitRootFinder = find_git_root,
    date_errors_per_token: bool = False,
) -> tuple[Spec | None, list[Problem]]:
    """`check_file` for bytes already read; `base_dir` anchors relative store paths. With
    `date_errors_per_token`, a spec whose only errors read the date (Problem.clock) is still
    built, and carries each of them with the token it concerns (Spec.time_problems)."""
    with collector_paused():
        document, problems = parse(raw, file)
        if document is None:
            return None, sorted(problems)
        if isinstance(document.data, dict):
            problems = _first_per_place(
                document,
                problems,
                character_problems(document),
                schema_problems(document),
                rule_problems(document, now=now, base_dir=base_dir, git_root_of=git_root_of),
            )
        problems = sorted(set(problems))
        errors = [problem for problem in problems if problem.severity is Severity.ERROR]
        if not errors:
            return build_spec(document), problems
        if not date_errors_per_token or not all(problem.clock for problem in errors):
            return None, problems
        ctx = Context(document, now, base_dir, git_root_of)
        found = tuple(TimeProblem(problem, token) for token, problem in held(ctx, errors))
        return replace(build_spec(document), time_problems=found), problems


def load_spec(path: Path, *, now: datetime) -> Spec:
    """The Spec in `path`; SpecError with every error otherwise (warnings are dropped). Errors
    of the rules that read the date do not stop it: the Spec carries them (time_problems)."""
    spec, problems = check_file(path, now=now, date_errors_per_token=True)
    if spec is None:
        errors = [problem for problem in problems if problem.severity is Severity.ERROR]
        raise SpecError(errors or problems)
    return spec


def _first_per_place(document: Document, *stages: list[Problem]) -> list[Problem]:
    """One cause per value: a later stage does not repeat an error about the same value at the
    same place as an earlier one (a YAML date that is not a real date is not also a bad
    expiry). A mapping or a list can have several independent problems (a token missing its
    user and its store), so errors about one are all kept."""
    kept: list[Problem] = []
    containers: set[str] | None = None  # found only when there is something to compare
    for stage in stages:
        if not stage or not any(p.severity is Severity.ERROR for p in kept):
            kept.extend(stage)
            continue
        if containers is None:
            containers = set(_container_pointers(document.data, ()))
        taken = {
            (p.path, p.line, p.col)
            for p in kept
            if p.severity is Severity.ERROR and p.path not in containers
        }
        kept.extend(p for p in stage if (p.path, p.line, p.col) not in taken)
    return kept


def _container_pointers(value: object, path: JsonPath) -> Iterator[str]:
    items: Iterable[tuple[str | int, object]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    yield pointer(path)
    for key, item in items:
        yield from _container_pointers(item, (*path, key))
