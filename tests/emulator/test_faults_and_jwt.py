"""Fault configuration of the emulator, and its HS256 tokens."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from reconciler.emulator import jwt
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.faults import FaultConfig
from reconciler.emulator.server import RunningEmulator

KEY = b"k" * 32


def test_jwt_round_trip_and_shape() -> None:
    value = jwt.encode({"jti": "g", "aud": "packagemanager"}, KEY)
    header = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(value, KEY) == {"jti": "g", "aud": "packagemanager"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v + "x",
        lambda v: v.replace(v.split(".")[1], jwt._b64(b'{"jti":"other"}')),
        lambda v: jwt._b64(b'{"alg":"none"}') + "." + v.split(".", 1)[1],
        lambda v: "only.two",
        lambda v: "",
    ],
    ids=["bad-signature", "changed-claims", "alg-none", "two-parts", "empty"],
)
def test_jwt_rejects_tampering(mangle: object) -> None:
    value = jwt.encode({"jti": "g"}, KEY)
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(mangle(value), KEY)  # type: ignore[operator]
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(value, b"another key")


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 2},
        {"latency_ms": "x"},
        {"hold": {"method": "POST"}},
        {"paths": "("},
        {"nonsense": 1},
        {"seed": 1.5},
        [],
    ],
)
def test_bad_fault_configs_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_json(body)


def test_fault_config_round_trips() -> None:
    config = FaultConfig.from_json(
        {"latency_ms": 5, "error_rate": 0.1, "hold": {"path_regex": "x", "after": 2}, "seed": 4}
    )
    assert FaultConfig.from_json(config.to_json()) == config


def test_faults_spare_the_controls_and_other_paths(
    emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    emulator_control.set_faults(error_rate=1.0)
    headers = {"Authorization": f"Bearer {emulator.admin_token()}"}
    assert httpx.get(emulator.url + "/__api__/tokens", headers=headers).status_code == 503
    assert emulator_control.faults()["error_rate"] == 1.0  # controls still answer
    auth = ("__token__", emulator.admin_token())
    assert httpx.get(emulator.url + "/pypi/latest/simple/", auth=auth).status_code == 200
    emulator_control.set_faults(rate_limit_rate=1.0, retry_after_seconds=0.25)
    limited = httpx.get(emulator.url + "/__api__/tokens", headers=headers)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0.25"
    emulator_control.clear_faults()
    assert httpx.get(emulator.url + "/__api__/tokens", headers=headers).status_code == 200
    faults = [e["fault"] for e in emulator_control.request_log() if e["path"] == "/__api__/tokens"]
    assert faults == ["error", "rate_limited", None]


def test_latency_is_injected(emulator: RunningEmulator, emulator_control: EmulatorControl) -> None:
    emulator_control.set_faults(latency_ms=150)
    started = time.monotonic()
    httpx.get(emulator.url + "/__api__/status")
    assert time.monotonic() - started >= 0.15


def test_seeded_faults_are_reproducible(
    emulator: RunningEmulator, emulator_control: EmulatorControl
) -> None:
    def run() -> list[int]:
        emulator_control.set_faults(error_rate=0.3, rate_limit_rate=0.2, seed=11)
        with httpx.Client(base_url=emulator.url) as client:
            return [client.get("/__api__/status").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200, 429, 503} == set(first)
