"""The retry policy: which failed requests are retried, how long each waits, when one gives up.

`RetrySettings` declares it whole and `RetryPolicy` carries it out (tenacity); the client only
reports what happened to an attempt (`RetryableStatus`, `InvalidBody`, an httpx transport error)
and this module decides. By default retried: 429, 5xx, transport failures (refused or dropped
connections, timeouts) and 200 answers whose body is truncated, not JSON or not the expected shape;
another attempt may succeed. Never retried: 400, 401, 403 and 404, which the client gives a meaning
of their own (a bad request, a rejected key, a removed lead). The wait is the server's Retry-After
hint when it sent one (clamped to `max_retry_after`), else exponential backoff with full jitter. A
request gives up after `max_attempts`, or as soon as the next wait would end beyond `max_seconds`
after its first attempt, raising `AttentUnavailableError`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import tenacity
from pydantic import BaseModel, ConfigDict, Field

from attent_assets.api.errors import (
    AttentConfigError,
    AttentInvalidBodyError,
    AttentUnavailableError,
)
from attent_assets.api.stats import ClientStats

T = TypeVar("T")

#: Statuses the client answers itself, whatever the policy: retrying cannot change them.
_MEANINGFUL_STATUSES = frozenset({400, 401, 403, 404})
#: A retried status: a code (`429`, `503`) or every status of the 5xx class (`5xx`).
_STATUS = re.compile(r"[45][0-9][0-9]|5xx")


class RetrySettings(BaseModel):
    """The retry policy of every request, in one place. A pydantic model so that the `attent`
    resource exposes it whole as its `retry` config (field names, defaults and descriptions from
    here); a sensor's poll derives a shorter `max_seconds` from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statuses: list[str] = Field(
        default=["429", "5xx"],
        description="Statuses retried: codes like 429 or 503, or 5xx for every server error "
        "(400, 401, 403 and 404 never are).",
    )
    network_errors: bool = Field(
        default=True, description="Retry refused or dropped connections and timeouts."
    )
    invalid_bodies: bool = Field(
        default=True, description="Retry a 200 whose body is cut short, not JSON or not a page."
    )
    max_attempts: int = Field(
        default=8, description="Tries per request, the first included, before it fails."
    )
    max_seconds: float = Field(
        default=120,
        description="Time budget per request: no retry whose wait would end later than this "
        "after its first attempt.",
    )
    max_retry_after: float = Field(
        default=60, description="Seconds: the longest Retry-After hint honoured as given."
    )
    backoff_initial: float = Field(
        default=0.5,
        description="Seconds: the first backoff when the server gives no hint (doubling, full "
        "jitter).",
    )
    backoff_max: float = Field(default=20, description="Seconds: the longest backoff.")

    def check(self) -> None:
        """Raise `AttentConfigError` naming the first offending setting."""
        meaningful = {str(status) for status in _MEANINGFUL_STATUSES}
        odd = [s for s in self.statuses if not _STATUS.fullmatch(s) or s in meaningful]
        if odd:
            raise AttentConfigError(
                f"retry.statuses contains {odd}: use 4xx or 5xx codes other than "
                f"{sorted(_MEANINGFUL_STATUSES)}, or '5xx' for every server error"
            )
        if isinstance(self.max_attempts, bool) or not 1 <= self.max_attempts <= 1000:
            raise AttentConfigError(
                f"retry.max_attempts must be an integer from 1 to 1000, got {self.max_attempts!r}"
            )
        for name in ("max_seconds", "max_retry_after"):
            if not getattr(self, name) > 0:
                raise AttentConfigError(
                    f"retry.{name} must be > 0 seconds, got {getattr(self, name)!r}"
                )
        for name in ("backoff_initial", "backoff_max"):
            if not getattr(self, name) >= 0:
                raise AttentConfigError(
                    f"retry.{name} must be >= 0 seconds, got {getattr(self, name)!r}"
                )


class RetryableStatus(Exception):
    """An answer with a status the policy retries; `retry_after` is the server's clamped hint
    (`RetryPolicy.server_hint`)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
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


def status_cause(status: int) -> str:
    """The stats cause of a retried status: `429`, `5xx` or `4xx`."""
    return "429" if status == 429 else f"{status // 100}xx"


def describe_failure(error: BaseException | None) -> str:
    """A one-line cause built from safe parts (httpx errors carry the request, never print it)."""
    if isinstance(error, RetryableStatus):
        return "HTTP 429 (throttled)" if error.status == 429 else str(error)
    if isinstance(error, AttentInvalidBodyError):
        return error.detail
    if error is None:
        return "unknown"
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class RetryPolicy:
    """Runs one request attempt function under `RetrySettings` and records retries."""

    def __init__(self, settings: RetrySettings, stats: ClientStats, logger: logging.Logger) -> None:
        settings.check()
        self.settings = settings
        self._stats = stats
        self._logger = logger
        self._backoff = tenacity.wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )
        self._template = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda error: self.cause(error) is not None),
            wait=self._wait,
            stop=(
                tenacity.stop_after_attempt(settings.max_attempts)
                | tenacity.stop_before_delay(settings.max_seconds)
            ),
        )

    def retries(self, status: int) -> bool:
        """Whether an answer with this status is retried."""
        statuses = self.settings.statuses
        return str(status) in statuses or (status // 100 == 5 and "5xx" in statuses)

    def cause(self, error: BaseException) -> str | None:
        """The stats cause of an error the policy retries; None for one it does not."""
        if isinstance(error, RetryableStatus):
            return status_cause(error.status)
        if isinstance(error, AttentInvalidBodyError):
            return "invalid_body" if self.settings.invalid_bodies else None
        if not self.settings.network_errors:
            return None
        if isinstance(error, httpx.TimeoutException):
            return "timeout"
        if isinstance(error, httpx.TransportError):
            return "connection"
        return None

    def call(
        self,
        attempt: Callable[[], T],
        path: str,
        sleep: Callable[[float], None] | None = None,
    ) -> T:
        """Return `attempt()`'s result, retrying it as the policy allows.

        `sleep` replaces `time.sleep` between attempts (e.g. one that raises on cancellation).
        Errors that are not retried propagate unchanged, but for transport errors (when
        `network_errors` is off), which end the request as `AttentUnavailableError`.
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
            attempts, failure = last.attempt_number, last.exception()
        except httpx.TransportError as error:
            attempts, failure = retrying.statistics["attempt_number"], error
        raise AttentUnavailableError(
            path=path,
            attempts=attempts,
            seconds=time.monotonic() - started,
            last_cause=describe_failure(failure),
        ) from None

    def server_hint(self, header: str | None) -> float | None:
        """The wait a Retry-After header asks for, clamped to `max_retry_after` (a server asking
        for an hour must not stall a sync for an hour); None when it gives no usable hint."""
        seconds = parse_retry_after(header, datetime.now(UTC))
        return None if seconds is None else min(seconds, self.settings.max_retry_after)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = _failure(state)
        if isinstance(error, RetryableStatus) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(state)

    def _before_sleep(self, path: str, state: tenacity.RetryCallState) -> None:
        error = _failure(state)
        cause = self.cause(error)
        assert cause is not None, "only retryable failures are followed by a sleep"
        self._stats.record_retry(cause, state.upcoming_sleep)
        self._logger.info(
            "GET %s failed (%s); retrying in %.2f s (attempt %d of %d)",
            path,
            describe_failure(error),
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.settings.max_attempts,
        )


def _failure(state: tenacity.RetryCallState) -> BaseException:
    """The error of the attempt just made (waits and sleeps only follow failed attempts)."""
    error = state.outcome.exception() if state.outcome is not None else None
    assert error is not None, "tenacity waits only after a failed attempt"
    return error
