"""The floor under `plan`: the least work any plan must do, run as its own process.

Parses the spec with libyaml (`yaml.CSafeLoader`, no checks, no model), then fetches and decodes
every page of the server's token list at the largest page size the server accepts, with a number
of pages in flight. Prints one JSON object (times in seconds) for the calling benchmark. With
`--parse-only` it only parses: the bare libyaml parse that `validate` is compared with.

    PACKAGEMANAGER_ADDRESS=URL PACKAGEMANAGER_TOKEN=... python bench/floor.py SPEC [--in-flight 8]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.server import endpoints

# Asked for first; the answer's length is the server's cap (PPM's documented largest is 1000,
# the probe just does not rely on it).
PROBE_LIMIT = 100_000


def parse(path: Path) -> Any:
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


def fetch_all(client: httpx.Client, in_flight: int) -> tuple[int, int, int]:
    """(page size, pages fetched, tokens) for the whole token list."""

    def page(number: int, limit: int) -> list[Any]:
        params = {endpoints.LIMIT_PARAM: limit, endpoints.PAGE_PARAM: number}
        response = client.get(endpoints.TOKENS, params=params)
        response.raise_for_status()
        items = response.json()
        if not isinstance(items, list):
            raise SystemExit("the token list is not a JSON array")
        return items

    first = page(1, PROBE_LIMIT)
    size = len(first)
    if size == 0:
        return size, 1, size
    total, fetched = size, 1
    # Pages after the first, `in_flight` at a time, until one comes back short: the page after
    # a short one is empty, so nothing is missed and at most `in_flight` requests are wasted.
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        pending: dict[Future[list[Any]], int] = {}
        next_page, done = 2, False
        while pending or not done:
            while not done and len(pending) < in_flight:
                pending[pool.submit(page, next_page, size)] = next_page
                next_page += 1
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                del pending[future]
                items = future.result()
                fetched += 1
                total += len(items)
                done = done or len(items) < size
    return size, fetched, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("spec", type=Path)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    parse(args.spec)
    parsed = time.perf_counter()
    result: dict[str, float] = {"parse_s": parsed - started}
    if not args.parse_only:
        headers = {"Authorization": f"Bearer {os.environ['PACKAGEMANAGER_TOKEN']}"}
        base = os.environ["PACKAGEMANAGER_ADDRESS"]
        limits = httpx.Limits(max_connections=args.in_flight)
        with httpx.Client(base_url=base, headers=headers, timeout=60, limits=limits) as client:
            size, pages, count = fetch_all(client, args.in_flight)
        result.update(
            fetch_s=time.perf_counter() - parsed, page_size=size, pages=pages, tokens=count
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
