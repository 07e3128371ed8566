"""`ppm-tokens apply` end to end with each remote store: vault on OpenBao, aws on moto, github
on the fake; then `plan` converged. Every run is scanned for issued values (see conftest), with
`-v` and the SDKs' debug logging on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli
from tests.e2e.real_stores import (
    Backend,
    remote_backend,
    run_with_debug_logs,
    spec_text,
)
from tests.e2e.test_invariants import api_changes, managed
from tests.stores.moto_server import moto
from tests.stores.openbao import openbao

__all__ = ["moto", "openbao"]  # fixtures

NAMES = ["ds-read", "ci-read", "build-read"]


@pytest.fixture(params=["vault", "aws", "github"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with remote_backend(request.param, request) as (backend, _):
        yield backend


def assert_converged(
    cli: Cli, spec: str, backend: Backend, driver: HttpDriver, control: EmulatorControl
) -> None:
    """I3: one active token per name, the store names it, and its value authenticates."""
    now = control.now().isoformat()
    plan = cli("plan", "-f", spec, "--detailed-exitcode", "--now", now, **backend.env)
    assert plan.code == 0, plan.stdout + plan.stderr
    active = managed(driver)
    for name in NAMES:
        (token,) = active[name]
        held = backend.held(backend.secret_name(name))
        assert held is not None, name
        assert held.meta["token_guid"] == token.guid
        assert driver.check_token(held.value, token)


def test_apply_with_each_store_then_plan_converges(
    cli: Cli, backend: Backend, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(spec_text(backend, NAMES))

    first = run_with_debug_logs(cli, "apply", "-f", str(spec), "--auto-approve", **backend.env)

    assert first.code == 0, first.stdout + first.stderr
    # The SDKs' debug logging was really on (so the leak scan covered it).
    sdk = "botocore" if backend.kind == "aws" else "httpcore"
    assert f"DEBUG {sdk}" in first.stderr
    assert_converged(cli, str(spec), backend, http_driver, emulator_control)
    # I4: a second apply changes nothing on the server.
    emulator_control.clear_log()
    again = cli("apply", "-f", str(spec), "--auto-approve", **backend.env)
    assert again.code == 0 and api_changes(emulator_control) == []


def test_rotation_with_grace_then_retirement(
    cli: Cli, backend: Backend, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(spec_text(backend, NAMES))
    assert cli("apply", "-f", str(spec), "--auto-approve", **backend.env).code == 0
    before = {name: managed(http_driver)[name][0].guid for name in NAMES}

    emulator_control.advance(timedelta(days=61))
    now = emulator_control.now().isoformat()
    rotated = cli("apply", "-f", str(spec), "--auto-approve", "--now", now, **backend.env)
    assert rotated.code == 0, rotated.stdout + rotated.stderr
    for name in NAMES:
        guids = {t.guid for t in managed(http_driver)[name]}
        assert before[name] in guids and len(guids) == 2  # the old one lives out its grace
        held = backend.held(backend.secret_name(name))
        assert held is not None and held.meta["token_guid"] != before[name]

    emulator_control.advance(timedelta(days=4))
    now = emulator_control.now().isoformat()
    retired = cli("apply", "-f", str(spec), "--auto-approve", "--now", now, **backend.env)
    assert retired.code == 0, retired.stdout + retired.stderr
    assert_converged(cli, str(spec), backend, http_driver, emulator_control)
    assert all(before[n] not in {t.guid for t in managed(http_driver)[n]} for n in NAMES)


def test_repair_after_the_secret_is_deleted_out_of_band(
    cli: Cli, backend: Backend, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(spec_text(backend, NAMES))
    assert cli("apply", "-f", str(spec), "--auto-approve", **backend.env).code == 0
    lost = managed(http_driver)["ds-read"][0].guid

    backend.delete_out_of_band(backend.secret_name("ds-read"))

    plan = cli("plan", "-f", str(spec), "--detailed-exitcode", **backend.env)
    assert plan.code == 2 and "ds-read" in plan.stdout, plan.stdout + plan.stderr
    repaired = cli("apply", "-f", str(spec), "--auto-approve", **backend.env)
    assert repaired.code == 0, repaired.stdout + repaired.stderr
    assert lost not in {t.guid for t in managed(http_driver)["ds-read"]}
    assert_converged(cli, str(spec), backend, http_driver, emulator_control)


def test_a_store_that_takes_the_value_but_refuses_its_metadata_writes_nothing(
    cli: Cli, backend: Backend, http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    """Credentials short of the documented permissions, allowed to write values but not
    metadata: the intent of the write, which goes before the value, is refused, so nothing is
    written and the new token is revoked. Whatever the store holds afterwards still
    authenticates, and a run with the right credentials converges."""
    spec = cli.workdir / "tokens.yaml"
    spec.write_text(spec_text(backend, NAMES))
    assert cli("apply", "-f", str(spec), "--auto-approve", **backend.env).code == 0
    old = managed(http_driver)["ds-read"][0]
    key = backend.secret_name("ds-read")

    with backend.metadata_refused() as refused_env:
        run = run_with_debug_logs(
            cli, "apply", "-f", str(spec), "--auto-approve", "--rotate", "ds-read", **refused_env
        )

    assert run.code == 1, run.stdout + run.stderr
    assert "store 'remote'" in run.stderr and "403" in run.stderr
    assert "Traceback" not in run.stderr
    active = managed(http_driver)["ds-read"]
    assert [t.guid for t in active] == [old.guid]  # the new token was revoked
    held = backend.held(key)
    assert held is not None and held.meta["token_guid"] == old.guid
    assert http_driver.check_token(held.value, old)  # consumers of the old value keep working

    repaired = cli("apply", "-f", str(spec), "--auto-approve", **backend.env)
    assert repaired.code == 0, repaired.stdout + repaired.stderr
    emulator_control.advance(timedelta(days=4))  # past the grace of anything it replaced
    now = emulator_control.now().isoformat()
    settled = cli("apply", "-f", str(spec), "--auto-approve", "--now", now, **backend.env)
    assert settled.code == 0, settled.stdout + settled.stderr
    assert_converged(cli, str(spec), backend, http_driver, emulator_control)
