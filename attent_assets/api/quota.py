"""What a response's rate-limit headers say about the quota, in whichever form the server uses.

The API documents no rate-limit headers (ATTENT_API.md), so every form in use is read and none is
required: the IETF draft's separate fields (`RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset`, `RateLimit-Policy: 100;w=60`), its later structured fields
(`RateLimit: "default";r=5;t=1`, `RateLimit-Policy: "default";q=100;w=60`, and the intermediate
`RateLimit: limit=100, remaining=5, reset=1`), and the common `X-RateLimit-*` fields (a limit with
Envoy's `;w=` window, Kong's `X-RateLimit-Limit-Second`/`-Minute`/`-Hour`, a reset as seconds,
Unix seconds or Unix milliseconds). Values that do not parse are ignored, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

Lookup = Callable[[str], str | None]

#: Kong's per-window header suffixes and their windows in seconds.
_SUFFIX_WINDOWS: Final = (("second", 1.0), ("minute", 60.0), ("hour", 3600.0), ("day", 86400.0))
#: A reset above this is a Unix time (seconds); above the next, Unix milliseconds.
_UNIX_SECONDS: Final = 1e9
_UNIX_MILLISECONDS: Final = 1e12
_PARAM: Final = re.compile(r"([A-Za-z][\w-]*)\s*=\s*\"?([^;,\"]*)")


@dataclass(frozen=True, slots=True)
class Quota:
    """One response's view of the quota: `limit` requests per `window` seconds, `remaining` of
    them left, the next reset `reset` seconds from now. Any part may be unknown (None)."""

    limit: float | None = None
    window: float | None = None
    remaining: float | None = None
    reset: float | None = None

    @property
    def rate(self) -> float | None:
        """The quota as requests per second, when both the limit and its window are known."""
        if self.limit is None or self.window is None:
            return None
        return self.limit / self.window

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


def quota_of(raw_headers: Iterable[tuple[bytes, bytes]], now: float) -> Quota | None:
    """The quota in a response's raw headers (see `read_quota`). Most answers carry no
    rate-limit field at all: one pass over the names tells, so they cost next to nothing."""
    fields = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in raw_headers
        if b"ratelimit" in name.lower()
    }
    return read_quota(fields.get, now) if fields else None


def read_quota(header: Lookup, now: float) -> Quota | None:
    """The quota the headers describe (`header` looks a lower-case field name up; `now` is the
    Unix time, for resets given as a moment); None when there are no rate-limit headers."""
    found = [
        _ietf_structured(header),
        _fields(header, "ratelimit-"),
        _fields(header, "x-ratelimit-"),
        *(_kong(header, suffix, seconds) for suffix, seconds in _SUFFIX_WINDOWS),
    ]
    rated = [part for part in found if part.rate is not None]
    limited = rated or [part for part in found if part.limit is not None]
    policy = min(limited, key=lambda part: part.rate or 0.0) if limited else Quota()
    quota = Quota(
        limit=policy.limit,
        window=policy.window,
        remaining=next((part.remaining for part in found if part.remaining is not None), None),
        reset=next((part.reset for part in found if part.reset is not None), None),
    )
    if quota == Quota():
        return None
    reset = quota.reset
    if reset is not None and reset > _UNIX_SECONDS:
        reset = (reset / 1000 if reset > _UNIX_MILLISECONDS else reset) - now
    if reset is not None and reset < 0:
        reset = None
    return Quota(quota.limit, quota.window, quota.remaining, reset)


def _ietf_structured(header: Lookup) -> Quota:
    """`RateLimit: "name";r=N;t=S` (or `limit=, remaining=, reset=`) and `RateLimit-Policy`."""
    state = _params(header("ratelimit"))
    limit, window = _policy(header("ratelimit-policy"))
    return Quota(
        limit=limit if limit is not None else _number(state.get("limit")),
        window=window,
        remaining=_number(state.get("r", state.get("remaining"))),
        reset=_number(state.get("t", state.get("reset"))),
    )


def _fields(header: Lookup, prefix: str) -> Quota:
    limit, window = _policy(header(prefix + "limit"))
    return Quota(
        limit=limit,
        window=window,
        remaining=_number(header(prefix + "remaining")),
        reset=_number(header(prefix + "reset")),
    )


def _kong(header: Lookup, suffix: str, seconds: float) -> Quota:
    limit = _number(header(f"x-ratelimit-limit-{suffix}"))
    if limit is None:
        return Quota()
    return Quota(limit, seconds, _number(header(f"x-ratelimit-remaining-{suffix}")))


def _policy(value: str | None) -> tuple[float | None, float | None]:
    """The most restrictive `quota;w=window` item of a policy list (`100;w=60, 1000;w=3600` or
    `"burst";q=100;w=60`); a bare number is a limit without a known window."""
    items: list[tuple[float, float | None]] = []
    for item in (value or "").split(","):
        params = _params(item)
        limit = _number(params["q"] if "q" in params else item.split(";", 1)[0])
        if limit is not None:
            items.append((limit, _number(params.get("w")) or None))
    windowed = [(limit, window) for limit, window in items if window]
    if windowed:
        return min(windowed, key=lambda item: item[0] / item[1])
    return items[0] if items else (None, None)


def _params(value: str | None) -> dict[str, str]:
    return {key.lower(): raw.strip() for key, raw in _PARAM.findall(value or "")}


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
