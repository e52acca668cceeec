"""One retrying HTTP client for every remote API (Slack, GitHub, the LLM endpoint), and the
two pagination styles those APIs use.

Policy: HTTP 429, 5xx, timeouts and transport errors are asked again, after the server's
`Retry-After` (seconds) when it sends one, else after exponential backoff (`backoff_s`
doubling, at most `max_backoff_s`), any wait at most `max_wait_s` when set; once `retries` retries are spent the call raises
TransientError. Any other 4xx (outside `accept`) is an HttpRejected, a TerminalError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.records import TerminalError, TransientError


class Retry(Exception):
    """An answer worth asking again for: after `wait` seconds when the server said, else
    after backoff."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class HttpRejected(TerminalError):
    """A 4xx answer that asking again will not change (not found, forbidden, gone)."""

    def __init__(self, method: str, url: str, response: httpx.Response):
        self.status = response.status_code
        super().__init__(f"{method} {url} -> HTTP {self.status}: {error_message(response)}")


def error_message(response: httpx.Response) -> str:
    """The message an error answer carries: its JSON `message` or `error`, else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:200]
    return ""


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds; None when absent or an HTTP date."""
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return None


def server_trouble(response: httpx.Response) -> Retry | None:
    """The default retry rule: 429 and 5xx are asked again."""
    status = response.status_code
    if status == 429 or status >= 500:
        return Retry(f"HTTP {status}", retry_after(response))
    return None


class RetryingClient:
    """httpx with the retry policy above; tenacity runs the attempts.

    `sleep` is injectable so tests wait no time. A call may widen what is retried
    (`retry_when`, which sees every answer) and what is returned rather than rejected
    (`accept`: statuses of 400 and above the caller handles itself, such as 304 or 410).
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_wait_s: float | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ):
        self.client = client or httpx.Client(timeout=30.0)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_wait_s = max_wait_s
        self.sleep = sleep

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def request(
        self,
        method: str,
        url: str,
        accept: Collection[int] = (),
        retry_when: Callable[[httpx.Response], Retry | None] = server_trouble,
        **options: Any,
    ) -> httpx.Response:
        """The answer to one request, asked again while it may pass."""

        def attempt() -> httpx.Response:
            try:
                response = self.client.request(method, url, **options)
            except httpx.TimeoutException as err:
                raise Retry(f"timed out ({type(err).__name__}: {err})") from err
            except httpx.TransportError as err:
                raise Retry(f"connection failed ({type(err).__name__}: {err})") from err
            retry = retry_when(response)
            if retry is not None:
                raise retry
            if response.status_code >= 400 and response.status_code not in accept:
                raise HttpRejected(method, str(response.url), response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self.wait,
            retry=retry_if_exception_type(Retry),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Retry as last:
            where = f"{method} {url}"
            raise TransientError(f"{where}: {last.reason}, still after {self.retries} retries") from last

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the server's word, else capped backoff; never
        over `max_wait_s` when that is set."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retry) and error.wait is not None:
            wait = error.wait
        else:
            wait = min(self.backoff_s * 2 ** (state.attempt_number - 1), self.max_backoff_s)
        return wait if self.max_wait_s is None else min(wait, self.max_wait_s)


def link_pages(get: Callable[[str], httpx.Response], url: str) -> Iterator[httpx.Response]:
    """Answers of a listing paginated by `Link: <...>; rel="next"` headers (GitHub), each
    page asked for only when the one before is consumed."""
    next_url: str | None = url
    while next_url:
        response = get(next_url)
        yield response
        next_url = response.links.get("next", {}).get("url")


def cursor_pages(call: Callable[[str], dict[str, Any]]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Bodies of a method paginated by `response_metadata.next_cursor` (Slack), and whether
    more follow; `call` gets the cursor to send ("" for the first page)."""
    cursor = ""
    while True:
        body = call(cursor)
        cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
        yield body, bool(cursor)
        if not cursor:
            return
