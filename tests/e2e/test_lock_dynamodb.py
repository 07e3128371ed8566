"""Two applies at once against one namespace, with the lock in DynamoDB (moto): one runs, the
other waits or fails naming the holder; afterwards every name has exactly one active token."""

from __future__ import annotations

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, Run
from tests.e2e.real_stores import aws_backend
from tests.e2e.test_crash_aws import TOKENS, spec_text
from tests.e2e.test_invariants import managed
from tests.locks.test_remote_locks import dynamodb_table
from tests.stores.moto_server import Moto, moto

__all__ = ["moto"]  # fixture


def test_two_applies_at_once_one_waits_or_fails_and_each_name_ends_with_one_token(
    cli: Cli, moto: Moto, emulator_control: EmulatorControl, http_driver: HttpDriver
) -> None:
    backend = aws_backend(moto)
    table = dynamodb_table(moto)
    spec = cli.workdir / "tokens.yaml"
    text = spec_text(backend.store, 0)
    spec.write_text(
        text.replace("tokens:\n", f"lock: {{type: dynamodb, table: {table}}}\ntokens:\n", 1)
    )
    emulator_control.set_faults(latency_ms=50)  # both runs overlap
    runs = [
        cli.popen("apply", "-f", str(spec), "--auto-approve", "--lock-timeout", "0", **backend.env)
        for _ in range(2)
    ]
    outcomes = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=180)
        outcomes.append((run.returncode, stdout, stderr))
        cli.runs.append(Run(("apply", "--lock-timeout", "0"), run.returncode, stdout, stderr))
    emulator_control.clear_faults()

    codes = sorted(code for code, _, _ in outcomes)
    assert codes in ([0, 0], [0, 1]), outcomes
    for code, _, stderr in outcomes:
        if code == 1:
            assert "holds the apply lock" in stderr and "force-unlock" in stderr
    active = managed(http_driver)
    assert len(active) == TOKENS and all(len(tokens) == 1 for tokens in active.values())
    plan = cli("plan", "-f", str(spec), "--detailed-exitcode", **backend.env)
    assert plan.code == 0, plan.stdout + plan.stderr
