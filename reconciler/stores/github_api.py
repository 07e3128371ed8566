"""GitHub's REST API for Actions secrets and variables, on httpx.

Where secrets live, by the spec's options:
    repository: OWNER/REPO                      /repos/OWNER/REPO/actions/{secrets,variables}
    repository + environment: NAME             /repos/OWNER/REPO/environments/NAME/{...}
    organization: ORG (+ visibility,            /orgs/ORG/actions/{secrets,variables}
      selected_repositories)

The token comes from GITHUB_TOKEN, else GH_TOKEN (a fine-grained or classic personal access
token, or a GitHub App installation token). The API URL is the spec's `api_url`, else
GITHUB_API_URL (set on every Actions runner, GitHub Enterprise Server's included), else
https://api.github.com. Rate limits (403/429 with Retry-After or x-ratelimit-reset) are waited
out when short; 5xx are retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.backends.http_retry import RetryPolicy, error_text, json_object, send
from reconciler.bounded_http import event_hooks
from reconciler.errors import StoreError
from reconciler.secret import Secret

API_VERSION = "2022-11-28"
TIMEOUT = 30.0
LISTING_TRIES = 3
# GitHub keeps at most 1,000 secrets or variables in an organization (fewer in a repository or
# an environment): a listing that says it holds more is not GitHub's.
MAX_LISTED = 10_000
DEFAULT_RETRY = RetryPolicy(
    redirect_hint="a renamed or transferred repository needs its new name in the spec; "
    "otherwise set `api_url` (or GITHUB_API_URL) to where it points"
)


@dataclass(frozen=True)
class Target:
    """Where one store's secrets and their metadata variables live."""

    base: str  # the path before /secrets and /variables
    label: str  # for messages: "acme/pipelines", "acme/pipelines environment production", ...
    organization: bool = False


def repository_target(repository: str, environment: str | None) -> Target:
    owner, _, repo = repository.partition("/")
    base = f"/repos/{quote(owner)}/{quote(repo)}"
    if environment:
        return Target(
            f"{base}/environments/{quote(environment, safe='')}",
            f"{repository} environment {environment}",
        )
    return Target(f"{base}/actions", repository)


def organization_target(organization: str) -> Target:
    return Target(f"/orgs/{quote(organization)}/actions", f"organization {organization}", True)


class GitHubApi:
    def __init__(
        self,
        store: str,
        api_url: str,
        token: Secret,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None],
        now: Callable[[], datetime],
        policy: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.store = store
        self._sleep = sleep
        self._now = now
        self._policy = policy
        self._token = token
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=TIMEOUT,
            transport=transport,
            event_hooks=event_hooks(),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "ppm-tokens",
            },
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}

        def build() -> httpx.Request:
            return self._http.build_request(method, path, json=json, params=params, headers=headers)

        return send(
            self._http,
            build,
            what=f"store '{self.store}': {what}",
            policy=self._policy,
            sleep=self._sleep,
            now=self._now,
        )

    def failure(self, response: httpx.Response, what: str, target: Target) -> StoreError:
        detail = error_text(response)
        status = response.status_code
        if status == 401:
            hint = "the token is missing, expired or revoked: set GITHUB_TOKEN"
        elif status == 403:
            hint = (
                f"the token may not do this on {target.label}: it needs read and write access "
                "to Actions secrets and variables (see docs/stores.md)"
            )
        elif status == 404:
            hint = f"{target.label} does not exist, or the token cannot see it"
        else:
            hint = ""
        return StoreError(
            f"store '{self.store}': {what} on {target.label} failed ({detail})"
            + (f": {hint}" if hint else "")
        )

    def pages(
        self, path: str, field: str, *, what: str, target: Target, per_page: int
    ) -> list[Mapping[str, Any]]:
        """Every item of a paged list endpoint (`total_count` and a list under `field`).

        Pages are offsets, so a list that changes while it is read shifts items from one page
        to another, and one may be missed: a `total_count` that moves means reading it again.
        Pages that never add up to `total_count` are an error: a missing item would read as
        a secret that is not there, and its token would be issued again."""
        for _ in range(LISTING_TRIES):
            items, total = self._list_once(path, field, what=what, target=target, per_page=per_page)
            if total is None:
                return items
        raise StoreError(
            f"store '{self.store}': {what} on {target.label} kept changing while it was read "
            f"({LISTING_TRIES} tries): run again when nothing else is writing there"
        )

    def _list_once(
        self, path: str, field: str, *, what: str, target: Target, per_page: int
    ) -> tuple[list[Mapping[str, Any]], int | None]:
        """The items and None; or what was read so far and the total_count that moved."""
        items: list[Mapping[str, Any]] = []
        first_total: int | None = None
        page = 1
        while True:
            response = self.request(
                "GET", path, what=what, params={"per_page": per_page, "page": page}
            )
            if response.status_code == 404:
                return items, None
            if response.status_code != 200:
                raise self.failure(response, what, target)
            body = json_object(response, f"store '{self.store}': {what}")
            total = body.get("total_count") or 0
            if not isinstance(total, int) or isinstance(total, bool):
                raise StoreError(
                    f"store '{self.store}': {what} on {target.label} gives no total_count"
                )
            if total > MAX_LISTED:
                # Whatever answers at api_url could page on for ever, one new name a page.
                raise StoreError(
                    f"store '{self.store}': {what} on {target.label} says it holds {total:,}, "
                    f"more than GitHub keeps there (at most {MAX_LISTED:,} are read): is "
                    "something other than GitHub's API answering at that address?"
                )
            if first_total is None:
                first_total = total
            elif total != first_total:
                return items, total
            found = body.get(field) or []
            items.extend(found)
            if len(items) >= total:
                return items, None
            if not found:
                raise StoreError(
                    f"store '{self.store}': {what} on {target.label} gave {len(items)} of "
                    f"{total} (short pages): is something between here and the API trimming "
                    "its answers?"
                )
            page += 1

    def repository_id(self, repository: str) -> int:
        owner, _, repo = repository.partition("/")
        target = Target(f"/repos/{owner}/{repo}", repository)
        response = self.request("GET", target.base, what="repository lookup")
        if response.status_code != 200:
            raise self.failure(response, "repository lookup", target)
        found = json_object(response, f"store '{self.store}': repository lookup").get("id")
        if not isinstance(found, int):
            raise StoreError(f"store '{self.store}': the repository lookup gave no id")
        return found
