"""A realistic inventory on an emulator, for the report's browser test and the README's
screenshot (docs/report_screenshot.py): managed tokens of two namespaces at different ages,
unmanaged ones, a revoked and an expired one, and one with hostile text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.ops.seed import HOSTILE, Seed, seed

SPEC = """\
version: 1
namespace: {namespace}
defaults:
  expires: 90d
  rotation: {{after: 60d, before_expiry: 14d, grace: 7d}}
  store: local
stores:
  local: {{type: file, path: {secrets}}}
tokens:
{tokens}"""

DATA_PLATFORM = """\
  - name: ds-read
    user: analyst@example.com
    description: Read access for data science
    scope: repos:read
    resources: [cran, pypi]
  - name: ci-upload
    user: ci-system
    description: CI uploads of internal packages
    scope: sources:write
    resources: [internal-src]
"""

ML_TEAM = """\
  - name: training
    user: ml-pipelines
    description: Model training jobs
    scope: repos:read
    resources: [pypi]
    rotation: {after: 30d, grace: 2d}
"""

UNMANAGED = [
    Seed(
        "legacy",
        "Legacy build server",
        user="build@example.com",
        age=timedelta(days=140),
        lifetime=None,
    ),
    Seed(
        "zurich",
        "Token für Zürich office",
        user="zh@example.com",
        age=timedelta(days=75),
        lifetime=timedelta(days=90),
    ),
    Seed("hostile", HOSTILE, user="mallory@example.com", age=timedelta(days=3)),
    Seed(
        "revoked",
        "Laptop token (lost)",
        user="alice@example.com",
        age=timedelta(days=50),
        revoke=True,
    ),
    Seed(
        "expired",
        "Conference demo",
        user="bob@example.com",
        age=timedelta(days=120),
        lifetime=timedelta(days=30),
    ),
]

Apply = Callable[[Path, datetime], None]


def build(
    directory: Path,
    control: EmulatorControl,
    driver: HttpDriver,
    apply: Apply,
    *,
    now: datetime,
) -> list[Path]:
    """Writes two specs under `directory`, applies them at past times, seeds the rest; returns
    the spec paths. The emulator's clock runs from `now` again afterwards."""
    specs = []
    for namespace, tokens, age in (
        ("data-platform", DATA_PLATFORM, timedelta(days=52)),
        ("ml-team", ML_TEAM, timedelta(days=33)),
    ):
        path = directory / f"{namespace}.yaml"
        path.write_text(
            SPEC.format(
                namespace=namespace, secrets=directory / "secrets" / namespace, tokens=tokens
            ),
            encoding="utf-8",
        )
        control.set_now(now - age, frozen=True)
        apply(path, now - age)
        specs.append(path)
    seed(control, driver, UNMANAGED, now=now)
    control.reset_clock()
    return specs
