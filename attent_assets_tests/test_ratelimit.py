"""Throttling without real time: the AIMD limiter, Retry-After parsing and the retry waits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from attent_assets.api import (
    AdaptiveRateLimiter,
    AttentAuthError,
    AttentUnavailableError,
    ClientSettings,
    ClientStats,
    parse_retry_after,
)
from attent_assets.api.retry import RetryableFailure, RetryPolicy

NOW = datetime(2026, 5, 14, 15, 30, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def make_limiter(clock: FakeClock, **options) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(clock=clock, sleep=clock.sleep, **options)


def send_steadily(limiter: AdaptiveRateLimiter, clock: FakeClock, rate: float, seconds: float):
    """Acquire at a steady `rate` (the demand) for `seconds`; returns the last ticket."""
    ticket = 0
    for _ in range(round(rate * seconds)):
        ticket = limiter.acquire()
        clock.now += 1 / rate
    return ticket


def test_starts_unlimited(clock):
    limiter = make_limiter(clock)
    tickets = [limiter.acquire() for _ in range(500)]
    assert tickets == list(range(500))
    assert clock.sleeps == []
    assert limiter.rate is None


def test_retry_after_blocks_every_caller_until_the_deadline(clock):
    limiter = make_limiter(clock)
    limiter.on_throttle(retry_after=2.5)
    assert limiter.blocked_until == 2.5
    limiter.acquire()
    assert clock.now == pytest.approx(2.5)
    limiter.acquire()
    assert clock.sleeps[0] == pytest.approx(2.5)


def test_throttle_halves_the_observed_demand_and_paces_requests(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=10, seconds=5)
    limiter.on_throttle(retry_after=None)
    assert limiter.rate == pytest.approx(5)
    start = clock.now
    for _ in range(6):
        limiter.acquire()
    assert clock.now - start == pytest.approx(1.0)  # 5 intervals of 0.2 s


def test_throttles_for_requests_sent_before_the_decrease_do_not_halve_again(clock):
    limiter = make_limiter(clock)
    in_flight = [limiter.acquire() for _ in range(16)]
    clock.now += 1
    limiter.on_throttle(None, ticket=in_flight[0])
    after_first = limiter.rate
    assert after_first is not None
    for ticket in in_flight[1:]:
        limiter.on_throttle(None, ticket=ticket)
    assert limiter.rate == after_first
    fresh = limiter.acquire()
    limiter.on_throttle(None, ticket=fresh)
    assert limiter.rate == pytest.approx(after_first / 2)


def test_stale_throttle_still_honours_its_retry_after(clock):
    limiter = make_limiter(clock)
    old = limiter.acquire()
    limiter.on_throttle(None, ticket=limiter.acquire())
    limiter.on_throttle(3.0, ticket=old)
    assert limiter.blocked_until == pytest.approx(3.0)


def test_rate_never_drops_below_the_floor(clock):
    limiter = make_limiter(clock, min_rate=2.0)
    send_steadily(limiter, clock, rate=8, seconds=2)
    for _ in range(10):
        limiter.on_throttle(None, ticket=limiter.acquire())
    assert limiter.rate == 2.0


def test_successes_raise_the_rate_additively_until_unlimited_again(clock):
    limiter = make_limiter(clock, recovery_requests=10)
    send_steadily(limiter, clock, rate=10, seconds=5)
    limiter.on_throttle(None)
    rates = []
    for _ in range(9):
        limiter.on_success()
        rates.append(limiter.rate)
    assert rates == pytest.approx([5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5])
    limiter.on_success()
    assert limiter.rate is None
    clock.sleeps.clear()
    for _ in range(50):
        limiter.acquire()
    assert clock.sleeps == []


def test_retry_after_arriving_while_a_caller_waits_for_its_slot_is_honoured(clock):
    limiter = make_limiter(clock, min_rate=1.0)
    limiter.on_throttle(None, ticket=limiter.acquire())  # now paced at 1 rps
    limiter.acquire()

    def sleep_while_another_thread_is_throttled(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 1:
            limiter.on_throttle(retry_after=5.0)

    limiter.acquire(sleep=sleep_while_another_thread_is_throttled)
    assert clock.now >= limiter.blocked_until
    assert len(clock.sleeps) >= 2


def test_acquire_uses_the_per_call_sleep_so_waits_can_be_cancelled(clock):
    limiter = make_limiter(clock)
    limiter.on_throttle(retry_after=30)

    class Stop(Exception):
        pass

    def cancelled(_seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        limiter.acquire(sleep=cancelled)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("0", None),
        ("-4", None),
        ("soon", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        (None, None),
        (format_datetime(NOW + timedelta(seconds=10), usegmt=True), 10.0),
        ("Thu, 14 May 2026 15:30:07", 7.0),
        (format_datetime(NOW - timedelta(seconds=10), usegmt=True), None),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, NOW) == expected


def policy(clock: FakeClock, **overrides) -> tuple[RetryPolicy, ClientStats]:
    settings = ClientSettings(
        api_key="k", backoff_initial=0.01, backoff_max=0.02, max_retry_after=4, **overrides
    )
    stats = ClientStats()
    return RetryPolicy(settings, stats, logging.getLogger("test")), stats


def failing(*failures: BaseException):
    """An attempt function that raises the given errors in turn, then returns "ok"."""
    remaining = list(failures)

    def attempt() -> str:
        if remaining:
            raise remaining.pop(0)
        return "ok"

    return attempt


def test_server_hints_are_clamped_to_max_retry_after(clock):
    retry, _ = policy(clock)
    assert retry.server_hint("2") == 2.0
    assert retry.server_hint("3600") == 4.0
    assert retry.server_hint("nonsense") is None
    assert retry.server_hint(None) is None


def test_policy_waits_the_servers_hint_else_backs_off_and_counts_causes(clock):
    retry, stats = policy(clock)
    attempt = failing(
        RetryableFailure("429", "HTTP 429", retry_after=2.0),
        RetryableFailure("429", "HTTP 429", retry_after=4.0),
        RetryableFailure("5xx", "HTTP 503"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("dropped"),
        RetryableFailure("invalid_body", "not JSON"),
    )
    assert retry.call(attempt, "/leads", sleep=clock.sleep) == "ok"
    assert clock.sleeps[:2] == [2.0, 4.0]
    assert all(0 <= wait <= 0.02 for wait in clock.sleeps[2:])
    snapshot = stats.snapshot()
    assert snapshot["retries"] == 6
    assert (snapshot["retries_429"], snapshot["retries_5xx"]) == (2, 1)
    assert (snapshot["retries_timeout"], snapshot["retries_connection"]) == (1, 1)
    assert snapshot["retries_invalid_body"] == 1
    assert snapshot["retry_wait_seconds"] == pytest.approx(sum(clock.sleeps))


def test_policy_gives_up_after_max_attempts_with_a_clear_error(clock):
    retry, _ = policy(clock, max_attempts=3)
    attempt = failing(*[RetryableFailure("5xx", "HTTP 502")] * 5)
    with pytest.raises(AttentUnavailableError) as caught:
        retry.call(attempt, "/leads", sleep=clock.sleep)
    error = caught.value
    assert error.attempts == 3
    assert len(clock.sleeps) == 2
    assert "failed 3 times" in str(error)
    assert "last cause: HTTP 502" in str(error)
    assert error.__cause__ is None


def test_policy_never_retries_errors_another_attempt_cannot_fix(clock):
    retry, stats = policy(clock)
    with pytest.raises(AttentAuthError):
        retry.call(failing(AttentAuthError(403)), "/leads", sleep=clock.sleep)
    assert clock.sleeps == []
    assert stats.snapshot()["retries"] == 0


def test_policy_gives_up_when_the_next_wait_would_overrun_the_time_budget(clock):
    retry, _ = policy(clock, max_retry_seconds=3)
    attempt = failing(RetryableFailure("429", "HTTP 429", retry_after=3.5))
    with pytest.raises(AttentUnavailableError, match="failed 1 time over") as caught:
        retry.call(attempt, "/leads", sleep=clock.sleep)
    assert caught.value.attempts == 1
    assert clock.sleeps == []
