"""`ppm-tokens force-unlock ID`: break an apply lock whose holder is known to be dead."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.apply import lock_context, wall_clock
from reconciler.commands.runtime import Environment, GlobalOptions, server_url
from reconciler.desired import load_spec
from reconciler.locks.record import shown
from reconciler.locks.registry import open_lock
from reconciler.ui import UI


def run(
    lock_id: str, spec_path: Path, global_options: GlobalOptions, env: Environment, ui: UI
) -> int:
    """The lock is found from the spec (its `lock:` kind, server and namespace); only a record
    with this very ID is removed, so a lock taken since by another run is never broken."""
    spec = load_spec(spec_path, now=wall_clock())
    server = server_url(global_options, env, spec)
    lock = open_lock(spec.lock, lock_context(spec, server, env))
    info = lock.force_unlock(lock_id.strip())
    # The record may have been written by anyone who can write where the lock lives.
    ui.out(
        f"Released apply lock {shown(info.id)}, held by {shown(info.holder)} "
        f"({shown(info.operation)}) since "
        f"{info.created.isoformat(timespec='seconds')}. If that run is still alive, it starts "
        "nothing new once it sees the lock gone."
    )
    return 0


@click.command("force-unlock")
@click.argument("lock_id", metavar="ID")
@cli.spec_option(cli.DEFAULT_SPEC)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Break the apply lock with this ID (shown by the run that found it held)."""
    options = cli.make_global(kwargs, spec_programs=True)
    return terminal.run_command(partial(run, kwargs["lock_id"]), kwargs["spec_path"], options)
