"""Reading a paged token list completely, several pages at a time once their count is known.

A page shorter than the size asked for is not taken as the last one: a server or proxy may cap
pages below the size asked. The list ends at an empty page, or as soon as the server's total
(X-Total-Count) is reached. A page that adds no token not seen before means the server ignores
the page parameter: that is an error, never a loop.

With a total, the first page tells how many pages there are (the server serves every page as
long as the first, whatever it was asked for), and the rest are fetched IN_FLIGHT at a time,
taken in page order as they arrive. Without one, pages are read one after another: nothing
says how far to go, and reading ahead would ask for pages past the end.

Each token is first read only as far as its GUID and description; a `keep` filter can drop it
there, before it is read in full (a server shared by many teams lists mostly others' tokens).

A listing stops with an error past MAX_LISTED entries (repeats counted): a server or a proxy
that serves full pages of new GUIDs for ever, with no total, would otherwise be paged until
memory runs out. Every page adds a token not seen before or is an error, so pages are bounded
by the same number.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

from reconciler.errors import ServerError
from reconciler.server import endpoints
from reconciler.server.driver import TokenFilter
from reconciler.server.model import LiveToken
from reconciler.server.parse import token_from_json, token_identity

IN_FLIGHT = 8
# The most entries a token listing may hold, repeats included (docs/reference/large-specs.md).
# Far above any real server; keeping them all (`list`) takes about 1 GiB.
MAX_LISTED = 1_000_000
# Fewer pages than this after the first are read one after another: threads would save little.
CONCURRENT_FROM = 4

Page = tuple[list[object], int | None]  # the page's items, and the server's total if it sent one
PageFetch = Callable[[int], Page]  # page number (from 1) -> that page


class _Listing:
    def __init__(self, keep: TokenFilter | None, limit: int) -> None:
        self._keep = keep
        self._limit = limit
        self._listed = 0
        self.seen: set[str] = set()
        self.tokens: dict[str, LiveToken] = {}

    def add(self, page: int, items: list[object]) -> bool:
        """Take one page; False when it is empty (the end of the list)."""
        if not items:
            return False
        self._listed += len(items)
        if self._listed > self._limit:
            raise ServerError(
                f"GET {endpoints.TOKENS}: the token list goes on past {self._limit:,} entries "
                f"(page {page}, {len(self.seen):,} tokens seen), the most ppm-tokens reads: "
                "the server (or a proxy in front of it) keeps serving pages; nothing was changed"
            )
        before = len(self.seen)
        for item in items:
            if not isinstance(item, dict):
                continue
            guid, description = token_identity(item)
            if guid in self.seen:
                continue
            self.seen.add(guid)
            if self._keep is None or self._keep(guid, description):
                self.tokens[guid] = token_from_json(item)
        if len(self.seen) == before:
            raise ServerError(
                f"GET {endpoints.TOKENS}: page {page} lists only tokens of earlier pages, so "
                f"the server (or a proxy in front of it) ignores {endpoints.PAGE_PARAM} and "
                f"the token list cannot be read completely ({len(self.seen)} tokens seen); "
                "nothing was changed: make the server honour paging"
            )
        return True

    def complete(self, total: int | None) -> bool:
        return total is not None and len(self.seen) >= total


def read_all(
    fetch: PageFetch,
    keep: TokenFilter | None = None,
    *,
    in_flight: int = IN_FLIGHT,
    limit: int = MAX_LISTED,
) -> list[LiveToken]:
    """Every token of the list `fetch` serves, less those `keep` refuses, in listed order;
    ServerError past `limit` entries."""
    listing = _Listing(keep, limit)
    page = 1
    items, total = fetch(page)
    while listing.add(page, items) and not listing.complete(total):
        if page == 1 and total is not None:
            last = -(-total // len(items))
            if last - 1 >= CONCURRENT_FROM and in_flight > 1:
                for page, (items, total) in _in_order(fetch, range(2, last + 1), in_flight):
                    if not listing.add(page, items) or listing.complete(total):
                        return list(listing.tokens.values())
        page += 1
        items, total = fetch(page)
    return list(listing.tokens.values())


def _in_order(fetch: PageFetch, pages: Iterable[int], in_flight: int) -> Iterator[tuple[int, Page]]:
    """The pages, fetched `in_flight` at a time and given back in order. Pages not yet given
    back when the caller stops are cancelled, or waited for if already asked."""
    numbers = iter(pages)
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="ppm-page") as pool:
        pending: deque[tuple[int, Future[Page]]] = deque(
            (number, pool.submit(fetch, number)) for number in islice(numbers, in_flight)
        )
        try:
            while pending:
                number, future = pending.popleft()
                page = future.result()
                following = next(numbers, None)
                if following is not None:
                    pending.append((following, pool.submit(fetch, following)))
                yield number, page
        finally:
            for _, future in pending:
                future.cancel()
