"""`ppm-tokens demo`: the whole loop against an embedded emulator, in a temporary directory.

Creates tokens from a small spec, shows that a second plan is empty, moves the emulator's clock past
the rotation point, rotates, and proves with real pip that the new token downloads a package and,
once the grace period is over, the old one no longer does. Nothing is written outside a temporary
directory, and no token value is shown.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands import terminal
from reconciler.commands.apply import execute
from reconciler.commands.plan import compute_plan, read_live
from reconciler.commands.runtime import Environment
from reconciler.desired import load_spec
from reconciler.desired.model import Spec
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.extra import require_emulator_extra, require_pip
from reconciler.emulator.packages import PROJECT
from reconciler.emulator.pip import pip_download
from reconciler.plan.render_text import render_text
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.stores.base import SecretStore
from reconciler.stores.registry import StoreContext, open_stores
from reconciler.ui import UI

if TYPE_CHECKING:
    from reconciler.emulator.server import RunningEmulator

DEMO_PACKAGE = PROJECT

DEMO_SPEC = """\
version: 1
namespace: demo
defaults:
  expires: 90d
  rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
  store: local
stores:
  local: {{type: file, path: {store_dir}}}
policy:
  max_expires: 365d
  unmanaged: report
tokens:
  - name: analysts-pypi
    user: analyst@example.com
    description: Analysts download Python packages
    scope: repos:read
    resources: [pypi]
    format: netrc          # pip reads it as a netrc file
  - name: ci-admin
    user: ci-system
    description: CI/CD pipeline administration
    scope: global:admin
  - name: maintainers-upload
    user: maintainers@example.com
    description: Maintainers upload internal packages
    scope: sources:write
    resources: [internal-src]
    format: json
"""


class Demo:
    def __init__(self, ui: UI, workdir: Path, running: RunningEmulator, env: Environment) -> None:
        self.ui = ui
        self.workdir = workdir
        self.running = running
        self.control = EmulatorControl(running.url, running.admin_token())
        self.spec_path = workdir / "tokens.yaml"
        self.store_dir = workdir / "secrets"
        self.spec_path.write_text(DEMO_SPEC.format(store_dir=self.store_dir), encoding="utf-8")
        self.env = env
        self.step_number = 0

    def step(self, title: str) -> None:
        self.step_number += 1
        self.ui.out(f"\n== {self.step_number}. {title}")

    def clock(self) -> datetime:
        # The reconciler reads the emulator's clock so that moving it moves time for both.
        return self.control.now()

    def spec(self) -> Spec:
        return load_spec(self.spec_path, now=self.clock())

    def stores(self, spec: Spec) -> dict[str, SecretStore]:
        return open_stores(spec, StoreContext(spec_dir=self.workdir, env=self.env.variables))

    def driver(self) -> HttpDriver:
        return HttpDriver(self.running.url, Secret(self.running.admin_token()))

    def plan_and_apply(self, *, apply: bool = True, show: bool = True) -> bool:
        spec = self.spec()
        stores = self.stores(spec)
        driver = self.driver()
        try:
            live = read_live(driver)
            plan = compute_plan(
                spec, driver, stores, now=self.clock(), server=self.running.url, live=live
            )
            if show:
                self.ui.out(render_text(plan, color=self.ui.color))
            if not apply or not plan.has_changes:
                return plan.has_changes
            self.ui.out("\n$ ppm-tokens apply --auto-approve")
            code = execute(
                plan,
                spec,
                driver,
                stores,
                concurrency=4,
                server=self.running.url,
                ui=self.ui,
                live=live,
            )
            if code != 0:
                raise SystemExit(code)
            return True
        finally:
            driver.close()

    def netrc_path(self, name: str) -> Path:
        return self.store_dir / name

    def pip_download(self, netrc: Path) -> bool:
        """Real pip, credentials from a netrc file: never from the command line."""
        target = Path(tempfile.mkdtemp(dir=self.workdir, prefix="pip-"))
        index = f"{self.running.url}/pypi/latest/simple/"
        return pip_download(index, target, env=self.env.variables, netrc=netrc)

    def refused(self, netrc: Path) -> bool:
        """pip with `netrc` failed because the server refused the token (401), as the emulator's
        log shows, not for any other reason (no pip, no network, a 500)."""
        self.control.clear_log()
        downloaded = self.pip_download(netrc)
        statuses = {
            entry["status"]
            for entry in self.control.request_log()
            if str(entry["path"]).startswith("/pypi/")
        }
        return not downloaded and statuses == {401}

    def run(self) -> int:
        ui = self.ui
        self.step(f"An emulator is serving at {self.running.url}")
        ui.out(f"   its bootstrap admin token is in {self.running.admin_token_file} (mode 0600)")
        ui.out(f"   the spec is {self.spec_path}; secrets go to {self.store_dir}")

        self.step("ppm-tokens plan")
        self.plan_and_apply(apply=False)
        self.step("ppm-tokens apply: create, store, verify (the plan above)")
        self.plan_and_apply(show=False)
        self.step("ppm-tokens plan, again: nothing to do")
        if self.plan_and_apply(apply=False):
            ui.err("demo: the second plan was not empty")
            return 1

        netrc = self.netrc_path("analysts-pypi")
        old_netrc = self.workdir / "analysts-pypi.before-rotation"
        old_netrc.write_bytes(netrc.read_bytes())
        old_netrc.chmod(0o600)

        self.step("61 days pass (the emulator's clock moves): rotation.after 60d is reached")
        self.control.advance(timedelta(days=61))
        self.plan_and_apply()
        ok_new = self.pip_download(netrc)
        ui.out(f"   pip download {DEMO_PACKAGE} with the new token: {'OK' if ok_new else 'FAILED'}")
        ok_old_during_grace = self.pip_download(old_netrc)
        ui.out(
            "   the old token during the 3-day grace period: "
            f"{'still works' if ok_old_during_grace else 'FAILED'}"
        )

        self.step("3 more days pass: the grace period is over, old generations retire")
        self.control.advance(timedelta(days=3, minutes=1))
        self.plan_and_apply()
        old_refused = self.refused(old_netrc)
        ui.out(
            "   pip download with the old token: "
            f"{'refused (401), as it should be' if old_refused else 'NOT refused by the server'}"
        )
        self.step("ppm-tokens plan: converged")
        converged = not self.plan_and_apply(apply=False)
        healthy = ok_new and ok_old_during_grace and old_refused and converged
        ui.out("\nDemo complete." if healthy else "\nDemo FAILED: see above.")
        return 0 if healthy else 1


def run(
    *, ui: UI, env: Environment | None = None, clock: Callable[[], float] = time.monotonic
) -> int:
    # The emulator extra (uvicorn, starlette): loaded when the demo runs, so that the rest of the
    # command line, --help included, works without it, and said so when missing.
    require_emulator_extra("demo")
    require_pip()
    from reconciler.emulator.server import start_emulator

    started = clock()
    environment = env or Environment.current()
    with tempfile.TemporaryDirectory(prefix="ppm-tokens-demo-") as tmp:
        workdir = Path(tmp)
        running = start_emulator(
            db_path=workdir / "emulator.sqlite3", admin_token_file=workdir / "admin.token"
        )
        try:
            code = Demo(ui, workdir, running, environment).run()
        finally:
            running.stop()
    ui.err(f"(demo took {clock() - started:.1f} s)")
    return code


@click.command("demo")
def command() -> int:
    """The whole loop against an embedded emulator, in a temporary directory."""
    terminal.configure_logging(False)
    return terminal.finish(lambda: run(ui=terminal.ClickUI()))
