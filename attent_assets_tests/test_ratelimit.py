"""Throttling without real time: the limiter, rate-limit headers, Retry-After, retry waits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from attent_assets.api import (
    AttentAuthError,
    AttentInvalidBodyError,
    AttentUnavailableError,
    ClientStats,
    Quota,
    RateLimiter,
    parse_retry_after,
    read_quota,
)
from attent_assets.api.congestion import BACKOFF, DOUBLING, PLATEAU_AT, REACTION_GAP
from attent_assets.api.ratelimit import QUOTA_HEADROOM
from attent_assets.api.retry import RetryableStatus, RetryPolicy, RetrySettings

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


def make_limiter(clock: FakeClock, **options) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **options)


def send_steadily(limiter: RateLimiter, clock: FakeClock, rate: float, seconds: float) -> int:
    """Send at a steady `rate` for `seconds`, every request accepted; returns the last ticket."""
    ticket = 0
    for _ in range(round(rate * seconds)):
        ticket = limiter.acquire()
        clock.now += 1 / rate
        limiter.on_success()
    return ticket


def congest(limiter: RateLimiter) -> None:
    """A 429 to a request sent now: a congestion event."""
    limiter.on_throttle(None, ticket=limiter.acquire())


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


def test_a_429_drops_the_pace_to_a_fraction_of_the_accepted_rate_and_paces_requests(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=20, seconds=2)
    congest(limiter)
    assert limiter.rate == pytest.approx(BACKOFF * 20)
    start = clock.now
    for _ in range(10):
        limiter.acquire()
    assert clock.now - start == pytest.approx(9 / (BACKOFF * 20), rel=0.05)


def test_429s_from_requests_in_flight_are_one_congestion_event(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=20, seconds=2)
    in_flight = [limiter.acquire() for _ in range(16)]
    for ticket in in_flight:
        limiter.on_throttle(None, ticket=ticket)
    once = limiter.rate
    assert once == pytest.approx(BACKOFF * 20)
    clock.now += REACTION_GAP / 2
    limiter.on_throttle(None, ticket=limiter.acquire())  # sent after the decrease, same event
    assert limiter.rate == once


def test_a_burst_of_429s_after_a_good_stretch_does_not_collapse_the_pace(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=20, seconds=2)
    for _ in range(8):  # 429s for a whole half second, each reacted to
        limiter.on_throttle(None, ticket=limiter.acquire())
        clock.now += REACTION_GAP / 4
    pace = limiter.rate
    assert pace is not None
    assert pace >= BACKOFF**3 * 20


def test_stale_throttle_still_honours_its_retry_after(clock):
    limiter = make_limiter(clock)
    old = limiter.acquire()
    send_steadily(limiter, clock, rate=20, seconds=1)
    congest(limiter)
    limiter.on_throttle(3.0, ticket=old)
    assert limiter.blocked_until == pytest.approx(clock.now + 3.0)


def test_the_pace_climbs_back_and_then_probes_beyond_the_measured_rate(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=20, seconds=2)
    congest(limiter)
    paces: list[float] = []
    for _ in range(4):
        deadline = clock.now + PLATEAU_AT
        while clock.now < deadline:
            limiter.acquire()
            limiter.on_success()
        paces.append(limiter.rate or 0.0)
    assert paces[0] == pytest.approx(20, rel=0.05)
    assert paces == sorted(paces)
    assert paces[-1] > 1.5 * 20


def test_the_pace_does_not_grow_while_the_client_sends_less(clock):
    limiter = make_limiter(clock)
    send_steadily(limiter, clock, rate=20, seconds=2)
    congest(limiter)
    dropped = limiter.rate
    send_steadily(limiter, clock, rate=5, seconds=10)
    assert limiter.rate == pytest.approx(dropped, rel=0.05)


def test_a_first_429_with_nothing_measured_starts_low_and_doubles(clock):
    limiter = make_limiter(clock)
    limiter.acquire()
    limiter.on_success()
    congest(limiter)
    start = limiter.rate
    assert start is not None
    while clock.now < 4 * DOUBLING:
        limiter.acquire()
        limiter.on_success()
    assert limiter.rate == pytest.approx(16 * start, rel=0.25)


def test_a_fixed_rate_paces_and_never_adapts(clock):
    limiter = make_limiter(clock, fixed_rate=4.0)
    for _ in range(5):
        limiter.acquire()
    assert clock.now == pytest.approx(1.0)
    limiter.on_throttle(0.5, ticket=limiter.acquire())
    assert limiter.rate == 4.0
    assert limiter.blocked_until == pytest.approx(clock.now + 0.5)


def test_a_quota_in_the_headers_sets_the_pace_and_429s_then_teach_nothing(clock):
    limiter = make_limiter(clock)
    quota = Quota(limit=50, window=1, remaining=20, reset=1)
    limiter.on_success(quota)
    assert limiter.rate == pytest.approx(QUOTA_HEADROOM * 50)
    send_steadily(limiter, clock, rate=QUOTA_HEADROOM * 50, seconds=2)
    limiter.on_throttle(None, ticket=limiter.acquire(), quota=quota)
    limiter.on_throttle(None, ticket=limiter.acquire(), quota=quota)
    assert limiter.rate == pytest.approx(QUOTA_HEADROOM * 50)


def test_a_spent_quota_without_a_known_window_holds_senders_until_its_reset(clock):
    limiter = make_limiter(clock, max_hold=10)
    limiter.on_success(Quota(limit=10, window=1, remaining=0, reset=1))
    assert limiter.blocked_until < 0  # the pace at the quota's rate keeps within it
    limiter.on_success(Quota(remaining=0, reset=4))
    assert limiter.blocked_until == pytest.approx(4)
    limiter.on_success(Quota(remaining=0, reset=3600))
    assert limiter.blocked_until == pytest.approx(10)


def test_retry_after_arriving_while_a_caller_waits_for_its_slot_is_honoured(clock):
    limiter = make_limiter(clock, fixed_rate=1.0)
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
    limiter.on_throttle(retry_after=None)
    clock.now = 31
    assert limiter.acquire() >= 0  # the cancelled caller left its place in the queue


def header_lookup(headers: dict[str, str]):
    lowered = {name.lower(): value for name, value in headers.items()}
    return lowered.get


UNIX_NOW = 1_780_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Content-Type": "application/json"}, None),
        (
            {
                "RateLimit-Limit": "80",
                "RateLimit-Remaining": "3",
                "RateLimit-Reset": "1",
                "RateLimit-Policy": "80;w=1",
            },
            Quota(80, 1, 3, 1),
        ),
        (
            {"RateLimit": '"default";r=0;t=2', "RateLimit-Policy": '"default";q=100;w=60'},
            Quota(100, 60, 0, 2),
        ),
        ({"RateLimit": "limit=10, remaining=5, reset=2"}, Quota(10, None, 5, 2)),
        ({"RateLimit-Policy": "100;w=60, 10;w=1"}, Quota(100, 60)),
        (
            {
                "X-RateLimit-Limit": "80, 80;w=1",
                "X-RateLimit-Remaining": "2",
                "X-RateLimit-Reset": str(UNIX_NOW + 30),
            },
            Quota(80, 1, 2, 30),
        ),
        ({"X-RateLimit-Reset": str((UNIX_NOW + 5) * 1000)}, Quota(reset=5)),
        ({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"}, Quota(5000, None, 4999)),
        (
            {"X-RateLimit-Limit-Second": "5", "X-RateLimit-Limit-Minute": "100"},
            Quota(100, 60),
        ),
        ({"RateLimit-Limit": "lots", "RateLimit-Remaining": "-1"}, None),
    ],
)
def test_read_quota_understands_every_common_form(headers, expected):
    quota = read_quota(header_lookup(headers), UNIX_NOW)
    if expected is None or quota is None:
        assert quota == expected
    else:
        assert quota.limit == expected.limit
        assert quota.window == expected.window
        assert quota.remaining == expected.remaining
        assert quota.reset == pytest.approx(expected.reset)


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
    settings = RetrySettings(backoff_initial=0.01, backoff_max=0.02, max_retry_after=4, **overrides)
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
        RetryableStatus(429, retry_after=2.0),
        RetryableStatus(429, retry_after=4.0),
        RetryableStatus(503, retry_after=None),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("dropped"),
        AttentInvalidBodyError("/leads", "HTTP 200 with a body that is not JSON (3 bytes)"),
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
    attempt = failing(*[RetryableStatus(502, retry_after=None)] * 5)
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
    retry, _ = policy(clock, max_seconds=3)
    attempt = failing(RetryableStatus(429, retry_after=3.5))
    with pytest.raises(AttentUnavailableError, match="failed 1 time over") as caught:
        retry.call(attempt, "/leads", sleep=clock.sleep)
    assert caught.value.attempts == 1
    assert clock.sleeps == []
