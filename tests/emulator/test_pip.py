"""pip itself proves a repos:read token works against the emulator, and stops working once the
token is revoked. pip's output contains the index URL with the token: it is captured and never
shown."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from io import BytesIO
from pathlib import Path

import httpx

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.packages import WHEEL_NAME, demo_wheel
from reconciler.emulator.pip import pip_download
from reconciler.emulator.server import RunningEmulator


def download(emulator: RunningEmulator, value: str, dest: Path) -> bool:
    """The issue's own recipe: the token in the index URL as HTTP Basic credentials."""
    host_port = emulator.url.removeprefix("http://")
    index = f"http://__token__:{value}@{host_port}/pypi/latest/simple/"
    return pip_download(index, dest, env=os.environ)


def test_pip_downloads_with_a_token_and_fails_after_revoke(
    emulator: RunningEmulator, emulator_control: EmulatorControl, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {emulator.admin_token()}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as api:
        created = api.post(
            "/__api__/tokens",
            json={
                "description": "pip",
                "user": "ci",
                "scope": "repos:read",
                "resources": ["pypi"],
                "expires": "1d",
            },
        ).json()
        value = created["token"]

        first = tmp_path / "first"
        assert download(emulator, value, first)
        wheel = first / WHEEL_NAME
        assert wheel.read_bytes() == demo_wheel().content

        api.post(f"/__api__/tokens/{created['guid']}/revoke").raise_for_status()
    emulator_control.clear_log()
    second = tmp_path / "second"
    assert not download(emulator, value, second)
    assert not (second / WHEEL_NAME).exists()
    # It failed because the server refused the revoked token, not for another reason.
    refused = [e for e in emulator_control.request_log() if e["path"].startswith("/pypi/")]
    assert refused
    assert {(e["status"], e["actor"]) for e in refused} == {(401, created["guid"])}


def test_demo_wheel_is_a_valid_reproducible_wheel() -> None:
    content = demo_wheel().content
    assert demo_wheel.__wrapped__().content == content
    archive = zipfile.ZipFile(BytesIO(content))
    names = set(archive.namelist())
    assert {
        "ppmdemo/__init__.py",
        "ppmdemo-1.0.0.dist-info/METADATA",
        "ppmdemo-1.0.0.dist-info/WHEEL",
        "ppmdemo-1.0.0.dist-info/RECORD",
    } == names
    record = archive.read("ppmdemo-1.0.0.dist-info/RECORD").decode().strip().splitlines()
    assert record[-1] == "ppmdemo-1.0.0.dist-info/RECORD,,"
    for line in record[:-1]:
        path, digest, size = line.split(",")
        data = archive.read(path)
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}"
        assert int(size) == len(data)
