"""The ASGI layer around the emulator's routes: request log, injected faults, dropped and held
responses, and the `Date` header. Faults never apply to the test controls under /__emulator__/,
and the log leaves them out."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from reconciler.emulator.clock import iso
from reconciler.emulator.db import Database
from reconciler.emulator.faults import Faults
from reconciler.server import endpoints

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NOTE_KEY = "emulator.note"


class DroppedResponse(Exception):
    """Raised after a response has started, so the server closes the connection mid-response:
    the client sees a failed request although the server committed it."""


@dataclass
class Note:
    """What a handler tells the log about a request."""

    actor: str | None = None
    token_guid: str | None = None


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, db: Database, faults: Faults, now: Callable[[], Any]) -> None:
        self.app = app
        self.db = db
        self.faults = faults
        self.now = now

    def _log(self, scope: Scope, status: int, note: Note, fault: str | None) -> None:
        # The log records what clients did to the server; the test controls that read, clear
        # or steer it stay out of it, so a cleared log reads back empty.
        if scope["path"].startswith(endpoints.EMULATOR):
            return
        self.db.append_log(
            {
                "at": iso(self.now()),
                "wall": time.time(),
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status,
                "token_guid": note.token_guid,
                "actor": note.actor,
                "fault": fault,
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Every answer is dated by the emulator's own clock, as a real server's is by its own:
        # a client that reads the server's time (apply) sees where the tests moved it.
        send = self._dated(send)
        note = Note()
        scope[NOTE_KEY] = note
        method, path = scope["method"], scope["path"]
        control = path.startswith(endpoints.EMULATOR)
        faults = self.faults
        if not control:
            delay = faults.latency_for(path)
            if delay:
                await asyncio.sleep(delay)
            injected = faults.status_for(path)
            if injected is not None:
                await self._refuse(scope, send, injected, note)
                return
            if faults.public(path):
                await self._public(scope, send, note)
                return
        create = not control and method == "POST" and path == endpoints.TOKENS
        if create and faults.refusals_left > 0:
            faults.refusals_left -= 1
            await self._refuse(scope, send, faults.config.create_failure_status, note)
            return
        fail_after = create and faults.failures_after_left > 0
        drop = create and faults.drops_left > 0 and not fail_after
        hold = not control and faults.should_hold(method, path)
        if not (drop or hold or fail_after):
            status = 500

            async def passthrough(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, passthrough)
            self._log(scope, status, note, None)
            return

        buffered: list[Message] = []

        async def capture(message: Message) -> None:
            buffered.append(message)

        await self.app(scope, receive, capture)
        status = buffered[0]["status"] if buffered else 500
        if fail_after and status == 201:
            faults.failures_after_left -= 1
            await self._refuse(scope, send, faults.config.create_failure_status, note)
            return
        if drop and status == 201:
            faults.drops_left -= 1
            self._log(scope, status, note, "dropped")
            await send(buffered[0])
            raise DroppedResponse("create committed; response dropped on purpose")
        self._log(scope, status, note, "held" if hold else None)
        if hold and not await faults.wait_release(receive):
            return
        for message in buffered:
            await send(message)

    async def _public(self, scope: Scope, send: Send, note: Note) -> None:
        """200 whoever asks, as an unauthenticated public endpoint answers."""
        body = b"{}"
        headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self._log(scope, 200, note, "public")

    def _dated(self, send: Send) -> Send:
        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                date = email.utils.format_datetime(self.now().astimezone(UTC), usegmt=True)
                message = {**message, "headers": [*headers, (b"date", date.encode())]}
            await send(message)

        return dated

    async def _refuse(self, scope: Scope, send: Send, status: int, note: Note) -> None:
        headers = [(b"content-type", b"application/json")]
        if status == 429:
            retry_after = f"{self.faults.config.retry_after_seconds:g}"
            headers.append((b"retry-after", retry_after.encode()))
            body = b'{"error": "too many requests (injected)"}'
        else:
            body = b'{"error": "service unavailable (injected)"}'
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self._log(scope, status, note, "rate_limited" if status == 429 else "error")
