"""Real pip against an emulator's authenticated index: the proof that a token works that a user
would run themselves. Output is captured and dropped: it may contain the index URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from reconciler.emulator.packages import PROJECT, WHEEL_NAME


def pip_download(
    index_url: str,
    dest: Path,
    *,
    env: Mapping[str, str],
    netrc: Path | None = None,
    timeout: float = 120,
) -> bool:
    """Downloads the demo wheel into `dest`; True when pip succeeded and the wheel is there.

    Credentials come from `netrc` or from the index URL itself; the machine's pip settings are
    ignored (PIP_* variables and config files) so that only this index is asked."""
    environment = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    environment.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    if netrc is not None:
        environment["NETRC"] = str(netrc)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--retries",
            "0",
            "--timeout",
            "10",
            "--dest",
            str(dest),
            "--index-url",
            index_url,
            PROJECT,
        ],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode == 0 and (dest / WHEEL_NAME).is_file()
