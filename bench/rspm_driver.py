"""What the rspm driver costs next to the http driver, against the emulator.

Each rspm call starts a process (here the CLI double in tests/fakes/rspm, a Python script; PPM's
real CLI is a Go binary and starts faster), so a create costs two processes: the create and the
listing that identifies the new token. Prints the median time of list (at several token counts),
create and revoke for both drivers.

    .venv/bin/python bench/rspm_driver.py [--rounds 5]

Takes about 10 s at the default size; `--rounds 1` about 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.emulator.server import start_emulator
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest
from reconciler.server.rspm import RspmDriver

FAKE_RSPM = Path(__file__).resolve().parents[1] / "tests" / "fakes" / "rspm"


def median_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def request(index: int) -> TokenRequest:
    return TokenRequest(
        description=f"bench {index} [ppm-tokens:bench/t{index}]",
        user="bench@example.com",
        scope="repos:read",
        resources=("pypi",),
        expires=datetime.now(UTC) + timedelta(days=30),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACKAGEMANAGER_", "FAKE_"))}
    with tempfile.TemporaryDirectory() as state:
        emulator = start_emulator(
            db_path=Path(state) / "db.sqlite3", admin_token_file=Path(state) / "admin.token"
        )
        try:
            admin = Secret(emulator.admin_token())
            drivers = {
                "http": HttpDriver(emulator.url, admin),
                "rspm": RspmDriver([str(FAKE_RSPM)], emulator.url, admin, env=env),
            }
            print(f"{'operation':<28}{'http ms':>10}{'rspm ms':>10}")
            counter = iter(range(10**6))
            for target in (10, 100, 500):
                while len(drivers["http"].list_tokens()) < target:
                    drivers["http"].create_token(request(next(counter)))
                row = [median_ms(d.list_tokens, rounds) for d in drivers.values()]
                print(f"{f'list {target} tokens':<28}{row[0]:>10.1f}{row[1]:>10.1f}")
            row = [
                median_ms(lambda d=d: d.create_token(request(next(counter))), rounds)
                for d in drivers.values()
            ]
            print(f"{'create (500 listed)':<28}{row[0]:>10.1f}{row[1]:>10.1f}")
            guids = iter([t.guid for t in drivers["http"].list_tokens()][1:])
            row = [
                median_ms(lambda d=d: d.revoke_token(next(guids)), rounds) for d in drivers.values()
            ]
            print(f"{'revoke':<28}{row[0]:>10.1f}{row[1]:>10.1f}")
            for driver in drivers.values():
                driver.close()
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
