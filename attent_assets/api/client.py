"""The Attent API client: paginated, retried, rate-limited reads of leads and their events.

One synchronous httpx transport (a keep-alive connection pool) is shared by every thread: measured
against async httpx it costs less than half the CPU per request, and the work is I/O-bound, so a
thread pool gives the concurrency. Requests go to the transport directly rather than through
`httpx.Client`, whose per-request machinery (URL merging, cookies, auth and redirect flows, event
hooks) this client never uses: a third of the CPU per request, which on a small machine is what
bounds a sync (docs/benchmarks.md). Bodies are parsed with orjson straight from the bytes.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson

from attent_assets.api.errors import (
    AttentAuthError,
    AttentBadRequestError,
    AttentNotFoundError,
    AttentUnexpectedStatusError,
)
from attent_assets.api.fanout import Emit, cancellable_sleep, fan_out
from attent_assets.api.models import Event, Lead, format_timestamp
from attent_assets.api.pages import EventPage, LeadEvents, LeadPage, read_page
from attent_assets.api.quota import quota_of
from attent_assets.api.ratelimit import RateLimiter
from attent_assets.api.retry import RetryableStatus, RetryPolicy
from attent_assets.api.settings import ClientSettings
from attent_assets.api.stats import ClientStats

Record = TypeVar("Record")
Query = dict[str, str | int]
Sleep = Callable[[float], None]


def lead_events_path(lead_id: str) -> str:
    """The events path of a lead, its id encoded as exactly one path segment.

    Ids are opaque and may hold `/ ? # % +`, spaces or unicode, all percent-encoded here. Dots are
    encoded too: an id of `..` or `.` would otherwise be a dot-segment that URL normalisation
    removes, fetching another resource instead of this lead's events.
    """
    return f"/leads/{quote(lead_id, safe='').replace('.', '%2E')}/events"


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, in
    either case), unless `NO_PROXY` exempts its host: what `httpx.Client` would use."""
    host = urlsplit(url).hostname
    if host is None or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(urlsplit(url).scheme) or proxies.get("all")


class AttentClient:
    """Reads leads and events from the Attent API; safe to share between threads.

    Use as a context manager (or call `close()`) to release the connection pool. `stats` counts
    requests, pages, records, bytes, retries and throttling over the client's life.
    """

    def __init__(self, settings: ClientSettings, *, logger: logging.Logger | None = None) -> None:
        settings.validate()
        self.settings = settings
        self.stats = ClientStats()
        self._logger = logger or logging.getLogger(__name__)
        self._limiter = RateLimiter(
            fixed_rate=settings.max_requests_per_second, max_hold=settings.retry.max_retry_after
        )
        self._retry = RetryPolicy(settings.retry, self.stats, self._logger)
        self._base_url = settings.base_url.rstrip("/")
        self._headers = httpx.Headers(
            {
                "x-api-key": settings.api_key,
                "User-Agent": settings.user_agent,
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self._timeouts = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.read_timeout,
        ).as_dict()
        self._transport = httpx.HTTPTransport(
            verify=settings.verify_tls,
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            proxy=environment_proxy(settings.base_url),
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"AttentClient(base_url={self.settings.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._closed = True
        self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def iter_leads(
        self,
        *,
        updated_since: datetime | None = None,
        created_since: datetime | None = None,
    ) -> Iterator[LeadPage]:
        """Pages of leads with `updatedAt >= updated_since` (and/or `createdAt >= created_since`),
        oldest first, fetched lazily as the caller iterates.

        At least one bound is required (ValueError otherwise). Every page with a token is
        followed, including short or empty ones, until the token is null.
        """
        if updated_since is None and created_since is None:
            raise ValueError("iter_leads needs updated_since or created_since")
        query: Query = {"limit": self.settings.page_size}
        if updated_since is not None:
            query["updatedSince"] = format_timestamp(updated_since)
        if created_since is not None:
            query["createdSince"] = format_timestamp(created_since)
        pages = self._paginate("/leads", query, "leads", Lead.from_json, sleep=None)
        return (LeadPage(leads, token) for leads, token in pages)

    def iter_events(self, lead_id: str, since: datetime) -> Iterator[EventPage]:
        """Pages of one lead's events with `updatedAt >= since`, oldest first, lazily.

        A page may be short or empty and still have a token: only a null token ends the lead.
        A lead that no longer exists (404) is logged and yields nothing more.
        """
        pages = self._event_pages(lead_id, since, sleep=None)
        try:
            for events, token in pages:
                yield EventPage(events, token)
        except AttentNotFoundError:
            self._log_gone(lead_id)

    def iter_events_many(self, requests: Iterable[tuple[str, datetime]]) -> Iterator[LeadEvents]:
        """Fetch the events of many `(lead_id, since)` requests on `settings.concurrency` threads.

        Pages are yielded as they arrive; one lead's pages stay in order and its final page has
        `last=True` (a lead without events yields one empty last page, a removed lead one with
        `gone=True`). `requests` is read lazily and at most about two pages per thread wait in
        memory. The first error stops all threads and is raised here; closing the iterator early
        stops and joins the threads.
        """

        def fetch(
            request: tuple[str, datetime], emit: Emit[LeadEvents], cancel: threading.Event
        ) -> None:
            lead_id, since = request
            try:
                for events, token in self._event_pages(lead_id, since, cancellable_sleep(cancel)):
                    emit(LeadEvents(lead_id, events, last=token is None))
            except AttentNotFoundError:
                self._log_gone(lead_id)
                emit(LeadEvents(lead_id, [], last=True, gone=True))

        workers = self.settings.concurrency
        return fan_out(requests, fetch, workers=workers, buffer=2 * workers, name="attent-events")

    def _event_pages(
        self, lead_id: str, since: datetime, sleep: Sleep | None
    ) -> Iterator[tuple[list[Event], str | None]]:
        query: Query = {"since": format_timestamp(since), "limit": self.settings.page_size}
        if self.settings.types is not None:
            query["types"] = ",".join(self.settings.types)
        return self._paginate(lead_events_path(lead_id), query, "events", Event.from_json, sleep)

    def _log_gone(self, lead_id: str) -> None:
        self._logger.warning("lead %r is gone (HTTP 404); skipping its events", lead_id)

    def _paginate(
        self,
        path: str,
        query: Query,
        key: str,
        parse: Callable[[object], Record],
        sleep: Sleep | None,
    ) -> Iterator[tuple[list[Record], str | None]]:
        """Follow `nextToken` from the first page until it is null, resending the same filters."""
        token: str | None = None
        while True:
            page_query = query if token is None else {**query, "nextToken": token}
            attempt = functools.partial(self._get_page, path, page_query, key, sleep)
            raw_records, token = self._retry.call(attempt, path, sleep)
            records = [parse(raw) for raw in raw_records]
            self.stats.record_page(len(records))
            yield records, token
            if token is None:
                return

    def _get_page(
        self, path: str, query: Query, key: str, sleep: Sleep | None
    ) -> tuple[list[Any], str | None]:
        """One attempt: wait for the rate limiter, send, and classify the answer."""
        if self._closed:
            raise RuntimeError("the AttentClient is closed")
        ticket = self._limiter.acquire(sleep)
        request = httpx.Request(
            "GET",
            httpx.URL(self._base_url + path, params=query),
            headers=self._headers,
            extensions={"timeout": self._timeouts},
        )
        started = time.perf_counter()
        try:
            response = self._transport.handle_request(request)
            try:
                content = response.read()
            finally:
                response.close()
        except httpx.TransportError:
            self.stats.record_request(time.perf_counter() - started, 0)
            raise
        self.stats.record_request(time.perf_counter() - started, len(content))
        status = response.status_code
        quota = quota_of(response.headers.raw, time.time())
        if status == 200:
            page = read_page(content, path, key)
            self._limiter.on_success(quota)
            return page
        retry_after = self._retry.server_hint(response.headers.get("retry-after"))
        if status == 429:
            self.stats.record_throttled()
            self._limiter.on_throttle(retry_after, ticket, quota)
        if self._retry.retries(status):
            raise RetryableStatus(status, retry_after)
        if status in (401, 403):
            raise AttentAuthError(status)
        if status == 400:
            raise AttentBadRequestError(path, _server_message(content))
        if status == 404:
            raise AttentNotFoundError(path)
        raise AttentUnexpectedStatusError(path, status)


def _server_message(content: bytes) -> str | None:
    """The `message` of an error body, if it has one (the error schema is undocumented),
    shortened so a huge body cannot flood an exception."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message[:500] if isinstance(message, str) else None
