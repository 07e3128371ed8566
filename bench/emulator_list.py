"""Throughput of the emulator's token list with 10,000 tokens.

Seeds an emulator db with 10,000 tokens (straight into SQLite), serves it from a separate
process (so the load generator does not share its interpreter), then for each page size hammers
`GET /__api__/tokens?_limit=N` from a pool of threads, one httpx client each, for a fixed time and
prints requests/s and p50/p95 latency.

    .venv/bin/python bench/emulator_list.py [--seconds 5] [--threads 8] [--tokens 10000]

Takes about 12 s at the default sizes; `--seconds 1 --tokens 1000` about 3 s.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

from reconciler.desired.model import Scope
from reconciler.emulator import server, tokens

SERVE = """
import sys
from pathlib import Path
from reconciler.emulator import server
app = server.prepare(Path(sys.argv[1]), Path(sys.argv[2]))
server.make_server(app).run(sockets=[server.bind("127.0.0.1", int(sys.argv[3]))])
"""


def seed(db_path: Path, admin_file: Path, count: int) -> None:
    app = server.prepare(db_path, admin_file)
    now = app.now()
    pypi = app.db.resource("pypi")
    assert pypi is not None
    key = app.db.signing_key()
    rows = []
    for i in range(count):
        new = tokens.NewToken(
            description=f"bench token {i} [ppm-tokens:bench/t{i}]",
            user=f"user{i % 50}@example.com",
            email=None,
            scope=Scope.REPOS_READ,
            resources=(pypi,),
            all_resources=False,
            expires=now + timedelta(days=90),
        )
        rows.append(tokens.mint(new, now + timedelta(microseconds=i), key))
    app.db.insert_tokens(rows)
    app.db.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the emulator process exited")
        try:
            if httpx.get(url + "/__api__/status", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.02)
    raise SystemExit("the emulator did not become ready")


def hammer(url: str, admin: str, limit: int, seconds: float, threads: int) -> None:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = client.get("/__api__/tokens", params={"_limit": limit, "_page": 3})
                mine.append(time.perf_counter() - started)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"_limit={limit:<5} threads={threads} requests={len(latencies):>6} "
        f"rps={len(latencies) / elapsed:8.1f}  tokens/s={limit * len(latencies) / elapsed:9.0f}  "
        f"p50={cuts[49] * 1000:7.2f} ms  p95={cuts[94] * 1000:7.2f} ms  errors={errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ppm-bench-") as tmp:
        db_path, admin_file = Path(tmp) / "bench.sqlite3", Path(tmp) / "admin.token"
        started = time.perf_counter()
        seed(db_path, admin_file, args.tokens)
        print(f"seeded {args.tokens} tokens in {time.perf_counter() - started:.2f} s")
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(db_path), str(admin_file), str(port)]
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process)
            admin = admin_file.read_text().strip()
            for limit in (100, 1000):
                hammer(url, admin, limit, args.seconds, args.threads)
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
