"""The engine with a real command store, whose values cannot be read back."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import MappingProxyType

from reconciler.apply import ApplyReport, apply_plan
from reconciler.desired.model import StoreConfig
from reconciler.plan.model import Action, ActionKind
from reconciler.stores.command import open_command_store
from reconciler.stores.registry import StoreContext

from .conftest import World
from .fakes import SERVER_URL, make_plan, token_spec

SCRIPT = """
import os, sys
data = sys.stdin.read()
if os.environ.get("BROKEN"):
    sys.stderr.write("cannot save " + data)
    sys.exit(1)
with open(os.environ["VAULT_FILE"], "w") as handle:
    handle.write(data)
"""


def run(world: World, tmp_path: Path, env: dict[str, str]) -> tuple[ApplyReport, str]:
    script = tmp_path / "save.py"
    script.write_text(SCRIPT)
    options = {
        "command": [sys.executable, str(script), "{secret}"],
        "state_dir": str(tmp_path / "state"),
        "env": ["VAULT_FILE", "BROKEN"],
    }
    context = StoreContext(
        spec_dir=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "VAULT_FILE": str(tmp_path / "vault"), **env},
    )
    store = open_command_store(StoreConfig("op", "command", MappingProxyType(options)), context)
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read", store="op")
    plan = make_plan(Action(ActionKind.REPAIR, "ds-read", "no metadata", token, old, True))
    report = apply_plan(
        plan,
        spec=world.spec(token),
        driver=world.driver,
        stores={"op": store},
        now=world.clock,
        sleep=world.sleeps.append,
        server_url=SERVER_URL,
    )
    return report, old


def test_repair_through_a_command_store(world: World, tmp_path: Path) -> None:
    report, old = run(world, tmp_path, {})

    assert report.ok
    new = report.results[0].new_guid or ""
    assert (tmp_path / "vault").read_text() == world.driver.value_of(new or "").reveal()
    assert world.log.index("check", new, "ok") < world.log.index("revoke", old)
    assert (tmp_path / "state" / "ppm" / "ds-read.meta.json").is_file()


def test_broken_command_rolls_back_without_quoting_the_value(world: World, tmp_path: Path) -> None:
    report, old = run(world, tmp_path, {"BROKEN": "1"})

    (result,) = report.results
    assert not result.ok and world.driver.active(old)
    assert not world.driver.active(result.new_guid or "")
    assert "exited with status 1: cannot save (sensitive value)" in (result.error or "")
    assert all(value not in (result.error or "") for value in world.driver.issued_values)
    assert world.sleeps == [0.5, 1.0, 2.0]
