"""`ppm-tokens doctor`: check, on a real server, every assumption apply relies on.

With the rspm driver it first compares the CLI's version with the server's (their major.minor
must match). It lists tokens, creates one probe (a one-day `repos:read` token marked
`[ppm-tokens:doctor/probe]`), proves it against a repository, revokes it and checks that the
revoked value is refused, retrying while revocation propagates. Each step says what it assumed.
It stops at the first assumption that does not hold (exit 1) and revokes the probe on the way
out. With a spec whose server.auth is identity federation, it first exchanges the identity
token and says what the server gave; with a spec at all, it then tries the proof of every scope
the spec uses (doctor_proofs), one probe each. Nothing else on the server is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from reconciler import cli
from reconciler.commands import doctor_proofs, terminal
from reconciler.commands.clocks import server_clock
from reconciler.commands.doctor_exchange import exchange_step
from reconciler.commands.doctor_probe import (
    NOT_A_TOKEN,
    PROBE_DESCRIPTION,
    PROBE_LIFETIME,
    PROBE_NAME,
    PROBE_NAMESPACE,
    PROBE_USER,
    Doctor,
)
from reconciler.commands.doctor_steps import Step
from reconciler.commands.runtime import Environment, GlobalOptions, make_clock, open_driver
from reconciler.desired import load_spec
from reconciler.desired.model import AuthType
from reconciler.errors import UsageError
from reconciler.ownership import stored_description
from reconciler.sanitize import for_terminal
from reconciler.server.rspm import RspmDriver
from reconciler.ui import UI


@dataclass(frozen=True)
class DoctorOptions:
    spec_path: Path | None = None
    repo: str | None = None
    revoke_wait: timedelta = timedelta(minutes=1)


def run(options: DoctorOptions, global_options: GlobalOptions, env: Environment, ui: UI) -> int:
    if global_options.now is not None:
        # The probe is a real token on a real server: its expiry may come from no clock but
        # the server's, and the checks are of the server as it is now.
        raise UsageError(
            "doctor checks the server as it is now and creates a real probe token: it takes "
            "no --now"
        )
    clock = make_clock(global_options)
    spec = load_spec(options.spec_path, now=clock()) if options.spec_path else None

    def report(step: Step) -> None:
        ui.out(step.render())

    federated = (
        spec is not None
        and global_options.token_file is None
        and spec.server.auth.type is AuthType.IDENTITY_FEDERATION
    )
    credential = None
    if federated and spec is not None:
        credential = exchange_step(global_options, env, spec, report)
        if credential is None:
            return _verdict(ui, False)
    # Every scope's own request is tried, whatever server.proof says (the weaker proof is
    # checked beside it), so the report says whether a declaration is still needed.
    driver = open_driver(global_options, env, spec, clock, credential, weaker_proofs=False)
    kind = "rspm" if isinstance(driver, RspmDriver) else "http"
    changed = "its probe tokens are" if spec is not None else "one probe token is"
    ui.out(f"Checking the server with the {kind} driver; nothing but {changed} changed.")
    if isinstance(driver, RspmDriver):
        ui.out(f"      rspm command: {' '.join(for_terminal(w) for w in driver.command)}")
    try:
        # The probes are real tokens: their expiries count on the server's clock.
        server_time = server_clock(driver)
        doctor = Doctor(driver, server_time, report, federated=federated)
        ok = doctor.run(options.repo, options.revoke_wait)
        if ok and spec is not None:
            checks = doctor_proofs.ProofChecks(
                driver,
                server_time,
                report,
                not_a_token=NOT_A_TOKEN,
                description=stored_description(PROBE_DESCRIPTION, PROBE_NAMESPACE, PROBE_NAME),
                user=PROBE_USER,
                lifetime=PROBE_LIFETIME,
            )
            ok = checks.run(spec)
            if checks.failed:
                ui.out(
                    f"The proof of {', '.join(checks.failed)} does not hold on this server: "
                    "every such create would fail (see FAIL above for what to do)."
                )
    finally:
        driver.close()
    return _verdict(ui, ok)


def _verdict(ui: UI, ok: bool) -> int:
    if ok:
        ui.out("Every assumption holds: this server can be trusted to ppm-tokens.")
        return 0
    ui.out("An assumption does not hold (FAIL above): fix it before applying to this server.")
    return 1


@click.command("doctor")
@click.option(
    "-f",
    "--file",
    "spec_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Take the server settings (url, driver, rspm, auth) from this spec, and try the proof "
    "of every scope it uses.",
)
@click.option("--repo", metavar="NAME", help="The repository to prove the probe against.")
@click.option(
    "--revoke-wait",
    metavar="DURATION",
    callback=cli.duration_flag,
    default="60s",
    show_default=True,
    help="How long a revocation may take to propagate.",
)
@cli.global_options
def command(**kwargs: Any) -> int:
    """Check a real server: list, create a probe, prove, revoke, refused; with -f, every
    scope's proof too. Exit 1 when an assumption does not hold."""
    options = cli.make_global(kwargs, spec_programs=True)
    doctor_options = DoctorOptions(
        spec_path=kwargs["spec_path"], repo=kwargs["repo"], revoke_wait=kwargs["revoke_wait"]
    )
    return terminal.run_command(run, doctor_options, options)
