"""A client for the emulator's test controls under /__emulator__/."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import httpx

from reconciler.emulator.clock import iso, parse_iso
from reconciler.server import endpoints


class EmulatorControl:
    """Without an injected client each call uses its own short-lived connection, so a control
    that is never closed leaks no socket."""

    def __init__(self, url: str, admin_token: str, client: httpx.Client | None = None) -> None:
        self._client = client
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"}

    def _call(self, method: str, path: str, body: object = None) -> Any:
        url, headers = self._url + path, self._headers
        if self._client is not None:
            response = self._client.request(method, url, headers=headers, json=body)
        else:
            with httpx.Client(timeout=10.0) as client:
                response = client.request(method, url, headers=headers, json=body)
        if response.status_code >= 400:
            # The emulator's error bodies never echo a token; the request headers are not shown.
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def now(self) -> datetime:
        return parse_iso(self._call("GET", endpoints.EMULATOR_CLOCK)["now"])

    def set_now(self, moment: datetime, *, frozen: bool = False) -> None:
        """Move the emulator's clock to `moment`; it keeps running unless `frozen`."""
        self._call("PUT", endpoints.EMULATOR_CLOCK, {"now": iso(moment), "frozen": frozen})

    def advance(self, delta: timedelta) -> None:
        self._call("PUT", endpoints.EMULATOR_CLOCK, {"advance_seconds": delta.total_seconds()})

    def reset_clock(self) -> None:
        self._call("PUT", endpoints.EMULATOR_CLOCK, {"reset": True})

    def set_faults(self, **config: object) -> None:
        """Replace the whole fault configuration (see FaultConfig for the settings)."""
        self._call("PUT", endpoints.EMULATOR_FAULTS, config)

    def clear_faults(self) -> None:
        self._call("DELETE", endpoints.EMULATOR_FAULTS)

    def faults(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", endpoints.EMULATOR_FAULTS))

    def recreate_repo(self, name: str) -> str:
        """Delete and recreate a repository (or source) under the same name; its new GUID."""
        return str(self._call("POST", endpoints.emulator_recreate(name))["id"])

    def request_log(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", endpoints.EMULATOR_LOG))

    def clear_log(self) -> None:
        self._call("DELETE", endpoints.EMULATOR_LOG)

    def issued_values(self) -> list[str]:
        return [str(v) for v in self._call("GET", endpoints.EMULATOR_ISSUED)]

    def trust_issuers(self, *issuers: dict[str, object]) -> list[dict[str, Any]]:
        """Replace the trusted identity issuers (see emulator.federation for an entry's keys)."""
        answer = self._call("PUT", endpoints.EMULATOR_FEDERATION, {"issuers": list(issuers)})
        return cast(list[dict[str, Any]], answer["issuers"])

    def trusted_issuers(self) -> list[dict[str, Any]]:
        return cast(
            list[dict[str, Any]], self._call("GET", endpoints.EMULATOR_FEDERATION)["issuers"]
        )

    def close(self) -> None:
        """Nothing to release: an injected client belongs to whoever passed it in."""

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
