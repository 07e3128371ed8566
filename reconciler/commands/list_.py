"""`ppm-tokens list`: the server's tokens with the page's filters, search, sort and columns."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.inventory import StoreReading, load_specs, take_snapshot
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.ops.listing import (
    DEFAULT_COLUMNS,
    Column,
    ExpirationFilter,
    Query,
    SortOrder,
    StatusFilter,
    parse_columns,
    select,
)
from reconciler.ops.table import render_csv, render_json, render_table
from reconciler.ui import UI


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True)
class ListOptions:
    query: Query = field(default_factory=Query)
    columns: tuple[Column, ...] | None = None  # None: the defaults (table) or all (json, csv)
    output_format: ListFormat = ListFormat.TABLE
    width: int | None = None  # the terminal's width; None: no limit (output to a pipe)
    spec_paths: Sequence[Path] = ()


def run(options: ListOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    now = make_clock(global_options)()
    specs = load_specs(options.spec_paths, env, now)
    # The stores are read as show and report read them: which generation is current depends
    # on what the store hands out, not on which token is newest.
    snapshot = take_snapshot(specs, global_options, env, now=now, reading=StoreReading.SAFE)
    views = select(snapshot.views, options.query, now)
    if options.output_format is ListFormat.TABLE:
        columns = options.columns or DEFAULT_COLUMNS
        ui.out(render_table(views, columns, options.width))
        ui.err(f"{len(views)} of {len(snapshot.views)} tokens")
    elif options.output_format is ListFormat.JSON:
        ui.out(render_json(views, options.columns or tuple(Column)))
    else:
        ui.out(render_csv(views, options.columns or tuple(Column)))
    return 0


def terminal_width() -> int | None:
    """The width a table must fit on a terminal: $COLUMNS when set, else the terminal's. None
    when output goes to a pipe or a file, whatever $COLUMNS says (shells export it to every
    child): cutting cells there would only lose data a script or a grep wants."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def columns_option(value: str | None) -> tuple[Column, ...] | None:
    if value is None:
        return None
    try:
        return parse_columns(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--columns") from None


@click.command("list")
@click.option(
    "--status",
    type=click.Choice(["all", "active", "revoked", "expired"]),
    default="all",
    show_default=True,
)
@click.option(
    "--expiration",
    type=click.Choice(["all", "never", "has", "expired"]),
    default="all",
    show_default=True,
    help="never: never expires; has: an expiry still ahead; expired: the expiry has passed.",
)
@click.option("--search", metavar="TEXT", help="Case-insensitive, in name, description, user.")
@click.option(
    "--sort",
    type=click.Choice(["newest", "oldest", "name", "-name"]),
    default="newest",
    show_default=True,
    help="Active tokens always come first.",
)
@click.option(
    "--columns",
    metavar="LIST",
    help="Comma-separated: name, id, status, scope, resources, created, expires, user, "
    "managed-by, rotation-due, description, email, retires.",
)
@click.option(
    "--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table"
)
@cli.specs_option
@cli.global_options
def command(**kwargs: Any) -> int:
    """The server's tokens: filter, search, sort, choose columns."""
    options = cli.make_global(kwargs)
    list_options = ListOptions(
        query=Query(
            status=StatusFilter(kwargs["status"]),
            expiration=ExpirationFilter(kwargs["expiration"]),
            search=kwargs["search"],
            sort=SortOrder(kwargs["sort"]),
        ),
        columns=columns_option(kwargs["columns"]),
        output_format=ListFormat(kwargs["output_format"]),
        width=terminal_width(),
        spec_paths=kwargs["spec_paths"],
    )
    return terminal.run_command(run, list_options, options)
