"""`ppm-tokens report --html FILE | --markdown FILE`: the token inventory people can look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.audit import findings_of, read
from reconciler.commands.outputs import check_writable, write_output
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.errors import UsageError
from reconciler.ops.audit import AuditSettings
from reconciler.ops.report_html import render_html
from reconciler.ops.report_markdown import render_markdown
from reconciler.ops.report_model import build_report
from reconciler.ops.timeline import upcoming
from reconciler.ui import UI


@dataclass(frozen=True)
class ReportOptions:
    html: Path | None = None
    markdown: Path | None = None
    spec_paths: Sequence[Path] = ()
    settings: AuditSettings = field(default_factory=AuditSettings)
    store_commands: bool = False


def run(options: ReportOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    if options.html is None and options.markdown is None:
        raise UsageError("say where to write the report: --html FILE and/or --markdown FILE")
    for path, option in ((options.html, "--html"), (options.markdown, "--markdown")):
        if path is not None:
            check_writable(path, option)
    now = make_clock(global_options)()
    snapshot = read(
        options.spec_paths, global_options, env, store_commands=options.store_commands, now=now
    )
    report = build_report(
        snapshot.views,
        stored=snapshot.stored,
        events=upcoming(snapshot.views, now),
        findings=findings_of(snapshot, options.settings),
        server=snapshot.server,
        now=now,
    )
    outputs = (
        (options.html, render_html, "--html"),
        (options.markdown, render_markdown, "--markdown"),
    )
    for path, render, option in outputs:
        if path is not None:
            write_output(path, render(report), option)
            ui.err(f"Wrote {path} ({len(report.rows)} tokens, {len(report.findings)} findings)")
    return 0


@click.command("report")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a self-contained HTML inventory to FILE.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a Markdown inventory (job summary) to FILE.",
)
@cli.specs_option
@click.option("--store-commands", is_flag=True, help="Run command stores' read_command.")
@cli.global_options
def command(**kwargs: Any) -> int:
    """The token inventory: table, 180-day timeline and audit findings."""
    options = cli.make_global(kwargs)
    report_options = ReportOptions(
        html=kwargs["html_path"],
        markdown=kwargs["markdown_path"],
        spec_paths=kwargs["spec_paths"],
        store_commands=kwargs["store_commands"],
    )
    return terminal.run_command(run, report_options, options)
