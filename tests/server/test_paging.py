"""Reading the token list: several pages in flight once the total is known, tokens dropped by a
filter before they are read in full, and the paging rules kept for any server."""

from __future__ import annotations

import threading

import httpx
import pytest

from reconciler.errors import ServerError
from reconciler.server import paging
from reconciler.server.http import MAX_PAGE_SIZE

from .test_http_unit import driver_for, token_json

# A generous bound for a wait that ends as soon as the pages are in flight; it is reached only
# when they never are, and then the test fails.
WAIT = 10.0


class Server:
    """Serves `tokens` `cap` at a time, with X-Total-Count when `total` is set. Pages after the
    first are held until `hold` of them are in flight at once, which only a client with several
    requests in flight ever reaches."""

    def __init__(
        self, tokens: list[dict[str, object]], *, cap: int, total: int | None, hold: int = 1
    ) -> None:
        self.tokens = tokens
        self.cap = cap
        self.total = total
        self.hold = hold
        self.pages: list[int] = []
        self.limits: set[int] = set()
        self.most_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._all_there = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["_page"])
        limit = min(int(request.url.params["_limit"]), self.cap)
        with self._lock:
            self.pages.append(page)
            self.limits.add(int(request.url.params["_limit"]))
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            if self._in_flight >= self.hold:
                self._all_there.set()
        try:
            if page > 1:
                self._all_there.wait(WAIT)
            headers = {"X-Total-Count": str(self.total)} if self.total is not None else {}
            body = self.tokens[(page - 1) * limit : page * limit]
            return httpx.Response(200, json=body, headers=headers)
        finally:
            with self._lock:
                self._in_flight -= 1


def tokens(count: int, namespace: str = "ns") -> list[dict[str, object]]:
    return [
        token_json(f"{namespace}-{i:04d}", description=f"t [ppm-tokens:{namespace}/t{i}]")
        for i in range(count)
    ]


def test_the_largest_page_is_asked_for() -> None:
    server = Server(tokens(3), cap=MAX_PAGE_SIZE, total=3)
    assert len(driver_for(server).list_tokens()) == 3
    assert server.limits == {MAX_PAGE_SIZE} and server.pages == [1]


def test_with_a_total_the_later_pages_are_fetched_several_at_once() -> None:
    listed_tokens = tokens(200)
    server = Server(listed_tokens, cap=10, total=200, hold=paging.IN_FLIGHT)

    listed = driver_for(server).list_tokens()

    assert [t.guid for t in listed] == [t["guid"] for t in listed_tokens]
    assert server.most_in_flight == paging.IN_FLIGHT
    assert sorted(server.pages) == list(range(1, 21))  # no page twice, none past the end


def test_without_a_total_pages_are_read_one_after_another_to_an_empty_page() -> None:
    server = Server(tokens(45), cap=10, total=None)

    assert len(driver_for(server).list_tokens()) == 45

    assert server.pages == [1, 2, 3, 4, 5, 6] and server.most_in_flight == 1


def test_a_few_pages_are_read_one_after_another() -> None:
    server = Server(tokens(30), cap=10, total=30)
    assert len(driver_for(server).list_tokens()) == 30
    assert server.pages == [1, 2, 3] and server.most_in_flight == 1


def test_a_list_shorter_than_its_total_ends_at_the_first_empty_page() -> None:
    server = Server(tokens(95), cap=10, total=400)

    assert len(driver_for(server).list_tokens()) == 95

    # Page 11 is the first empty one; at most IN_FLIGHT - 1 pages were asked past it.
    assert 11 in server.pages and max(server.pages) <= 11 + paging.IN_FLIGHT - 1


def test_a_server_that_ignores_the_page_is_refused_after_a_bounded_number_of_requests() -> None:
    first = tokens(10)
    asked: list[httpx.Request] = []

    def always_the_first_page(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=first, headers={"X-Total-Count": "5000"})

    with pytest.raises(ServerError, match="page 2 lists only tokens of earlier pages"):
        driver_for(always_the_first_page).list_tokens()
    assert len(asked) <= 1 + paging.IN_FLIGHT


def test_a_page_that_fails_fails_the_listing() -> None:
    listed_tokens = tokens(100)

    def failing(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["_page"])
        if page == 5:
            return httpx.Response(401, json={"error": "expired"})
        body = listed_tokens[(page - 1) * 10 : page * 10]
        return httpx.Response(200, json=body, headers={"X-Total-Count": "100"})

    with pytest.raises(ServerError, match="refused"):
        driver_for(failing).list_tokens()


def test_tokens_the_filter_refuses_are_not_read_past_their_description() -> None:
    ours = tokens(3, "ours")
    # Another team's token with a time nobody could read: reading it in full would fail.
    theirs = [{**t, "created": "not a time"} for t in tokens(3, "theirs")]
    server = Server([*theirs, *ours], cap=MAX_PAGE_SIZE, total=6)

    driver = driver_for(server)
    with driver.listing_only(lambda guid, description: "[ppm-tokens:ours/" in description):
        kept = driver.list_tokens()

    assert [t.guid for t in kept] == [t["guid"] for t in ours]
    with pytest.raises(ServerError, match="bad time"):
        driver.list_tokens()  # the filter ends with its scope


def test_a_refused_token_still_counts_toward_the_total_and_the_paging_check() -> None:
    listed_tokens = tokens(50)
    server = Server(listed_tokens, cap=10, total=50)

    driver = driver_for(server)
    with driver.listing_only(lambda guid, description: False):
        kept = driver.list_tokens()

    assert kept == [] and sorted(server.pages) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("total", [None, 10**12], ids=["no-total", "a-total-of-a-trillion"])
def test_pages_that_never_end_stop_at_the_bound(total: int | None) -> None:
    """A server or proxy that serves full pages of new GUIDs for ever: the listing stops with
    an error once it passes the bound, having asked for no more pages than that takes."""
    asked: list[int] = []
    lock = threading.Lock()

    def endless(page: int) -> paging.Page:
        with lock:
            asked.append(page)
        return [token_json(f"{page}-{i}") for i in range(100)], total

    with pytest.raises(ServerError, match="goes on past 2,000 entries") as raised:
        paging.read_all(endless, lambda guid, description: False, limit=2_000)
    assert "nothing was changed" in str(raised.value)
    assert len(asked) <= 21 + paging.IN_FLIGHT


def test_the_bound_counts_repeats() -> None:
    """One new token a page keeps the paging check quiet; the bound still ends the listing."""

    def one_new_each(page: int) -> paging.Page:
        return [token_json("same")] * 99 + [token_json(f"new-{page}")], None

    with pytest.raises(ServerError, match="past 1,000 entries"):
        paging.read_all(one_new_each, limit=1_000)


def test_the_drivers_list_up_to_a_million_entries() -> None:
    assert paging.MAX_LISTED == 1_000_000
    assert paging.read_all.__kwdefaults__ == {"in_flight": paging.IN_FLIGHT, "limit": 1_000_000}
