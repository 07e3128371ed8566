"""The command line: click only. Flags become frozen options, a command runs, errors become exit
codes. This is the only module that prints."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.desired.model import Driver as DriverKind
from reconciler.durations import DurationError, parse_duration
from reconciler.errors import ReconcilerError, SpecError
from reconciler.logs import RedactingFilter, redact
from reconciler.sanitize import for_terminal, has_unsafe_characters
from reconciler.ui import color_wanted, terminal_is_dumb

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")
DEFAULT_SPEC = Path("tokens.yaml")


class ClickUI:
    """The UI Protocol on a real terminal (or pipes)."""

    def __init__(self) -> None:
        self._interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._color = color_wanted(sys.stdout.isatty(), os.environ)

    @property
    def interactive(self) -> bool:
        return self._interactive

    @property
    def color(self) -> bool:
        return self._color

    def out(self, text: str) -> None:
        click.echo(text, color=self._color)

    def err(self, text: str) -> None:
        click.echo(shown(text), err=True)

    def confirm(self, question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    @property
    def progress_prints_lines(self) -> bool:
        return not sys.stderr.isatty() or terminal_is_dumb(os.environ)

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        if self.progress_prints_lines:
            yield lambda line: click.echo(shown(line), err=True)
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

            def advance(line: str) -> None:
                bar.update(1)

            yield advance


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
    configure_logging(options.verbose)
    return options


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # httpx logs full URLs at INFO; our own driver logs what matters at DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # boto3's debug logs carry request headers (a session token) and bodies; the aws store and
    # dynamodb lock log what matters themselves.
    for sdk in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(sdk).setLevel(logging.WARNING)


def shown(text: str) -> str:
    """Our messages may quote text from a server, a store or a file name. Where that text was
    not escaped at the source, the message is escaped whole here: nothing on stderr can move
    the cursor or retitle the terminal, and a message is one line (what goes to stderr is a
    line: a line break in it came from what it quotes, such as a file name, and would start a
    line of its own, "3 files valid" under a failing run)."""
    return for_terminal(text) if has_unsafe_characters(text) else text


def finish(run: Callable[[], int]) -> int:
    """Runs a command and maps what it returns or raises to the documented exit codes."""
    try:
        code = run()
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(problem.render(), err=True)
        click.echo(f"Invalid spec: {len(exc.problems)} problem(s). Nothing was changed.", err=True)
        code = exc.exit_code
    except ReconcilerError as exc:
        click.echo(shown(f"Error: {redact(str(exc))}"), err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except OSError as exc:
        # A file the user named that cannot be read or written (a missing directory, no
        # permission, a full disk): a runtime error with its reason, not a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(shown(f"Error:{where}: {redact(exc.strerror or str(exc))}"), err=True)
        code = 1
    return code


def run_command(
    run: Callable[[C, GlobalOptions, Environment, ClickUI], int],
    command_options: C,
    options: GlobalOptions,
) -> int:
    """A server-facing command's `run`, with this process's environment and terminal."""
    return finish(lambda: run(command_options, options, Environment.current(), ClickUI()))


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


# Command name -> "module:attribute" of its click command. Each command's options sit beside its
# code in reconciler.commands; its module is imported only when that command runs (or when the
# group's help lists them), so a command loads what it needs and nothing more.
COMMANDS: dict[str, str] = {
    "report": "reconciler.commands.report:command",
    "revoke": "reconciler.commands.revoke:command",
    "import": "reconciler.commands.import_:command",
    "audit": "reconciler.commands.audit:command",
    "show": "reconciler.commands.show:command",
    "list": "reconciler.commands.list_:command",
    "demo": "reconciler.commands.demo:command",
    "emulator": "reconciler.commands.emulator:command",
    "doctor": "reconciler.commands.doctor:command",
    "force-unlock": "reconciler.commands.force_unlock:command",
    "bootstrap-admin": "reconciler.commands.bootstrap_admin:command",
    "rotate": "reconciler.commands.rotate:command",
    "apply": "reconciler.commands.apply:command",
    "plan": "reconciler.commands.plan:command",
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


# -- Day-2 operations: list, show, revoke, audit, import, report ------------------------------


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

        ctx.exit(finish(refuse))
    except ReconcilerError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def specs_option(func: F) -> F:
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
