"""A server (or proxy) that answers the token API with a redirect: never followed, so no token
is sent to another host, never taken for success, and the message says where it pointed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import CreateOutcomeUnknown, ServerError
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver

from .test_http_emulator import request


class Front:
    """Answers every request with `status`, pointing at the emulator under another host name."""

    def __init__(self, target: str, status: int) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _redirect(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                front.seen.append(f"{self.command} {self.path}")
                self.send_response(status)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _redirect

            def log_message(self, *args: object) -> None:
                pass

        self.seen: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(params=[302, 307])
def front(emulator: RunningEmulator, request: pytest.FixtureRequest) -> Iterator[Front]:
    other_host = emulator.url.replace("127.0.0.1", "localhost")
    running = Front(other_host, request.param)
    try:
        yield running
    finally:
        running.close()


def test_a_redirect_is_refused_and_no_token_reaches_the_other_host(
    front: Front,
    http_driver: HttpDriver,
    admin_token: Secret,
    emulator_control: EmulatorControl,
) -> None:
    kept = http_driver.create_token(request("kept"))
    emulator_control.clear_log()
    driver = HttpDriver(front.url, admin_token, backoff_base=0.001, backoff_cap=0.01)

    calls = {
        "list": driver.list_tokens,
        "resources": driver.list_resources,
        "revoke": lambda: driver.revoke_token(kept.token.guid),
    }
    for name, call in calls.items():
        with pytest.raises(ServerError) as caught:
            call()
        message = str(caught.value)
        assert "redirecting to http://localhost:" in message, name
        assert "--server" in message, name
    with pytest.raises(CreateOutcomeUnknown, match="redirecting to http://localhost:"):
        driver.create_token(request("redirected"))

    assert len(front.seen) == 4  # asked once each: a redirect is not retried
    assert emulator_control.request_log() == []  # nothing followed to the other host
    live = {t.guid: t for t in http_driver.list_tokens()}
    assert live[kept.token.guid].revoked is None  # the redirected revoke did not pass for done
    assert not any(t.description == "redirected" for t in live.values())
