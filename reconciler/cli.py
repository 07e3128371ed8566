"""The command line's root: the group, the global options, and the option helpers commands share.
Each command's own options sit beside its code in reconciler.commands (COMMANDS names them), and
reconciler.commands.terminal runs it and prints. Flags become frozen options before anything
runs; nothing below the command line imports click or prints."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.commands import terminal
from reconciler.commands.runtime import GlobalOptions
from reconciler.desired.model import Driver as DriverKind
from reconciler.durations import DurationError, parse_duration
from reconciler.errors import ReconcilerError, SpecError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SPEC = Path("tokens.yaml")


driver_options = [
    click.option(
        "--driver",
        type=click.Choice(["http", "rspm"]),
        help="How to reach the server (else server.driver, else http).",
    ),
    click.option(
        "--rspm",
        "rspm_path",
        metavar="PATH",
        help="PPM's CLI for --driver rspm (else server.rspm, else rspm on PATH).",
    ),
]


def global_options(func: F) -> F:
    """Flags every server-facing command accepts, after the command name or, as global flags,
    before it (`ppm-tokens -v --server URL plan`); given in both places, the later one wins."""
    for decorator in reversed(_global_decorators()):
        func = decorator(func)
    return func


def _global_decorators() -> list[Callable[[Any], Any]]:
    return [
        click.option("--server", metavar="URL", help="PPM server (else PACKAGEMANAGER_ADDRESS)."),
        click.option(
            "--token-file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="File holding the global:admin token (else PACKAGEMANAGER_TOKEN).",
        ),
        click.option(
            "--ca-cert",
            type=click.Path(path_type=Path, dir_okay=False),
            help="CA certificate(s) (PEM) for the server's TLS certificate "
            "(else SSL_CERT_FILE, REQUESTS_CA_BUNDLE).",
        ),
        click.option("--now", metavar="ISO8601", help="Override the clock (previews, tests)."),
        click.option("-v", "--verbose", is_flag=True, help="Debug logs, secrets redacted."),
        *driver_options,
    ]


def before_command() -> dict[str, Any]:
    """The global flags given before the command name."""
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().params if ctx is not None else {}


def _global(kwargs: dict[str, Any], name: str) -> Any:
    value = kwargs.pop(name, None)
    return value if value not in (None, False) else before_command().get(name)


def make_global(kwargs: dict[str, Any], *, spec_programs: bool = False) -> GlobalOptions:
    """`spec_programs`: the command acts on a reviewed spec and may run the server.rspm it
    names (see GlobalOptions)."""
    driver = _global(kwargs, "driver")
    options = GlobalOptions(
        server=_global(kwargs, "server"),
        token_file=_global(kwargs, "token_file"),
        now=_global(kwargs, "now"),
        verbose=bool(_global(kwargs, "verbose")),
        ca_cert=_global(kwargs, "ca_cert"),
        driver=DriverKind(driver) if driver else None,
        rspm=_global(kwargs, "rspm_path"),
        spec_programs=spec_programs,
    )
    terminal.configure_logging(options.verbose)
    return options


def duration_flag(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> timedelta | None:
    """A duration flag (`90d`, `12h`, `30s`, or `0`) read as a timedelta when click reads it,
    its default included: a bad value is a usage error naming the flag."""
    del ctx
    if value is None:
        return None
    try:
        return timedelta(0) if value.strip() == "0" else parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc), param=param) from None


# apply and rotate wait for the same lock, so they take the same flag.
lock_timeout_option = click.option(
    "--lock-timeout",
    metavar="DURATION",
    callback=duration_flag,
    default="0",
    show_default=True,
    help="How long to wait for another run's apply lock (0: fail at once, naming the holder).",
)


def one_spec(ctx: click.Context, param: click.Parameter, values: tuple[Path, ...]) -> Path | None:
    """Click keeps only the last of a repeated option; a second -f silently ignored would plan
    against the wrong file, so it is refused."""
    del ctx
    if len(values) > 1:
        raise click.BadParameter(
            f"give one spec file, not {len(values)}: run the command once per spec file",
            param=param,
        )
    return values[0] if values else None


def spec_option(default: Path | None) -> Callable[[F], F]:
    return click.option(
        "-f",
        "--file",
        "spec_path",
        multiple=True,
        type=click.Path(path_type=Path),
        callback=one_spec,
        default=[default] if default else [],
        show_default=bool(default),
        help="The spec file.",
    )


def spec_files_option(func: F) -> F:
    """-f for the commands that take several specs: files, or directories standing for every
    *.yaml/*.yml under them. None given: tokens.yaml."""
    option = click.option(
        "-f",
        "--file",
        "files",
        multiple=True,
        type=click.Path(path_type=Path),
        help="A spec file, or a directory of specs (every *.yaml/*.yml under it); "
        "repeatable (default tokens.yaml).",
    )
    return option(func)


def expand_spec_dirs(
    ctx: click.Context, param: click.Parameter, values: tuple[Path, ...]
) -> tuple[Path, ...]:
    """A directory given to -f stands for every spec under it, as for plan and apply."""
    from reconciler.commands.specs import expand

    try:
        return expand(values).paths
    except SpecError as exc:
        # A spec refused before it is read (a link leading out of its directory): exit 3 with
        # its problems, as every command that reads specs says it.
        error = exc

        def refuse() -> int:
            raise error

        ctx.exit(terminal.finish(refuse))
    except ReconcilerError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def specs_option(func: F) -> F:
    """-f for the day-2 commands (list, show, audit, revoke, report): the specs that say whose
    tokens are whose, and where their secrets are."""
    option = click.option(
        "-f",
        "--file",
        "spec_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        callback=expand_spec_dirs,
        help="Spec file(s) or directories of specs whose namespaces, stores and schedules "
        "to show (default: tokens.yaml when present).",
    )
    return option(func)


# Command name -> "module:attribute" of its click command. Each command's options sit beside its
# code in reconciler.commands; its module is imported only when that command runs (or when the
# group's help lists them), so a command loads what it needs and nothing more.
COMMANDS: dict[str, str] = {
    "apply": "reconciler.commands.apply:command",
    "audit": "reconciler.commands.audit:command",
    "bootstrap-admin": "reconciler.commands.bootstrap_admin:command",
    "demo": "reconciler.commands.demo:command",
    "doctor": "reconciler.commands.doctor:command",
    "emulator": "reconciler.commands.emulator:command",
    "force-unlock": "reconciler.commands.force_unlock:command",
    "import": "reconciler.commands.import_:command",
    "list": "reconciler.commands.list_:command",
    "plan": "reconciler.commands.plan:command",
    "report": "reconciler.commands.report:command",
    "revoke": "reconciler.commands.revoke:command",
    "rotate": "reconciler.commands.rotate:command",
    "show": "reconciler.commands.show:command",
    "validate": "reconciler.commands.validate:command",
}


class CommandGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(
    cls=CommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="ppm-tokens")
@global_options
def app(**kwargs: Any) -> None:
    """Declarative GitOps reconciler for Posit Package Manager API tokens.

    The options below (but --version) are global: given here, before the command, they apply
    to every server command, which also takes them after its name."""
    del kwargs  # read by each command through its context (before_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Usage errors exit 1, not click's 2: exit 2 means "changes present" to
    `plan --detailed-exitcode`, and a typo in a CI step must not read as that."""
    try:
        code = app.main(args=argv, prog_name="ppm-tokens", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        code = 130
    except click.exceptions.ClickException as exc:
        exc.show()
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
