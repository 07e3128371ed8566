"""`ppm-tokens import`: print a spec that adopts the live tokens, checked by the validator
before it is printed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.inventory import take_snapshot
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.desired import check_bytes
from reconciler.errors import ReconcilerError, UsageError
from reconciler.ops.importer import ImportSettings, generate, older_generations
from reconciler.ops.listing import Query, StatusFilter, matches
from reconciler.problems import Severity
from reconciler.ui import UI

_CHECK_ROUNDS = 3
NAMESPACE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


@dataclass(frozen=True)
class ImportOptions:
    namespace: str = "default"
    query: Query = field(default_factory=lambda: Query(status=StatusFilter.ACTIVE))
    store_path: str | None = None  # default ~/.local/share/ppm-tokens/<namespace>


def run(options: ImportOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    if not NAMESPACE.fullmatch(options.namespace):
        raise UsageError(
            f"--namespace {options.namespace!r}: use a-z, 0-9, '.', '_' and '-', starting with "
            "a letter or digit, at most 63 characters"
        )
    now = make_clock(global_options)()
    snapshot = take_snapshot((), global_options, env, now=now, resources=True)
    views = [v for v in snapshot.views if matches(v, options.query, now)]
    settings = ImportSettings(
        namespace=options.namespace,
        server=snapshot.server,
        store_path=options.store_path or f"~/.local/share/ppm-tokens/{options.namespace}",
    )
    excluded: dict[str, str] = {}
    for _ in range(_CHECK_ROUNDS):
        text, guids = generate(
            views, settings, now=now, resources=snapshot.resources, excluded=excluded
        )
        _, problems = check_bytes(text.encode(), file="<import>", base_dir=env.cwd, now=now)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        if not errors:
            break
        for problem in errors:
            parts = problem.path.split("/")
            if len(parts) < 3 or parts[1] != "tokens" or not parts[2].isdigit():
                raise ReconcilerError(
                    f"the generated spec is invalid ({problem.render()}): please report this"
                )
            excluded.setdefault(guids[int(parts[2])], f"the spec cannot hold it: {problem.message}")
    else:
        raise ReconcilerError("the generated spec stayed invalid: please report this")
    ui.out(text.rstrip("\n"))
    kept = len(guids)
    ui.err(f"Imported {kept} token(s) into namespace {options.namespace}; review, then save it.")
    if older := older_generations(views, options.namespace):
        ui.err(
            f"Warning: {len(older)} older generation(s) still active beside a newer one of "
            "the same name (see the comments): import reads no store and imported the newest "
            "of each; before you apply, check which one consumers hold with "
            "`ppm-tokens list -f SPEC` of the spec that manages them"
        )
    return 0


@click.command("import")
@click.option("--namespace", default="default", show_default=True, help="Namespace of the spec.")
@click.option(
    "--status",
    type=click.Choice(["active", "all"]),
    default="active",
    show_default=True,
    help="all: revoked and expired tokens too, as `state: absent` records.",
)
@click.option("--search", metavar="TEXT", help="Only tokens whose name, description or user match.")
@click.option(
    "--store-path", metavar="PATH", help="File store for new values (default ~/.local/share/...)."
)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Print a spec that adopts the live tokens as they are (plan shows no change)."""
    options = cli.make_global(kwargs)
    import_options = ImportOptions(
        namespace=kwargs["namespace"],
        query=Query(status=StatusFilter(kwargs["status"]), search=kwargs["search"]),
        store_path=kwargs["store_path"],
    )
    return terminal.run_command(run, import_options, options)
