"""The engine with the real http driver against the emulator: the fake's behaviour holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from reconciler.apply import ApplyOptions, ApplyReport, apply_plan
from reconciler.desired.model import TokenSpec
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, ActionKind, Plan
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest
from reconciler.stores.file import FileStore

from .fakes import NAMESPACE, make_plan, make_spec, token_spec


def run(
    plan: Plan,
    token: TokenSpec,
    *,
    emulator: RunningEmulator,
    control: EmulatorControl,
    driver: HttpDriver,
    root: Path,
) -> ApplyReport:
    return apply_plan(
        plan,
        spec=make_spec((token,), secrets_dir=str(root)),
        driver=driver,
        stores={"local": FileStore("local", root)},
        now=control.now,
        options=ApplyOptions(verify_backoff=0.01, store_backoff=0.01),
        sleep=lambda _seconds: None,
        server_url=emulator.url,
    )


def seed(driver: HttpDriver, control: EmulatorControl, name: str) -> str:
    request = TokenRequest(
        description=stored_description("Read access", NAMESPACE, name),
        user="analyst@example.com",
        scope="repos:read",
        resources=("cran",),
        expires=control.now() + timedelta(days=30),
    )
    return driver.create_token(request).token.guid


def test_replace_against_the_emulator(
    emulator: RunningEmulator,
    http_driver: HttpDriver,
    emulator_control: EmulatorControl,
    tmp_path: Path,
) -> None:
    old = seed(http_driver, emulator_control, "ds-read")
    token = token_spec("ds-read")
    action = Action(ActionKind.REPLACE, "ds-read", "scope", token, old, True)

    report = run(
        make_plan(action),
        token,
        emulator=emulator,
        control=emulator_control,
        driver=http_driver,
        root=tmp_path / "s",
    )

    assert report.ok, report.results[0].error
    new = report.results[0].new_guid
    live = {t.guid: t for t in http_driver.list_tokens()}
    now = emulator_control.now()
    assert live[new or ""].is_active(now) and not live[old].is_active(now)
    store = FileStore("local", tmp_path / "s")
    meta = store.read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == new
    value = (tmp_path / "s" / "ppm" / "ds-read").read_text()
    assert http_driver.check_token(Secret(value), live[new or ""])
    assert value in emulator_control.issued_values()


def test_lost_create_response_is_looked_for_revoked_and_created_again(
    emulator: RunningEmulator,
    http_driver: HttpDriver,
    emulator_control: EmulatorControl,
    tmp_path: Path,
) -> None:
    old = seed(http_driver, emulator_control, "ds-read")
    emulator_control.set_faults(drop_create_responses=1)
    token = token_spec("ds-read")
    action = Action(ActionKind.ROTATE, "ds-read", "age", token, guid=old)

    report = run(
        make_plan(action),
        token,
        emulator=emulator,
        control=emulator_control,
        driver=http_driver,
        root=tmp_path / "s",
    )

    (result,) = report.results
    assert result.ok, result.error
    (orphan,) = result.revoked
    now = emulator_control.now()
    mine = {
        t.guid: t
        for t in http_driver.list_tokens()
        if t.description == stored_description("Read access", NAMESPACE, "ds-read")
    }
    # The old one, the orphan whose value was lost (revoked), and the new one (stored).
    assert set(mine) == {old, orphan, result.new_guid}
    assert {g for g, t in mine.items() if t.is_active(now)} == {old, result.new_guid}
    meta = FileStore("local", tmp_path / "s").read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == result.new_guid
