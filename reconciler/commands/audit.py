"""`ppm-tokens audit`: the audit PPM recommends, as findings with stable rule ids, for people
(text), pull requests and job summaries (Markdown), machines (JSON) and code scanning (SARIF)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.inventory import (
    Snapshot,
    StoreReading,
    load_specs,
    take_snapshot,
)
from reconciler.commands.outputs import check_writable, write_output
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.ops.audit import AuditInput, AuditSettings, Finding, audit, fails
from reconciler.ops.audit_render import render_json, render_markdown, render_sarif, render_text
from reconciler.ops.rules import Severity
from reconciler.ui import UI

# Findings at or above --fail-on: something to act on, told apart from a failed run (1).
EXIT_FINDINGS = 2


class AuditFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    SARIF = "sarif"


@dataclass(frozen=True)
class AuditOptions:
    spec_paths: Sequence[Path] = ()
    output_format: AuditFormat = AuditFormat.TEXT
    fail_on: Severity | None = None
    settings: AuditSettings = field(default_factory=AuditSettings)
    store_commands: bool = False  # run command stores' read_command
    out: Path | None = None  # write the report here instead of stdout


def findings_of(snapshot: Snapshot, settings: AuditSettings) -> tuple[Finding, ...]:
    return audit(
        AuditInput(
            views=snapshot.views,
            resources=snapshot.resources,
            specs=snapshot.specs,
            stored=snapshot.stored,
            store_problems=snapshot.store_problems,
            now=snapshot.now,
            exchanged=snapshot.exchanged,
        ),
        settings,
    )


def read(
    spec_paths: Sequence[Path],
    global_options: GlobalOptions,
    env: Environment,
    *,
    store_commands: bool,
    now: datetime,
) -> Snapshot:
    specs = load_specs(spec_paths, env, now)
    reading = StoreReading.ALL if store_commands else StoreReading.SAFE
    return take_snapshot(specs, global_options, env, now=now, resources=True, reading=reading)


def relative_uri(env: Environment) -> Callable[[str], str]:
    """Spec paths as SARIF wants them: relative to the checkout (the working directory)."""

    def uri_of(path: str) -> str:
        absolute = (env.cwd / path).resolve()
        try:
            return absolute.relative_to(env.cwd.resolve()).as_posix()
        except ValueError:
            return absolute.as_uri()

    return uri_of


def render(
    findings: Sequence[Finding], options: AuditOptions, snapshot: Snapshot, env: Environment
) -> str:
    server, now = snapshot.server, snapshot.now
    if options.output_format is AuditFormat.MARKDOWN:
        return render_markdown(findings, server=server, now=now)
    if options.output_format is AuditFormat.JSON:
        return render_json(findings, server=server, now=now)
    if options.output_format is AuditFormat.SARIF:
        return render_sarif(findings, server=server, now=now, uri_of=relative_uri(env))
    return render_text(findings, server=server, now=now)


def run(options: AuditOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    if options.out is not None:
        check_writable(options.out, "--out")
    now = make_clock(global_options)()
    snapshot = read(
        options.spec_paths, global_options, env, store_commands=options.store_commands, now=now
    )
    findings = findings_of(snapshot, options.settings)
    text = render(findings, options, snapshot, env)
    unplaced = sum(1 for f in findings if f.file is None)
    if options.output_format is AuditFormat.SARIF and unplaced:
        # GitHub code scanning refuses the whole file when one result has no location.
        ui.err(
            f"Warning: {unplaced} finding(s) have no spec line to point at, and GitHub code "
            "scanning rejects a SARIF file with such results: give the spec with -f FILE"
        )
    if options.out is not None:
        write_output(options.out, text + "\n", "--out")
        ui.err(f"Wrote {len(findings)} finding(s) to {options.out}")
    else:
        ui.out(text)
    return EXIT_FINDINGS if fails(findings, options.fail_on) else 0


@click.command("audit")
@cli.specs_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json", "sarif"]),
    default="text",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "error"]),
    help="Exit 2 when a finding is at least this severe (for CI).",
)
@click.option(
    "--max-age", metavar="DURATION", callback=cli.duration_flag, default="90d", show_default=True
)
@click.option(
    "--expiring-within",
    metavar="DURATION",
    callback=cli.duration_flag,
    default="30d",
    show_default=True,
    help="Warn about tokens expiring this soon with no rotation scheduled before.",
)
@click.option(
    "--overdue-after",
    metavar="DURATION",
    callback=cli.duration_flag,
    default="2d",
    show_default=True,
    help="Slack after a rotation or retirement point before it counts as overdue.",
)
@click.option("--store-commands", is_flag=True, help="Run command stores' read_command.")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE, not stdout."
)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Findings with stable rule ids: expiry, age, scope, ownership, drift, stores, rotation."""
    options = cli.make_global(kwargs)
    audit_options = AuditOptions(
        spec_paths=kwargs["spec_paths"],
        output_format=AuditFormat(kwargs["output_format"]),
        fail_on=Severity(kwargs["fail_on"]) if kwargs["fail_on"] else None,
        settings=AuditSettings(
            max_age=kwargs["max_age"],
            expiring_within=kwargs["expiring_within"],
            overdue_slack=kwargs["overdue_after"],
        ),
        store_commands=kwargs["store_commands"],
        out=kwargs["out"],
    )
    return terminal.run_command(run, audit_options, options)
