"""The emulator's paging settings and the read-only endpoints that each need one scope."""

from __future__ import annotations

import httpx
import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.faults import FaultConfig
from reconciler.emulator.server import RunningEmulator


def get(emulator: RunningEmulator, path: str, **params: int) -> httpx.Response:
    headers = {"Authorization": f"Bearer {emulator.admin_token()}"}
    return httpx.get(emulator.url + path, headers=headers, params=params, timeout=10)


def test_pages_are_capped_ignored_and_totalled_as_configured(
    emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    first = get(emulator, "/__api__/tokens", _limit=50, _page=1)
    assert first.headers["X-Total-Count"] == "1" and len(first.json()) == 1
    assert get(emulator, "/__api__/tokens", _limit=50, _page=2).json() == []

    emulator_control.set_faults(ignore_page=True, total_header=False)
    again = get(emulator, "/__api__/tokens", _limit=50, _page=2)
    assert len(again.json()) == 1 and "X-Total-Count" not in again.headers
    assert emulator_control.faults()["ignore_page"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"page_cap": -1}, "page_cap must be between"),
        ({"ignore_page": "yes"}, "ignore_page must be true or false"),
        ({"total_header": 1}, "total_header must be true or false"),
        ({"create_failure_status": 200}, "create_failure_status must be between"),
    ],
)
def test_bad_paging_settings_are_refused(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultConfig.from_json(body)


def test_settings_round_trip() -> None:
    config = FaultConfig.from_json(
        {"page_cap": 7, "ignore_page": True, "refuse_creates": 2, "create_failure_status": 429}
    )
    assert FaultConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    "path",
    [
        "/__api__/blocklist",
        "/__api__/blocklist/settings",
        "/__api__/metadata",
        "/__api__/metadata/settings",
        "/__api__/sources/internal-src/uploads",
        "/__api__/sources/internal-src/settings",
    ],
)
def test_scope_endpoints_refuse_anonymous_callers_and_admit_global_admin(
    emulator: RunningEmulator, path: str
) -> None:
    assert httpx.get(emulator.url + path, timeout=10).status_code == 401
    assert get(emulator, path).status_code == 200


def test_a_source_endpoint_for_an_unknown_source_is_not_found(emulator: RunningEmulator) -> None:
    assert get(emulator, "/__api__/sources/nope/uploads").status_code == 404
    assert get(emulator, "/__api__/sources/pypi/uploads").status_code == 404  # a repository
