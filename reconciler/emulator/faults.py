"""Injected faults: latency, 503s, 429s, dropped create responses and held responses, paging
the way some servers and proxies do it (a smaller page cap than asked for, no total, or `_page`
ignored altogether), and paths that answer anyone, as an unauthenticated public endpoint does.

The configuration is plain data; `Faults` is the runtime state, touched only from the server's
event loop, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


@dataclass(frozen=True)
class HoldRule:
    method: str
    path_regex: str
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.path_regex, path) is not None


def _number(body: dict[str, object], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if not low <= value <= high:
        raise ValueError(f"{key} must be between {low} and {high}")
    return float(value)


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: float = 0.05
    drop_create_responses: int = 0
    # The next N creates are refused with create_failure_status before anything is made ...
    refuse_creates: int = 0
    # ... or made, then answered with create_failure_status (a proxy that gave up waiting).
    fail_after_create: int = 0
    create_failure_status: int = 503
    hold: HoldRule | None = None
    seed: int | None = None
    paths: str = "/__api__/"  # where latency, error_rate and rate_limit_rate apply
    page_cap: int = 0  # the largest token page served, whatever _limit asks (0: the default cap)
    ignore_page: bool = False  # serve the first page whatever _page asks
    total_header: bool = True  # send X-Total-Count with token pages
    # Paths (a regular expression; empty: none) answered 200 to anyone, token or not, as an
    # unauthenticated public endpoint would: a proof request there cannot tell tokens apart.
    public_paths: str = ""

    @classmethod
    def from_json(cls, body: object) -> FaultConfig:
        """Raises ValueError with a message for the 400 response."""
        if not isinstance(body, dict):
            raise ValueError("the fault configuration must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        hold = body.get("hold")
        rule = None
        if hold is not None:
            if not isinstance(hold, dict) or not isinstance(hold.get("path_regex"), str):
                raise ValueError("hold needs at least a path_regex")
            rule = HoldRule(
                method=str(hold.get("method", "POST")).upper(),
                path_regex=hold["path_regex"],
                after=int(_number(hold, "after", 0, 0, 1e9)),
            )
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        for flag in ("ignore_page", "total_header"):
            if flag in body and not isinstance(body[flag], bool):
                raise ValueError(f"{flag} must be true or false")
        paths = body.get("paths", cls.paths)
        public_paths = body.get("public_paths", cls.public_paths)
        if not isinstance(paths, str) or not isinstance(public_paths, str):
            raise ValueError("paths and public_paths must be regular expressions")
        for pattern in (paths, public_paths, rule.path_regex if rule else ""):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return cls(
            latency_ms=int(_number(body, "latency_ms", 0, 0, 60_000)),
            error_rate=_number(body, "error_rate", 0.0, 0.0, 1.0),
            rate_limit_rate=_number(body, "rate_limit_rate", 0.0, 0.0, 1.0),
            retry_after_seconds=_number(body, "retry_after_seconds", 0.05, 0.0, 3600.0),
            drop_create_responses=int(_number(body, "drop_create_responses", 0, 0, 1e9)),
            refuse_creates=int(_number(body, "refuse_creates", 0, 0, 1e9)),
            fail_after_create=int(_number(body, "fail_after_create", 0, 0, 1e9)),
            create_failure_status=int(_number(body, "create_failure_status", 503, 429, 599)),
            hold=rule,
            seed=seed,
            paths=paths,
            page_cap=int(_number(body, "page_cap", 0, 0, 1e6)),
            ignore_page=body.get("ignore_page", False) is True,
            total_header=body.get("total_header", True) is True,
            public_paths=public_paths,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after_seconds": self.retry_after_seconds,
            "drop_create_responses": self.drop_create_responses,
            "refuse_creates": self.refuse_creates,
            "fail_after_create": self.fail_after_create,
            "create_failure_status": self.create_failure_status,
            "hold": None
            if self.hold is None
            else {
                "method": self.hold.method,
                "path_regex": self.hold.path_regex,
                "after": self.hold.after,
            },
            "seed": self.seed,
            "paths": self.paths,
            "page_cap": self.page_cap,
            "ignore_page": self.ignore_page,
            "total_header": self.total_header,
            "public_paths": self.public_paths,
        }


@dataclass
class Faults:
    config: FaultConfig = field(default_factory=FaultConfig)
    rng: random.Random = field(default_factory=random.Random)
    drops_left: int = 0
    refusals_left: int = 0
    failures_after_left: int = 0
    hold_seen: int = 0
    held: int = 0
    _release: asyncio.Event | None = None

    def replace(self, config: FaultConfig) -> None:
        """A new configuration; it also releases every held response."""
        self.config = config
        self.rng = random.Random(config.seed)
        self.drops_left = config.drop_create_responses
        self.refusals_left = config.refuse_creates
        self.failures_after_left = config.fail_after_create
        self.hold_seen = 0
        if self._release is not None:
            self._release.set()
            self._release = None

    def status_for(self, path: str) -> int | None:
        """An injected refusal (503 or 429) for this request, or None to serve it."""
        config = self.config
        if not (config.error_rate or config.rate_limit_rate):
            return None
        if re.search(config.paths, path) is None:
            return None
        roll = self.rng.random()
        if roll < config.error_rate:
            return 503
        if roll < config.error_rate + config.rate_limit_rate:
            return 429
        return None

    def public(self, path: str) -> bool:
        pattern = self.config.public_paths
        return bool(pattern) and re.search(pattern, path) is not None

    def latency_for(self, path: str) -> float:
        config = self.config
        if config.latency_ms and re.search(config.paths, path) is not None:
            return config.latency_ms / 1000
        return 0.0

    def should_hold(self, method: str, path: str) -> bool:
        rule = self.config.hold
        if rule is None or not rule.matches(method, path):
            return False
        index = self.hold_seen
        self.hold_seen += 1
        return index == rule.after

    async def wait_release(self, receive: Receive) -> bool:
        """Hold until the faults change (True) or the client goes away (False)."""
        if self._release is None:
            self._release = asyncio.Event()
        release = asyncio.ensure_future(self._release.wait())
        gone = asyncio.ensure_future(_disconnected(receive))
        self.held += 1
        try:
            done, _ = await asyncio.wait({release, gone}, return_when="FIRST_COMPLETED")
        finally:
            self.held -= 1
            for task in (release, gone):
                task.cancel()
        return release in done


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
