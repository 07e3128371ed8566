from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.apply import ActionResult, ApplyOptions, ApplyReport, apply_plan
from reconciler.desired.model import Spec, TokenSpec
from reconciler.plan.model import Plan
from reconciler.stores.file import FileStore

from .fakes import SERVER_URL, Clock, EventLog, FakeDriver, RecordingStore, make_spec


@dataclass
class World:
    """Everything one apply run touches, with the fakes exposed for assertions."""

    clock: Clock
    log: EventLog
    driver: FakeDriver
    files: FileStore
    store: RecordingStore
    secrets_dir: Path
    sleeps: list[float] = field(default_factory=list)
    progress: list[ActionResult] = field(default_factory=list)

    def spec(self, *tokens: TokenSpec, protect: frozenset[str] = frozenset()) -> Spec:
        return make_spec(tokens, protect=protect, secrets_dir=str(self.secrets_dir))

    def apply(
        self,
        plan: Plan,
        spec: Spec,
        options: ApplyOptions | None = None,
        *,
        on_progress: Callable[[ActionResult], None] | None = None,
        halt: Callable[[], str | None] = lambda: None,
    ) -> ApplyReport:
        return apply_plan(
            plan,
            spec=spec,
            driver=self.driver,
            stores={"local": self.store},
            now=self.clock,
            options=options or ApplyOptions(),
            on_progress=on_progress or self.progress.append,
            sleep=self.sleeps.append,
            server_url=SERVER_URL,
            halt=halt,
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    clock = Clock()
    log = EventLog()
    secrets_dir = tmp_path / "secrets"
    files = FileStore("local", secrets_dir)
    return World(
        clock=clock,
        log=log,
        driver=FakeDriver(clock, log, self_guid="admin-guid"),
        files=files,
        store=RecordingStore(files, log),
        secrets_dir=secrets_dir,
    )
