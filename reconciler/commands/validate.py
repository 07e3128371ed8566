"""`ppm-tokens validate`: check spec files offline and report every problem at once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.runtime import GlobalOptions, make_clock
from reconciler.commands.specs import find, namespace_clashes, secret_clashes
from reconciler.desired import check_file
from reconciler.errors import UsageError
from reconciler.problems import Problem, Severity
from reconciler.sanitize import for_terminal
from reconciler.ui import UI

EXIT_VALID = 0
EXIT_INVALID = 3
FORMATS = ("text", "json")


@dataclass(frozen=True)
class FileResult:
    file: str
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    @property
    def valid(self) -> bool:
        return self.errors == 0


def check(paths: Sequence[Path], *, now: datetime) -> list[FileResult]:
    """Each file's problems, and between files: two specs sharing a namespace on one server."""
    checked = [(path, check_file(path, now=now)) for path in paths]
    specs = [spec for _, (spec, _) in checked if spec is not None]
    clashes = namespace_clashes([(spec, spec.server.url) for spec in specs])
    clashes += secret_clashes(specs, {})  # what the specs say; plan and apply add the environment
    return [
        FileResult(
            str(path),
            tuple(problems) + tuple(p for p in clashes if p.file == str(path)),
        )
        for path, (_, problems) in checked
    ]


def run(paths: Sequence[Path], *, now: datetime, output_format: str, ui: UI) -> int:
    """0 when every file is valid (warnings allowed), 3 when any has an error. A directory
    stands for every spec under it."""
    if output_format not in FORMATS:
        raise UsageError(f"unknown format {output_format!r}: use {' or '.join(FORMATS)}")
    if not paths:
        raise UsageError("no spec file given: pass -f tokens.yaml")
    found = find(paths)
    for note in found.notes:
        ui.err(note)
    refused = [FileResult(problem.file, (problem,)) for problem in found.refused]
    results = refused + check(found.paths, now=now)
    if output_format == "json":
        ui.out(json.dumps(as_json(results), indent=2))
    else:
        for result in results:
            for problem in result.problems:
                ui.out(problem.render())
        ui.err(summary(results))
    return EXIT_VALID if all(result.valid for result in results) else EXIT_INVALID


def summary(results: Sequence[FileResult]) -> str:
    """ "2 files valid" or, per file with errors, "tokens.yaml: 3 errors, 1 warning"."""
    invalid = [result for result in results if not result.valid]
    if not invalid:
        warnings = sum(result.warnings for result in results)
        files = _count(len(results), "file")
        return f"{files} valid" + (f" ({_count(warnings, 'warning')})" if warnings else "")
    return "; ".join(
        f"{for_terminal(result.file)}: {_count(result.errors, 'error')}"
        + (f", {_count(result.warnings, 'warning')}" if result.warnings else "")
        for result in invalid
    )


def as_json(results: Sequence[FileResult]) -> dict[str, object]:
    return {
        "valid": all(result.valid for result in results),
        "files": [
            {
                "file": result.file,
                "valid": result.valid,
                "problems": [
                    {
                        "file": p.file,
                        "line": p.line,
                        "col": p.col,
                        "path": p.path,
                        "message": p.message,
                        "severity": str(p.severity),
                    }
                    for p in result.problems
                ],
            }
            for result in results
        ],
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command("validate")
@cli.spec_files_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@click.option("--now", metavar="ISO8601", help="Override the clock (dates in the past).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logs, secrets redacted.")
def command(files: tuple[Path, ...], output_format: str, now: str | None, verbose: bool) -> int:
    """Check spec files offline. Exit 0 when valid, 3 when not."""
    terminal.configure_logging(verbose or bool(cli.before_command().get("verbose")))
    paths = list(files) or [cli.DEFAULT_SPEC]
    now = now or cli.before_command().get("now")
    return terminal.finish(
        lambda: run(
            paths,
            now=make_clock(GlobalOptions(now=now))(),
            output_format=output_format,
            ui=terminal.ClickUI(),
        )
    )
