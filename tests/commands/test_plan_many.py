"""`plan` of several specs, in process: the live state is hashed only for a plan that shows or
saves its fingerprint, as for one spec; a saved plan that cannot be written names --out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.commands import plan_many
from reconciler.commands.plan import PlanFormat, PlanOptions, save_plan
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.desired.model import Spec
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.errors import UsageError
from reconciler.plan import planner
from reconciler.plan.fingerprint import NO_FINGERPRINT
from reconciler.plan.many import PlanSet, SpecPlan
from tests.desired.test_validate_command import RecordingUI
from tests.plan.scenario import scenario

from .test_specs import spec_file


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    running = start_emulator(
        db_path=tmp_path / "state" / "db.sqlite3", admin_token_file=tmp_path / "state" / "admin"
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    "case",
    [
        # (format, --out given, whether the live state is hashed)
        pytest.param((PlanFormat.TEXT, False, False), id="text"),
        pytest.param((PlanFormat.TEXT, True, True), id="text-saved"),
        pytest.param((PlanFormat.MARKDOWN, False, True), id="markdown"),
        pytest.param((PlanFormat.JSON, False, True), id="json"),
    ],
)
def test_the_live_state_is_hashed_only_where_the_plan_shows_or_saves_it(
    tmp_path: Path,
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[PlanFormat, bool, bool],
) -> None:
    output_format, out, hashed = case
    for name in ("a", "b"):
        spec_file(tmp_path / "tokens" / f"{name}.yaml", name, store=str(tmp_path / name))
    hashed_for: list[str] = []
    real = planner.live_fingerprint

    def counted(spec: Spec, *args: Any, **kwargs: Any) -> str:
        hashed_for.append(spec.namespace)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(planner, "live_fingerprint", counted)
    saved = tmp_path / "plan.json"
    options = PlanOptions(
        spec_path=tmp_path, output_format=output_format, out=saved if out else None
    )
    token = tmp_path / "admin.token"
    token.write_text(emulator.admin_token())
    ui = RecordingUI()
    code = plan_many.run(
        [tmp_path / "tokens"],
        options,
        GlobalOptions(server=emulator.url, token_file=token),
        Environment({}, tmp_path),
        ui,
    )
    assert code == 0, ui.stderr
    assert hashed_for == (["a", "b"] if hashed else [])
    if out:
        plans = json.loads(saved.read_text())["plans"]
        assert NO_FINGERPRINT not in [part["live_fingerprint"] for part in plans]


def test_a_plan_that_cannot_be_written_is_a_usage_error_naming_out(tmp_path: Path) -> None:
    """A write that fails after the up-front check (a full disk, a directory made meanwhile)
    says which option's file, as report and audit do; not a bare OSError."""
    plan = scenario()[1]
    directory = tmp_path / "plan.json"
    directory.mkdir()
    with pytest.raises(UsageError, match=f"cannot write --out {directory}: Is a directory"):
        save_plan(plan, directory)
    plans = PlanSet((SpecPlan("a.yaml", plan.server, plan.namespace, plan=plan),) * 2)
    with pytest.raises(UsageError, match=f"cannot write --out {directory}: Is a directory"):
        plan_many.save(plans, directory, RecordingUI())
