"""When and how long to retry a request (tenacity), and how to read a server's Retry-After.

Retried: 429, 5xx, transport failures (refused or dropped connections, timeouts) and 200 answers
whose body is truncated, not JSON or not the expected shape; another attempt may succeed. Never
retried: 400, 401, 403, 404 and other statuses, which another attempt cannot fix. The wait is the
server's Retry-After hint when it sent one (clamped to `max_retry_after`), else exponential backoff
with full jitter. A request gives up after `max_attempts`, or as soon as the next wait would end
beyond `max_retry_seconds` after its first attempt, raising `AttentUnavailableError`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import tenacity

from attent_assets.api.errors import AttentUnavailableError
from attent_assets.api.settings import ClientSettings
from attent_assets.api.stats import ClientStats

T = TypeVar("T")


class RetryableFailure(Exception):
    """An attempt failed in a way a later attempt may not (`cause` is a stats retry cause;
    `retry_after` the server's clamped hint, see `RetryPolicy.server_hint`)."""

    def __init__(self, cause: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (relative to the
    aware `now`). None means no usable hint: absent, garbage, zero, negative or in the past."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def retry_cause(error: BaseException) -> str | None:
    """The stats cause for a retryable error; None for an error that must not be retried."""
    if isinstance(error, RetryableFailure):
        return error.cause
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.TransportError):
        return "connection"
    return None


def describe_failure(error: BaseException | None) -> str:
    """A one-line cause built from safe parts (httpx errors carry the request, never print it)."""
    if isinstance(error, RetryableFailure):
        return error.detail
    if error is None:
        return "unknown"
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class RetryPolicy:
    """Runs one request attempt function under the client's retry rules and records retries."""

    def __init__(
        self, settings: ClientSettings, stats: ClientStats, logger: logging.Logger
    ) -> None:
        self._stats = stats
        self._logger = logger
        self._max_attempts = settings.max_attempts
        self._max_retry_after = settings.max_retry_after
        self._backoff = tenacity.wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )
        self._template = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda error: retry_cause(error) is not None),
            wait=self._wait,
            stop=(
                tenacity.stop_after_attempt(settings.max_attempts)
                | tenacity.stop_before_delay(settings.max_retry_seconds)
            ),
        )

    def call(
        self,
        attempt: Callable[[], T],
        path: str,
        sleep: Callable[[float], None] | None = None,
    ) -> T:
        """Return `attempt()`'s result, retrying it as the policy allows.

        `sleep` replaces `time.sleep` between attempts (e.g. one that raises on cancellation).
        Errors that are not retryable propagate unchanged.
        """
        retrying = self._template.copy(
            before_sleep=functools.partial(self._before_sleep, path),
            sleep=sleep or time.sleep,
        )
        started = time.monotonic()
        try:
            return retrying(attempt)
        except tenacity.RetryError as error:
            last = error.last_attempt
            raise AttentUnavailableError(
                path=path,
                attempts=last.attempt_number,
                seconds=time.monotonic() - started,
                last_cause=describe_failure(last.exception()),
            ) from None

    def server_hint(self, header: str | None) -> float | None:
        """The wait a Retry-After header asks for, clamped to `max_retry_after` (a server asking
        for an hour must not stall a sync for an hour); None when it gives no usable hint."""
        seconds = parse_retry_after(header, datetime.now(UTC))
        return None if seconds is None else min(seconds, self._max_retry_after)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = _failure(state)
        if isinstance(error, RetryableFailure) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state)

    def _before_sleep(self, path: str, state: tenacity.RetryCallState) -> None:
        error = _failure(state)
        cause = retry_cause(error)
        assert cause is not None, "only retryable failures are followed by a sleep"
        self._stats.record_retry(cause, state.upcoming_sleep)
        self._logger.info(
            "GET %s failed (%s); retrying in %.2f s (attempt %d of %d)",
            path,
            describe_failure(error),
            state.upcoming_sleep,
            state.attempt_number + 1,
            self._max_attempts,
        )


def _failure(state: tenacity.RetryCallState) -> BaseException:
    """The error of the attempt just made (waits and sleeps only follow failed attempts)."""
    error = state.outcome.exception() if state.outcome is not None else None
    assert error is not None, "tenacity waits only after a failed attempt"
    return error
