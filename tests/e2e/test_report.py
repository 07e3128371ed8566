"""`ppm-tokens report`: the HTML inventory in a real browser (headless Chromium), the page's
filters, search, sort and column choice driven through the DOM; and the Markdown variant."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from reconciler.emulator.control import EmulatorControl
from reconciler.server.http import HttpDriver
from tests.e2e.conftest import REPO_ROOT, Cli
from tests.ops.browser import HEIGHT, WIDTH, chromium, png_size
from tests.ops.inventory import build
from tests.ops.seed import utc_now

ARTIFACTS = REPO_ROOT / "test-artifacts"  # ignored by git; CI may upload it


@pytest.fixture
def inventory(cli: Cli, emulator_control: EmulatorControl, http_driver: HttpDriver) -> list[Path]:
    def apply(spec: Path, at: datetime) -> None:
        run = cli("apply", "-f", str(spec), "--auto-approve", "--now", at.isoformat())
        assert run.code == 0, run.stderr

    return build(cli.workdir, emulator_control, http_driver, apply, now=utc_now())


def visible_rows(browser: WebDriver) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#token-rows tr")
    return [row.find_element(By.CSS_SELECTOR, "td[data-column=name]").text for row in rows]


def statuses(browser: WebDriver) -> list[str]:
    cells = browser.find_elements(By.CSS_SELECTOR, "#token-rows td[data-column=status]")
    return [cell.text for cell in cells]


def clear(field: WebElement) -> None:
    """Empties a text box the way typing does (clear() fires no input event)."""
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)


def choose(browser: WebDriver, select_id: str, value: str) -> None:
    Select(browser.find_element(By.ID, select_id)).select_by_value(value)


def test_report_in_a_browser(cli: Cli, inventory: list[Path], http_driver: HttpDriver) -> None:
    args = [item for spec in inventory for item in ("-f", str(spec))]
    run = cli("report", "--html", "report.html", "--markdown", "report.md", *args)
    assert run.code == 0, run.stderr
    page = cli.workdir / "report.html"
    source = page.read_text()
    # One self-contained file: nothing to load, nothing to send.
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", source)
    assert "Content-Security-Policy" in source and "default-src 'none'" in source
    live = http_driver.list_tokens()

    with chromium() as browser:
        browser.get(page.as_uri())
        assert browser.find_element(By.ID, "count").text == f"{len(live)} of {len(live)} tokens"
        # Active tokens first, newest first among them (the page's default order).
        shown = statuses(browser)
        assert shown == sorted(shown, key=lambda s: s != "active")

        choose(browser, "status", "revoked")
        assert visible_rows(browser) == ["Laptop token (lost)"]
        choose(browser, "status", "expired")
        assert visible_rows(browser) == ["Conference demo"]
        choose(browser, "status", "all")

        choose(browser, "expiration", "never")
        never = {t.description for t in live if t.expires is None}
        assert set(visible_rows(browser)) == never
        choose(browser, "expiration", "all")

        search = browser.find_element(By.ID, "search")
        search.send_keys("ZÜRICH")  # case-insensitive, non-ASCII
        assert visible_rows(browser) == ["Token für Zürich office"]
        clear(search)
        search.send_keys("ANALYST@")  # the user field
        assert visible_rows(browser) == ["ds-read"]
        clear(search)

        choose(browser, "namespace", "data-platform")
        assert sorted(visible_rows(browser)) == ["ci-upload", "ds-read"]
        choose(browser, "namespace", "all")

        choose(browser, "sort", "name")
        names = visible_rows(browser)
        active = [n for n, s in zip(names, statuses(browser), strict=True) if s == "active"]
        assert active == sorted(active, key=str.lower)
        assert names[-2:] == ["Conference demo", "Laptop token (lost)"]
        choose(browser, "sort", "-name")
        active_desc = [
            n
            for n, s in zip(visible_rows(browser), statuses(browser), strict=True)
            if s == "active"
        ]
        assert active_desc == list(reversed(active))
        choose(browser, "sort", "oldest")
        assert visible_rows(browser)[0] == "Legacy build server"

        user_header = browser.find_element(By.CSS_SELECTOR, "th[data-column=user]")
        assert user_header.is_displayed()
        browser.find_element(By.CSS_SELECTOR, "#tokens details summary").click()
        browser.find_element(By.CSS_SELECTOR, "input[data-toggle=user]").click()
        browser.find_element(By.CSS_SELECTOR, "input[data-toggle=id]").click()
        assert not user_header.is_displayed()
        guid_cells = browser.find_elements(By.CSS_SELECTOR, "#token-rows td[data-column=id]")
        assert {c.text for c in guid_cells} == {t.guid for t in live}
        browser.find_element(By.CSS_SELECTOR, "#tokens details summary").click()

        # Hostile text is shown escaped, never interpreted.
        hostile = next(n for n in visible_rows(browser) if n.startswith("evil"))
        assert "\\x1b[2J" in hostile and "\\u202e" in hostile
        assert "<script>alert(1)</script>" in hostile
        assert not browser.find_elements(By.CSS_SELECTOR, "#token-table script")
        # The timeline and the findings are there.
        assert browser.find_elements(By.CSS_SELECTOR, "#timeline svg .mark-rotates")
        assert browser.find_elements(By.CSS_SELECTOR, "#timeline svg .mark-expires")
        findings = browser.find_element(By.ID, "findings-table").text
        assert "PPMT004" in findings and "PPMT001" in findings
        # No script error and no Content-Security-Policy violation.
        problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert problems == []

        choose(browser, "sort", "newest")
        screenshot = cli.workdir.parent / "report.png"
        browser.save_screenshot(str(screenshot))
    assert png_size(screenshot) == (WIDTH, HEIGHT)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "report.png")

    markdown = (cli.workdir / "report.md").read_text()
    assert "# PPM token inventory" in markdown
    assert "## The next 180 days" in markdown and "## Audit findings" in markdown
    assert "\x1b" not in markdown and "<script>" not in markdown


def test_report_needs_a_destination(cli: Cli) -> None:
    run = cli("report")
    assert run.code == 1
    assert "--html FILE and/or --markdown FILE" in run.stderr
