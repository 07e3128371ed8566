"""`ppm-tokens list`: the server's tokens with the page's filters, search, sort and columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from reconciler.commands.inventory import StoreReading, load_specs, take_snapshot
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock
from reconciler.ops.listing import DEFAULT_COLUMNS, Column, Query, select
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
