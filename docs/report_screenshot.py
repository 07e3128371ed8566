"""Regenerates docs/report.png, the picture of `ppm-tokens report --html` in the Day-2 guide
(docs/day-2.md).

    .venv/bin/python docs/report_screenshot.py

Starts an emulator on a free loopback port, builds the same inventory as the report's browser
test (tests/ops/inventory.py), writes the report and photographs it at 1280x800 with headless
Chromium (Debian's chromium and chromium-driver).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.emulator.control import EmulatorControl  # noqa: E402
from reconciler.emulator.server import emulator  # noqa: E402
from reconciler.secret import Secret  # noqa: E402
from reconciler.server.http import HttpDriver  # noqa: E402
from tests.ops.browser import chromium  # noqa: E402
from tests.ops.inventory import build  # noqa: E402
from tests.ops.seed import utc_now  # noqa: E402

OUT = ROOT / "docs" / "report.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        with emulator(db_path=work / "db.sqlite3", admin_token_file=work / "admin.token") as em:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")},
                "PACKAGEMANAGER_ADDRESS": em.url,
                "PACKAGEMANAGER_TOKEN": em.admin_token(),
                "HOME": str(work),
            }

            def cli(*args: str) -> None:
                subprocess.run(
                    [sys.executable, "-m", "reconciler", *args],
                    cwd=work,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )

            def apply(spec: Path, at: datetime) -> None:
                cli("apply", "-f", str(spec), "--auto-approve", "--now", at.isoformat())

            with (
                EmulatorControl(em.url, em.admin_token()) as control,
                HttpDriver(em.url, Secret(em.admin_token())) as driver,
            ):
                specs = build(work, control, driver, apply, now=utc_now())
            cli("report", "--html", "report.html", *(a for s in specs for a in ("-f", str(s))))
            with chromium() as browser:
                browser.get((work / "report.html").as_uri())
                browser.save_screenshot(str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
