"""The command line: click only. Flags become frozen options, a command runs, errors become exit
codes. This is the only module that prints."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.durations import DurationError, parse_duration
from reconciler.errors import ReconcilerError, SpecError
from reconciler.logs import RedactingFilter, redact

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SPEC = Path("tokens.yaml")


class ClickUI:
    """The UI Protocol on a real terminal (or pipes)."""

    def __init__(self) -> None:
        self._interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._color = sys.stdout.isatty()

    @property
    def interactive(self) -> bool:
        return self._interactive

    @property
    def color(self) -> bool:
        return self._color

    def out(self, text: str) -> None:
        click.echo(text, color=self._color)

    def err(self, text: str) -> None:
        click.echo(text, err=True)

    def confirm(self, question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        if not sys.stderr.isatty():
            yield lambda line: click.echo(line, err=True)
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

            def advance(line: str) -> None:
                bar.update(1)

            yield advance


def global_options(func: F) -> F:
    """Flags every server-facing command accepts (after the command name)."""
    decorators = [
        click.option("--server", metavar="URL", help="PPM server (else PACKAGEMANAGER_ADDRESS)."),
        click.option(
            "--token-file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="File holding the global:admin token (else PACKAGEMANAGER_TOKEN).",
        ),
        click.option("--now", metavar="ISO8601", help="Override the clock (previews, tests)."),
        click.option("-v", "--verbose", is_flag=True, help="Debug logs, secrets redacted."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def make_global(kwargs: dict[str, Any]) -> GlobalOptions:
    options = GlobalOptions(
        server=kwargs.pop("server"),
        token_file=kwargs.pop("token_file"),
        now=kwargs.pop("now"),
        verbose=kwargs.pop("verbose"),
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
        click.echo(f"Error: {redact(str(exc))}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    return code


def duration_option(value: str | None, name: str) -> timedelta | None:
    if value is None:
        return None
    try:
        return timedelta(0) if value.strip() == "0" else parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


def lock_timeout_option(value: str) -> timedelta:
    return duration_option(value, "--lock-timeout") or timedelta(0)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ppm-tokens")
def app() -> None:
    """Declarative GitOps reconciler for Posit Package Manager API tokens."""


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


@app.command()
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Spec file(s) to check (default tokens.yaml).",
)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@click.option("--now", metavar="ISO8601", help="Override the clock (dates in the past).")
def validate(files: tuple[Path, ...], output_format: str, now: str | None) -> int:
    """Check spec files offline. Exit 0 when valid, 3 when not."""
    from reconciler.commands import validate as command
    from reconciler.commands.runtime import make_clock

    configure_logging(False)
    paths = list(files) or [DEFAULT_SPEC]
    return finish(
        lambda: command.run(
            paths,
            now=make_clock(GlobalOptions(now=now))(),
            output_format=output_format,
            ui=ClickUI(),
        )
    )


@app.command()
@spec_option(DEFAULT_SPEC)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    help="text for people, markdown for PR comments, json for machines.",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan (JSON)."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--at", metavar="WHEN", help="Preview: plan as of a date or +30d.")
@global_options
def plan(**kwargs: Any) -> int:
    """Show what apply would do."""
    from reconciler.commands import plan as command

    options = make_global(kwargs)
    plan_options = command.PlanOptions(
        spec_path=kwargs["spec_path"],
        output_format=command.PlanFormat(kwargs["output_format"]),
        out=kwargs["out"],
        detailed_exitcode=kwargs["detailed_exitcode"],
        at=kwargs["at"],
    )
    return finish(lambda: command.run(plan_options, options, Environment.current(), ClickUI()))


@app.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@spec_option(None)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--rotate", multiple=True, metavar="NAME", help="Force a rotation of NAME.")
@click.option("--concurrency", type=int, default=4, show_default=True)
@click.option(
    "--lock-timeout",
    metavar="DURATION",
    default="0",
    show_default=True,
    help="How long to wait for another run's apply lock (0: fail at once, naming the holder).",
)
@click.option(
    "--allow-mass-revoke",
    is_flag=True,
    help="Apply even when more than policy.max_revokes (or half the namespace) would be revoked.",
)
@global_options
def apply(**kwargs: Any) -> int:
    """Create, rotate and revoke tokens; store new values."""
    from reconciler.commands import apply as command

    options = make_global(kwargs)
    plan_file: Path | None = kwargs["plan_file"]
    spec_path: Path | None = kwargs["spec_path"]
    target = plan_file or spec_path or DEFAULT_SPEC
    apply_options = command.ApplyCommandOptions(
        target=target,
        spec_override=spec_path if plan_file else None,
        auto_approve=kwargs["auto_approve"],
        rotate=frozenset(kwargs["rotate"]),
        concurrency=kwargs["concurrency"],
        lock_timeout=lock_timeout_option(kwargs["lock_timeout"]),
        allow_mass_revoke=kwargs["allow_mass_revoke"],
    )
    return finish(lambda: command.run(apply_options, options, Environment.current(), ClickUI()))


@app.command()
@click.argument("name")
@spec_option(DEFAULT_SPEC)
@click.option(
    "--grace", metavar="DURATION", help="How long the old token stays valid (0: revoke now)."
)
@click.option(
    "--lock-timeout",
    metavar="DURATION",
    default="0",
    show_default=True,
    help="How long to wait for another run's apply lock (0: fail at once, naming the holder).",
)
@global_options
def rotate(**kwargs: Any) -> int:
    """Emergency: rotate one token now, without waiting for its policy."""
    from reconciler.commands import apply as command

    options = make_global(kwargs)
    name: str = kwargs["name"]
    apply_options = command.ApplyCommandOptions(
        target=kwargs["spec_path"],
        auto_approve=True,
        rotate=frozenset({name}),
        grace=duration_option(kwargs["grace"], "--grace"),
        only=frozenset({name}),
        lock_timeout=lock_timeout_option(kwargs["lock_timeout"]),
    )
    return finish(lambda: command.run(apply_options, options, Environment.current(), ClickUI()))


@app.command("force-unlock")
@click.argument("lock_id", metavar="ID")
@spec_option(DEFAULT_SPEC)
@global_options
def force_unlock(**kwargs: Any) -> int:
    """Break the apply lock with this ID (shown by the run that found it held)."""
    from reconciler.commands import force_unlock as command

    options = make_global(kwargs)
    return finish(
        lambda: command.run(
            kwargs["lock_id"], kwargs["spec_path"], options, Environment.current(), ClickUI()
        )
    )


@app.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4242, show_default=True)
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), help="SQLite file.")
@click.option(
    "--admin-token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("ppm-emulator-admin.token"),
    show_default=True,
    help="Where the bootstrap global:admin token is written (0600).",
)
def emulator(host: str, port: int, db: Path | None, admin_token_file: Path) -> int:
    """Run a PPM-compatible server for trials and tests."""
    from reconciler.commands import emulator as command

    configure_logging(False)
    return finish(
        lambda: command.run(
            host=host, port=port, db=db, admin_token_file=admin_token_file, ui=ClickUI()
        )
    )


@app.command()
def demo() -> int:
    """The whole loop against an embedded emulator, in a temporary directory."""
    from reconciler.commands import demo as command

    configure_logging(False)
    return finish(lambda: command.run(ui=ClickUI()))
