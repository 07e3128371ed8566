"""`ppm-tokens rotate NAME`: the emergency rotation of one token, now, whatever its policy says.
It is apply (reconciler.commands.apply) restricted to that token, with its rotation forced and no
question asked."""

from __future__ import annotations

from typing import Any

import click

from reconciler import cli
from reconciler.commands import terminal
from reconciler.commands.apply import ApplyCommandOptions, run


@click.command("rotate")
@click.argument("name")
@cli.spec_option(cli.DEFAULT_SPEC)
@click.option(
    "--grace",
    metavar="DURATION",
    callback=cli.duration_flag,
    help="How long the old token stays valid (0: revoke now).",
)
@cli.lock_timeout_option
@cli.global_options
def command(**kwargs: Any) -> int:
    """Emergency: rotate one token now, without waiting for its policy."""
    options = cli.make_global(kwargs, spec_programs=True)
    name: str = kwargs["name"]
    apply_options = ApplyCommandOptions(
        target=kwargs["spec_path"],
        auto_approve=True,
        rotate=frozenset({name}),
        grace=kwargs["grace"],
        only=frozenset({name}),
        lock_timeout=kwargs["lock_timeout"],
    )
    return terminal.run_command(run, apply_options, options)
