"""The github store when GitHub refuses, limits, fails or answers oddly, against the fake of its
Actions secrets and variables API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretPayload
from reconciler.stores.github import GitHubStore, open_github_store
from reconciler.stores.registry import StoreContext
from tests.fakes.github import RunningGitHub, github
from tests.stores.payloads import new_payload
from tests.stores.transport import Fault, RecordingTransport

from .github_stores import OPENED, REPO, close_stores, make_store

__all__ = ["close_stores", "github"]  # fixtures


@pytest.mark.parametrize(
    ("grants", "token", "expected"),
    [
        (None, "ghp_unknown", r"HTTP 401: Bad credentials\): the token is missing"),
        ({REPO: "read"}, None, r"HTTP 403: .*needs read and write access"),
        ({"acme/web": "write"}, None, r"HTTP 404: Not Found\): acme/pipelines does not exist"),
    ],
    ids=["bad-token", "read-only", "cannot-see"],
)
def test_refusals_say_what_to_do(
    github: RunningGitHub,
    tmp_path: Path,
    grants: dict[str, str] | None,
    token: str | None,
    expected: str,
) -> None:
    store = make_store(github, tmp_path, grants=grants, token=token)
    payload = new_payload()

    with pytest.raises(StoreError, match=expected) as refused:
        store.put("PPM_TOKEN", payload)

    assert payload.payload.reveal() not in str(refused.value)
    assert github.fake.scope(f"repo:{REPO}").secrets == {}


@pytest.mark.parametrize("kind", ["primary", "secondary", "429"])
def test_rate_limits_are_waited_out(github: RunningGitHub, tmp_path: Path, kind: str) -> None:
    sleeps: list[float] = []
    store = make_store(github, tmp_path, sleeps=sleeps)
    github.fake.rate_limit(kind, wait=3)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    assert store.read_meta("PPM_TOKEN") == payload.meta
    assert len(sleeps) == 1 and 1.5 <= sleeps[0] <= 3.0


def test_a_long_rate_limit_fails_with_the_wait(github: RunningGitHub, tmp_path: Path) -> None:
    store = make_store(github, tmp_path)
    github.fake.rate_limit("primary", wait=3600)

    with pytest.raises(StoreError, match=r"rate limited by 127\.0\.0\.1 for another \d+ s"):
        store.put("PPM_TOKEN", new_payload())


@pytest.mark.parametrize("kind", ["primary", "secondary", "429"])
def test_a_rate_limit_that_outlasts_the_tries_says_so(
    github: RunningGitHub, tmp_path: Path, kind: str
) -> None:
    """GitHub's rate limits are 403s too: the message must not send people to the token's
    permissions."""
    sleeps: list[float] = []
    store = make_store(github, tmp_path, sleeps=sleeps)
    github.fake.rate_limit(kind, wait=3, times=10)

    with pytest.raises(StoreError) as refused:
        store.put("PPM_TOKEN", new_payload())

    message = str(refused.value)
    assert "still rate limited by 127.0.0.1 after 4 tries" in message
    assert "run again later" in message and "access" not in message
    assert len(sleeps) == 3


def test_server_errors_are_retried(github: RunningGitHub, tmp_path: Path) -> None:
    sleeps: list[float] = []
    store = make_store(github, tmp_path, sleeps=sleeps)
    github.fake.inject(502, times=2)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    assert sleeps == [0.5, 1.0]
    assert store.read_meta("PPM_TOKEN") == payload.meta


@pytest.mark.parametrize("lost", ["PUT /secrets/", "POST /variables"])
def test_a_503_after_a_create_landed_is_retried_to_the_same_end(
    github: RunningGitHub, tmp_path: Path, lost: str
) -> None:
    """A secret PUT repeats harmlessly; a variable POST repeated meets 409 and updates."""
    method, part = lost.split()
    transport = RecordingTransport()
    transport.faults.append(
        Fault(lambda r: r.method == method and part in r.url.path, 503, landed=True)
    )
    store = make_store(github, tmp_path, transport=transport)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    assert transport.count(method, part) == 2
    assert github.fake.secret_value(f"repo:{REPO}", "PPM_TOKEN") == payload.payload.reveal()
    assert store.read_meta("PPM_TOKEN") == payload.meta


def test_bad_names_and_oversized_payloads_are_refused_before_any_request(
    github: RunningGitHub, tmp_path: Path
) -> None:
    store = make_store(github, tmp_path)
    github.fake.requests.clear()
    for name in ("ppm_token", "GITHUB_TOKEN", "1ST", "A-B", "X_PPM_TOKENS_META"):
        with pytest.raises(StoreError, match="secret name"):
            store.put(name, new_payload())
    big = new_payload()
    big = SecretPayload(Secret("x" * (48 * 1024 + 1)), replace(big.meta))
    with pytest.raises(StoreError, match="at most 49152"):
        store.put("PPM_TOKEN", big)

    assert github.fake.requests == []


def test_the_fake_refuses_what_github_refuses(github: RunningGitHub, tmp_path: Path) -> None:
    """Direct requests: a wrong key_id, a box sealed for another key, a value over 48 KB."""
    import base64

    import httpx
    from nacl.public import PrivateKey, SealedBox

    store = make_store(github, tmp_path)
    token = store.api._token.reveal()
    key = github.fake.scope(f"repo:{REPO}")
    url = f"{github.url}/repos/{REPO}/actions/secrets/X"
    headers = {"Authorization": f"Bearer {token}"}

    def put(value: bytes, key_id: str, public: bytes) -> int:
        from nacl.public import PublicKey

        sealed = SealedBox(PublicKey(public)).encrypt(value)
        body = {"encrypted_value": base64.b64encode(sealed).decode(), "key_id": key_id}
        return httpx.put(url, json=body, headers=headers).status_code

    public = bytes(key.private_key.public_key)
    stranger = bytes(PrivateKey.generate().public_key)
    assert put(b"ok", "wrong", public) == 422
    assert put(b"ok", key.key_id, stranger) == 422
    assert put(b"x" * (48 * 1024 + 1), key.key_id, public) == 422
    assert put(b"ok", key.key_id, public) == 201
    assert put(b"ok", key.key_id, public) == 204


def test_without_a_token_it_says_which_variable_to_set(tmp_path: Path) -> None:
    config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
    with pytest.raises(StoreError, match="no token: set GITHUB_TOKEN"):
        open_github_store(config, StoreContext(spec_dir=tmp_path, env={}))


def test_gh_token_serves_when_github_token_is_not_set(
    github: RunningGitHub, tmp_path: Path
) -> None:
    github.fake.add_repository(REPO)
    token = github.fake.new_token({REPO: "write"})
    config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
    context = StoreContext(spec_dir=tmp_path, env={"GH_TOKEN": token, "GITHUB_API_URL": github.url})
    store = open_github_store(config, context)
    OPENED.append(store)
    payload = new_payload()

    store.put("PPM_TOKEN", payload)

    assert store.read_meta("PPM_TOKEN") == payload.meta


def test_an_html_page_in_place_of_githubs_answer_is_a_clear_error(tmp_path: Path) -> None:
    """GITHUB_API_URL pointing at something that answers every request with a web page."""

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>Sign in</html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
        context = StoreContext(
            spec_dir=tmp_path,
            env={"GITHUB_TOKEN": "t", "GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}"},
            sleep=[].append,
        )
        with pytest.raises(StoreError, match=r"is not a JSON object \(text/html"):
            store = open_github_store(config, context)
            OPENED.append(store)
            store.read_meta("PPM_TOKEN")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_is_refused_without_sending_the_token_on(tmp_path: Path, status: int) -> None:
    """GitHub answers 301 for a renamed repository: the request is not repeated where it points
    (which would carry the Authorization header there) and the message says what to change."""
    from tests.stores.redirector import redirecting

    with redirecting(status) as redirect:
        config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
        context = StoreContext(
            spec_dir=tmp_path,
            env={"GITHUB_TOKEN": "t", "GITHUB_API_URL": redirect.url},
            sleep=[].append,
        )
        store = open_github_store(config, context)
        OPENED.append(store)

        for read in (
            lambda: store.read_meta_many(["PPM_TOKEN"]),
            lambda: store.put("PPM_TOKEN", new_payload()),
        ):
            with pytest.raises(
                StoreError,
                match=rf"answered HTTP {status}, a redirect to {redirect.target}/repos/acme/"
                r".*renamed or transferred repository needs its new name",
            ):
                read()
        assert redirect.reached == []


class _Between(httpx.BaseTransport):
    """Real HTTP to the fake, running `then` after the first `times` pages of a listing."""

    def __init__(self, listing: str, then: Callable[[], None], *, times: int = 1) -> None:
        self._real = httpx.HTTPTransport()
        self._listing = listing
        self._then = then
        self._times = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._real.handle_request(request)
        if request.url.path.endswith(self._listing) and self._times > 0:
            response.read()
            self._times -= 1
            self._then()
        return response

    def close(self) -> None:
        self._real.close()


def _reader_between_pages(
    github: RunningGitHub, tmp_path: Path, *, times: int
) -> tuple[GitHubStore, dict[str, SecretPayload]]:
    """35 secrets, and a second store reading them while another run deletes one metadata
    variable after each of the first `times` pages of the variables listing: every later item
    moves one place up, so one falls between page 1 and page 2."""
    store = make_store(github, tmp_path)
    payloads = {f"T{i:02d}": new_payload(f"t{i:02d}") for i in range(35)}
    for key, payload in payloads.items():
        store.put(key, payload)
    variables = github.fake.scope(f"repo:{REPO}").variables
    names = iter(sorted(variables))
    transport = _Between("/variables", lambda: variables.pop(next(names)), times=times)
    config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
    context = StoreContext(
        spec_dir=tmp_path,
        env={"GITHUB_TOKEN": store.api._token.reveal(), "GITHUB_API_URL": github.url},
        http_transport=transport,
        sleep=[].append,
    )
    reader = open_github_store(config, context)
    OPENED.append(reader)
    return reader, payloads


def test_a_listing_that_changes_between_pages_is_read_again(
    github: RunningGitHub, tmp_path: Path
) -> None:
    reader, payloads = _reader_between_pages(github, tmp_path, times=1)

    found = reader.read_meta_many(list(payloads))

    assert found == {**{k: p.meta for k, p in payloads.items()}, "T00": None}


def test_a_listing_that_keeps_changing_is_an_error(github: RunningGitHub, tmp_path: Path) -> None:
    reader, payloads = _reader_between_pages(github, tmp_path, times=10)

    with pytest.raises(StoreError, match=r"listing variables on acme/pipelines kept changing"):
        reader.read_meta_many(list(payloads))


def test_a_listing_cut_short_is_an_error_not_missing_secrets(
    github: RunningGitHub, tmp_path: Path
) -> None:
    """Pages that never add up to total_count (something between here and GitHub trims them):
    a clear error, never secrets read as missing (which would issue their tokens again)."""
    store = make_store(github, tmp_path)
    for i in range(35):
        store.put(f"T{i:02d}", new_payload(f"t{i:02d}"))
    github.fake.short_pages = 1

    with pytest.raises(StoreError, match=r"listing secrets on acme/pipelines gave 34 of 35 "):
        store.read_meta_many(["T00"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("total", "refused"),
    [(10**9, "says it holds 1,000,000,000"), ("many", "gives no total_count")],
)
def test_a_listing_that_never_ends_is_refused_at_the_bound(
    tmp_path: Path, total: object, refused: str
) -> None:
    """Whatever answers at `api_url` (a pull request chooses it) may claim any total_count and
    hand out one new name a page: the listing stops at what GitHub can hold, not at that."""
    pages: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        pages.append(str(request.url))
        name = f"S{len(pages)}"
        entry = {"name": name, "value": "{}", "updated_at": "2027-01-01T00:00:00Z"}
        return httpx.Response(
            200, json={"total_count": total, "secrets": [entry], "variables": [entry]}
        )

    config = StoreConfig("ci", "github", MappingProxyType({"repository": REPO}))
    context = StoreContext(
        spec_dir=tmp_path,
        env={"GITHUB_TOKEN": "not-a-real-token", "GITHUB_API_URL": "https://api.example.com"},
        http_transport=httpx.MockTransport(answer),
        sleep=[].append,
    )
    store = open_github_store(config, context)
    OPENED.append(store)
    with pytest.raises(StoreError, match=refused):
        store.read_meta_many(["PPM_TOKEN"])
    assert len(pages) <= 2
